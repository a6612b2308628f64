/**
 * The drift check of the inspect script, run under dash, bash --posix and posh with GNU tools and
 * under BusyBox ash with only BusyBox tools: a live release compared with the listing and ready
 * marker its deploy left.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { SYSTEM_DIRECTORIES } from '../../src/server/system-directories.js'
import { inspectScript, listingScript } from '../../src/server/remote-scripts.js'
import { parseLinkList } from '../../src/server/server-data.js'
import { driftOf } from '../../src/server/sftp-drift.js'
import { walkTree } from '../../src/sftp/sftp-tree.js'
import { scriptText } from '../../src/ssh/script-frame.js'
import { LocalFiles } from '../support/local-files.ts'

const lib = fileURLToPath(new URL('../../src/server/scripts/lib/', import.meta.url))
const DIFF_LIB = ['common.sh', 'listing.sh', 'diff.sh']
  .map(f => readFileSync(join(lib, f), 'utf8'))
  .join('\n')

const work = realpathSync(mkdtempSync(join(tmpdir(), 'drift-')))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const busyboxBin = join(work, 'busybox-bin')
mkdirSync(busyboxBin)
for (const applet of execFileSync('busybox', ['--list'], { encoding: 'utf8' }).trim().split('\n'))
  symlinkSync('/usr/bin/busybox', join(busyboxBin, applet))

const systemPath = process.env.PATH ?? '/usr/bin:/bin'
const shells = [
  { name: 'dash with GNU tools', sh: 'dash', args: [], path: systemPath },
  {
    name: 'BusyBox ash with only BusyBox tools',
    sh: join(busyboxBin, 'sh'),
    args: [],
    path: busyboxBin
  },
  { name: 'bash --posix with GNU tools', sh: 'bash', args: ['--posix'], path: systemPath },
  { name: 'posh with GNU tools', sh: 'posh', args: [], path: systemPath }
]

function sh(shell: (typeof shells)[number], script: string, cwd: string): string[] {
  // stdin from /dev/null: bash reads ~/.bashrc when its stdin is a socket (Node's pipes are).
  const r = spawnSync(shell.sh, [...shell.args, '-c', script], {
    cwd,
    env: { PATH: shell.path, HOME: cwd },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  })
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
    .split('\n')
    .filter(l => l.startsWith('!'))
    .map(l => l.slice(1))
}

let counter = 0

/**
 * A deploy directory whose live release `r1` was made ready with a listing, a links file (one
 * shared link) and a ready marker, as the release script leaves them. Times before the marker.
 */
function deployed(shell: (typeof shells)[number]): { D: string; R: string } {
  const D = join(work, `d${++counter}`)
  const R = join(D, 'releases/r1')
  const M = join(D, '.atomic-deploy')
  mkdirSync(join(R, 'app/views'), { recursive: true })
  mkdirSync(join(M, 'manifests'), { recursive: true })
  mkdirSync(join(D, 'shared/uploads'), { recursive: true })
  writeFileSync(join(R, 'index.php'), '<?php echo 1;')
  writeFileSync(join(R, 'config.php'), 'debug=0')
  writeFileSync(join(R, 'app/views/home.php'), 'home')
  writeFileSync(join(R, 'gone.txt'), 'will be removed')
  writeFileSync(join(R, 'bin.sh'), '#!/bin/sh')
  writeFileSync(join(R, 'new\nline.txt'), 'nl')
  mkdirSync(join(R, 'lib/old'), { recursive: true })
  writeFileSync(join(R, 'lib/old/x.php'), 'old')
  const past = new Date(Date.now() - 60_000)
  for (const p of [
    'index.php',
    'config.php',
    'app/views/home.php',
    'gone.txt',
    'bin.sh',
    'new\nline.txt',
    'lib/old/x.php'
  ])
    utimesSync(join(R, p), past, past)
  const listing = spawnSync(shell.sh, [...shell.args, '-c', scriptText(listingScript(R))], {
    cwd: R,
    env: { PATH: shell.path, HOME: R },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe']
  }).stdout
  writeFileSync(join(M, 'manifests/r1.listing'), listing)
  // The shared link is added after verification, so it is not in the listing.
  symlinkSync('../../shared/uploads', join(R, 'uploads'))
  writeFileSync(join(M, 'manifests/r1.links'), 'uploads\n')
  writeFileSync(join(M, 'manifests/r1.ready'), '')
  // Made ready half a minute ago: file times have the kernel's coarse clock, so edits made in the
  // same few milliseconds would not be newer.
  const ready = new Date(Date.now() - 30_000)
  utimesSync(join(M, 'manifests/r1.ready'), ready, ready)
  symlinkSync('releases/r1', join(D, 'current'))
  return { D, R }
}

/** Changes made by hand in a live release since it was made ready (see CHANGED). */
function changeOnTheServer(R: string): void {
  // A plugin installed by hand: one path, however many files it holds.
  mkdirSync(join(R, 'plugins/akismet'), { recursive: true })
  writeFileSync(join(R, 'plugins/akismet/akismet.php'), 'plugin')
  writeFileSync(join(R, 'plugins/akismet/readme.txt'), 'readme')
  rmSync(join(R, 'lib'), { recursive: true })
  unlinkSync(join(R, 'gone.txt'))
  writeFileSync(join(R, 'index.php'), '<?php echo 1; echo 2;')
  chmodSync(join(R, 'bin.sh'), 0o755)
  chmodSync(join(R, 'app'), 0o777)
  // Same size, same type and mode: only the modification time tells, a line break in the
  // name included.
  writeFileSync(join(R, 'config.php'), 'debug=1')
  writeFileSync(join(R, 'new\nline.txt'), 'NL')
}

/** What the drift check names for changeOnTheServer, whichever way the release is read. */
const CHANGED = {
  added: ['d 755 ./plugins', 'f 644 21 ./index.php', 'f 755 9 ./bin.sh', 'd 777 ./app'].sort(),
  missing: [
    'f 644 15 ./gone.txt',
    'f 644 13 ./index.php',
    'f 644 9 ./bin.sh',
    'd 755 ./app',
    'd 755 ./lib'
  ].sort(),
  newer: ['config.php', 'new\nline.txt'],
  counts: [4, 5, 2]
}

const inspect = (D: string): string =>
  scriptText(
    inspectScript({
      path: D,
      lock: false,
      lockOwner: '',
      reuse: 'previous',
      systemExact: SYSTEM_DIRECTORIES.exact,
      systemTrees: SYSTEM_DIRECTORIES.trees,
      drift: true
    })
  )

describe.each(shells)('$name', shell => {
  it('reports nothing for a release as it was made ready, shared links and writes to shared/ included', () => {
    const { D } = deployed(shell)
    writeFileSync(join(D, 'shared/uploads/photo.jpg'), 'jpeg')
    const lines = sh(shell, inspect(D), D)
    expect(lines.filter(l => l.startsWith('drift'))).toEqual(['drift 0 0 0'])
  })

  it('names what was added, removed, resized, re-moded and edited in place since; a new or removed directory as one path', () => {
    const { D, R } = deployed(shell)
    changeOnTheServer(R)
    const lines = sh(shell, inspect(D), D).filter(l => l.startsWith('drift'))
    const added = lines.filter(l => l.startsWith('drift-added ')).map(l => l.slice(12))
    const missing = lines.filter(l => l.startsWith('drift-missing ')).map(l => l.slice(14))
    const newer = lines.filter(l => l.startsWith('drift-newer ')).map(l => l.slice(12))
    expect(added.sort()).toEqual(CHANGED.added)
    expect(missing.sort()).toEqual(CHANGED.missing)
    // A line break in a name comes percent-encoded, one result a line.
    expect(newer.sort()).toEqual(CHANGED.newer.map(p => p.replace('\n', '%0A')))
    expect(lines.at(-1)).toBe(`drift ${CHANGED.counts.join(' ')}`)
  })

  it('marks a time that a file written right after it is newer than, as drift_list compares', () => {
    const dir = join(work, `mark${++counter}`)
    mkdirSync(dir)
    // Written at once, with no process started in between: without the wait, the file's time
    // is the kernel's coarse clock's (or, with BusyBox find, the second's) as the mark's.
    const script = `${DIFF_LIB}
i=0
while [ $i -lt 5 ]; do
  mark_time m$i || exit 1
  printf x > f$i
  if newer f$i m$i; then say newer; else say same; fi
  [ "$(drift_list m$i | grep -c "^N f 600 1 ./f$i$")" = 1 ] && say listed
  i=$((i + 1))
done`
    const lines = sh(shell, script, dir)
    expect(lines).toEqual(Array.from({ length: 5 }, () => ['newer', 'listed']).flat())
  })

  it('says it cannot tell for a release made before drift records existed', () => {
    const { D } = deployed(shell)
    rmSync(join(D, '.atomic-deploy/manifests/r1.ready'))
    const lines = sh(shell, inspect(D), D)
    expect(lines).toContain('drift unknown')
    expect(lines.some(l => /^drift \d/.test(l))).toBe(false)
  })
})

describe('the drift check of an SFTP-only deploy (src/server/sftp-drift.ts)', () => {
  it('names what the shell drift check names, from the same records and a walk over SFTP', async () => {
    const { D, R } = deployed(shells[0]!)
    changeOnTheServer(R)
    const files = new LocalFiles()
    const M = join(D, '.atomic-deploy/manifests')
    const ready = await files.lstat(join(M, 'r1.ready'))
    const diff = driftOf(
      readFileSync(join(M, 'r1.listing'), 'utf8'),
      await walkTree(files, R),
      ready!.mtime,
      parseLinkList(readFileSync(join(M, 'r1.links')), 'r1.links')
    )
    expect(diff.added.sort()).toEqual(CHANGED.added)
    expect(diff.missing.sort()).toEqual(CHANGED.missing)
    expect(diff.newer.sort()).toEqual(CHANGED.newer)
    expect(diff.counts).toEqual(CHANGED.counts)
    // And nothing for a release as it was made ready.
    const again = deployed(shells[0]!)
    const none = driftOf(
      readFileSync(join(again.D, '.atomic-deploy/manifests/r1.listing'), 'utf8'),
      await walkTree(files, again.R),
      (await files.lstat(join(again.D, '.atomic-deploy/manifests/r1.ready')))!.mtime,
      ['uploads']
    )
    expect(none.counts).toEqual([0, 0, 0])
  })
})
