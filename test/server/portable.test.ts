/**
 * Portable servers end to end: the whole life of a deploy directory (first deploy, incremental
 * deploy, shared paths, before-switch, rollback, pruning) on a server whose only tools are
 * BusyBox applets, and on a stock Debian server whose /bin/sh is dash. Plus the SFTP transfer and
 * hard-linked releases on BusyBox.
 */
import { chmod, lstat, readFile, readlink, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionResult } from '../support/action.ts'
import { run } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  settled,
  worldWritable,
  writeTree,
  type Fixture,
  type TreeSpec
} from '../support/fixture.ts'
import { BUSYBOX_PROFILE, startSshd, type Sshd } from '../support/sshd.ts'
import { runAs } from '../support/users.ts'

let sshd: Sshd
const fixtures: Fixture[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

const V1: TreeSpec = {
  'index.php': '<?php echo "v1";',
  'public/css/app.css': 'body { color: red }',
  'public/js/app.js': 'console.log(1)',
  'bin/console': { content: '#!/bin/sh\necho console\n', mode: 0o755 },
  'docs/readme.md': '# readme',
  'docs/old.md': '# old',
  'docs/link-to-readme': { symlink: 'readme.md' },
  'empty-dir': { dir: true },
  "with space/it's $(x) `y`.txt": 'odd name'
}

async function fixture(kind: 'default' | 'busybox', spec: TreeSpec = V1): Promise<Fixture> {
  const f = await createFixture({ sshd, kind })
  fixtures.push(f)
  await writeTree(f.source, spec)
  return f
}

async function deploy(f: Fixture, extra: Record<string, string> = {}): Promise<ActionResult> {
  const result = await runAction(f.inputs(extra))
  expect(result.code, result.log).toBe(0)
  // The spare copy of the new live release is made in the background: the checks below walk
  // the whole deploy directory, which it must not change under them (its end renames a record).
  await settled(f.deployDir)
  return result
}

const current = (f: Fixture): string => path.join(f.deployDir, 'current')
const release = (f: Fixture, id: string): string => path.join(f.deployDir, 'releases', id)

/** Lines a hook printed, without the `[user@host:port] ` prefix. */
function hookLines(log: string, f: Fixture): string[] {
  const prefix = `[${f.user.name}@127.0.0.1:${sshd.port}] `
  return log
    .split('\n')
    .filter(l => l.startsWith(prefix))
    .map(l => l.slice(prefix.length))
}

function hookValue(log: string, f: Fixture, key: string): string | undefined {
  const line = hookLines(log, f).find(l => l.startsWith(`${key}=`))
  return line?.slice(key.length + 1)
}

const TOOLS = ['cp', 'tar', 'find', 'stat', 'sha256sum', 'awk', 'dd', 'sh', 'ln', 'mv', 'rm']

/** A before-switch that reports the shell running it, the script shell above it, and the tools. */
const PROBE = [
  'echo "shell=$(readlink /proc/$$/exe)"',
  'echo "parent=$(readlink /proc/$PPID/exe)"',
  `for t in ${TOOLS.join(' ')}; do echo "tool-$t=$(command -v "$t")"; done`,
  'echo "env=$(cat .env)"',
  'echo "uploads=$(cat uploads/a.txt)"'
].join('\n')

interface Platform {
  kind: 'default' | 'busybox'
  /** The account's login shell, which runs every command of an SSH session. */
  loginShell: string
  /** What `readlink /proc/$$/exe` of the hook's shell and of the script shell must be. */
  shell: string
  /** Check of `command -v <tool>` as the SSH session sees it. */
  toolPath: (tool: string, resolved: string | undefined) => void
}

const BUSYBOX: Platform = {
  kind: 'busybox',
  loginShell: BUSYBOX_PROFILE.shell,
  shell: '/usr/bin/busybox',
  toolPath: (tool, resolved) => expect(resolved, tool).toBe(path.join(BUSYBOX_PROFILE.binDir, tool))
}

// Debian's /bin/sh is dash; the default test account logs in with /bin/sh.
const DASH: Platform = {
  kind: 'default',
  loginShell: '/bin/sh',
  shell: '/usr/bin/dash',
  toolPath: (tool, resolved) => expect(resolved, tool).toMatch(/^\/(usr\/)?s?bin\//)
}

/** The deploy directory's shared/ as an admin prepares it by hand before the first deploy. */
async function prepareShared(f: Fixture): Promise<void> {
  await writeTree(f.deployDir, {
    'shared/.env': 'APP_KEY=portable',
    'shared/uploads/a.txt': 'uploaded'
  })
  await run('chown', ['-R', `${f.user.name}:`, f.deployDir])
}

/** The release equals the source, plus the two shared links pointing into shared/. */
async function expectRelease(dir: string, expected: string[]): Promise<void> {
  const skip = (rel: string): boolean => rel === '.env' || rel === 'uploads'
  expect(await describeTree(dir, { skip })).toEqual(expected)
  expect(await readlink(path.join(dir, '.env'))).toBe('../../shared/.env')
  expect(await readlink(path.join(dir, 'uploads'))).toBe('../../shared/uploads')
  expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe('APP_KEY=portable')
}

/**
 * The life of a deploy directory: first deploy, an incremental deploy (changes, a deletion, a
 * new symlink, a new +x bit), rollback, three deploys with keep-releases 2, and a rollback to
 * the release that pruning kept.
 */
async function lifecycle(platform: Platform): Promise<void> {
  const f = await fixture(platform.kind)
  expect(f.user.shell).toBe(platform.loginShell)
  expect(await realpath(platform.loginShell)).toBe(platform.shell)
  await prepareShared(f)

  // 1. First deploy, with a before-switch that shows where it runs and what it can reach.
  const v1 = await describeTree(f.source)
  const first = await deploy(f, { 'release-id': 'r1', 'before-switch': PROBE })
  expect(hookValue(first.log, f, 'shell'), first.log).toBe(platform.shell)
  expect(hookValue(first.log, f, 'parent'), first.log).toBe(platform.shell)
  for (const tool of TOOLS) platform.toolPath(tool, hookValue(first.log, f, `tool-${tool}`))
  // Shared paths are linked before the switch.
  expect(hookValue(first.log, f, 'env')).toBe('APP_KEY=portable')
  expect(hookValue(first.log, f, 'uploads')).toBe('uploaded')
  expect(await readlink(current(f))).toBe('releases/r1')
  await expectRelease(current(f), v1)
  expect(await worldWritable(f.deployDir)).toEqual([])

  // 2. Incremental: a change, a deletion, a new symlink, a mode change, a new file.
  await writeTree(f.source, {
    'index.php': '<?php echo "v2";',
    'public/latest.css': { symlink: 'css/app.css' },
    'public/new.txt': 'new'
  })
  await rm(path.join(f.source, 'docs/old.md'))
  await chmod(path.join(f.source, 'docs/readme.md'), 0o755)
  const v2 = await describeTree(f.source)
  const second = await deploy(f, { 'release-id': 'r2' })
  expect(second.outputs['previous-release-id']).toBe('r1')
  // index.php, public/new.txt, docs/readme.md (mode only).
  expect(second.outputs['files-uploaded']).toBe('3')
  expect(second.outputs['files-deleted']).toBe('1')
  expect(await readlink(current(f))).toBe('releases/r2')
  await expectRelease(current(f), v2)
  expect((await lstat(path.join(current(f), 'docs/readme.md'))).mode & 0o777).toBe(0o755)
  // The previous release is whole, for rollback.
  await expectRelease(release(f, 'r1'), v1)

  // 3. Rollback to r1, with after-switch run there.
  const back = await deploy(f, {
    mode: 'rollback',
    'after-switch': 'echo "after=$RELEASE_ID $(readlink /proc/$$/exe)"'
  })
  expect(back.outputs['release-id']).toBe('r1')
  expect(hookValue(back.log, f, 'after')).toBe(`r1 ${platform.shell}`)
  expect(await readlink(current(f))).toBe('releases/r1')
  await expectRelease(current(f), v1)

  // 4. Three more deploys keeping two releases.
  const versions: Record<string, string[]> = {}
  for (const id of ['r3', 'r4', 'r5']) {
    await writeTree(f.source, { 'version.txt': id })
    versions[id] = await describeTree(f.source)
    const result = await deploy(f, { 'release-id': id, 'keep-releases': '2' })
    expect(result.outputs['release-id']).toBe(id)
    await expectRelease(current(f), versions[id]!)
  }
  expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['r4', 'r5'])
  expect(await list(path.join(f.deployDir, '.atomic-deploy/manifests'))).toEqual([
    'r4.digest',
    'r4.links',
    'r4.listing',
    'r4.m2',
    'r4.ready',
    'r4.view.gz',
    'r5.digest',
    'r5.links',
    'r5.listing',
    'r5.m2',
    'r5.ready',
    'r5.view.gz'
  ])
  expect(await list(path.join(f.deployDir, '.atomic-deploy/revisions'))).toEqual([
    'r4.json',
    'r5.json'
  ])

  // 5. Rollback goes to the release pruning kept.
  const last = await deploy(f, { mode: 'rollback' })
  expect(last.outputs['release-id']).toBe('r4')
  expect(await readlink(current(f))).toBe('releases/r4')
  await expectRelease(current(f), versions.r4!)
  expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
  expect(await worldWritable(f.deployDir)).toEqual([])
  // shared/ kept its data through all of it.
  expect(await readFile(path.join(f.deployDir, 'shared/uploads/a.txt'), 'utf8')).toBe('uploaded')
}

describe('a BusyBox server', () => {
  it('has only BusyBox applets in the PATH of its SSH sessions', async () => {
    const f = await fixture('busybox')
    const resolved = await runAs(f.user, ['sh', '-c', 'command -v cp; command -v tar'])
    expect(resolved.trim().split('\n')).toEqual([
      path.join(BUSYBOX_PROFILE.binDir, 'cp'),
      path.join(BUSYBOX_PROFILE.binDir, 'tar')
    ])
    // GNU cp answers --version; the applet the user reaches does not.
    const gnu = await runAs(f.user, [
      'sh',
      '-c',
      'cp --version >/dev/null 2>&1 && echo gnu || echo not-gnu'
    ])
    expect(gnu.trim()).toBe('not-gnu')
  })

  it('deploys, deploys incrementally, links shared paths, rolls back and prunes', async () => {
    await lifecycle(BUSYBOX)
  }, 90_000)

  it('deploys hard-linked releases over tar and SFTP without changing the previous release', async () => {
    const f = await fixture('busybox')
    const inode = async (id: string, rel: string): Promise<number> =>
      (await lstat(path.join(release(f, id), rel))).ino

    const first = await deploy(f, { 'release-id': 'h1', 'copy-method': 'hardlink' })
    expect(Number(first.outputs['files-uploaded'])).toBe(7)
    const h1 = await describeTree(release(f, 'h1'))
    expect(h1).toEqual(await describeTree(f.source))

    // Tar over a hard-linked copy: changed files are new inodes, unchanged ones are shared.
    await writeTree(f.source, {
      'index.php': '<?php echo "h2";',
      'bin/new': { content: 'x', mode: 0o755 }
    })
    await rm(path.join(f.source, 'docs/old.md'))
    await chmod(path.join(f.source, 'public/js/app.js'), 0o664)
    const second = await deploy(f, { 'release-id': 'h2', 'copy-method': 'hardlink' })
    expect(second.outputs['files-uploaded']).toBe('3')
    expect(second.outputs['files-deleted']).toBe('1')
    expect(await describeTree(current(f))).toEqual(await describeTree(f.source))
    expect(await describeTree(release(f, 'h1'))).toEqual(h1)
    expect(await inode('h2', 'public/css/app.css')).toBe(await inode('h1', 'public/css/app.css'))
    expect(await inode('h2', 'index.php')).not.toBe(await inode('h1', 'index.php'))
    expect(await inode('h2', 'public/js/app.js')).not.toBe(await inode('h1', 'public/js/app.js'))

    // The same over SFTP.
    const h2 = await describeTree(release(f, 'h2'))
    await writeTree(f.source, {
      'public/css/app.css': 'body { color: blue }',
      'docs/link-to-readme': { symlink: '../index.php' },
      'new dir/file.txt': 'sftp'
    })
    const third = await deploy(f, {
      'release-id': 'h3',
      'copy-method': 'hardlink',
      transfer: 'sftp'
    })
    expect(third.outputs['files-uploaded']).toBe('2')
    expect(await describeTree(current(f))).toEqual(await describeTree(f.source))
    expect(await describeTree(release(f, 'h2'))).toEqual(h2)
    expect(await describeTree(release(f, 'h1'))).toEqual(h1)
    expect(await inode('h3', 'bin/console')).toBe(await inode('h1', 'bin/console'))
    expect(await inode('h3', 'public/css/app.css')).not.toBe(
      await inode('h2', 'public/css/app.css')
    )
    expect(await worldWritable(f.deployDir)).toEqual([])
  }, 90_000)

  it('deploys exactly and incrementally over SFTP', async () => {
    const f = await fixture('busybox')
    await writeTree(f.source, { 'open.txt': { content: 'o', mode: 0o666 } })
    const first = await deploy(f, { transfer: 'sftp', 'release-id': 's1' })
    const skip = (rel: string): boolean => rel === 'open.txt'
    expect(await describeTree(current(f), { skip })).toEqual(await describeTree(f.source, { skip }))
    expect((await lstat(path.join(current(f), 'open.txt'))).mode & 0o777).toBe(0o664)
    expect(Number(first.outputs['files-uploaded'])).toBe(8)

    await chmod(path.join(f.source, 'open.txt'), 0o644)
    await rm(path.join(f.source, 'with space'), { recursive: true })
    await writeTree(f.source, {
      'bin/console': { content: '#!/bin/sh\necho v2\n', mode: 0o755 },
      'docs/link-to-readme': { symlink: 'old.md' },
      'a/b/c.txt': 'deep'
    })
    const second = await deploy(f, { transfer: 'sftp', 'release-id': 's2' })
    expect(second.outputs['files-uploaded']).toBe('3')
    expect(second.outputs['files-deleted']).toBe('2')
    expect(await describeTree(current(f))).toEqual(await describeTree(f.source))
    expect(await worldWritable(f.deployDir)).toEqual([])
  }, 60_000)
})

describe('a server whose /bin/sh is dash', () => {
  it('deploys, deploys incrementally, links shared paths, rolls back and prunes', async () => {
    await lifecycle(DASH)
  }, 90_000)
})
