/**
 * remote-scripts.ts, run for real: every generated script is executed with a local shell against
 * temp directories, once with dash and the GNU tools, once with BusyBox sh and nothing but BusyBox
 * applets in PATH (the two kinds of server the scripts promise to support). Expected results come
 * from the file system (node:fs, node:crypto), never from the scripts' own text. Every script is
 * also syntax-checked (`sh -n`) with hostile values in every slot.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { getPriority, tmpdir } from 'node:os'
import { gunzipSync, gzipSync } from 'node:zlib'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { SYSTEM_DIRECTORIES } from '../../src/server/system-directories.js'
import { completeReleases, parseLog } from '../../src/release/release-log.js'
import {
  abortScript,
  finishScript,
  hookScript,
  inspectScript,
  listingScript,
  LOCK_EXIT,
  REFUSED_EXIT,
  releaseScript,
  sharedListingScript,
  switchScript,
  unlockScript,
  type FinalizeParams,
  type FinishParams,
  type InspectParams,
  type PrepareParams,
  type ReleaseParams
} from '../../src/server/remote-scripts.js'
import { withValues, type ServerScript } from '../../src/server/script-values.js'
import { parseLinkList } from '../../src/server/server-data.js'
import { quote } from '../../src/shell-quote.js'
import { compactManifest } from '../../src/release/compact-manifest.js'
import type { ManifestEntry } from '../../src/release/manifest.js'
import { BOOTSTRAP } from '../../src/ssh/bootstrap.js'
import { scriptText, type Script } from '../../src/ssh/script-frame.js'

const work = realpathSync(mkdtempSync(join(tmpdir(), 'remote-scripts-')))
afterAll(() => rmSync(work, { recursive: true, force: true }))

// A PATH holding only BusyBox applets, as on Alpine or an embedded box.
const busyboxBin = join(work, 'busybox-bin')
mkdirSync(busyboxBin)
for (const applet of execFileSync('busybox', ['--list'], { encoding: 'utf8' }).trim().split('\n')) {
  symlinkSync('/usr/bin/busybox', join(busyboxBin, applet))
}

interface Shell {
  name: string
  sh: string
  /** Arguments before `-c <script>`. */
  args: string[]
  path: string
  gnu: boolean
}

const systemPath = process.env.PATH ?? '/usr/bin:/bin'
// Every script runs under each shell a server's /bin/sh may be, and under posh (Debian's strict
// POSIX shell, derived from pdksh), which refuses what POSIX does not promise.
const shells: Shell[] = [
  { name: 'dash with GNU tools', sh: 'dash', args: [], path: systemPath, gnu: true },
  {
    name: 'BusyBox ash with only BusyBox tools',
    sh: join(busyboxBin, 'sh'),
    args: [],
    path: busyboxBin,
    gnu: false
  },
  {
    name: 'bash --posix with GNU tools',
    sh: 'bash',
    args: ['--posix'],
    path: systemPath,
    gnu: true
  },
  { name: 'posh with GNU tools', sh: 'posh', args: [], path: systemPath, gnu: true }
]

interface Output {
  status: number | null
  stdout: Buffer
  stderr: string
  /** `!key value` lines, without the `!`. */
  lines: string[]
  blobs: Map<string, Buffer>
}

/** Split script output into `!` lines and `!blob name length` payloads. */
function parseOutput(buf: Buffer): { lines: string[]; blobs: Map<string, Buffer> } {
  const lines: string[] = []
  const blobs = new Map<string, Buffer>()
  let pos = 0
  while (pos < buf.length) {
    let nl = buf.indexOf(0x0a, pos)
    if (nl < 0) nl = buf.length
    const line = buf.subarray(pos, nl).toString('utf8')
    pos = nl + 1
    const blob = /^!blob (\S+) (\d+)$/.exec(line)
    if (blob) {
      const length = Number(blob[2])
      blobs.set(blob[1]!, buf.subarray(pos, pos + length))
      pos += length
    } else if (line.startsWith('!')) {
      lines.push(line.slice(1))
    }
  }
  return { lines, blobs }
}

/**
 * Run a script with `sh -c` in `cwd`; HOME is `home` (the login directory). A script longer than
 * one argument may be (128 kB on Linux) is read from a file instead, as the server reads it from
 * stdin.
 */
function run(
  shell: Shell,
  parts: Script,
  cwd: string,
  options: { input?: Buffer | string; home?: string; pathPrefix?: string } = {}
): Output {
  const script = scriptText(parts)
  let argv = ['-c', script]
  if (Buffer.byteLength(script) > 100_000) {
    const file = join(work, `script-${++counter}.sh`)
    writeFileSync(file, script)
    argv = [file]
  }
  const r = spawnSync(shell.sh, [...shell.args, ...argv], {
    cwd,
    input: options.input ?? '',
    env: {
      PATH: options.pathPrefix ? `${options.pathPrefix}:${shell.path}` : shell.path,
      HOME: options.home ?? cwd
    },
    maxBuffer: 64 * 1024 * 1024
  })
  if (r.error) throw r.error
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr.toString('utf8'),
    ...parseOutput(r.stdout)
  }
}

let counter = 0
function fresh(label: string): string {
  const dir = join(work, `${label}-${++counter}`)
  mkdirSync(dir)
  return dir
}

/** Every path under `dir` (not following links), relative. */
/**
 * The releases a finish pruned, once their trees are gone: each is renamed aside at once and
 * removed in the background (finish_run), which ends by itself in a moment. Bounded: 5 s.
 */
function prunedTrees(D: string): string[] {
  const aside = (): string[] =>
    readdirSync(join(D, 'releases')).filter(name => name.startsWith('.pruning.'))
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let i = 0; i < 250 && aside().length > 0; i++) Atomics.wait(pause, 0, 0, 20)
  return aside()
}

function walk(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const rel = prefix ? `${prefix}/${name}` : name
    out.push(rel)
    const st = lstatSync(join(dir, name))
    if (st.isDirectory()) out.push(...walk(join(dir, name), rel))
  }
  return out.sort()
}

/** A snapshot of a tree: paths with their content or link target. */
function snapshot(dir: string): Record<string, string> {
  const result: Record<string, string> = {}
  for (const rel of walk(dir)) {
    const st = lstatSync(join(dir, rel))
    result[rel] = st.isSymbolicLink()
      ? `-> ${readlinkSync(join(dir, rel))}`
      : st.isDirectory()
        ? 'dir'
        : readFileSync(join(dir, rel), 'utf8')
  }
  return result
}

/** A name that is every kind of trouble for a shell, but still a legal file name. */
const HOSTILE = `it's "q" $(touch INJECTED) \`touch INJECTED\` \\ $HOME ; & | * ?[a] ~ #c -rf\nline2 ünï 🚀`
const injected = (dir: string): boolean => walk(dir).some(p => p.split('/').includes('INJECTED'))

/** Create files (content), directories (ending in /) and symlinks ({ link }) under `root`. */
function build(
  root: string,
  spec: Record<string, string | { link: string } | { mode: number; content: string }>
): void {
  for (const [rel, value] of Object.entries(spec)) {
    const abs = join(root, rel)
    if (rel.endsWith('/')) {
      mkdirSync(abs, { recursive: true })
      continue
    }
    mkdirSync(join(abs, '..'), { recursive: true })
    if (typeof value === 'string') writeFileSync(abs, value)
    else if ('link' in value) symlinkSync(value.link, abs)
    else writeFileSync(abs, value.content, { mode: value.mode })
  }
}

const SYS = SYSTEM_DIRECTORIES
function inspect(p: Partial<InspectParams> & { path: string }): Script {
  return inspectScript({
    lock: true,
    lockOwner: '{"run":"test"}',
    reuse: 'previous',
    systemExact: SYS.exact,
    systemTrees: SYS.trees,
    ...p
  })
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Wait (5 s at most) for a background copy `name` in `M` to write its exit status; returns it. */
async function copyStatus(M: string, name: string | undefined): Promise<string> {
  const rc = join(M, `${name}.rc`)
  for (let i = 0; i < 200 && !existsSync(rc); i++) await sleep(25)
  return readFileSync(rc, 'utf8')
}

const LOG_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/

describe.each(shells)('$name', shell => {
  // -----------------------------------------------------------------------------------------
  describe('lib/common.sh', () => {
    it("wait_job gives each job's exit status, also right after builtins that parsed an option (posh misread wait's arguments there)", () => {
      const common = readFileSync(
        fileURLToPath(new URL('../../src/server/scripts/lib/common.sh', import.meta.url)),
        'utf8'
      )
      const dir = fresh('wait')
      writeFileSync(join(dir, 'f'), 'line\n')
      const script = [
        common,
        '(exit 3) & j=$!',
        'sleep 0 & k=$!',
        'IFS= read -r a < f',
        'wait_job "$j"; r1=$?',
        'cd -P .',
        'wait_job "$k"; r2=$?',
        'echo "$a $r1 $r2"'
      ].join('\n')
      const r = spawnSync(shell.sh, [...shell.args, '-c', script], {
        cwd: dir,
        env: { PATH: shell.path, HOME: dir },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe']
      })
      expect(r.stderr).toBe('')
      expect(r.stdout).toBe('line 3 0\n')
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('inspectScript', () => {
    it('creates the layout at a relative path, takes the lock and records the owner verbatim', () => {
      const home = fresh('inspect')
      const owner = JSON.stringify({ run: 'https://github.com/o/r/actions/runs/1', note: HOSTILE })
      const r = run(shell, inspect({ path: 'sites/app', lockOwner: owner }), home)
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      const D = join(home, 'sites/app')
      expect(r.lines).toContain(`path ${D}`)
      expect(r.lines).toContain('locked-by-us')
      expect(r.lines.at(-1)).toBe('end')
      for (const d of ['releases', 'shared', '.atomic-deploy', '.atomic-deploy/lock']) {
        expect(statSync(join(D, d)).isDirectory(), d).toBe(true)
      }
      expect(existsSync(join(D, 'cache'))).toBe(false)
      expect(existsSync(join(D, 'current'))).toBe(false)
      expect(readFileSync(join(D, '.atomic-deploy/lock/owner'), 'utf8')).toBe(`${owner}\n`)
      expect(injected(home)).toBe(false)
    })

    it('reports the umask and the tools the server has', () => {
      const home = fresh('inspect')
      const r = run(shell, `umask 027\n${scriptText(inspect({ path: 'app' }))}`, home)
      expect(r.status).toBe(0)
      expect(r.lines).toContain('umask 0027')
      for (const tool of ['tar', 'gzip', 'sha256sum', 'stat', 'find', 'awk'])
        expect(r.lines).toContain(`tool ${tool}`)
      expect(r.lines.includes('tool gnu-cp')).toBe(shell.gnu)
    })

    it('finds the lock held by another run, names the holder and leaves the lock alone', () => {
      const home = fresh('inspect')
      const first = JSON.stringify({ run: 'first', started: '2026-11-22T10:15:00Z' })
      expect(run(shell, inspect({ path: 'app', lockOwner: first }), home).status).toBe(0)
      const r = run(
        shell,
        inspect({ path: 'app', lockOwner: JSON.stringify({ run: 'second' }) }),
        home
      )
      expect(r.status).toBe(LOCK_EXIT)
      expect(r.lines).toContain('locked')
      // The owner record as a blob: it may hold anything, a line break included.
      expect(r.blobs.get('owner')?.toString()).toBe(first)
      expect(r.lines).not.toContain('locked-by-us')
      expect(readFileSync(join(home, 'app/.atomic-deploy/lock/owner'), 'utf8')).toBe(`${first}\n`)
    })

    it('names the holder of a lock taken a moment ago, whose owner record comes just after', () => {
      const home = fresh('inspect')
      mkdirSync(join(home, 'app/.atomic-deploy/lock'), { recursive: true })
      const late = JSON.stringify({ run: 'late' })
      // The holder's record lands 0.3 s after the lock was found taken.
      const holder = `(sleep 0.3; printf '%s\\n' ${quote(late)} > app/.atomic-deploy/lock/owner) < /dev/null > /dev/null 2>&1 &\n`
      const r = run(shell, `${holder}${scriptText(inspect({ path: 'app' }))}`, home)
      expect(r.status).toBe(LOCK_EXIT)
      expect(r.lines).toContain('locked')
      expect(r.blobs.get('owner')?.toString()).toBe(late)
    })

    it('reports a lock that never gets an owner record as it is, within about a second', () => {
      const home = fresh('inspect')
      mkdirSync(join(home, 'app/.atomic-deploy/lock'), { recursive: true })
      const started = Date.now()
      const r = run(shell, inspect({ path: 'app' }), home)
      expect(r.status).toBe(LOCK_EXIT)
      expect(r.lines).toContain('locked')
      expect(r.blobs.has('owner')).toBe(false)
      expect(Date.now() - started).toBeLessThan(3000)
    })

    it('creates the layout under a hostile name with a leading dash, executing nothing', () => {
      const home = fresh('inspect')
      const rel = `-rf/${HOSTILE.replace('\n', ' ')}`
      const r = run(shell, inspect({ path: rel }), home)
      expect(r.status).toBe(0)
      expect(statSync(join(home, rel, '.atomic-deploy/lock')).isDirectory()).toBe(true)
      expect(injected(home)).toBe(false)
    })

    it('refuses a path that resolves to a name with a newline, writing nothing', () => {
      const home = fresh('inspect')
      mkdirSync(join(home, 'real\nname'))
      symlinkSync('real\nname', join(home, 'app'))
      const r = run(shell, inspect({ path: `-rf/${HOSTILE}` }), home)
      expect(r.status).toBe(REFUSED_EXIT)
      expect(r.lines).toContain(
        'refused layout the deploy path resolves to a name that contains a newline'
      )
      expect(run(shell, inspect({ path: 'app/x' }), home).status).toBe(REFUSED_EXIT)
      expect(readdirSync(home).sort()).toEqual(['app', 'real\nname'])
      expect(readdirSync(join(home, 'real\nname'))).toEqual([])
      expect(injected(home)).toBe(false)
    })

    it('takes an absolute path as it is', () => {
      const home = fresh('inspect')
      const D = join(fresh('elsewhere'), 'www app')
      const r = run(shell, inspect({ path: D }), home)
      expect(r.status).toBe(0)
      expect(r.lines).toContain(`path ${D}`)
      expect(existsSync(join(D, 'releases'))).toBe(true)
      expect(readdirSync(home)).toEqual([])
    })

    it('writes nothing without the lock (dry run), for a missing or an empty directory', () => {
      const home = fresh('inspect')
      const missing = run(shell, inspect({ path: 'sites/app', lock: false }), home)
      expect(missing.status).toBe(0)
      expect(missing.lines.at(-1)).toBe('end')
      expect(missing.lines).not.toContain('locked-by-us')
      expect(readdirSync(home)).toEqual([])
      mkdirSync(join(home, 'app'))
      expect(run(shell, inspect({ path: 'app', lock: false }), home).status).toBe(0)
      expect(readdirSync(join(home, 'app'))).toEqual([])
    })

    it('refuses a non-empty directory of another shape, naming what is there, and touches nothing', () => {
      const home = fresh('inspect')
      const D = join(home, 'app')
      build(D, {
        'index.html': '<h1>old site</h1>',
        '.env': 'A=1',
        '..odd': 'x',
        'sub/x': 'y',
        'shared/': ''
      })
      const before = snapshot(D)
      for (const lock of [true, false]) {
        const r = run(shell, inspect({ path: 'app', lock }), home)
        expect(r.status).toBe(REFUSED_EXIT)
        expect(r.lines).toEqual(
          expect.arrayContaining([
            'foreign index.html',
            'foreign .env',
            'foreign ..odd',
            'foreign sub'
          ])
        )
        expect(r.lines).not.toContain('foreign shared')
        expect(r.lines.some(l => l.startsWith('refused foreign'))).toBe(true)
        expect(snapshot(D)).toEqual(before)
      }
    })

    it('welcomes a shared/ prepared by hand before the first deploy', () => {
      const home = fresh('inspect')
      build(join(home, 'app'), { 'shared/.env': 'SECRET=1\n', 'shared/storage/logs/': '' })
      const r = run(shell, inspect({ path: 'app' }), home)
      expect(r.status).toBe(0)
      expect(readFileSync(join(home, 'app/shared/.env'), 'utf8')).toBe('SECRET=1\n')
      expect(existsSync(join(home, 'app/.atomic-deploy/lock'))).toBe(true)
    })

    it('refuses system directories, exactly and as trees, also through symlinks, and creates nothing', () => {
      const home = fresh('inspect')
      // Names that would match other directories if the script left them unquoted in `case`.
      const exact = join(home, "sys dir's [1]")
      const tree = join(home, 'tree $(x) *')
      const sibling = join(home, "sys dir's 1")
      for (const d of [exact, tree, sibling]) mkdirSync(d)
      symlinkSync(exact, join(home, 'link-exact'))
      symlinkSync(tree, join(home, 'link-tree'))
      const params = { systemExact: [...SYS.exact, exact], systemTrees: [...SYS.trees, `${tree}/`] }
      for (const path of [exact, 'link-exact', `${tree}/app`, 'link-tree/new/app', `${tree}/x/y`]) {
        const r = run(shell, inspect({ path, ...params }), home)
        expect(r.status, path).toBe(REFUSED_EXIT)
        expect(
          r.lines.some(l => l.startsWith('refused system')),
          path
        ).toBe(true)
      }
      expect(readdirSync(exact)).toEqual([])
      expect(readdirSync(tree)).toEqual([])
      // The look-alike sibling is an ordinary directory.
      expect(run(shell, inspect({ path: sibling, ...params }), home).status).toBe(0)
      expect(existsSync(join(sibling, '.atomic-deploy/lock'))).toBe(true)
    })

    it('refuses a path that is a file', () => {
      const home = fresh('inspect')
      writeFileSync(join(home, 'app'), 'a file')
      const r = run(shell, inspect({ path: 'app' }), home)
      expect(r.status).toBe(REFUSED_EXIT)
      expect(r.lines.some(l => l.startsWith('refused notdir'))).toBe(true)
      expect(readFileSync(join(home, 'app'), 'utf8')).toBe('a file')
    })

    it.each([
      ['current is a directory', { '.atomic-deploy/': '', 'releases/': '', 'current/': '' }],
      ['releases is a file', { '.atomic-deploy/': '', releases: 'x' }],
      ['.atomic-deploy is a file', { 'releases/': '', '.atomic-deploy': 'x' }]
    ])('refuses a layout where %s', (_label, spec) => {
      const home = fresh('inspect')
      build(join(home, 'app'), spec)
      const before = snapshot(join(home, 'app'))
      const r = run(shell, inspect({ path: 'app' }), home)
      expect(r.status).toBe(REFUSED_EXIT)
      expect(r.lines.some(l => l.startsWith('refused layout'))).toBe(true)
      expect(snapshot(join(home, 'app'))).toEqual(before)
    })

    it('refuses a deploy directory every user may write to, sticky or not, and writes nothing', () => {
      for (const [mode, shownMode] of [
        [0o777, '777'],
        [0o1777, '1777'],
        [0o703, '703']
      ] as const) {
        const home = fresh('inspect')
        const D = join(home, 'app')
        build(D, { 'shared/.env': 'A=1\n' })
        chmodSync(D, mode)
        const before = snapshot(D)
        const r = run(shell, inspect({ path: 'app' }), home)
        expect(r.status, shownMode).toBe(REFUSED_EXIT)
        expect(
          r.lines.find(l => l.startsWith('refused')),
          shownMode
        ).toBe(
          `refused layout ${D} is writable by every user, so anybody could swap its entries; remove that (chmod o-w)`
        )
        expect(snapshot(D), shownMode).toEqual(before)
      }
    })

    it('checks the deploy directory before the layout in it: one every user may write to is named first', () => {
      const home = fresh('inspect')
      const D = join(home, 'app')
      build(home, { 'elsewhere/': '' })
      build(D, { '.atomic-deploy/': '' })
      symlinkSync(join(home, 'elsewhere'), join(D, 'releases'))
      chmodSync(D, 0o777)
      const before = snapshot(D)
      const r = run(shell, inspect({ path: 'app' }), home)
      expect(r.status).toBe(REFUSED_EXIT)
      expect(r.lines.filter(l => l.startsWith('refused'))).toEqual([
        `refused layout ${D} is writable by every user, so anybody could swap its entries; remove that (chmod o-w)`
      ])
      expect(snapshot(D)).toEqual(before)
    })

    it('makes the metadata directory private again when other users may read it, and leaves one that is as it is', () => {
      const home = fresh('inspect')
      const D = join(home, 'app')
      build(D, { 'releases/': '', 'shared/': '', '.atomic-deploy/manifests/': '' })
      const M = join(D, '.atomic-deploy')
      chmodSync(M, 0o755)
      const first = run(shell, inspect({ path: 'app' }), home)
      expect(first.status, first.stderr).toBe(0)
      expect(first.lines).toContain('locked-by-us')
      expect(statSync(M).mode & 0o7777).toBe(0o700)
      rmSync(join(M, 'lock'), { recursive: true })
      const second = run(shell, inspect({ path: 'app' }), home)
      expect(second.status, second.stderr).toBe(0)
      expect(second.lines).toContain('locked-by-us')
      expect(statSync(M).mode & 0o7777).toBe(0o700)
    })

    it('reports current, the releases, and the log and links of the live release byte for byte', () => {
      const home = fresh('inspect')
      const D = join(home, 'app')
      const log =
        'start\tr1\t2026-11-22T10:00:00Z\nready\tr1\t2026-11-22T10:00:05Z\nstart\tr2\t2026-11-22T11:00:00Z\nready\tr2\t2026-11-22T11:00:05Z\n'
      build(D, {
        'releases/r1/': '',
        'releases/r2/index.html': 'v2',
        'shared/': '',
        '.atomic-deploy/log': log,
        '.atomic-deploy/manifests/r2.links': 'storage\n.env\n'
      })
      symlinkSync('releases/r2', join(D, 'current'))
      const r = run(shell, inspect({ path: 'app' }), home)
      expect(r.status).toBe(0)
      expect(r.blobs.get('current')?.toString()).toBe('releases/r2')
      expect(r.lines.filter(l => l.startsWith('release ')).sort()).toEqual([
        'release r1',
        'release r2'
      ])
      expect(r.blobs.get('log')?.toString()).toBe(log)
      expect(r.blobs.get('links')?.toString()).toBe('storage\n.env\n')
      // Without the runner's digest asked for, no manifest at all (a rollback needs none).
      expect(r.blobs.has('view') || r.blobs.has('manifest') || r.lines.includes('same')).toBe(false)
      expect(r.lines.at(-1)).toBe('end')
    })

    it('sends no record that is a symlink: a log, link list or hook record linked to a file outside is not read', () => {
      const home = fresh('inspect')
      const D = join(home, 'app')
      build(home, {
        'outside/log': 'start\tr2\t2026-11-22T11:00:00Z\n',
        'outside/links': '../../../etc\n',
        'outside/hook': '!hook 0 0 0\n'
      })
      build(D, {
        'releases/r2/index.html': 'v2',
        'shared/': '',
        '.atomic-deploy/log': { link: join(home, 'outside/log') },
        '.atomic-deploy/manifests/r2.links': { link: join(home, 'outside/links') },
        '.atomic-deploy/manifests/r2.hook': { link: join(home, 'outside/hook') }
      })
      symlinkSync('releases/r2', join(D, 'current'))
      const r = run(shell, inspect({ path: 'app' }), home)
      expect(r.status).toBe(0)
      expect(r.blobs.get('current')?.toString()).toBe('releases/r2')
      expect([...r.blobs.keys()]).toEqual(['current'])
      expect(r.lines.filter(l => l.startsWith('toolarge'))).toEqual([])
      expect(r.lines.at(-1)).toBe('end')
    })

    describe("the starting point's manifest, against the source's digest", () => {
      /** A deploy directory whose live release r2 (and cache/) has a manifest of `m2` lines. */
      function withManifest(home: string): { D: string; digest: string; view: Buffer } {
        const D = join(home, 'app')
        const m2 = `a f 644 1 ${'e'.repeat(64)}\nb d - 0 -\n`
        // A view holding newlines and a fake `!end` line, as gzip may: read byte for byte.
        const view = Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('\n!end\n!blob x 3\n')])
        const digest = createHash('sha256').update(m2).digest('hex')
        build(D, {
          'releases/r1/': '',
          'releases/r2/': '',
          'cache/index.html': 'x',
          '.atomic-deploy/manifests/': ''
        })
        for (const stem of ['manifests/r2', 'cache']) {
          writeFileSync(join(D, `.atomic-deploy/${stem}.m2`), m2)
          writeFileSync(join(D, `.atomic-deploy/${stem}.digest`), `${digest}\n`)
          writeFileSync(join(D, `.atomic-deploy/${stem}.view.gz`), view)
        }
        build(D, { '.atomic-deploy/manifests/r1.json.gz': 'older version' })
        symlinkSync('releases/r2', join(D, 'current'))
        return { D, digest, view }
      }

      it.each(['previous', 'cache'] as const)(
        'says same for the same digest, sends the view for another (reuse %s)',
        reuse => {
          const home = fresh('inspect')
          const { digest, view } = withManifest(home)
          const ask = (line: string) =>
            run(shell, inspect({ path: 'app', lock: false, reuse, wantDigest: true }), home, {
              input: `${line}\n`
            })
          const same = ask(digest)
          expect(same.status, same.stderr).toBe(0)
          expect(same.lines).toContain('same')
          expect(same.blobs.has('view')).toBe(false)
          expect(same.lines.at(-1)).toBe('end')
          const other = ask('f'.repeat(64))
          expect(other.lines).not.toContain('same')
          expect(other.blobs.get('view')?.equals(view)).toBe(true)
          // No digest at all (the runner's scan failed): the view, never `same`.
          const none = run(
            shell,
            inspect({ path: 'app', lock: false, reuse, wantDigest: true }),
            home
          )
          expect(none.lines).not.toContain('same')
          expect(none.blobs.get('view')?.equals(view)).toBe(true)
        }
      )

      it('sends the manifest an older version wrote when there is no other, and nothing with reuse none', () => {
        const home = fresh('inspect')
        const { D, digest } = withManifest(home)
        rmSync(join(D, 'current'))
        symlinkSync('releases/r1', join(D, 'current'))
        const old = run(shell, inspect({ path: 'app', lock: false, wantDigest: true }), home, {
          input: `${digest}\n`
        })
        expect(old.lines).not.toContain('same')
        expect(old.blobs.get('manifest')?.toString()).toBe('older version')
        const none = run(
          shell,
          inspect({ path: 'app', lock: false, reuse: 'none', wantDigest: true }),
          home,
          {
            input: `${digest}\n`
          }
        )
        expect(none.lines).not.toContain('same')
        expect(none.blobs.has('manifest') || none.blobs.has('view')).toBe(false)
      })

      it('sends the view as text where the server had no gzip to write it with', () => {
        const home = fresh('inspect')
        const { D, view } = withManifest(home)
        rmSync(join(D, '.atomic-deploy/manifests/r2.view.gz'))
        writeFileSync(join(D, '.atomic-deploy/manifests/r2.view'), 'a f 644 1 eeeeeeeeeeeeeeee\n')
        const r = run(shell, inspect({ path: 'app', lock: false, wantDigest: true }), home, {
          input: `${'f'.repeat(64)}\n`
        })
        expect(r.blobs.has('view')).toBe(false)
        expect(r.blobs.get('view-text')?.toString()).toBe('a f 644 1 eeeeeeeeeeeeeeee\n')
        expect(view.length).toBeGreaterThan(0)
      })

      it('takes a digest file that is not 64 hex digits for none', () => {
        const home = fresh('inspect')
        const { D } = withManifest(home)
        writeFileSync(join(D, '.atomic-deploy/manifests/r2.digest'), 'nothex\n')
        const r = run(shell, inspect({ path: 'app', lock: false, wantDigest: true }), home, {
          input: 'nothex\n'
        })
        expect(r.lines).not.toContain('same')
      })
    })

    it('reports what it cannot vouch for as it is, and never a line it did not write', () => {
      const home = fresh('inspect')
      const D = join(home, 'app')
      const target = 'releases/x\n!path /etc\n!release evil\n'
      build(D, {
        'releases/r1/': '',
        'releases/not an id/': '',
        'releases/.hidden/': '',
        '.atomic-deploy/manifests/r1.json.gz': 'm'
      })
      mkdirSync(join(D, 'releases', 'a\n!release b'))
      symlinkSync(join(D, 'releases/r1'), join(D, 'releases/linked'))
      writeFileSync(join(D, '.atomic-deploy/log'), 'x'.repeat(2000))
      symlinkSync(target, join(D, 'current'))
      const r = run(
        shell,
        inspect({ path: 'app', limits: { log: 1000, manifest: 10, links: 10 } }),
        home
      )
      expect(r.status).toBe(0)
      // current's target byte for byte, trailing newline included; no injected line.
      expect(r.blobs.get('current')?.toString()).toBe(target)
      expect(r.lines.filter(l => l.startsWith('path '))).toEqual([`path ${D}`])
      // Only real directories named like release ids are releases.
      expect(r.lines.filter(l => l.startsWith('release '))).toEqual(['release r1'])
      // A log past its limit is reported by size and not sent.
      expect(r.lines).toContain('toolarge log 2000')
      expect(r.blobs.has('log')).toBe(false)
      // current is not a release: no manifest is sent for it, and no copy is started.
      expect(r.blobs.has('manifest')).toBe(false)
      expect(r.lines.filter(l => l.startsWith('prefetch'))).toEqual([])
    })

    it('sends a manifest an older version wrote for the cache or the live release, within its limit', () => {
      const home = fresh('inspect')
      const D = join(home, 'app')
      build(D, {
        'releases/r1/': '',
        '.atomic-deploy/manifests/r1.json.gz': 'live manifest',
        '.atomic-deploy/cache.manifest.json.gz': 'cache manifest',
        'cache/index.html': 'x'
      })
      symlinkSync('releases/r1/', join(D, 'current'))
      const ask = (reuse: 'cache' | 'previous' | 'none', limit?: number) =>
        run(
          shell,
          inspect({
            path: 'app',
            lock: false,
            reuse,
            wantDigest: true,
            ...(limit ? { limits: { log: 1000, manifest: limit, links: 1000 } } : {})
          }),
          home,
          { input: `${'f'.repeat(64)}\n` }
        )
      expect(ask('cache').blobs.get('manifest')?.toString()).toBe('cache manifest')
      expect(ask('previous').blobs.get('manifest')?.toString()).toBe('live manifest')
      expect(ask('none').blobs.has('manifest')).toBe(false)
      // Past its limit: reported by size, not sent.
      const over = ask('previous', 5)
      expect(over.blobs.has('manifest')).toBe(false)
      expect(over.lines).toContain('toolarge manifest 13')
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('finishScript', () => {
    /** A deploy directory with releases old1, old2, live, new, their metadata, a log and our lock. */
    function deployDir(parent: string, name = 'app', owner = '{"token":"tok-ours"}'): string {
      const D = join(parent, name)
      const spec: Record<string, string> = { 'shared/.env': 'E=1' }
      for (const id of ['old1', 'old2', 'live', 'new']) {
        spec[`releases/${id}/index.html`] = id
        spec[`.atomic-deploy/manifests/${id}.json.gz`] = id
        spec[`.atomic-deploy/manifests/${id}.links`] = ''
        spec[`.atomic-deploy/revisions/${id}.json`] = '{}'
      }
      spec['.atomic-deploy/log'] = ['old1', 'old2', 'live', 'new']
        .flatMap(id => [`start\t${id}\t2026-11-22T10:00:00Z`, `ready\t${id}\t2026-11-22T10:00:01Z`])
        .concat([
          'start\tgone\t2026-11-22T10:00:02Z',
          'abort\tgone\t2026-11-22T10:00:03Z',
          'live\tlive\t2026-11-22T10:00:04Z'
        ])
        .map(l => `${l}\n`)
        .join('')
      spec['.atomic-deploy/lock/owner'] = `${owner}\n`
      build(D, spec)
      symlinkSync('releases/live', join(D, 'current'))
      return D
    }

    /** finish.sh of the live release in `D` with `spare`: the run, and the spare copy's name. */
    function finishWithSpare(
      D: string,
      spare: NonNullable<FinishParams['spare']>,
      options?: { pathPrefix?: string }
    ): { r: ReturnType<typeof run>; spare: string | undefined } {
      const r = run(
        shell,
        finishScript({
          deployDir: D,
          events: [['live', 'live']],
          prune: [],
          forget: [],
          lockToken: 'tok-ours',
          spare
        }),
        D,
        options
      )
      expect(r.status, r.stderr).toBe(0)
      return { r, spare: r.lines.find(l => l.startsWith('spare '))?.split(' ')[1] }
    }

    it('copies the live release in the background for the next deploy, when the disk has room', async () => {
      const D = deployDir(fresh('finish'))
      build(D, { '.atomic-deploy/base.5/x': 'stale', '.atomic-deploy/base.5.from': 'old1 copy\n' })
      const { r, spare } = finishWithSpare(D, { release: 'live', method: 'copy', bytes: 1000 })
      expect(spare).toMatch(/^base\.\d+$/)
      expect(r.lines.slice(-2)).toEqual(['unlocked', 'finished'])
      const M = join(D, '.atomic-deploy')
      expect(await copyStatus(M, spare)).toBe('0\n')
      expect(readFileSync(join(M, `${spare}.from`), 'utf8')).toBe('live copy\n')
      expect(snapshot(join(M, spare as string))).toEqual(snapshot(join(D, 'releases/live')))
      // A copy, not links: the live release's files are not shared with it.
      expect(statSync(join(M, spare as string, 'index.html')).ino).not.toBe(
        statSync(join(D, 'releases/live/index.html')).ino
      )
      // The stale copy of another release is gone.
      expect(existsSync(join(M, 'base.5'))).toBe(false)
    })

    it('with copy-method hardlink, leaves a hard-linked copy, recorded as one', async () => {
      const D = deployDir(fresh('finish'))
      const { spare } = finishWithSpare(D, { release: 'live', method: 'hardlink', bytes: 0 })
      expect(spare).toMatch(/^base\.\d+$/)
      const M = join(D, '.atomic-deploy')
      expect(await copyStatus(M, spare)).toBe('0\n')
      // The record says so: a deploy with copy-method copy never starts from it.
      expect(readFileSync(join(M, `${spare}.from`), 'utf8')).toBe('live hardlink\n')
      expect(snapshot(join(M, spare as string))).toEqual(snapshot(join(D, 'releases/live')))
      expect(statSync(join(M, spare as string, 'index.html')).ino).toBe(
        statSync(join(D, 'releases/live/index.html')).ino
      )
    })

    it("runs the spare's cp under nice -n 10 (nothing waits for it); the copy started at lock time, which a deploy waits for, at the caller's priority", async () => {
      // A cp that notes its niceness (the 19th field of /proc/<pid>/stat), then does the copy.
      const bin = fresh('bin')
      const log = join(fresh('nice'), 'cp.log')
      const realCp = shell.gnu ? 'cp' : '/usr/bin/busybox cp'
      writeFileSync(
        join(bin, 'cp'),
        `#!/bin/sh\ncut -d ' ' -f 19 /proc/$$/stat >> '${log}'\nPATH=${shell.path}\nexec ${realCp} "$@"\n`,
        { mode: 0o755 }
      )
      const own = getPriority()
      const D = deployDir(fresh('finish'))
      const { spare } = finishWithSpare(
        D,
        { release: 'live', method: 'hardlink', bytes: 0 },
        { pathPrefix: bin }
      )
      const M = join(D, '.atomic-deploy')
      expect(await copyStatus(M, spare)).toBe('0\n')
      // Where there is no nice (this BusyBox has none), at the caller's priority.
      const hasNice = shell.path.split(':').some(dir => existsSync(join(dir, 'nice')))
      expect(readFileSync(log, 'utf8')).toBe(`${hasNice ? Math.min(19, own + 10) : own}\n`)

      const L = join(fresh('prepare'), 'app')
      build(L, {
        'releases/r1/keep.txt': 'keep',
        '.atomic-deploy/manifests/r1.json.gz': 'm',
        '.atomic-deploy/log': 'start\tr1\t2026-11-22T10:00:00Z\nready\tr1\t2026-11-22T10:00:01Z\n'
      })
      symlinkSync('releases/r1', join(L, 'current'))
      const lock = run(shell, inspect({ path: L, prefetch: { copyMethod: 'hardlink' } }), L, {
        pathPrefix: bin
      })
      expect(lock.status, lock.stderr).toBe(0)
      const name = lock.lines.find(l => l.startsWith('prefetch '))?.split(' ')[1]
      expect(name).toMatch(/^base\.\d+$/)
      const LM = join(L, '.atomic-deploy')
      expect(await copyStatus(LM, name)).toBe('0\n')
      // Every cp the lock script ran (GNU's is asked its --version first) at the caller's.
      const atLock = readFileSync(log, 'utf8').split('\n').slice(1, -1)
      expect(atLock.length).toBeGreaterThan(0)
      expect(new Set(atLock)).toEqual(new Set([String(own)]))
    })

    it('makes no spare when the disk is short of room, nor for a release that is not live', () => {
      const D = deployDir(fresh('finish'))
      const base = {
        deployDir: D,
        events: [] as [string, string][],
        prune: [],
        forget: [],
        lockToken: 'tok-ours'
      }
      const full = run(
        shell,
        finishScript({ ...base, spare: { release: 'live', method: 'copy', bytes: 2 ** 50 } }),
        D
      )
      expect(full.status, full.stderr).toBe(0)
      expect(full.lines.some(l => l.startsWith('no-spare'))).toBe(true)
      const other = run(
        shell,
        finishScript({ ...base, spare: { release: 'new', method: 'copy', bytes: 1000 } }),
        D
      )
      expect(other.status, other.stderr).toBe(0)
      expect(other.lines.some(l => l.startsWith('spare') || l.startsWith('no-spare'))).toBe(false)
      expect(readdirSync(join(D, '.atomic-deploy')).some(n => n.startsWith('base.'))).toBe(false)
    })

    it('prunes releases with their metadata, appends events, forgets ids and releases our lock', () => {
      const D = deployDir(fresh('finish'))
      const r = run(
        shell,
        finishScript({
          deployDir: D,
          events: [['live', 'new']],
          prune: ['old1', 'old2'],
          forget: ['old1', 'old2', 'gone'],
          lockToken: 'tok-ours'
        }),
        D
      )
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(r.lines).toEqual(['pruned old1', 'pruned old2', 'unlocked', 'finished'])
      // Gone from releases/ at once: renamed aside, then removed in the background.
      expect(readdirSync(join(D, 'releases')).filter(n => !n.startsWith('.'))).toEqual([
        'live',
        'new'
      ])
      expect(prunedTrees(D)).toEqual([])
      expect(readdirSync(join(D, 'releases')).sort()).toEqual(['live', 'new'])
      expect(readdirSync(join(D, '.atomic-deploy/manifests')).sort()).toEqual([
        'live.json.gz',
        'live.links',
        'new.json.gz',
        'new.links'
      ])
      expect(readdirSync(join(D, '.atomic-deploy/revisions')).sort()).toEqual([
        'live.json',
        'new.json'
      ])
      expect(existsSync(join(D, '.atomic-deploy/lock'))).toBe(false)
      expect(readlinkSync(join(D, 'current'))).toBe('releases/live')
      expect(readFileSync(join(D, 'shared/.env'), 'utf8')).toBe('E=1')
      const lines = readFileSync(join(D, '.atomic-deploy/log'), 'utf8').split('\n')
      expect(lines.slice(0, -2)).toEqual([
        'start\tlive\t2026-11-22T10:00:00Z',
        'ready\tlive\t2026-11-22T10:00:01Z',
        'start\tnew\t2026-11-22T10:00:00Z',
        'ready\tnew\t2026-11-22T10:00:01Z',
        'live\tlive\t2026-11-22T10:00:04Z'
      ])
      const [event, id, time] = lines.at(-2)!.split('\t')
      expect([event, id]).toEqual(['live', 'new'])
      expect(time).toMatch(LOG_TIME)
      expect(lines.at(-1)).toBe('')
      // What the planner reads back agrees.
      const events = parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8'))
      expect(completeReleases(events, new Set(readdirSync(join(D, 'releases'))))).toEqual([
        'live',
        'new'
      ])
    })

    it('leaves a lock held by another run in place', () => {
      const D = deployDir(fresh('finish'), 'app', '{"token":"tok-theirs"}')
      const r = run(
        shell,
        finishScript({ deployDir: D, events: [], prune: [], forget: [], lockToken: 'tok-ours' }),
        D
      )
      expect(r.status).toBe(0)
      expect(r.lines).toEqual(['finished'])
      expect(readFileSync(join(D, '.atomic-deploy/lock/owner'), 'utf8')).toBe(
        '{"token":"tok-theirs"}\n'
      )
    })

    it('does nothing but report when there is nothing to do', () => {
      const D = deployDir(fresh('finish'))
      const before = snapshot(D)
      const r = run(shell, finishScript({ deployDir: D, events: [], prune: [], forget: [] }), D)
      expect(r.status).toBe(0)
      expect(r.lines).toEqual(['finished'])
      expect(snapshot(D)).toEqual(before)
    })

    it('works in a deploy directory with a hostile name, executing nothing', () => {
      const parent = fresh('finish')
      const D = deployDir(parent, HOSTILE)
      const r = run(
        shell,
        finishScript({
          deployDir: D,
          events: [['live', 'new']],
          prune: ['old1'],
          forget: ['old1'],
          lockToken: 'tok-ours'
        }),
        parent
      )
      expect(r.status).toBe(0)
      expect(prunedTrees(D)).toEqual([])
      expect(readdirSync(join(D, 'releases')).sort()).toEqual(['live', 'new', 'old2'])
      expect(existsSync(join(D, '.atomic-deploy/lock'))).toBe(false)
      expect(injected(parent)).toBe(false)
    })

    it('refuses to prune the live release, the one it replaced, or anything the guard keeps', () => {
      const D = deployDir(fresh('finish'))
      const r = run(
        shell,
        finishScript({
          deployDir: D,
          events: [],
          // Told to remove everything: current's target, the kept release and a path outside.
          prune: ['live', 'new', 'old1', '../../x', 'live/../old2'],
          forget: [],
          lockToken: 'tok-ours',
          keep: ['new']
        }),
        D
      )
      expect(r.status).toBe(0)
      expect(r.lines).toEqual([
        'refused-remove releases/live is what current points to',
        'kept live: releases/live is what current points to',
        'refused-remove releases/new is release new, which is kept',
        'kept new: releases/new is release new, which is kept',
        'pruned old1',
        "refused-remove 'releases/../../x' is not a plain relative path",
        "kept ../../x: 'releases/../../x' is not a plain relative path",
        "refused-remove 'releases/live/../old2' is not a plain relative path",
        "kept live/../old2: 'releases/live/../old2' is not a plain relative path",
        'unlocked',
        'finished'
      ])
      expect(prunedTrees(D)).toEqual([])
      expect(readdirSync(join(D, 'releases')).sort()).toEqual(['live', 'new', 'old2'])
      expect(readdirSync(join(D, '.atomic-deploy/manifests')).sort()).toContain('live.json.gz')
    })

    it("prunes, forgets and drops seed records only while the lock is this run's", () => {
      const D = deployDir(fresh('finish'), 'app', '{"token":"tok-later-run"}')
      writeFileSync(join(D, '.atomic-deploy/seeded.new'), 'seeded storage\n')
      const before = snapshot(D)
      const r = run(
        shell,
        finishScript({
          deployDir: D,
          events: [],
          prune: ['old1'],
          forget: ['old1', 'gone'],
          lockToken: 'tok-ours',
          seeded: ['new']
        }),
        D
      )
      expect(r.status).toBe(0)
      expect(r.lines).toEqual([
        `warning the lock on ${D} is no longer this run's: nothing was pruned`,
        'finished'
      ])
      expect(snapshot(D)).toEqual(before)
    })

    it('treats ids that look like patterns as plain ids', () => {
      const D = deployDir(fresh('finish'))
      build(D, { 'releases/v1.0/x': '', 'releases/v1x0/x': '' })
      const r = run(
        shell,
        finishScript({
          deployDir: D,
          events: [],
          prune: ['v1.0'],
          forget: ['v1.0', '.*'],
          lockToken: 'tok-ours'
        }),
        D
      )
      expect(r.status).toBe(0)
      expect(existsSync(join(D, 'releases/v1x0'))).toBe(true)
      expect(existsSync(join(D, 'releases/v1.0'))).toBe(false)
      expect(parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8'))).toHaveLength(11)
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('inspectScript: what the server offers, and what a deploy needs', () => {
    it('reports the login shell and whose tools these are', () => {
      const home = fresh('inspect')
      const r = run(shell, `SHELL=/usr/bin/fish\n${scriptText(inspect({ path: 'app' }))}`, home)
      expect(r.status).toBe(0)
      expect(r.lines).toContain('shell /usr/bin/fish')
      expect(r.lines).toContain(shell.gnu ? 'toolset gnu' : 'toolset busybox')
    })

    it('stops before writing anything when a tool the deploy needs is missing', () => {
      const home = fresh('inspect')
      const r = run(
        shell,
        inspect({
          path: 'sites/app',
          require: { tools: ['sha256sum', 'adt-no-such-tool'], tar: true, tarOrSftp: true }
        }),
        home
      )
      expect(r.status).toBe(REFUSED_EXIT)
      expect(r.lines).toContain('refused tools adt-no-such-tool')
      expect(readdirSync(home)).toEqual([])
    })

    it('goes on when everything needed is there', () => {
      const home = fresh('inspect')
      const r = run(
        shell,
        inspect({
          path: 'app',
          require: { tools: ['sha256sum', 'stat', 'find', 'awk'], tar: true, tarOrSftp: true }
        }),
        home
      )
      expect(r.status).toBe(0)
      expect(r.lines).toContain('locked-by-us')
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('switchScript', () => {
    it('renames a new link over current with mv, in a hostile deploy path, and reads it back', () => {
      const D = join(fresh('switch'), HOSTILE)
      build(D, {
        'releases/a/index.html': 'a',
        'releases/b/index.html': 'b',
        '.atomic-deploy/': '',
        current: { link: 'releases/a' }
      })
      const r = run(shell, switchScript({ deployDir: D, releaseId: 'b' }), D)
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(r.lines).toEqual(['switched', 'current releases/b'])
      expect(readlinkSync(join(D, 'current'))).toBe('releases/b')
      // Moved onto the name, not into the directory the old link pointed to.
      expect(readdirSync(join(D, 'releases/a'))).toEqual(['index.html'])
      // The private directory is gone, and nothing else appeared.
      expect(readdirSync(join(D, '.atomic-deploy'))).toEqual([])
      expect(readdirSync(D).sort()).toEqual(['.atomic-deploy', 'current', 'releases'])
      expect(injected(D)).toBe(false)
    })

    it('makes current on a first deploy, and removes it when told to', () => {
      const D = join(fresh('switch'), 'app')
      build(D, { 'releases/one/x': '', '.atomic-deploy/': '' })
      const made = run(shell, switchScript({ deployDir: D, releaseId: 'one' }), D)
      expect(made.lines).toEqual(['switched', 'current releases/one'])
      const removed = run(shell, switchScript({ deployDir: D }), D)
      expect(removed.status).toBe(0)
      expect(removed.lines).toEqual(['switched'])
      expect(existsSync(join(D, 'current'))).toBe(false)
    })

    it('says it did not switch when it cannot, and leaves current as it was', () => {
      const D = join(fresh('switch'), 'app')
      // No .atomic-deploy/: the private directory cannot be made.
      build(D, { 'releases/a/x': '', 'releases/b/x': '', current: { link: 'releases/a' } })
      const r = run(shell, switchScript({ deployDir: D, releaseId: 'b' }), D)
      expect(r.status).toBe(1)
      expect(r.lines).not.toContain('switched')
      expect(r.lines.some(l => l.startsWith('error io'))).toBe(true)
      expect(readlinkSync(join(D, 'current'))).toBe('releases/a')
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('unlockScript', () => {
    it('reports that nothing is locked, and creates nothing', () => {
      const home = fresh('unlock')
      const r = run(shell, unlockScript('sites/app'), home)
      expect(r.status).toBe(0)
      expect(r.lines).toEqual([`path ${home}/sites/app`, 'not-locked'])
      expect(readdirSync(home)).toEqual([])
    })

    it('names the holder and removes a stale lock, under a hostile relative path', () => {
      const home = fresh('unlock')
      const owner = JSON.stringify({ run: 'https://github.com/o/r/actions/runs/9', note: HOSTILE })
      build(join(home, HOSTILE), { '.atomic-deploy/lock/owner': `${owner}\n`, 'releases/r1/x': '' })
      const r = run(shell, unlockScript(HOSTILE), home)
      expect(r.status).toBe(0)
      // A path holding a line break is not reported at all (the path input refuses newlines
      // anyway), and the owner record comes as a blob.
      expect(r.lines).toEqual(['unlocked'])
      expect(r.blobs.get('owner')?.toString()).toBe(owner)
      expect(existsSync(join(home, HOSTILE, '.atomic-deploy/lock'))).toBe(false)
      expect(existsSync(join(home, HOSTILE, 'releases/r1/x'))).toBe(true)
      expect(injected(home)).toBe(false)
    })

    it('removes a lock that has no owner record', () => {
      const home = fresh('unlock')
      mkdirSync(join(home, 'app/.atomic-deploy/lock'), { recursive: true })
      const r = run(shell, unlockScript(join(home, 'app')), home)
      expect(r.lines).toEqual([`path ${home}/app`, 'unlocked'])
      expect(existsSync(join(home, 'app/.atomic-deploy/lock'))).toBe(false)
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('abortScript', () => {
    it('removes the new release and its metadata, logs the abort and releases our lock, touching nothing else', () => {
      const D = join(fresh('abort'), 'app')
      build(D, {
        'releases/live/index.html': 'live',
        'releases/new/index.html': 'new',
        'shared/.env': 'E=1',
        '.atomic-deploy/manifests/live.json.gz': 'm',
        '.atomic-deploy/manifests/new.json.gz': 'm',
        '.atomic-deploy/manifests/new.links': '',
        '.atomic-deploy/revisions/new.json': '{}',
        '.atomic-deploy/tmp/new/expected': '',
        '.atomic-deploy/log': 'start\tnew\t2026-11-22T10:00:00Z\n',
        '.atomic-deploy/lock/owner': '{"token":"tok-ours"}\n'
      })
      symlinkSync('releases/live', join(D, 'current'))
      const r = run(
        shell,
        abortScript({ deployDir: D, releaseId: 'new', umask: '0022', lockToken: 'tok-ours' }),
        D
      )
      expect(r.status).toBe(0)
      expect(r.lines).toEqual(['unlocked', 'aborted'])
      expect(readdirSync(join(D, 'releases'))).toEqual(['live'])
      expect(readdirSync(join(D, '.atomic-deploy/manifests'))).toEqual(['live.json.gz'])
      expect(readdirSync(join(D, '.atomic-deploy/revisions'))).toEqual([])
      expect(existsSync(join(D, '.atomic-deploy/tmp/new'))).toBe(false)
      expect(existsSync(join(D, '.atomic-deploy/lock'))).toBe(false)
      expect(readlinkSync(join(D, 'current'))).toBe('releases/live')
      expect(readFileSync(join(D, 'shared/.env'), 'utf8')).toBe('E=1')
      const events = parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8'))
      expect(events.map(e => `${e.event} ${e.id}`)).toEqual(['start new', 'abort new'])
      expect(events[1]!.time).toMatch(LOG_TIME)
    })

    it('undoes only the seed records of its own shared-paths, and never through the guard', () => {
      const D = join(fresh('abort'), 'app')
      build(D, {
        'releases/live/index.html': 'live',
        'releases/new/index.html': 'new',
        'shared/.env': 'E=1',
        'shared/storage/logs/': '',
        'shared/uploads/a.jpg': 'users data',
        '.atomic-deploy/seeded.new':
          'seeded uploads\nseeded ../../x\ncreated storage/logs\nseeded .env\nsomething else\n'
      })
      symlinkSync('releases/live', join(D, 'current'))
      const r = run(
        shell,
        abortScript({
          deployDir: D,
          releaseId: 'new',
          umask: '0022',
          sharedPaths: ['storage/logs/', 'uploads', '.env']
        }),
        D
      )
      expect(r.status).toBe(0)
      // Listed: undone (uploads seeded, storage/logs created). Not listed: left alone.
      expect(existsSync(join(D, 'shared/uploads'))).toBe(false)
      expect(existsSync(join(D, 'shared/storage/logs'))).toBe(false)
      expect(r.lines).toContain(
        'warning the seed record of new names shared/../../x, which is not in shared-paths; it was left alone'
      )
      expect(existsSync(join(D, '.atomic-deploy/seeded.new'))).toBe(false)
      // .env is listed, and removed as the record says: the record is this run's own.
      expect(existsSync(join(D, 'shared/.env'))).toBe(false)
      const unlisted = join(fresh('abort'), 'app')
      build(unlisted, {
        'releases/new/index.html': 'new',
        'shared/.env': 'E=1',
        '.atomic-deploy/seeded.new': 'seeded .env\n'
      })
      run(shell, abortScript({ deployDir: unlisted, releaseId: 'new', umask: '0022' }), unlisted)
      expect(readFileSync(join(unlisted, 'shared/.env'), 'utf8')).toBe('E=1')
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('hookScript', () => {
    function setup(): { D: string; R: string } {
      const D = join(fresh('hook'), 'app')
      const R = join(D, 'releases/r1')
      build(D, { 'releases/r1/index.html': 'x', '.atomic-deploy/': '', 'shared/': '' })
      return { D, R }
    }

    it('runs the script verbatim in the release, with its variables, stdin closed, output on stderr', () => {
      const { D, R } = setup()
      const script = [
        `printf '%s' "$RELEASE_ID" > id.out`,
        `printf '%s' "$WEIRD" > weird.out`,
        'pwd -P > pwd.out',
        `cat <<'EOF' > heredoc.out`,
        '$(not expanded) `nor this` $HOME',
        'EOF',
        'if read -r line; then echo "read $line" > stdin.out; else echo eof > stdin.out; fi',
        'echo to-the-log',
        'exit 7'
      ].join('\n')
      const r = run(
        shell,
        hookScript({
          deployDir: D,
          releaseId: 'r1',
          name: 'after-switch',
          script,
          env: { RELEASE_ID: 'r1', WEIRD: HOSTILE }
        }),
        D,
        {
          input: 'data for the outer script\n'
        }
      )
      expect(r.status).toBe(7)
      expect(r.lines).toEqual(['hook-start after-switch', 'hook-exit after-switch 7'])
      expect(r.stdout.toString()).not.toContain('to-the-log')
      expect(r.stderr).toContain('to-the-log')
      expect(readFileSync(join(R, 'id.out'), 'utf8')).toBe('r1')
      expect(readFileSync(join(R, 'weird.out'), 'utf8')).toBe(HOSTILE)
      expect(readFileSync(join(R, 'pwd.out'), 'utf8')).toBe(`${R}\n`)
      expect(readFileSync(join(R, 'heredoc.out'), 'utf8')).toBe(
        '$(not expanded) `nor this` $HOME\n'
      )
      expect(readFileSync(join(R, 'stdin.out'), 'utf8')).toBe('eof\n')
      // The script file is gone.
      expect(walk(join(D, '.atomic-deploy')).filter(p => p.endsWith('.sh'))).toEqual([])
      expect(injected(D)).toBe(false)
    })

    it('runs under sh -e: the first failing command ends the hook', () => {
      const { D, R } = setup()
      const r = run(
        shell,
        hookScript({
          deployDir: D,
          releaseId: 'r1',
          name: 'after-switch',
          script: 'false\ntouch after-false',
          env: { RELEASE_ID: 'r1' }
        }),
        D
      )
      expect(r.status).not.toBe(0)
      expect(r.lines).toContain(`hook-exit after-switch ${r.status}`)
      expect(existsSync(join(R, 'after-false'))).toBe(false)
    })

    it('keeps here-documents of the script intact, whatever their end markers', () => {
      const { D, R } = setup()
      // The hook is shipped inside a here-document itself: lines equal to common or look-alike
      // end markers must not end it early.
      const script = [
        "cat <<'EOF' > out",
        'one',
        'EOF',
        "cat <<'ATOMIC_DEPLOY_0000000000000000' >> out",
        'two',
        'ATOMIC_DEPLOY_0000000000000000',
        'echo three >> out'
      ].join('\n')
      const r = run(
        shell,
        hookScript({
          deployDir: D,
          releaseId: 'r1',
          name: 'after-switch',
          script,
          env: { A: 'a' }
        }),
        D
      )
      expect(r.status).toBe(0)
      expect(readFileSync(join(R, 'out'), 'utf8')).toBe('one\ntwo\nthree\n')
    })

    it('writes the hook only into a .atomic-deploy/tmp of its own: a symlink there, or one every user may write to, is refused and the hook never runs', () => {
      for (const [what, plant, why] of [
        [
          'a symlink',
          (D: string, outside: string) => symlinkSync(outside, join(D, '.atomic-deploy/tmp')),
          /^error hook cannot run after-switch: \.atomic-deploy\/tmp is a symlink \(to .*outside\)/
        ],
        [
          'world-writable',
          (D: string) => {
            mkdirSync(join(D, '.atomic-deploy/tmp'))
            chmodSync(join(D, '.atomic-deploy/tmp'), 0o777)
          },
          /^error hook cannot run after-switch: \.atomic-deploy\/tmp is writable by every user \(mode 777\)/
        ]
      ] as const) {
        const { D, R } = setup()
        const outside = join(D, '..', 'outside')
        mkdirSync(outside)
        plant(D, outside)
        const r = run(
          shell,
          hookScript({
            deployDir: D,
            releaseId: 'r1',
            name: 'after-switch',
            script: 'touch ran',
            env: { RELEASE_ID: 'r1' }
          }),
          D
        )
        expect(r.status, what).not.toBe(0)
        expect(
          r.lines.find(l => l.startsWith('error')),
          what
        ).toMatch(why)
        expect(r.lines, what).not.toContain('hook-start after-switch')
        expect(readdirSync(outside), what).toEqual([])
        expect(existsSync(join(R, 'ran')), what).toBe(false)
      }
    })

    it('does not run the hook anywhere else when the release directory is missing', () => {
      const { D } = setup()
      const r = run(
        shell,
        hookScript({
          deployDir: D,
          releaseId: 'missing',
          name: 'after-switch',
          script: 'touch ran-here',
          env: { RELEASE_ID: 'missing', RELEASE_PATH: join(D, 'releases/missing') }
        }),
        D
      )
      expect(r.status).not.toBe(0)
      expect(walk(D).filter(p => p.endsWith('ran-here'))).toEqual([])
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('releaseScript: prepare', () => {
    const common = (D: string, id: string): ReleaseParams => ({
      deployDir: D,
      releaseId: id,
      umask: '0022'
    })
    const prepare = (p: Partial<PrepareParams>): PrepareParams => ({
      staleReleases: [],
      base: { kind: 'none' },
      copyMethod: 'copy',
      remove: [],
      transfer: { kind: 'sftp' },
      ...p
    })

    function liveLayout(): string {
      const D = join(fresh('prepare'), 'app')
      build(D, {
        'releases/r1/keep.txt': 'keep',
        "releases/r1/it's.txt": 'quote',
        'releases/r1/new\nline': 'newline',
        'releases/r1/-rf': 'dash',
        'releases/r1/dir/a': 'a',
        'releases/r1/dir/sub/b': 'b',
        'releases/r1/storage': { link: '../../shared/storage' },
        'releases/r1/.env': { link: '../../shared/.env' },
        'releases/crashed/half': 'half',
        'shared/storage/file': 'shared data',
        'shared/.env': 'E=1',
        '.atomic-deploy/log':
          'start\tr1\t2026-11-22T10:00:00Z\nready\tr1\t2026-11-22T10:00:01Z\nstart\tcrashed\t2026-11-22T10:01:00Z\n'
      })
      symlinkSync('releases/r1', join(D, 'current'))
      return D
    }

    it.each(['copy', 'hardlink'] as const)(
      'starts from the live release (%s), removes planned paths with hostile names and the old shared links',
      copyMethod => {
        const D = liveLayout()
        // A prune whose removal in the background was cut: a leftover, removed with the others.
        build(D, { 'releases/.pruning.r0.4242/deep/file': 'pruned' })
        const before = snapshot(join(D, 'releases/r1'))
        const r = run(
          shell,
          releaseScript(
            common(D, 'r2'),
            prepare({
              staleReleases: ['crashed'],
              base: { kind: 'release', id: 'r1', sharedLinks: ['storage', '.env'] },
              copyMethod,
              remove: ["it's.txt", 'new\nline', '-rf', 'dir']
            })
          ),
          D
        )
        expect(r.status).toBe(0)
        expect(r.lines).toEqual(['prepared'])
        expect(snapshot(join(D, 'releases/r2'))).toEqual({ 'keep.txt': 'keep' })
        // The live release and shared/ are untouched; a hard link shares the inode, a copy does not.
        expect(snapshot(join(D, 'releases/r1'))).toEqual(before)
        expect(readFileSync(join(D, 'shared/storage/file'), 'utf8')).toBe('shared data')
        const same =
          statSync(join(D, 'releases/r1/keep.txt')).ino ===
          statSync(join(D, 'releases/r2/keep.txt')).ino
        expect(same).toBe(copyMethod === 'hardlink')
        expect(existsSync(join(D, 'releases/crashed'))).toBe(false)
        expect(existsSync(join(D, 'releases/.pruning.r0.4242'))).toBe(false)
        const events = parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8')).map(
          e => `${e.event} ${e.id}`
        )
        expect(events.slice(-2)).toEqual(['start r2', 'abort crashed'])
        expect(statSync(join(D, '.atomic-deploy/tmp/r2')).isDirectory()).toBe(true)
      }
    )

    it.each(['copy', 'hardlink'] as const)(
      "gives every directory of the starting copy the release's mode (%s): one opened up or closed on the server is not carried on",
      copyMethod => {
        const D = liveLayout()
        const r1 = join(D, 'releases/r1')
        build(r1, { 'open/deep/x': 'x', 'closed/y': 'y', 'group/z': 'z', 'fine/w': 'w' })
        chmodSync(join(r1, 'open'), 0o777)
        chmodSync(join(r1, 'open/deep'), 0o757)
        chmodSync(join(r1, 'closed'), 0o700)
        chmodSync(join(r1, 'group'), 0o775)
        // A set-group-ID directory keeps that bit: only the permission bits are the release's.
        chmodSync(join(r1, 'fine'), 0o2755)
        const r = run(
          shell,
          releaseScript(
            common(D, 'r2'),
            prepare({ base: { kind: 'release', id: 'r1', sharedLinks: [] }, copyMethod })
          ),
          D
        )
        expect(r.status, r.stderr).toBe(0)
        const modeOf = (rel: string): string =>
          (statSync(join(D, 'releases/r2', rel)).mode & 0o7777).toString(8)
        expect(
          ['open', 'open/deep', 'closed', 'group', 'fine', 'dir', 'dir/sub'].map(
            rel => `${rel} ${modeOf(rel)}`
          )
        ).toEqual([
          'open 755',
          'open/deep 755',
          'closed 755',
          'group 755',
          'fine 2755',
          'dir 755',
          'dir/sub 755'
        ])
      }
    )

    it('extracts a tar stream from stdin into the new release (plain and gzip)', () => {
      for (const gzip of [false, true]) {
        const D = liveLayout()
        const staging = fresh('staging')
        build(staging, { 'releases/r2/new.txt': 'fresh', 'releases/r2/sub/x.txt': 'x' })
        const tar = execFileSync('tar', [
          gzip ? '-cz' : '-c',
          '-f',
          '-',
          '-C',
          staging,
          'releases/r2/new.txt',
          'releases/r2/sub/x.txt'
        ])
        const r = run(
          shell,
          releaseScript(common(D, 'r2'), prepare({ transfer: { kind: 'tar', gzip } })),
          D,
          { input: tar }
        )
        expect(r.status, r.stderr).toBe(0)
        expect(snapshot(join(D, 'releases/r2'))).toEqual({
          'new.txt': 'fresh',
          sub: 'dir',
          'sub/x.txt': 'x'
        })
      }
    })

    it('fails and removes the new release when the upload stream is not a tar archive', () => {
      const D = liveLayout()
      const r = run(
        shell,
        releaseScript(common(D, 'r2'), prepare({ transfer: { kind: 'tar', gzip: true } })),
        D,
        { input: 'not a tar stream' }
      )
      expect(r.status).toBe(1)
      expect(r.lines.some(l => l.startsWith('error transfer'))).toBe(true)
      expect(existsSync(join(D, 'releases/r2'))).toBe(false)
      expect(readlinkSync(join(D, 'current'))).toBe('releases/r1')
    })

    it('removes a long list of paths in chunks of at most 500 and about 60 kB, names of every kind included', () => {
      // A stand-in rm that records each call's argument count and bytes, then does the work.
      const bin = fresh('bin')
      const calls = join(bin, 'calls')
      const realRm = shell.gnu ? 'rm' : '/usr/bin/busybox rm'
      writeFileSync(
        join(bin, 'rm'),
        `#!/bin/sh\nn=0; for a; do n=$((n + \${#a})); done\n[ "$1 $2" != '-rf --' ] || echo "$(($# - 2)) $n" >> ${quote(calls)}\nPATH=${quote(shell.path)} exec ${realRm} "$@"\n`,
        { mode: 0o755 }
      )
      const D = liveLayout()
      // 700 short names (the count bound), then 500 long ones (the size bound).
      const names = [
        ...Array.from(
          { length: 700 },
          (_, i) => `s${i} ${HOSTILE_VALUES[i % HOSTILE_VALUES.length]}`
        ),
        ...Array.from({ length: 500 }, (_, i) => `l${i}-${'x'.repeat(200)}`)
      ]
      build(D, Object.fromEntries(names.map(n => [`releases/r1/many/${n}`, 'x'])))
      const r = run(
        shell,
        releaseScript(
          common(D, 'r2'),
          prepare({
            base: { kind: 'release', id: 'r1', sharedLinks: [] },
            remove: [...names.map(n => `many/${n}`), 'keep.txt']
          })
        ),
        D,
        { pathPrefix: bin }
      )
      expect(r.status, r.stderr).toBe(0)
      expect(readdirSync(join(D, 'releases/r2/many'))).toEqual([])
      expect(existsSync(join(D, 'releases/r2/keep.txt'))).toBe(false)
      expect(readdirSync(join(D, 'releases/r1/many'))).toHaveLength(names.length)
      const chunks = readFileSync(calls, 'utf8')
        .trim()
        .split('\n')
        .map(l => l.split(' ').map(Number) as [number, number])
      expect(chunks.reduce((sum, [count]) => sum + count, 0)).toBe(names.length + 1)
      expect(chunks[0]![0]).toBe(500)
      for (const [count, bytes] of chunks) {
        expect(count).toBeLessThanOrEqual(500)
        expect(bytes).toBeLessThan(61_000 + 4_096)
      }
      expect(chunks.length).toBeGreaterThanOrEqual(4)
      expect(injected(D)).toBe(false)
    })

    it('refuses an id that exists already and leaves that release alone', () => {
      const D = liveLayout()
      const before = snapshot(join(D, 'releases/r1'))
      const r = run(shell, releaseScript(common(D, 'r1'), prepare({})), D)
      expect(r.status).toBe(1)
      expect(r.lines.some(l => l.startsWith('error exists'))).toBe(true)
      expect(snapshot(join(D, 'releases/r1'))).toEqual(before)
    })

    describe('the copy started at lock time', () => {
      /** Inspect with prefetch; returns the `base.<pid>` name it announced. */
      function lockAndPrefetch(D: string, copyMethod: 'copy' | 'hardlink', drift = false): string {
        const r = run(shell, inspect({ path: D, drift, prefetch: { copyMethod } }), D)
        expect(r.status, r.stderr).toBe(0)
        if (drift) expect(r.lines).not.toContain('drift unknown')
        const line = r.lines.find(l => l.startsWith('prefetch '))
        expect(line).toMatch(/^prefetch base\.\d+ r1$/)
        return line!.split(' ')[1]!
      }
      const leftovers = (D: string): string[] =>
        readdirSync(join(D, '.atomic-deploy')).filter(n => n.startsWith('base.'))
      /**
       * The records of r1's deploy that let the drift check name every change of the live release
       * since (its listing then, made here with the release's own: no change; its ready marker).
       */
      function driftKnown(D: string): void {
        const R = join(D, 'releases/r1')
        const listing = run(shell, listingScript(R), R).stdout.toString('utf8')
        build(D, {
          '.atomic-deploy/manifests/r1.listing': listing,
          '.atomic-deploy/manifests/r1.links': 'storage\n.env\n',
          '.atomic-deploy/manifests/r1.ready': ''
        })
      }
      /**
       * The copies' records once the job of the copy `name`, dropped while it wrote its exit
       * status, has removed that too (its last step, a moment later). Bounded: 5 s.
       */
      const settled = (D: string, name: string): string[] => {
        const pause = new Int32Array(new SharedArrayBuffer(4))
        const ours = (): boolean => leftovers(D).some(n => n.startsWith(`${name}.`))
        for (let i = 0; i < 250 && ours(); i++) Atomics.wait(pause, 0, 0, 20)
        return leftovers(D)
      }

      it("leaves no exit status behind when dropped between its job's check and the rename", async () => {
        const D = liveLayout()
        build(D, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
        // An mv that, renaming the exit status into place, finds the copy dropped just before
        // (drop_base removes the record of what it is of first, then everything else).
        const bin = fresh('bin')
        const realMv = execFileSync('sh', ['-c', 'command -v mv'], { encoding: 'utf8' }).trim()
        writeFileSync(
          join(bin, 'mv'),
          `#!/bin/sh\ncase $1 in *.rc.tmp) rm -f "\${1%.rc.tmp}.from" ;; esac\nexec ${realMv} "$@"\n`,
          { mode: 0o755 }
        )
        const r = run(shell, inspect({ path: D, prefetch: { copyMethod: 'copy' } }), D, {
          pathPrefix: bin
        })
        expect(r.status, r.stderr).toBe(0)
        const name = r.lines.find(l => l.startsWith('prefetch '))!.split(' ')[1]!
        // The job has reached its rename once the record is gone (at most 10 s), and ends then.
        const from = join(D, '.atomic-deploy', `${name}.from`)
        for (let i = 0; i < 200 && existsSync(from); i++) await sleep(50)
        expect(existsSync(from)).toBe(false)
        await sleep(300)
        expect(leftovers(D).filter(n => n.endsWith('.rc') || n.endsWith('.rc.tmp'))).toEqual([])
      })

      /** The release script making r2 from r1, told the copy `prefetched` was started for it. */
      function prepareFrom(
        D: string,
        prefetched: string,
        copyMethod: 'copy' | 'hardlink',
        remove?: string[]
      ): Output {
        return run(
          shell,
          releaseScript(
            common(D, 'r2'),
            prepare({
              base: { kind: 'release', id: 'r1', sharedLinks: ['storage', '.env'], prefetched },
              copyMethod,
              ...(remove ? { remove } : {})
            })
          ),
          D
        )
      }

      it.each(['copy', 'hardlink'] as const)(
        'is taken over by the release script (%s) and leaves nothing behind',
        copyMethod => {
          const D = liveLayout()
          build(D, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
          const before = snapshot(join(D, 'releases/r1'))
          const name = lockAndPrefetch(D, copyMethod)
          const copyIno = statSync(join(D, '.atomic-deploy', name)).ino
          const r = prepareFrom(D, name, copyMethod, ["it's.txt", 'new\nline', '-rf', 'dir'])
          expect(r.status, r.stderr).toBe(0)
          expect(r.lines).toEqual(['prepared'])
          expect(snapshot(join(D, 'releases/r2'))).toEqual({ 'keep.txt': 'keep' })
          expect(snapshot(join(D, 'releases/r1'))).toEqual(before)
          const same =
            statSync(join(D, 'releases/r1/keep.txt')).ino ===
            statSync(join(D, 'releases/r2/keep.txt')).ino
          expect(same).toBe(copyMethod === 'hardlink')
          // Taken over, not made again: the release is that copy's directory, moved.
          expect(statSync(join(D, 'releases/r2')).ino).toBe(copyIno)
          expect(leftovers(D)).toEqual([])
        }
      )

      it.each([
        ['hard-linked', 'r1 hardlink\n'],
        ['hard-linked, its record not saying so (as builds before the kind was recorded)', 'r1\n']
      ])(
        'is not taken over by a release made with copy-method copy when it is %s: that release is copied whole',
        (_, from) => {
          const D = liveLayout()
          build(D, {
            '.atomic-deploy/manifests/r1.json.gz': 'm',
            '.atomic-deploy/base.4242.from': from,
            '.atomic-deploy/base.4242.rc': '0\n'
          })
          execFileSync('cp', ['-al', join(D, 'releases/r1'), join(D, '.atomic-deploy/base.4242')])
          const r = prepareFrom(D, 'base.4242', 'copy')
          expect(r.status, r.stderr).toBe(0)
          expect(statSync(join(D, 'releases/r2/keep.txt')).ino).not.toBe(
            statSync(join(D, 'releases/r1/keep.txt')).ino
          )
          expect(leftovers(D)).toEqual([])
        }
      )

      it('a record that is a symlink names nothing: its copy is neither kept by the inspect nor taken over by the release script', () => {
        const planted = (D: string): number => {
          build(D, {
            '.atomic-deploy/manifests/r1.json.gz': 'm',
            'elsewhere/from': 'r1 copy\n',
            '.atomic-deploy/base.4242.rc': '0\n'
          })
          execFileSync('cp', ['-a', join(D, 'releases/r1'), join(D, '.atomic-deploy/base.4242')])
          symlinkSync(join(D, 'elsewhere/from'), join(D, '.atomic-deploy/base.4242.from'))
          return statSync(join(D, '.atomic-deploy/base.4242')).ino
        }
        const D = liveLayout()
        planted(D)
        expect(lockAndPrefetch(D, 'copy')).not.toBe('base.4242')
        const E = liveLayout()
        const copyIno = planted(E)
        const r = prepareFrom(E, 'base.4242', 'copy')
        expect(r.status, r.stderr).toBe(0)
        expect(statSync(join(E, 'releases/r2')).ino).not.toBe(copyIno)
      })

      it('is not started without a manifest of the live release, nor without the lock', () => {
        const D = liveLayout()
        const r = run(shell, inspect({ path: D, prefetch: { copyMethod: 'copy' } }), D)
        expect(r.status, r.stderr).toBe(0)
        expect(r.lines.some(l => l.startsWith('prefetch'))).toBe(false)
        expect(leftovers(D)).toEqual([])
        const E = liveLayout()
        build(E, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
        const dry = run(
          shell,
          inspect({ path: E, lock: false, prefetch: { copyMethod: 'copy' } }),
          E
        )
        expect(dry.status, dry.stderr).toBe(0)
        expect(dry.lines.some(l => l.startsWith('prefetch'))).toBe(false)
        expect(leftovers(E)).toEqual([])
      })

      it('refuses a copy that failed: the new release and the copy go, current stays', () => {
        const D = liveLayout()
        build(D, {
          '.atomic-deploy/base.4242/keep.txt': 'stale',
          '.atomic-deploy/base.4242.from': 'r1 copy\n',
          '.atomic-deploy/base.4242.rc': '1\n'
        })
        const r = run(
          shell,
          releaseScript(
            common(D, 'r2'),
            prepare({
              base: { kind: 'release', id: 'r1', sharedLinks: [], prefetched: 'base.4242' }
            })
          ),
          D
        )
        expect(r.status).toBe(1)
        const error = r.lines.find(l => l.startsWith('error copy'))
        expect(error).toContain('cannot copy')
        expect(existsSync(join(D, 'releases/r2'))).toBe(false)
        expect(readlinkSync(join(D, 'current'))).toBe('releases/r1')
        expect(leftovers(D)).toEqual([])
      })

      it('refuses a copy to take over that became a symlink after the inspect: nothing written through it', () => {
        const D = liveLayout()
        build(D, {
          'outside/keep.txt': 'outside',
          '.atomic-deploy/base.4242.from': 'r1 copy\n',
          '.atomic-deploy/base.4242.rc': '0\n'
        })
        symlinkSync(join(D, 'outside'), join(D, '.atomic-deploy/base.4242'))
        const r = run(
          shell,
          releaseScript(
            common(D, 'r2'),
            prepare({
              base: { kind: 'release', id: 'r1', sharedLinks: [], prefetched: 'base.4242' }
            })
          ),
          D
        )
        expect(r.status).toBe(1)
        expect(r.lines.find(l => l.startsWith('error copy'))).toContain('the copy is a symlink')
        expect(existsSync(join(D, 'releases/r2'))).toBe(false)
        expect(readdirSync(join(D, 'outside'))).toEqual(['keep.txt'])
        expect(readlinkSync(join(D, 'current'))).toBe('releases/r1')
      })

      it('keeps a complete copy of the live release made earlier (the spare), and drops the rest', () => {
        const D = liveLayout()
        build(D, {
          '.atomic-deploy/manifests/r1.json.gz': 'm',
          // The spare: complete, of the live release.
          '.atomic-deploy/base.9999/keep.txt': 'spare',
          '.atomic-deploy/base.9999.from': 'r1 copy\n',
          '.atomic-deploy/base.9999.rc': '0\n',
          // Of another release; of the live one but failed; of the live one, unfinished: each
          // named to be met before the spare.
          '.atomic-deploy/base.3333/keep.txt': 'old',
          '.atomic-deploy/base.3333.from': 'r0 copy\n',
          '.atomic-deploy/base.3333.rc': '0\n',
          '.atomic-deploy/base.1111/keep.txt': 'failed',
          '.atomic-deploy/base.1111.from': 'r1 copy\n',
          '.atomic-deploy/base.1111.rc': '1\n',
          '.atomic-deploy/base.2222/keep.txt': 'half',
          '.atomic-deploy/base.2222.from': 'r1 copy\n'
        })
        const r = run(shell, inspect({ path: D, prefetch: { copyMethod: 'copy' } }), D)
        expect(r.status, r.stderr).toBe(0)
        expect(r.lines).toContain('prefetch base.9999 r1 spare')
        expect(leftovers(D).sort()).toEqual(['base.9999', 'base.9999.from', 'base.9999.rc'])
        const release = run(
          shell,
          releaseScript(
            common(D, 'r2'),
            prepare({
              base: { kind: 'release', id: 'r1', sharedLinks: [], prefetched: 'base.9999' }
            })
          ),
          D
        )
        expect(release.status, release.stderr).toBe(0)
        expect(readFileSync(join(D, 'releases/r2/keep.txt'), 'utf8')).toBe('spare')
        expect(leftovers(D)).toEqual([])
      })

      it.each([
        ['a whole copy', 'r1 copy\n'],
        ['a hard-linked one', 'r1 hardlink\n'],
        ['one whose record does not say which (as builds before the kind was recorded)', 'r1\n']
      ])('with copy-method hardlink, keeps a complete copy of the live release: %s', (_, from) => {
        const D = liveLayout()
        build(D, {
          '.atomic-deploy/manifests/r1.json.gz': 'm',
          '.atomic-deploy/base.4242/keep.txt': 'spare',
          '.atomic-deploy/base.4242.from': from,
          '.atomic-deploy/base.4242.rc': '0\n'
        })
        const r = run(shell, inspect({ path: D, prefetch: { copyMethod: 'hardlink' } }), D)
        expect(r.status, r.stderr).toBe(0)
        expect(r.lines).toContain('prefetch base.4242 r1 spare')
        expect(leftovers(D).sort()).toEqual(['base.4242', 'base.4242.from', 'base.4242.rc'])
      })

      it.each([
        ['a hard-linked copy', 'r1 hardlink\n', false],
        [
          'a hard-linked copy, where the drift check names every change (no walk of its own)',
          'r1 hardlink\n',
          true
        ],
        [
          'a copy whose record does not say which kind (as builds before the kind was recorded)',
          'r1\n',
          false
        ],
        ['a copy whose record does not say which kind, with the drift check', 'r1\n', true]
      ])(
        "with copy-method copy, never keeps %s (a hard-linked copy's files are the live release's own): it copies anew",
        (_, from, drift) => {
          const D = liveLayout()
          build(D, {
            '.atomic-deploy/manifests/r1.json.gz': 'm',
            '.atomic-deploy/base.4242/keep.txt': 'linked',
            '.atomic-deploy/base.4242.from': from,
            '.atomic-deploy/base.4242.rc': '0\n'
          })
          if (drift) driftKnown(D)
          const name = lockAndPrefetch(D, 'copy', drift)
          expect(name).not.toBe('base.4242')
          expect(leftovers(D).some(n => n.startsWith('base.4242'))).toBe(false)
        }
      )

      it('a hard-linked copy started at lock time says so; a later deploy with copy-method copy does not start from it', async () => {
        const D = liveLayout()
        build(D, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
        const name = lockAndPrefetch(D, 'hardlink')
        const M = join(D, '.atomic-deploy')
        expect(await copyStatus(M, name)).toBe('0\n')
        expect(readFileSync(join(M, `${name}.from`), 'utf8')).toBe('r1 hardlink\n')
        // The run is gone (its lock cleared), its complete copy of the live release left; the
        // next run has the drift check name what changed, so no walk second-guesses the copy.
        rmSync(join(M, 'lock'), { recursive: true })
        driftKnown(D)
        const r = run(shell, inspect({ path: D, drift: true, prefetch: { copyMethod: 'copy' } }), D)
        expect(r.status, r.stderr).toBe(0)
        expect(r.lines).not.toContain('drift unknown')
        const line = r.lines.find(l => l.startsWith('prefetch '))
        expect(line).toMatch(/^prefetch base\.\d+ r1$/)
        expect(line).not.toContain(name)
      })

      /** A copy of r1 made as finish.sh makes the spare: its record first, then cp. */
      async function spareOf(D: string, method: 'copy' | 'hardlink'): Promise<string> {
        const M = join(D, '.atomic-deploy')
        writeFileSync(join(M, 'base.4242.from'), `r1 ${method}\n`)
        // File times follow a coarse clock: the copy is made a tick after its record.
        await sleep(30)
        const cp = shell.gnu ? ['cp'] : ['/usr/bin/busybox', 'cp']
        execFileSync(cp[0]!, [
          ...cp.slice(1),
          method === 'hardlink' ? '-al' : '-a',
          join(D, 'releases/r1/.'),
          join(M, 'base.4242')
        ])
        writeFileSync(join(M, 'base.4242.rc'), '0\n')
        await sleep(30)
        return 'base.4242'
      }
      const prefetched = (D: string, copyMethod: 'copy' | 'hardlink'): string | undefined => {
        const r = run(shell, inspect({ path: D, prefetch: { copyMethod } }), D)
        expect(r.status, r.stderr).toBe(0)
        return r.lines.find(l => l.startsWith('prefetch '))
      }

      it.each(['copy', 'hardlink'] as const)(
        'keeps the spare (%s) of a live release unchanged since, and drops it once a file there was replaced',
        async method => {
          const D = liveLayout()
          build(D, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
          await spareOf(D, method)
          // Making a hard-linked copy changed every file's links (its ctime): no change of the
          // live release's.
          expect(prefetched(D, method)).toBe('prefetch base.4242 r1 spare')
          // The lock is this run's: a second run takes it again.
          rmSync(join(D, '.atomic-deploy/lock'), { recursive: true })
          // BusyBox find -newer compares whole seconds.
          await sleep(shell.gnu ? 30 : 1100)
          renameSync(join(D, 'releases/r1/dir/a'), join(D, 'releases/r1/dir/a.old'))
          writeFileSync(join(D, 'releases/r1/dir/a'), 'replaced')
          const again = prefetched(D, method)
          expect(again).toMatch(/^prefetch base\.\d+ r1$/)
          expect(again).not.toContain('base.4242')
        }
      )

      it.each(['copy', 'hardlink'] as const)(
        'after a file of the live release was written in place: the spare (%s) is dropped when a whole copy, kept when hard-linked (that file is its file)',
        async method => {
          const D = liveLayout()
          build(D, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
          await spareOf(D, method)
          // BusyBox find -newer compares whole seconds.
          await sleep(shell.gnu ? 30 : 1100)
          writeFileSync(join(D, 'releases/r1/dir/a'), 'written in place')
          const line = prefetched(D, method)
          if (method === 'hardlink') {
            expect(line).toBe('prefetch base.4242 r1 spare')
            expect(readFileSync(join(D, '.atomic-deploy/base.4242/dir/a'), 'utf8')).toBe(
              'written in place'
            )
          } else {
            expect(line).toMatch(/^prefetch base\.\d+ r1$/)
            expect(line).not.toContain('base.4242')
          }
        }
      )

      it("drops a hard-linked spare once a directory's mode in the live release changed since (the spare's directories are its own)", async () => {
        const D = liveLayout()
        build(D, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
        await spareOf(D, 'hardlink')
        chmodSync(join(D, 'releases/r1/dir/sub'), 0o700)
        const line = prefetched(D, 'hardlink')
        // BusyBox find has no -cnewer: a mode changed alone is not seen there (nor for a whole copy).
        if (shell.gnu) expect(line).toMatch(/^prefetch base\.\d+ r1$/)
        else expect(line).toBe('prefetch base.4242 r1 spare')
      })

      it('drops its copy of another release and copies the one it starts from', () => {
        const D = liveLayout()
        build(D, {
          '.atomic-deploy/base.4242/keep.txt': 'stale',
          '.atomic-deploy/base.4242.from': 'r0 copy\n',
          '.atomic-deploy/base.4242.rc': '0\n'
        })
        const r = run(
          shell,
          releaseScript(
            { ...common(D, 'r2'), prefetched: 'base.4242' },
            prepare({ base: { kind: 'release', id: 'r1', sharedLinks: [] } })
          ),
          D
        )
        expect(r.status, r.stderr).toBe(0)
        expect(snapshot(join(D, 'releases/r2'))['keep.txt']).toBe('keep')
        expect(leftovers(D)).toEqual([])
      })

      it("is dropped by a release script that does not take it over, and by unlocking; another run's copy is left alone", () => {
        const D = liveLayout()
        build(D, { '.atomic-deploy/manifests/r1.json.gz': 'm' })
        const name = lockAndPrefetch(D, 'copy')
        // A copy this run does not own: what a run that is gone left behind.
        build(D, { '.atomic-deploy/base.77/x': 'x', '.atomic-deploy/base.77.from': 'r1 copy\n' })
        const r = run(
          shell,
          releaseScript(
            { ...common(D, 'r2'), prefetched: name },
            prepare({ base: { kind: 'none' } })
          ),
          D
        )
        expect(r.status, r.stderr).toBe(0)
        expect(settled(D, name)).toEqual(['base.77', 'base.77.from'])
        build(D, { '.atomic-deploy/base.99/x': 'x', '.atomic-deploy/base.99.from': 'r1 copy\n' })
        const u = run(shell, unlockScript(D), D)
        expect(u.lines).toEqual([`path ${D}`, 'unlocked'])
        expect(u.blobs.get('current')?.toString()).toBe('releases/r1')
        expect(u.blobs.get('owner')?.toString()).toBe('{"run":"test"}')
        expect(settled(D, name)).toEqual([])
      })
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('releaseScript: finalize', () => {
    /** What `stat -c` prints for each path below `root`, derived from lstat. */
    function listing(root: string): string {
      return walk(root)
        .map(rel => {
          const st = lstatSync(join(root, rel))
          if (st.isSymbolicLink())
            return `l ${Buffer.byteLength(readlinkSync(join(root, rel)))} ./${rel}\n`
          if (st.isDirectory()) return `d ./${rel}\n`
          return `f ${(st.mode & 0o7777).toString(8)} ${st.size} ./${rel}\n`
        })
        .join('')
    }

    const sha = (text: string): string => createHash('sha256').update(text).digest('hex')

    /**
     * The source's manifest of what the tree `root` holds (the runner's view of the release),
     * with the sha256 of `badSum` files replaced by a wrong one.
     */
    function manifestOf(root: string, badSum: string[] = []): ManifestEntry[] {
      return walk(root).map((rel): ManifestEntry => {
        const st = lstatSync(join(root, rel))
        if (st.isSymbolicLink()) {
          const target = readlinkSync(join(root, rel))
          return {
            path: rel,
            type: 'symlink',
            mode: 0o777,
            size: Buffer.byteLength(target),
            mtime: 0,
            target
          }
        }
        if (st.isDirectory())
          return { path: rel, type: 'dir', mode: st.mode & 0o7777, size: 0, mtime: 0 }
        const content = readFileSync(join(root, rel))
        return {
          path: rel,
          type: 'file',
          mode: st.mode & 0o7777,
          size: st.size,
          mtime: 0,
          sha256: badSum.includes(rel)
            ? sha('something else')
            : createHash('sha256').update(content).digest('hex')
        }
      })
    }

    /**
     * Prepare release `id` (empty start), "upload" `files` into it, write the metadata the runner
     * sends (the whole manifest as the delta: there is none to start from, and the revision),
     * then run finalize with `p`.
     */
    function finalize(
      D: string,
      id: string,
      files: Record<string, string | { link: string }>,
      p: Partial<FinalizeParams>,
      options: {
        badSum?: string | string[]
        extra?: Record<string, string>
        /** Directory put first on the script's PATH (stand-ins for server tools). */
        pathPrefix?: string
        /** Called with the release's temporary directory once the runner's files are there. */
        beforeFinalize?: (T: string) => void
      } = {}
    ): Output {
      for (const d of ['releases', 'shared', '.atomic-deploy'])
        mkdirSync(join(D, d), { recursive: true })
      // The run holds the lock, as every release script's run does.
      if (!existsSync(join(D, '.atomic-deploy/lock')))
        build(D, { '.atomic-deploy/lock/owner': '{"token":"tok-ours"}\n' })
      const common: ReleaseParams = {
        deployDir: D,
        releaseId: id,
        umask: '0022',
        lockToken: 'tok-ours',
        lockOwner: '{"token":"tok-ours","run":"retaken"}'
      }
      const prepared = run(
        shell,
        releaseScript(common, {
          staleReleases: [],
          base: { kind: 'none' },
          copyMethod: 'copy',
          remove: [],
          transfer: { kind: 'sftp' }
        }),
        D
      )
      expect(prepared.lines).toEqual(['prepared'])
      const R = join(D, 'releases', id)
      build(R, files)
      const T = join(D, '.atomic-deploy/tmp', id)
      const manifest = compactManifest(manifestOf(R, [options.badSum ?? []].flat()))
      writeFileSync(join(T, 'delta'), manifest.text)
      writeFileSync(join(T, 'removed'), '')
      // Paths that appear after the runner made its listing: not part of the manifest.
      if (options.extra) build(R, options.extra)
      writeFileSync(join(T, 'revision.json'), '{"commit":"abc"}\n')
      options.beforeFinalize?.(T)
      const params: FinalizeParams = {
        manifestDigest: manifest.digest,
        verifyAll: false,
        oddSums: [],
        links: [],
        shared: { kind: 'auto' },
        sharedConflict: 'fail',
        updatesCache: false,
        ...p
      }
      return run(shell, releaseScript(common, undefined, params), D, {
        home: join(D, '..'),
        pathPrefix: options.pathPrefix
      })
    }

    /** Prepare release `id` (empty start) and "upload" `files` into it; returns its directory. */
    function prepared(D: string, id: string, files: Record<string, string | { link: string }>) {
      for (const d of ['releases', 'shared', '.atomic-deploy'])
        mkdirSync(join(D, d), { recursive: true })
      const common: ReleaseParams = { deployDir: D, releaseId: id, umask: '0022' }
      const r = run(
        shell,
        releaseScript(common, {
          staleReleases: [],
          base: { kind: 'none' },
          copyMethod: 'copy',
          remove: [],
          transfer: { kind: 'sftp' }
        }),
        D
      )
      expect(r.lines).toEqual(['prepared'])
      build(join(D, 'releases', id), files)
      return { common, R: join(D, 'releases', id), T: join(D, '.atomic-deploy/tmp', id) }
    }

    const finalizeParams = (digest: string, base?: string): FinalizeParams => ({
      manifestDigest: digest,
      ...(base ? { manifestBase: base } : {}),
      verifyAll: false,
      oddSums: [],
      links: [],
      shared: { kind: 'auto' },
      sharedConflict: 'fail',
      updatesCache: false
    })

    /** D with release old live, its log, and the lock held by this run (token `tok-ours`). */
    function liveOld(D: string): void {
      build(D, {
        'releases/old/index.php': 'old',
        '.atomic-deploy/log':
          'start\told\t2026-11-22T10:00:00Z\nready\told\t2026-11-22T10:00:01Z\nlive\told\t2026-11-22T10:00:02Z\n',
        '.atomic-deploy/lock/owner': '{"token":"tok-ours"}\n'
      })
      symlinkSync('releases/old', join(D, 'current'))
    }

    it('switches current to the release and finishes, once it is ready, when told to (one server, nothing after the switch)', () => {
      const D = join(fresh('finalize'), 'app')
      liveOld(D)
      const r = finalize(
        D,
        'r2',
        { 'index.php': 'new' },
        {
          switchAfter: {
            events: [['live', 'r2']],
            prune: ['old'],
            forget: ['old'],
            lockToken: 'tok-ours'
          }
        }
      )
      expect(r.status, r.stderr).toBe(0)
      expect(r.lines.slice(r.lines.indexOf('ready'))).toEqual([
        'ready',
        'switched',
        'current releases/r2',
        'pruned old',
        'unlocked',
        'finished'
      ])
      expect(readlinkSync(join(D, 'current'))).toBe('releases/r2')
      expect(prunedTrees(D)).toEqual([])
      expect(readdirSync(join(D, 'releases'))).toEqual(['r2'])
      expect(existsSync(join(D, '.atomic-deploy/lock'))).toBe(false)
      const events = parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8'))
      expect(events.map(e => `${e.event} ${e.id}`)).toEqual(['start r2', 'ready r2', 'live r2'])
    })

    it('makes the new current in its temporary directory, removing first what is there by that name, and removes that directory once switched', () => {
      const D = join(fresh('finalize'), 'app')
      liveOld(D)
      // A link named current in the temporary directory, to a directory elsewhere: ln would
      // make the new link in there, and mv would then put the planted one live.
      const elsewhere = fresh('elsewhere')
      const r = finalize(
        D,
        'r2',
        { 'index.php': 'new' },
        {
          switchAfter: {
            events: [['live', 'r2']],
            prune: [],
            forget: [],
            lockToken: 'tok-ours'
          }
        },
        { beforeFinalize: T => symlinkSync(elsewhere, join(T, 'current')) }
      )
      expect(r.status, r.stderr).toBe(0)
      expect(r.lines.slice(r.lines.indexOf('ready'))).toEqual([
        'ready',
        'switched',
        'current releases/r2',
        'unlocked',
        'finished'
      ])
      expect(readlinkSync(join(D, 'current'))).toBe('releases/r2')
      expect(readdirSync(elsewhere)).toEqual([])
      expect(readdirSync(join(D, '.atomic-deploy/tmp'))).toEqual([])
      expect(readdirSync(join(D, '.atomic-deploy')).filter(n => n.startsWith('switch.'))).toEqual(
        []
      )
      // The switch's events share ready's stamp.
      const events = parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8')).filter(
        e => e.id === 'r2'
      )
      expect(events.map(e => `${e.event} ${e.id}`)).toEqual(['start r2', 'ready r2', 'live r2'])
      expect(events[2]!.time).toBe(events[1]!.time)
    })

    it('leaves current and the lock as they were when that switch fails, and says no more', () => {
      const D = join(fresh('finalize'), 'app')
      liveOld(D)
      // An mv that cannot rename into a directory: the switch's last step fails.
      const bin = fresh('bin')
      const realMv = execFileSync('sh', ['-c', 'command -v mv'], { encoding: 'utf8' }).trim()
      writeFileSync(
        join(bin, 'mv'),
        `#!/bin/sh\nfor last; do :; done\ncase $last in */) echo refused >&2; exit 1 ;; esac\nexec ${realMv} "$@"\n`,
        { mode: 0o755 }
      )
      const r = finalize(
        D,
        'r2',
        { 'index.php': 'new' },
        {
          switchAfter: {
            events: [['live', 'r2']],
            prune: ['old'],
            forget: ['old'],
            lockToken: 'tok-ours'
          }
        },
        { pathPrefix: bin }
      )
      expect(r.status).toBe(1)
      expect(r.lines.slice(r.lines.indexOf('ready'))).toEqual([
        'ready',
        `error io cannot rename the new link over ${D}/current`
      ])
      expect(readlinkSync(join(D, 'current'))).toBe('releases/old')
      expect(readdirSync(join(D, 'releases')).sort()).toEqual(['old', 'r2'])
      expect(existsSync(join(D, '.atomic-deploy/lock/owner'))).toBe(true)
      expect(readdirSync(join(D, '.atomic-deploy')).filter(n => n.startsWith('switch.'))).toEqual(
        []
      )
    })

    it('derives the listing and the sha256 list from the manifest, whatever the names hold', () => {
      const D = join(fresh('finalize'), 'app')
      const names = ['with space.txt', 'tab\there', `it's "q" $(x)`, '-rf', 'ünï 🚀', 'a\\s']
      const files: Record<string, string> = {}
      for (const [i, name] of names.entries()) files[`dir ${i}/${name}`] = `content ${i}`
      const { common, R, T } = prepared(D, 'r1', files)
      // The server's listing of the tree, as the verification makes it, is what the runner's
      // manifest says: the release verifies.
      const manifest = compactManifest(manifestOf(R))
      writeFileSync(join(T, 'delta'), manifest.text)
      writeFileSync(join(T, 'removed'), '')
      writeFileSync(join(T, 'revision.json'), '{}\n')
      const r = run(shell, releaseScript(common, undefined, finalizeParams(manifest.digest)), D)
      expect(r.status, r.stderr + r.lines.join('\n')).toBe(0)
      expect(r.lines.at(-1)).toBe('ready')
      const M = join(D, '.atomic-deploy/manifests')
      // What the release was found to hold, as the verification listed it.
      const sorted = (text: string): string[] => text.split('\n').sort()
      // (Directories with their mode, which the listing the release is checked against leaves out.)
      const withModes = listing(R).replace(
        /^d \.\/(.*)$/gm,
        (_, rel: string) => `d ${(lstatSync(join(R, rel)).mode & 0o7777).toString(8)} ./${rel}`
      )
      expect(sorted(readFileSync(join(M, 'r1.listing'), 'utf8'))).toEqual(sorted(withModes))
      expect(readFileSync(join(M, 'r1.m2'))).toEqual(manifest.text)
      expect(readFileSync(join(M, 'r1.digest'), 'utf8')).toBe(`${manifest.digest}\n`)
      // The view: every line, a file's digest cut to 16 hex digits; gzipped.
      const view = gunzipSync(readFileSync(join(M, 'r1.view.gz'))).toString('utf8')
      expect(view.split('\n').filter(l => l !== '')).toEqual(
        manifest.text
          .toString('utf8')
          .split('\n')
          .filter(l => l !== '')
          .map(l => l.replace(/ ([0-9a-f]{16})[0-9a-f]{48}$/, ' $1'))
      )
    })

    it('puts the manifest together from the starting one, the paths removed and the lines sent', () => {
      const D = join(fresh('finalize'), 'app')
      const before = {
        'keep.txt': 'keep',
        'change.txt': 'v1',
        'gone/deep/file.txt': 'gone',
        'dir b/x': 'x',
        'link to': { link: 'keep.txt' }
      }
      const after = {
        'keep.txt': 'keep',
        'change.txt': 'v2, longer',
        'added.txt': 'added',
        'dir b/x': 'x',
        'link to': { link: 'keep.txt' }
      }
      // r1's manifest, as its deploy left it.
      const old = join(fresh('tree'), 'r1')
      build(old, before)
      mkdirSync(join(D, '.atomic-deploy/manifests'), { recursive: true })
      writeFileSync(
        join(D, '.atomic-deploy/manifests/r1.m2'),
        compactManifest(manifestOf(old)).text
      )
      const { common, R, T } = prepared(D, 'r2', after)
      const entries = manifestOf(R)
      const full = compactManifest(entries)
      const sent = entries.filter(e => ['change.txt', 'added.txt'].includes(e.path))
      writeFileSync(join(T, 'delta'), compactManifest(sent).text)
      writeFileSync(join(T, 'removed'), 'change.txt\ngone\n')
      writeFileSync(join(T, 'revision.json'), '{}\n')
      const r = run(
        shell,
        releaseScript(common, undefined, finalizeParams(full.digest, 'manifests/r1')),
        D
      )
      expect(r.status, r.stderr + r.lines.join('\n')).toBe(0)
      expect(readFileSync(join(D, '.atomic-deploy/manifests/r2.m2'))).toEqual(full.text)

      // A starting manifest changed since the runner read it: the digest tells, nothing goes live.
      writeFileSync(
        join(D, '.atomic-deploy/manifests/r2.m2'),
        readFileSync(join(D, '.atomic-deploy/manifests/r2.m2'), 'utf8').replace(
          'keep.txt f 644',
          'keep.txt f 600'
        )
      )
      const third = prepared(D, 'r3', after)
      writeFileSync(join(third.T, 'delta'), '')
      writeFileSync(join(third.T, 'removed'), '')
      writeFileSync(join(third.T, 'revision.json'), '{}\n')
      const bad = run(
        shell,
        releaseScript(third.common, undefined, finalizeParams(full.digest, 'manifests/r2')),
        D
      )
      expect(bad.status).toBe(1)
      expect(bad.lines.find(l => l.startsWith('error verify'))).toMatch(
        /the manifest put together on the server is not the source's/
      )
      expect(existsSync(join(D, 'releases/r3'))).toBe(false)
    })

    it('verifies the release, links explicit shared paths (existing, created, seeded), installs the metadata and logs ready', () => {
      const D = join(fresh('finalize'), 'app')
      build(D, { 'shared/.env': 'SECRET=1' })
      const r = finalize(
        D,
        'r2',
        { 'index.php': '<?php', 'public/uploads/seed.jpg': 'jpg', 'public/app.css': 'css' },
        {
          shared: { kind: 'explicit', paths: ['.env', 'storage/', 'public/uploads/'] }
        }
      )
      expect(r.status, r.lines.join('\n')).toBe(0)
      expect(r.stderr).toBe('')
      expect(r.lines).toEqual([
        'shared .env',
        'shared-created storage',
        'shared storage',
        'shared-seeded public/uploads',
        'shared public/uploads',
        'ready'
      ])
      const R = join(D, 'releases/r2')
      expect(readlinkSync(join(R, '.env'))).toBe('../../shared/.env')
      expect(readlinkSync(join(R, 'storage'))).toBe('../../shared/storage')
      expect(readlinkSync(join(R, 'public/uploads'))).toBe('../../../shared/public/uploads')
      expect(readFileSync(join(R, '.env'), 'utf8')).toBe('SECRET=1')
      expect(readFileSync(join(R, 'public/uploads/seed.jpg'), 'utf8')).toBe('jpg')
      expect(readFileSync(join(D, 'shared/public/uploads/seed.jpg'), 'utf8')).toBe('jpg')
      expect(statSync(join(D, 'shared/storage')).isDirectory()).toBe(true)
      const installed = readFileSync(join(D, '.atomic-deploy/manifests/r2.m2'))
      expect(readFileSync(join(D, '.atomic-deploy/manifests/r2.digest'), 'utf8')).toBe(
        `${createHash('sha256').update(installed).digest('hex')}\n`
      )
      expect(readFileSync(join(D, '.atomic-deploy/manifests/r2.links'), 'utf8')).toBe(
        '.env\nstorage\npublic/uploads\n'
      )
      expect(readFileSync(join(D, '.atomic-deploy/revisions/r2.json'), 'utf8')).toBe(
        '{"commit":"abc"}\n'
      )
      expect(existsSync(join(D, '.atomic-deploy/tmp/r2'))).toBe(false)
      expect(
        parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8')).map(e => `${e.event} ${e.id}`)
      ).toEqual(['start r2', 'ready r2'])
    })

    it('records links whose names hold a line break or a % so the runner reads them back exactly', () => {
      const D = join(fresh('finalize'), 'app')
      const names = ['line\nbreak', '100%.txt', '%0A', 'back\\slash', 'plain']
      build(D, Object.fromEntries(names.map(n => [`shared/${n}`, n])))
      const r = finalize(D, 'r2', { 'index.php': 'x' }, {})
      expect(r.status, r.lines.join('\n')).toBe(0)
      const file = join(D, '.atomic-deploy/manifests/r2.links')
      expect(parseLinkList(readFileSync(file), file).sort()).toEqual([...names].sort())
    })

    it('links every entry of shared/ at the first level the release does not have', () => {
      const D = join(fresh('finalize'), 'app')
      build(D, {
        'shared/.env': 'E',
        'shared/storage/app/public/a.png': 'png',
        'shared/storage/logs/': ''
      })
      const r = finalize(D, 'r2', { 'storage/app/.gitkeep': '', 'index.php': 'x' }, {})
      expect(r.status, r.lines.join('\n')).toBe(0)
      const R = join(D, 'releases/r2')
      expect(readlinkSync(join(R, '.env'))).toBe('../../shared/.env')
      expect(readlinkSync(join(R, 'storage/app/public'))).toBe(
        '../../../../shared/storage/app/public'
      )
      expect(readlinkSync(join(R, 'storage/logs'))).toBe('../../../shared/storage/logs')
      expect(readFileSync(join(R, 'storage/app/public/a.png'), 'utf8')).toBe('png')
      expect(lstatSync(join(R, 'storage')).isSymbolicLink()).toBe(false)
      expect(
        readFileSync(join(D, '.atomic-deploy/manifests/r2.links'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .sort()
      ).toEqual(['.env', 'storage/app/public', 'storage/logs'])
    })

    it('fails on a path both in shared/ and in the release, removing the new release', () => {
      const D = join(fresh('finalize'), 'app')
      build(D, { 'shared/.env': 'shared' })
      const r = finalize(
        D,
        'r2',
        { '.env': 'from the repo', 'index.php': 'x' },
        { shared: { kind: 'explicit', paths: ['.env'] } }
      )
      expect(r.status).toBe(1)
      expect(r.lines.some(l => l.startsWith('error shared-conflict .env'))).toBe(true)
      expect(existsSync(join(D, 'releases/r2'))).toBe(false)
      expect(readFileSync(join(D, 'shared/.env'), 'utf8')).toBe('shared')
      expect(parseLog(readFileSync(join(D, '.atomic-deploy/log'), 'utf8')).at(-1)?.event).toBe(
        'abort'
      )
    })

    it('replaces the release copy with the link under shared-conflict: replace', () => {
      const D = join(fresh('finalize'), 'app')
      build(D, { 'shared/.env': 'shared' })
      const r = finalize(
        D,
        'r2',
        { '.env': 'from the repo' },
        { shared: { kind: 'explicit', paths: ['.env'] }, sharedConflict: 'replace' }
      )
      expect(r.status, r.lines.join('\n')).toBe(0)
      expect(r.lines).toContain('shared-replaced .env')
      expect(readFileSync(join(D, 'releases/r2/.env'), 'utf8')).toBe('shared')
    })

    it('fails on a file whose sha256 does not match, removing the new release', () => {
      const D = join(fresh('finalize'), 'app')
      const r = finalize(D, 'r2', { 'index.php': 'x', 'app.js': 'js' }, {}, { badSum: 'app.js' })
      expect(r.status).toBe(1)
      expect(r.lines.some(l => l.startsWith('badsum') && l.includes('app.js'))).toBe(true)
      expect(r.lines.some(l => l.startsWith('error verify'))).toBe(true)
      expect(existsSync(join(D, 'releases/r2'))).toBe(false)
    })

    it('checks many files in one part per core (at most four), and names every bad file in any part', () => {
      // Stand-ins: a server with 8 cores, and a sha256sum that records each part it is given
      // (`-c PART`; the digests of what it reads on stdin are not parts).
      const bin = fresh('bin')
      const calls = join(bin, 'calls')
      writeFileSync(join(bin, 'nproc'), '#!/bin/sh\necho 8\n', { mode: 0o755 })
      const real = shell.gnu ? 'sha256sum' : '/usr/bin/busybox sha256sum'
      writeFileSync(
        join(bin, 'sha256sum'),
        `#!/bin/sh\n[ "$1" != -c ] || printf '%s\\n' "$(wc -l < "$2")" >> ${quote(calls)}\nPATH=${quote(shell.path)} exec ${real} "$@"\n`,
        { mode: 0o755 }
      )
      const files: Record<string, string> = {}
      for (let i = 0; i < 200; i++) files[`f/${i}.txt`] = `content ${i}\n`
      const lineCounts = (): number[] =>
        readFileSync(calls, 'utf8')
          .trim()
          .split('\n')
          .map(Number)
          .sort((a, b) => a - b)

      const good = finalize(join(fresh('finalize'), 'app'), 'r2', files, {}, { pathPrefix: bin })
      expect(good.status, good.lines.join('\n')).toBe(0)
      expect(good.lines).toEqual(['ready'])
      // Four parts that together hold every file once.
      expect(lineCounts()).toEqual([50, 50, 50, 50])

      rmSync(calls)
      const D = join(fresh('finalize'), 'app')
      // Twelve neighbouring lines: every part holds bad files.
      const bad = Array.from({ length: 12 }, (_, i) => `f/${100 + i}.txt`)
      const r = finalize(D, 'r2', files, {}, { badSum: bad, pathPrefix: bin })
      expect(r.status).toBe(1)
      expect(lineCounts()).toEqual([50, 50, 50, 50])
      const named = r.lines.filter(l => l.startsWith('badsum'))
      expect(named).toHaveLength(12)
      for (const path of bad) expect(named.some(l => l.includes(`./${path}:`))).toBe(true)
      expect(existsSync(join(D, 'releases/r2'))).toBe(false)
    })

    it('fails on a path the manifest does not have, naming it, and removes the new release', () => {
      const D = join(fresh('finalize'), 'app')
      const r = finalize(
        D,
        'r2',
        { 'index.php': 'x' },
        {},
        { extra: { 'stray.php': 'not deployed' } }
      )
      expect(r.status).toBe(1)
      expect(r.lines).toContain('unexpected f 644 12 ./stray.php')
      expect(r.lines.some(l => l.startsWith('error verify'))).toBe(true)
      expect(existsSync(join(D, 'releases/r2'))).toBe(false)
    })

    describe('the comparison of the listings', () => {
      /**
       * A directory of stand-ins: an awk that records each line-by-line comparison it is asked
       * to run (the program that builds its expected lines with want()), and, with
       * `failingSort`, a sort that fails when asked to write a file (-o), as one built without
       * that option would.
       */
      function standIns(failingSort = false): { bin: string; fullCompares: () => number } {
        const bin = fresh('bin')
        const calls = join(bin, 'calls')
        writeFileSync(calls, '')
        const tool = (name: string): string => (shell.gnu ? name : `/usr/bin/busybox ${name}`)
        writeFileSync(
          join(bin, 'awk'),
          `#!/bin/sh\ncase "$*" in *'function want('*) echo full >> ${quote(calls)} ;; esac\nPATH=${quote(shell.path)} exec ${tool('awk')} "$@"\n`,
          { mode: 0o755 }
        )
        if (failingSort)
          writeFileSync(
            join(bin, 'sort'),
            `#!/bin/sh\n[ "$1" != -o ] || exit 1\nPATH=${quote(shell.path)} exec ${tool('sort')} "$@"\n`,
            { mode: 0o755 }
          )
        return {
          bin,
          fullCompares: () => readFileSync(calls, 'utf8').split('\n').filter(Boolean).length
        }
      }

      const tree = {
        'index.php': 'x',
        'public/css/app.css': 'body {}',
        'new\nline.txt': 'nl',
        'd 755 ./looks like a listing line': 'y',
        'current-config': { link: 'public/css' }
      }
      const odd = { oddSums: [{ path: 'new\nline.txt', sha256: sha('nl') }] }

      it('passes a release that matches by the digests of both sorted, without comparing line by line', () => {
        const tools = standIns()
        const r = finalize(join(fresh('finalize'), 'app'), 'r2', tree, odd, {
          pathPrefix: tools.bin
        })
        expect(r.status, r.lines.join('\n')).toBe(0)
        expect(r.lines.at(-1)).toBe('ready')
        expect(tools.fullCompares()).toBe(0)
      })

      it('compares line by line, naming what differs, when the digests differ: a missing file, a file of another size', () => {
        const tools = standIns()
        const D = join(fresh('finalize'), 'app')
        const R = join(D, 'releases/r2')
        const r = finalize(D, 'r2', tree, odd, {
          pathPrefix: tools.bin,
          beforeFinalize: () => {
            rmSync(join(R, 'index.php'))
            writeFileSync(join(R, 'public/css/app.css'), 'body { color: red }')
          }
        })
        expect(r.status).toBe(1)
        expect(tools.fullCompares()).toBe(1)
        expect(r.lines).toContain('missing f 644 1 ./index.php')
        expect(r.lines).toContain('missing f 644 7 ./public/css/app.css')
        expect(r.lines).toContain('unexpected f 644 19 ./public/css/app.css')
        expect(r.lines.some(l => l.startsWith('error verify'))).toBe(true)
        expect(existsSync(R)).toBe(false)
      })

      it("refuses a directory whose mode is not the release's, although its line matches without the mode", () => {
        const tools = standIns()
        const D = join(fresh('finalize'), 'app')
        const R = join(D, 'releases/r2')
        const r = finalize(D, 'r2', tree, odd, {
          pathPrefix: tools.bin,
          beforeFinalize: () => chmodSync(join(R, 'public/css'), 0o777)
        })
        expect(r.status).toBe(1)
        expect(tools.fullCompares()).toBe(1)
        expect(r.lines).toContain('unexpected d 777 ./public/css')
        expect(existsSync(R)).toBe(false)
      })

      it('still decides line by line when the sort cannot write its file: passes the matching release, refuses the other', () => {
        const tools = standIns(true)
        const good = finalize(join(fresh('finalize'), 'app'), 'r2', tree, odd, {
          pathPrefix: tools.bin
        })
        expect(good.status, good.lines.join('\n')).toBe(0)
        expect(good.lines.at(-1)).toBe('ready')
        expect(tools.fullCompares()).toBe(1)
        const bad = finalize(join(fresh('finalize'), 'app'), 'r2', tree, odd, {
          pathPrefix: tools.bin,
          extra: { 'stray.php': 'not deployed' }
        })
        expect(bad.status).toBe(1)
        expect(bad.lines).toContain('unexpected f 644 12 ./stray.php')
        expect(tools.fullCompares()).toBe(2)
      })
    })

    it('checks odd names (newline, backslash) one by one, and symlink targets', () => {
      const D = join(fresh('finalize'), 'app')
      const files = {
        'new\nline.txt': 'nl',
        'back\\slash.txt': 'bs',
        'config/v2/app.ini': 'x',
        'current-config': { link: 'config/v2' }
      }
      const good = finalize(D, 'r2', files, {
        oddSums: [
          { path: 'new\nline.txt', sha256: sha('nl') },
          { path: 'back\\slash.txt', sha256: sha('bs') }
        ],
        links: [{ path: 'current-config', target: 'config/v2' }]
      })
      expect(good.status, good.lines.join('\n')).toBe(0)
      expect(good.lines.at(-1)).toBe('ready')
      const bad = finalize(D, 'r3', files, {
        oddSums: [
          { path: 'back\\slash.txt', sha256: sha('bs') },
          { path: 'new\nline.txt', sha256: sha('something else') }
        ],
        links: [{ path: 'current-config', target: 'config/v1' }]
      })
      expect(bad.status).toBe(1)
      // By number in the lists: a name may hold a line break, which a line cannot carry.
      expect(bad.lines.filter(l => /^bad(odd|link|sum) /.test(l))).toEqual([
        'badodd 1',
        'badlink 0'
      ])
      expect(existsSync(join(D, 'releases/r3'))).toBe(false)
      expect(existsSync(join(D, 'releases/r2'))).toBe(true)
    })

    it('runs before-switch in the verified release, records what it wrote and edited in place, and a failure removes the release', () => {
      const D = join(fresh('finalize'), 'app')
      const ok = finalize(
        D,
        'r2',
        { 'index.php': 'x', 'config.php': 'debug=0' },
        {
          hook: {
            name: 'before-switch',
            script: [
              'printf "%s %s" "$RELEASE_ID" "$(pwd -P)" > hook.out',
              // Same size, same inode: only its time tells.
              "printf 'debug=1' > config.php",
              'mkdir gen && : > gen/a && : > gen/b && : > gen/c'
            ].join('\n'),
            env: { RELEASE_ID: 'r2' }
          }
        }
      )
      expect(ok.status, ok.lines.join('\n')).toBe(0)
      // What the hook wrote into the release is reported (a new directory as one path), and
      // recorded for the next deploy; the listing recorded as the ready release is list_tree's.
      expect(ok.lines.slice(0, 2)).toEqual([
        'hook-start before-switch',
        'hook-exit before-switch 0'
      ])
      expect(ok.lines.slice(2, -2).sort()).toEqual([
        'hook-added d 755 ./gen',
        `hook-added f 644 ${`r2 ${join(D, 'releases/r2')}`.length} ./hook.out`,
        'hook-newer config.php'
      ])
      expect(ok.lines.slice(-2)).toEqual(['hook 2 0 1', 'ready'])
      expect(readFileSync(join(D, '.atomic-deploy/manifests/r2.hook'), 'utf8')).toContain(
        '!hook-newer config.php'
      )
      const recorded = readFileSync(join(D, '.atomic-deploy/manifests/r2.listing'), 'utf8')
      expect(
        recorded
          .split('\n')
          .filter(l => l !== '')
          .sort()
      ).toEqual(
        walk(join(D, 'releases/r2'))
          .map(rel => {
            const st = lstatSync(join(D, 'releases/r2', rel))
            return st.isDirectory()
              ? `d ${(st.mode & 0o777).toString(8)} ./${rel}`
              : `f ${(st.mode & 0o777).toString(8)} ${st.size} ./${rel}`
          })
          .sort()
      )
      expect(readFileSync(join(D, 'releases/r2/hook.out'), 'utf8')).toBe(
        `r2 ${join(D, 'releases/r2')}`
      )
      const bad = finalize(
        D,
        'r3',
        { 'index.php': 'x' },
        { hook: { name: 'before-switch', script: 'exit 3', env: { RELEASE_ID: 'r3' } } }
      )
      expect(bad.status).toBe(1)
      expect(bad.lines).toContain('hook-exit before-switch 3')
      expect(bad.lines.some(l => l.startsWith('error hook'))).toBe(true)
      expect(existsSync(join(D, 'releases/r3'))).toBe(false)
      expect(existsSync(join(D, 'releases/r2'))).toBe(true)
    })

    it('after a hook during which the lock was taken by a later run, removes its own release and touches nothing of that run', () => {
      const D = join(fresh('finalize'), 'app')
      // The hook stands in for time passing: the runner is gone, the lock was cleared, and a
      // later run took it, started its copy and its temporary files.
      const later = [
        'printf \'%s\\n\' \'{"token":"tok-later"}\' > ../../.atomic-deploy/lock/owner',
        'mkdir -p ../../.atomic-deploy/tmp/r9 ../../.atomic-deploy/base.9',
        'echo r1 > ../../.atomic-deploy/base.9.from',
        'echo seeded storage > ../../.atomic-deploy/seeded.r9'
      ].join('\n')
      const r = finalize(
        D,
        'r2',
        { 'index.php': 'x' },
        {
          shared: { kind: 'explicit', paths: ['storage/'] },
          hook: { name: 'before-switch', script: later, env: {} }
        }
      )
      expect(r.status, r.stderr).toBe(1)
      expect(r.stderr).toBe('')
      expect(r.lines.join('\n')).toContain('error lock the lock on')
      expect(r.lines.join('\n')).toContain(
        "is no longer this run's (cleared and taken by another run while before-switch ran); release r2 was removed"
      )
      expect(existsSync(join(D, 'releases/r2'))).toBe(false)
      expect(readFileSync(join(D, '.atomic-deploy/lock/owner'), 'utf8')).toBe(
        '{"token":"tok-later"}\n'
      )
      for (const theirs of ['tmp/r9', 'base.9', 'base.9.from', 'seeded.r9'])
        expect(existsSync(join(D, '.atomic-deploy', theirs)), theirs).toBe(true)
      // What this run created in shared/ goes back to how it was: absent.
      expect(existsSync(join(D, 'shared/storage'))).toBe(false)
    })

    it('takes the lock again when it was cleared during the hook and nobody took it', () => {
      const D = join(fresh('finalize'), 'app')
      const r = finalize(
        D,
        'r2',
        { 'index.php': 'x' },
        { hook: { name: 'before-switch', script: 'rm -rf ../../.atomic-deploy/lock', env: {} } }
      )
      expect(r.status, r.stderr).toBe(0)
      expect(r.lines).toContain(
        'warning the lock was cleared while before-switch ran; it is held again by this run'
      )
      expect(r.lines.at(-1)).toBe('ready')
      expect(readFileSync(join(D, '.atomic-deploy/lock/owner'), 'utf8')).toContain('tok-ours')
    })

    it('does not execute shell syntax in an explicit shared path when creating its parent fails', () => {
      const parent = fresh('finalize')
      const D = join(parent, 'app')
      const dirName = 'a$(cd && touch INJECTED)'
      // shared/<dirName> is a file, so `mkdir -p shared/<dirName>` fails and the error path runs.
      build(D, { [`shared/${dirName}`]: 'a file, not a directory' })
      const r = finalize(
        D,
        'r2',
        { [`${dirName}/b`]: 'b' },
        { shared: { kind: 'explicit', paths: [`${dirName}/b`] } }
      )
      expect(r.status).not.toBe(0)
      expect(existsSync(join(parent, 'INJECTED'))).toBe(false)
    })
  })

  // -----------------------------------------------------------------------------------------
  describe('values through the prelude', () => {
    // A script of our own that writes back what it received: the phase scripts' tests above
    // show the same for real values, this one for every hostile value in every kind.
    const ECHO: ServerScript<{
      ONE: string
      MANY: readonly string[]
      NONE: readonly string[]
      YES: boolean
      NO: boolean
      PICK: 'a' | 'b-c'
    }> = {
      name: 'echo.sh',
      params: {
        ONE: 'string',
        MANY: 'list',
        NONE: 'list',
        YES: 'flag',
        NO: 'flag',
        PICK: ['a', 'b-c']
      },
      text: [
        'set -u',
        `printf '%s' "$ONE" > one`,
        'eval "set -- $MANY"',
        'echo $# > many.count',
        'i=0',
        `for w; do i=$((i + 1)); printf '%s' "$w" > "many.$i"; done`,
        'eval "set -- $NONE"',
        'echo $# > none.count',
        `printf '%s|%s|%s' "$YES" "$NO" "$PICK" > flags`,
        // A parameter is read-only: a script that assigns one stops there.
        '(ONE=changed) 2>/dev/null && echo writable > writable',
        'ONE=changed',
        'echo not reached > reached'
      ].join('\n')
    }

    it('reach the script exactly as given, hostile or empty, and cannot be assigned', () => {
      const dir = fresh('prelude')
      const many = [...HOSTILE_VALUES, '', ' ', '\n', `${HOSTILE}\n`, '-n', '-e', '\\c']
      const one = HOSTILE_VALUES.join('')
      const r = run(
        shell,
        withValues(ECHO, { ONE: one, MANY: many, NONE: [], YES: true, NO: false, PICK: 'b-c' }),
        dir
      )
      expect(r.status).not.toBe(0)
      expect(readFileSync(join(dir, 'one'), 'utf8')).toBe(one)
      expect(readFileSync(join(dir, 'many.count'), 'utf8')).toBe(`${many.length}\n`)
      many.forEach((value, i) =>
        expect(readFileSync(join(dir, `many.${i + 1}`), 'utf8'), JSON.stringify(value)).toBe(value)
      )
      expect(readFileSync(join(dir, 'none.count'), 'utf8')).toBe('0\n')
      expect(readFileSync(join(dir, 'flags'), 'utf8')).toBe('1||b-c')
      expect(existsSync(join(dir, 'writable'))).toBe(false)
      expect(existsSync(join(dir, 'reached'))).toBe(false)
      expect(injected(dir)).toBe(false)
    })
  })

  describe('BOOTSTRAP', () => {
    // Stand-ins for dd that record how they were called: one passes everything to the real dd,
    // one refuses iflag= as a dd without it does (older BusyBox, other systems).
    const realDd = shell.gnu ? '/usr/bin/dd' : '/usr/bin/busybox dd'
    const standIn = (refuseIflag: boolean): string => {
      const dir = fresh('dd')
      const refuse = refuseIflag
        ? `for a; do case $a in iflag=*) echo "dd: unknown operand $a" >&2; exit 1 ;; esac; done\n`
        : ''
      writeFileSync(
        join(dir, 'dd'),
        `#!/bin/sh\necho "$*" >> ${quote(join(dir, 'calls'))}\n${refuse}exec ${realDd} "$@"\n`,
        { mode: 0o755 }
      )
      return dir
    }
    it.each([
      { dd: 'dd with iflag=fullblock: one block', refuseIflag: false },
      { dd: 'dd without it: byte by byte', refuseIflag: true }
    ])('runs the script that follows on stdin and leaves the rest of stdin to it ($dd)', c => {
      const dir = standIn(c.refuseIflag)
      // Big enough to arrive in several pipe reads: the block must still be whole.
      const filler = `# ${'x'.repeat(200)}\n`.repeat(1500)
      const script = `${filler}printf 'script %s\\n' ${quote(HOSTILE)}; cat`
      const length = Buffer.byteLength(script)
      const rest = Buffer.from([0, 1, 2, 255, 10, 42])
      const input = Buffer.concat([Buffer.from(`${length}\n${script}`), rest])
      const r = run(shell, BOOTSTRAP, fresh('bootstrap'), { input, pathPrefix: dir })
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toEqual(Buffer.concat([Buffer.from(`script ${HOSTILE}\n`), rest]))
      const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')
      expect(calls.at(-1)).toBe(
        c.refuseIflag ? `bs=1 count=${length}` : `bs=${length} count=1 iflag=fullblock`
      )
    })
  })

  describe('BOOTSTRAP with a gzipped script', () => {
    const realDd = shell.gnu ? '/usr/bin/dd' : '/usr/bin/busybox dd'
    it.each([false, true])(
      'runs it and leaves the rest of stdin to it (dd without iflag: %s)',
      refuseIflag => {
        const dir = fresh('ddz')
        if (refuseIflag)
          writeFileSync(
            join(dir, 'dd'),
            `#!/bin/sh\nfor a; do case $a in iflag=*) exit 1 ;; esac; done\nexec ${realDd} "$@"\n`,
            { mode: 0o755 }
          )
        const filler = `# ${'x'.repeat(200)}\n`.repeat(1500)
        const script = `${filler}printf 'script %s\\n' ${quote(HOSTILE)}; cat`
        const data = gzipSync(script)
        const rest = Buffer.from([0, 1, 2, 255, 10, 42])
        const input = Buffer.concat([Buffer.from(`z${data.length}\n`), data, rest])
        const r = run(shell, BOOTSTRAP, fresh('bootstrap'), { input, pathPrefix: dir })
        expect(r.status, r.stderr).toBe(0)
        expect(r.stdout).toEqual(Buffer.concat([Buffer.from(`script ${HOSTILE}\n`), rest]))
      }
    )

    it('exits with 96, having run nothing, where gzip cannot read it', () => {
      const dir = fresh('nogzip')
      writeFileSync(join(dir, 'gzip'), '#!/bin/sh\nexit 127\n', { mode: 0o755 })
      const marker = join(dir, 'ran')
      const data = gzipSync(`touch ${quote(marker)}`)
      const input = Buffer.concat([Buffer.from(`z${data.length}\n`), data])
      const r = run(shell, BOOTSTRAP, fresh('bootstrap'), { input, pathPrefix: dir })
      expect(r.status).toBe(96)
      expect(existsSync(marker)).toBe(false)
    })
  })

  describe('sharedListingScript', () => {
    it('lists shared/ as deep as asked, by type, reading only; nothing but its end when there is no shared/', () => {
      const D = fresh('shared-listing')
      build(join(D, 'shared'), {
        '.env': 'APP_KEY=x',
        'storage/app/public/photo.jpg': 'jpeg',
        'storage/logs/': '',
        "it's a dir/file.txt": 'q',
        uploads: { link: 'storage/app/public' },
        dangling: { link: 'nowhere' }
      })
      const before = snapshot(D)
      const r = run(shell, sharedListingScript(D, 2), fresh('elsewhere'))
      expect(r.status, r.stderr).toBe(0)
      expect(r.lines.at(-1)).toBe('shared-end')
      expect(r.lines.slice(0, -1).sort()).toEqual(
        [
          'shared-entry f ./.env',
          'shared-entry d ./storage',
          'shared-entry d ./storage/app',
          'shared-entry d ./storage/logs',
          "shared-entry d ./it's a dir",
          "shared-entry f ./it's a dir/file.txt",
          'shared-entry l ./uploads',
          'shared-entry l ./dangling'
        ].sort()
      )
      expect(snapshot(D)).toEqual(before)
      const none = run(shell, sharedListingScript(join(D, 'missing'), 3), D)
      expect(none.status).toBe(0)
      expect(none.lines).toEqual(['shared-end'])
    })
  })

  describe('listingScript', () => {
    it('lists every file, directory and symlink as stat would, names with newlines and unicode included', () => {
      const R = fresh('listing')
      build(R, {
        'index.html': { mode: 0o644, content: 'hello' },
        'run.sh': { mode: 0o755, content: '#!/bin/sh\n' },
        'private.key': { mode: 0o600, content: 'k' },
        'empty/': '',
        'a/b/c.txt': 'deep',
        link: { link: 'index.html' },
        dangling: { link: 'nowhere/at/all' },
        'new\nline.txt': 'nl',
        'ünï 🚀.txt': 'u',
        '-rf': 'dash',
        "it's.txt": 'q'
      })
      const expected = walk(R)
        .map(rel => {
          const st = lstatSync(join(R, rel))
          if (st.isSymbolicLink())
            return `l ${Buffer.byteLength(readlinkSync(join(R, rel)))} ./${rel}`
          if (st.isDirectory()) return `d ${(st.mode & 0o7777).toString(8)} ./${rel}`
          return `f ${(st.mode & 0o7777).toString(8)} ${st.size} ./${rel}`
        })
        .join('\n')
        .split('\n')
        .sort()
      const r = run(shell, listingScript(R), fresh('elsewhere'))
      expect(r.status).toBe(0)
      expect(r.stdout.toString('utf8').split('\n').slice(0, -1).sort()).toEqual(expected)
    })
  })
})

// ---------------------------------------------------------------------------------------------
// Syntax: every script, with hostile values in every slot, parses under both shells.

const HOSTILE_VALUES = [
  "it's",
  '"double"',
  '$(touch INJECTED)',
  '`touch INJECTED`',
  'new\nline',
  'ünïcødé 🚀',
  '-rf',
  '--',
  'back\\slash',
  'trailing\\',
  'tab\there',
  '*?[a]',
  '~',
  '#hash',
  'a;b&c|d',
  '${x}',
  "'\\''",
  '\\'
]

/** Shared paths that input-helper accepts (no control characters, no '.'/'..'/'' segments). */
const HOSTILE_SHARED = HOSTILE_VALUES.filter(v => !/[\u0000-\u001f]/.test(v) && !v.startsWith('/'))
  .flatMap(v => [v, `${v}/x`, `dir/${v}/`])
  .filter(
    v =>
      !v
        .split('/')
        .some((s, i, all) => (s === '' && i !== all.length - 1) || s === '.' || s === '..')
  )

function syntaxErrors(script: Script): string[] {
  const file = join(work, `syntax-${++counter}.sh`)
  writeFileSync(file, scriptText(script))
  const errors: string[] = []
  for (const [name, argv] of [
    ['dash', ['dash', '-n', file]],
    ['busybox sh', ['busybox', 'sh', '-n', file]],
    ['bash --posix', ['bash', '--posix', '-n', file]],
    ['posh', ['posh', '-n', file]]
  ] as const) {
    const r = spawnSync(argv[0], argv.slice(1))
    if (r.status !== 0) errors.push(`${name}: ${r.stderr.toString().trim()}`)
  }
  return errors
}

const D_HOSTILE = `/srv/${HOSTILE_VALUES.join(' ')}`

describe('every generated script parses (sh -n) with hostile values', () => {
  it.each(['previous', 'cache', 'none'] as const)(
    'inspectScript, reuse %s, with and without the lock',
    reuse => {
      for (const lock of [true, false]) {
        const script = inspectScript({
          path: `-${HOSTILE_VALUES.join('/')}`,
          lock,
          lockOwner: JSON.stringify({ note: HOSTILE_VALUES.join(' ') }) + HOSTILE_VALUES.join(''),
          reuse,
          systemExact: [...SYS.exact, ...HOSTILE_VALUES.map(v => `/${v}`)],
          systemTrees: [...SYS.trees, ...HOSTILE_VALUES.map(v => `/${v}/`)]
        })
        expect(syntaxErrors(script)).toEqual([])
      }
    }
  )

  const prepares: [string, PrepareParams][] = [
    [
      'base none, sftp',
      {
        staleReleases: [],
        base: { kind: 'none' },
        copyMethod: 'copy',
        remove: [],
        transfer: { kind: 'sftp' }
      }
    ],
    [
      'base release, copy, tar gzip, hostile removals',
      {
        staleReleases: ['-x', 'a.b', 'v1_2'],
        base: { kind: 'release', id: '-rf', sharedLinks: HOSTILE_VALUES },
        copyMethod: 'copy',
        remove: HOSTILE_VALUES,
        transfer: { kind: 'tar', gzip: true }
      }
    ],
    [
      'base release, hardlink, tar',
      {
        staleReleases: [],
        base: { kind: 'release', id: 'v1.0', sharedLinks: [] },
        copyMethod: 'hardlink',
        remove: ['a'],
        transfer: { kind: 'tar', gzip: false }
      }
    ],
    [
      'base cache (missing), copy',
      {
        staleReleases: [],
        base: { kind: 'cache', exists: false },
        copyMethod: 'copy',
        remove: HOSTILE_VALUES,
        transfer: { kind: 'tar', gzip: false }
      }
    ],
    [
      'base cache (existing), hardlink',
      {
        staleReleases: [],
        base: { kind: 'cache', exists: true },
        copyMethod: 'hardlink',
        remove: [],
        transfer: { kind: 'sftp' }
      }
    ],
    [
      'many removals (chunked)',
      {
        staleReleases: [],
        base: { kind: 'none' },
        copyMethod: 'copy',
        remove: Array.from(
          { length: 1200 },
          (_, i) => `f${i} ${HOSTILE_VALUES[i % HOSTILE_VALUES.length]}`
        ),
        transfer: { kind: 'sftp' }
      }
    ]
  ]

  it.each(prepares)('releaseScript prepare: %s', (_label, prepare) => {
    expect(
      syntaxErrors(
        releaseScript({ deployDir: D_HOSTILE, releaseId: 'v1.0-rc_1', umask: '0022' }, prepare)
      )
    ).toEqual([])
  })

  const finalizes: [string, FinalizeParams][] = [
    [
      'auto shared, fail, no sums',
      {
        manifestDigest: 'a'.repeat(64),
        verifyAll: false,
        oddSums: [],
        links: [],
        shared: { kind: 'auto' },
        sharedConflict: 'fail',
        updatesCache: false
      }
    ],
    [
      'auto shared, replace, odd sums with hostile names, from cache, updates cache',
      {
        fromCache: { copyMethod: 'copy' },
        manifestDigest: 'b'.repeat(64),
        manifestBase: 'cache',
        verifyAll: true,
        oddSums: HOSTILE_VALUES.map(path => ({ path, sha256: 'a'.repeat(64) })),
        links: HOSTILE_VALUES.map(path => ({ path, target: `../${path}` })),
        shared: { kind: 'auto' },
        sharedConflict: 'replace',
        updatesCache: true
      }
    ],
    [
      'hardlink from cache, hook with a hostile script and environment',
      {
        fromCache: { copyMethod: 'hardlink' },
        manifestDigest: 'c'.repeat(64),
        manifestBase: 'manifests/-rf',
        verifyAll: false,
        oddSums: [],
        links: [],
        shared: { kind: 'auto' },
        sharedConflict: 'fail',
        hook: {
          name: 'before-switch',
          script: `${HOSTILE_VALUES.join('\n')}\nEOF\n'EOF'\ncat <<'X'\n$(x)\nX\n`,
          env: Object.fromEntries(HOSTILE_VALUES.map((v, i) => [`V${i}`, v]))
        },
        updatesCache: false
      }
    ]
  ]

  it.each(finalizes)('releaseScript finalize: %s', (_label, finalize) => {
    expect(
      syntaxErrors(
        releaseScript(
          { deployDir: D_HOSTILE, releaseId: '-rf', umask: '0002' },
          undefined,
          finalize
        )
      )
    ).toEqual([])
  })

  it.each(['fail', 'replace'] as const)(
    'releaseScript finalize: explicit shared paths a user may give, conflict %s',
    sharedConflict => {
      const bad: string[] = []
      for (const path of HOSTILE_SHARED) {
        const script = releaseScript(
          { deployDir: D_HOSTILE, releaseId: 'r', umask: '0022' },
          undefined,
          {
            manifestDigest: 'd'.repeat(64),
            verifyAll: false,
            oddSums: [],
            links: [],
            shared: { kind: 'explicit', paths: [path] },
            sharedConflict,
            updatesCache: false
          }
        )
        if (syntaxErrors(script).length > 0) bad.push(path)
      }
      expect(bad).toEqual([])
    }
  )

  it('abortScript, hookScript, finishScript, unlockScript, sharedListingScript and listingScript', () => {
    const scripts = [
      abortScript({
        deployDir: D_HOSTILE,
        releaseId: '-rf',
        umask: '0022',
        lockToken: HOSTILE_VALUES.join('')
      }),
      abortScript({ deployDir: D_HOSTILE, releaseId: 'v1', umask: '0022' }),
      hookScript({
        deployDir: D_HOSTILE,
        releaseId: '-rf',
        name: 'after-switch',
        script: HOSTILE_VALUES.join('\n'),
        env: { RELEASE_ID: HOSTILE_VALUES.join('') }
      }),
      finishScript({
        deployDir: D_HOSTILE,
        events: HOSTILE_VALUES.map(v => [v, v]),
        prune: ['-rf', 'v1.0'],
        forget: HOSTILE_VALUES,
        lockToken: HOSTILE_VALUES.join('')
      }),
      finishScript({ deployDir: D_HOSTILE, events: [], prune: [], forget: [] }),
      unlockScript(`-${HOSTILE_VALUES.join('/')}`),
      sharedListingScript(D_HOSTILE, 3),
      listingScript(D_HOSTILE)
    ]
    for (const script of scripts) expect(syntaxErrors(script)).toEqual([])
  })
})
