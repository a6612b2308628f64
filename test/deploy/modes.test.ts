/**
 * File modes on the server: nothing world-writable is ever created, whatever the source modes
 * and the server's umask; executables keep +x; new directories follow the server's umask.
 *
 * The umask of an SSH session comes from the login, so each account here logs in with a small
 * wrapper shell that sets it and execs /bin/sh (sshd runs `<shell> -c <command>`). SFTP does not
 * go through the login shell: this sshd's sftp subsystem runs with umask 000, the worst case,
 * so SFTP-created paths get exactly the modes the action asks for.
 */
import { chmod, lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionResult } from '../support/action.ts'
import { run } from '../support/exec.ts'
import {
  describeTree,
  settled,
  worldWritable,
  writeTree,
  type TreeSpec
} from '../support/fixture.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { createUser, removeUser } from '../support/users.ts'

let sshd: Sshd
let shells: string
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  sshd = await startSshd({ extraConfig: ['Subsystem sftp internal-sftp -u 000'] })
  shells = await mkdtemp(path.join(os.tmpdir(), 'adt-shells-'))
  await chmod(shells, 0o755)
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(async () => {
  await sshd?.stop()
  if (shells) await rm(shells, { recursive: true, force: true })
})

interface Target {
  user: TestUser
  source: string
  deployDir: string
  inputs(extra?: Record<string, string>): Record<string, string>
}

/** An account whose SSH sessions run with this umask. */
async function target(umask: string, spec: TreeSpec): Promise<Target> {
  const shell = path.join(shells, `sh-umask-${umask}`)
  await writeFile(shell, `#!/bin/sh\numask ${umask}\nexec /bin/sh "$@"\n`)
  await chmod(shell, 0o755)
  const user = await createUser(sshd, { shell })
  cleanups.push(() => removeUser(user))
  const source = await mkdtemp(path.join(os.tmpdir(), 'adt-src-'))
  cleanups.push(() => rm(source, { recursive: true, force: true }))
  await writeTree(source, spec)
  const deployDir = path.join(user.home, 'app')
  return {
    user,
    source,
    deployDir,
    inputs: (extra = {}) => ({
      servers: `${user.name}@127.0.0.1:${sshd.port}`,
      'private-key': user.privateKey,
      'known-hosts': sshd.knownHosts,
      path: 'app',
      source,
      ...extra
    })
  }
}

async function deploy(t: Target, extra: Record<string, string> = {}): Promise<ActionResult> {
  const result = await runAction(t.inputs(extra))
  expect(result.code, result.log).toBe(0)
  // The spare copy made after the deploy is checked too, once made.
  await settled(t.deployDir)
  return result
}

/** The umask of a command the account runs over SSH (OpenSSH's client, like any other). */
async function sessionUmask(t: Target): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-ssh-'))
  try {
    await writeFile(path.join(dir, 'key'), t.user.privateKey, { mode: 0o600 })
    await writeFile(path.join(dir, 'known_hosts'), `${sshd.knownHosts}\n`)
    const result = await run('ssh', [
      '-F',
      'none',
      '-o',
      'BatchMode=yes',
      '-o',
      `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-i',
      path.join(dir, 'key'),
      '-p',
      String(sshd.port),
      `${t.user.name}@127.0.0.1`,
      'umask'
    ])
    return result.stdout.trim()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Permission bits of the root and every directory below it (symlinks not followed). */
async function directoryModes(root: string): Promise<Map<string, number>> {
  const modes = new Map<string, number>()
  const walk = async (dir: string): Promise<void> => {
    modes.set(dir, (await lstat(dir)).mode & 0o7777)
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(path.join(dir, entry.name))
    }
  }
  await walk(root)
  return modes
}

const mode = async (p: string): Promise<number> => (await lstat(p)).mode & 0o7777

const OPEN: TreeSpec = {
  'open.txt': { content: 'anybody may write me', mode: 0o666 },
  'run.sh': { content: '#!/bin/sh\necho run\n', mode: 0o777 },
  'tool.sh': { content: '#!/bin/sh\necho tool\n', mode: 0o755 },
  'plain.txt': { content: 'plain', mode: 0o644 },
  'open-dir/inner.txt': { content: 'inner', mode: 0o666 },
  'open-dir/deeper/x.sh': { content: '#!/bin/sh\n', mode: 0o777 }
}

async function openUpSourceDirectories(source: string): Promise<void> {
  for (const dir of ['', 'open-dir', 'open-dir/deeper']) await chmod(path.join(source, dir), 0o777)
}

describe('with a server umask of 000 and world-writable sources', () => {
  it('creates nothing world-writable over tar and SFTP, and keeps +x', async () => {
    const t = await target('000', OPEN)
    await openUpSourceDirectories(t.source)
    expect(await sessionUmask(t)).toBe('0000')
    // The lock exists only during the run: the hook reports its modes.
    const first = await deploy(t, {
      'release-id': 'm1',
      'shared-paths': 'storage/\nlogs/',
      'before-switch': 'cd "$DEPLOY_PATH/.atomic-deploy"; stat -c "lock-mode %n %a" lock lock/owner'
    })
    const lockModes = [...first.log.matchAll(/\] lock-mode (\S+) ([0-7]+)$/gm)]
    expect(lockModes.map(m => m[1])).toEqual(['lock', 'lock/owner'])
    for (const [, name, bits] of lockModes) expect.soft(parseInt(bits!, 8) & 0o002, name).toBe(0)
    expect.soft(await worldWritable(t.deployDir)).toEqual([])
    expect.soft((await mode(t.deployDir)) & 0o002).toBe(0)

    await writeTree(t.source, {
      'open.txt': { content: 'changed', mode: 0o666 },
      'new-dir/new.sh': { content: '#!/bin/sh\n', mode: 0o777 },
      'new-dir/sub/file.txt': { content: 'f', mode: 0o666 }
    })
    await chmod(path.join(t.source, 'new-dir'), 0o777)
    await chmod(path.join(t.source, 'new-dir/sub'), 0o777)
    await deploy(t, {
      'release-id': 'm2',
      transfer: 'sftp',
      'shared-paths': 'storage/\nlogs/\ncache/'
    })
    expect.soft((await mode(t.deployDir)) & 0o002).toBe(0)
    expect.soft(await worldWritable(t.deployDir)).toEqual([])
    for (const id of ['m1', 'm2']) {
      const r = path.join(t.deployDir, 'releases', id)
      expect(await mode(path.join(r, 'run.sh'))).toBe(0o775)
      expect(await mode(path.join(r, 'tool.sh'))).toBe(0o755)
      expect(await mode(path.join(r, 'open.txt'))).toBe(0o664)
      expect(await mode(path.join(r, 'plain.txt'))).toBe(0o644)
      expect(await mode(path.join(r, 'open-dir/deeper/x.sh'))).toBe(0o775)
    }
    const m2 = path.join(t.deployDir, 'releases/m2')
    expect(await mode(path.join(m2, 'new-dir/new.sh'))).toBe(0o775)
    expect(await mode(path.join(m2, 'new-dir/sub/file.txt'))).toBe(0o664)
    // Apart from the modes, the release is the source.
    const strip = (lines: string[]): string[] => lines.map(l => l.replace(/ [0-7]+ (\w+)$/, ' $1'))
    const shared = (rel: string): boolean => ['storage', 'logs', 'cache'].includes(rel)
    expect(strip(await describeTree(m2, { skip: shared }))).toEqual(
      strip(await describeTree(t.source))
    )
  }, 60_000)
})

describe('new directories follow the server umask', () => {
  it.each([
    ['027', '750'],
    ['002', '775'],
    ['022', '755']
  ])(
    'umask %s gives directories mode %s, over tar and SFTP',
    async (umask, octal) => {
      const expected = parseInt(octal, 8)
      const t = await target(umask, OPEN)
      await openUpSourceDirectories(t.source)
      await chmod(path.join(t.source, 'open-dir/deeper'), 0o700)
      expect(await sessionUmask(t)).toBe(`0${umask}`)
      await deploy(t, { 'release-id': 'u1', 'shared-paths': 'storage/' })
      await writeTree(t.source, { 'added/dir/file.txt': 'x' })
      await deploy(t, { 'release-id': 'u2', transfer: 'sftp', 'shared-paths': 'storage/\nlogs/' })

      const modes = await directoryModes(t.deployDir)
      // The layout, the metadata, both releases with their subdirectories, and shared/ entries.
      for (const rel of [
        '',
        'releases',
        'shared',
        'shared/storage',
        'shared/logs',
        '.atomic-deploy',
        'releases/u1',
        'releases/u1/open-dir/deeper',
        'releases/u2',
        'releases/u2/added/dir'
      ]) {
        expect(modes.has(path.join(t.deployDir, rel)), rel).toBe(true)
      }
      // What users read follows the umask; the tool's own metadata is private whatever it is,
      // but for what a copy of a release holds (the spare the next deploy starts from, in a
      // private directory): the release's modes, for the release it becomes.
      const metadata = path.join(t.deployDir, '.atomic-deploy')
      const inCopy = (p: string): boolean => /^base\.[0-9]+\//.test(p.slice(metadata.length + 1))
      const wrong = [...modes]
        .filter(
          ([p, m]) =>
            m !==
            (p === metadata || (p.startsWith(`${metadata}/`) && !inCopy(p)) ? 0o700 : expected)
        )
        .map(([p, m]) => `${p} ${m.toString(8)}`)
      expect(wrong).toEqual([])
      // Executables keep their x bits whatever the umask.
      expect(await mode(path.join(t.deployDir, 'releases/u2/tool.sh'))).toBe(0o755)
      expect(await worldWritable(t.deployDir)).toEqual([])
    },
    60_000
  )
})
