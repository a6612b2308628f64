/**
 * The servers and shells people deploy to, each a real server on loopback from Debian's
 * packages: Dropbear with and without an SFTP server, OpenSSH without an SFTP subsystem,
 * OpenSSH with MaxSessions 1 at 100 ms round trips, the csh, tcsh, fish and zsh login shells,
 * an OpenSSH that takes RSA signatures as rsa-sha2-512 only, and a server behind a jump host.
 * On each: a first deploy, an incremental deploy (after a same-size edit of the live release,
 * which the drift check must name, and nothing else) and a rollback, the tree checked byte for
 * byte every time. And the refusals (a key Dropbear does not accept, a user it does not know, a jump
 * host whose key is wrong): the message, and nothing written.
 */
import { readlink } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runAction, type ActionResult } from '../support/action.ts'
import {
  authorizeDropbearKey,
  createDropbearUser,
  startDropbear,
  type Dropbear
} from '../support/dropbear.ts'
import { createFixture, describeTree, exists, list, writeTree } from '../support/fixture.ts'
import { startLatencyProxy } from '../support/proxy.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { authorizeKey, createUser, generateKey, removeUser } from '../support/users.ts'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { run as runCommand } from '../support/exec.ts'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
})

/** Where a case deploys to, and the inputs that reach it. */
interface Target {
  user: TestUser
  /** servers, credentials, known-hosts (and jump-host) for this target. */
  inputs: Record<string, string>
}

async function sshdTarget(
  sshd: Sshd,
  options: Parameters<typeof createUser>[1] = {}
): Promise<Target> {
  const user = await createUser(sshd, options)
  cleanups.push(() => removeUser(user))
  return {
    user,
    inputs: {
      servers: `${user.name}@127.0.0.1:${sshd.port}`,
      'private-key': user.privateKey,
      'known-hosts': sshd.knownHosts
    }
  }
}

async function ownSshd(options: Parameters<typeof startSshd>[0]): Promise<Sshd> {
  const sshd = await startSshd(options)
  cleanups.push(() => sshd.stop())
  return sshd
}

async function ownDropbear(sftp: boolean): Promise<Dropbear> {
  const dropbear = await startDropbear({ sftp })
  cleanups.push(() => dropbear.stop())
  return dropbear
}

async function dropbearTarget(dropbear: Dropbear): Promise<Target> {
  const user = await createDropbearUser(dropbear)
  cleanups.push(() => removeUser(user))
  return {
    user,
    inputs: {
      servers: `${user.name}@127.0.0.1:${dropbear.port}`,
      'private-key': user.privateKey,
      'known-hosts': dropbear.knownHosts
    }
  }
}

/** One OpenSSH for the login-shell cases: they differ only in the account. */
let shared: Promise<Sshd> | undefined
const sharedSshd = (): Promise<Sshd> => (shared ??= ownSshd({}))

interface Case {
  name: string
  setup: () => Promise<Target>
  /** The `path` input (relative to the login directory). */
  path?: string
  /** What the log must say about the server (its capabilities). */
  log?: RegExp[]
  /** Roll back and forth this many times more, each checked. */
  rollbacks?: number
}

const CASES: Case[] = [
  {
    name: 'Dropbear with an SFTP server',
    setup: async () => dropbearTarget(await ownDropbear(true)),
    log: [/dropbear_2022\.83/]
  },
  {
    name: 'Dropbear without an SFTP server',
    setup: async () => dropbearTarget(await ownDropbear(false)),
    log: [/dropbear_2022\.83/, /no SFTP/]
  },
  {
    name: 'OpenSSH without an SFTP subsystem',
    setup: async () => sshdTarget(await ownSshd({ sftp: false })),
    // The inspect phase does not wait for SFTP's start when the files go by tar: its line says
    // "no SFTP" when sshd's refusal of the subsystem came before the inspect script's answer,
    // and "SFTP still starting" otherwise (both were seen). Each deploy below switches and rolls
    // back on a server without SFTP, which only the switch by mv in the shell can do.
    log: [/no SFTP \(.*\): switching with mv in the shell|SFTP still starting \(files go by tar\)/]
  },
  {
    name: 'OpenSSH with MaxSessions 1 at 100 ms round trips',
    setup: async () => {
      const sshd = await ownSshd({ extraConfig: ['MaxSessions 1'] })
      const proxy = await startLatencyProxy(
        { host: sshd.host, port: sshd.port },
        { delayMsEachWay: 50 }
      )
      cleanups.push(() => proxy.close())
      const target = await sshdTarget(sshd)
      target.inputs.servers = `${target.user.name}@127.0.0.1:${proxy.port}`
      target.inputs['known-hosts'] = sshd.knownHosts.replace(`:${sshd.port} `, `:${proxy.port} `)
      return target
    },
    rollbacks: 10
  },
  {
    name: 'the csh login shell',
    setup: async () => sshdTarget(await sharedSshd(), { shell: '/bin/csh' }),
    path: "csh's \\b $x app",
    log: [/login shell \/bin\/csh/]
  },
  {
    name: 'the tcsh login shell',
    setup: async () => sshdTarget(await sharedSshd(), { shell: '/usr/bin/tcsh' }),
    path: 'back\\slash app',
    log: [/login shell \/usr\/bin\/tcsh/]
  },
  {
    name: "the fish login shell, with a ' in path",
    setup: async () => sshdTarget(await sharedSshd(), { shell: '/usr/bin/fish' }),
    path: "it's my app",
    log: [/login shell \/usr\/bin\/fish/]
  },
  {
    name: 'the zsh login shell',
    setup: async () => sshdTarget(await sharedSshd(), { shell: '/usr/bin/zsh' }),
    path: 'zsh $HOME `app` !1',
    log: [/login shell \/usr\/bin\/zsh/]
  },
  {
    name: 'an OpenSSH that takes RSA signatures as rsa-sha2-512 only',
    setup: async () => {
      const sshd = await ownSshd({ extraConfig: ['PubkeyAcceptedAlgorithms rsa-sha2-512'] })
      const target = await sshdTarget(sshd)
      const key = await generateKey({ type: 'rsa', comment: 'adt-matrix-rsa' })
      await authorizeKey(sshd, target.user, key.publicKey)
      target.inputs['private-key'] = key.privateKey
      return target
    }
  },
  {
    name: 'a server behind a jump host that only forwards',
    setup: async () => {
      const sshd = await ownSshd({})
      const target = await sshdTarget(sshd)
      const jump = await jumpSshd(sshd)
      const hop = await sshdTarget(jump)
      target.inputs['jump-host'] = `${hop.user.name}@127.0.0.1:${jump.port}`
      target.inputs['jump-private-key'] = hop.user.privateKey
      target.inputs['known-hosts'] = `${sshd.knownHosts}\n${jump.knownHosts}`
      return target
    },
    log: [/Connecting through jump host/]
  }
]

/** An sshd that runs no commands and forwards only to `target` (a bastion). */
function jumpSshd(target: Sshd): Promise<Sshd> {
  return ownSshd({
    extraConfig: [
      'ForceCommand /bin/false',
      'PermitTTY no',
      'X11Forwarding no',
      'AllowTcpForwarding local',
      `PermitOpen 127.0.0.1:${target.port}`
    ]
  })
}

async function deploy(inputs: Record<string, string>): Promise<ActionResult> {
  const result = await runAction(inputs)
  expect(result.log).not.toMatch(/Unhandled|ECONNRESET|EPIPE|at .*\.js:\d+/)
  return result
}

const V1 = {
  'index.html': '<h1>one</h1>\n',
  'bin/run': { content: '#!/bin/sh\necho run\n', mode: 0o755 },
  'assets/app.css': 'body { color: red }\n',
  'assets/old.js': 'old()\n',
  'a name with spaces.txt': 'spaces\n',
  'a name with a\nline break.txt': 'line break\n',
  'latest.css': { symlink: 'assets/app.css' }
}

describe.each(CASES)('$name', ({ setup, path: deployPath = 'app', log = [], rollbacks = 0 }) => {
  it('deploys, deploys again incrementally (a change made on the server named, and only it) and rolls back, byte for byte', async () => {
    const target = await setup()
    const source = await mkdtemp(path.join(os.tmpdir(), 'adt-matrix-src-'))
    cleanups.push(() => rm(source, { recursive: true, force: true }))
    const inputs = (extra: Record<string, string>): Record<string, string> => ({
      ...target.inputs,
      path: deployPath,
      source,
      ...extra
    })
    const dir = path.join(target.user.home, deployPath)
    const current = path.join(dir, 'current')

    await writeTree(source, V1)
    const first = await deploy(inputs({ 'release-id': 'r1' }))
    expect(first.code, first.log).toBe(0)
    for (const line of log) expect(first.log).toMatch(line)
    const v1 = await describeTree(source)
    expect(await describeTree(current)).toEqual(v1)

    await writeTree(source, {
      'index.html': '<h1>two</h1>\n',
      'assets/new.js': 'fresh()\n',
      'bin/run': { content: '#!/bin/sh\necho run two\n', mode: 0o700 }
    })
    await rm(path.join(source, 'assets/old.js'))
    // A same-size edit of the live release on the server: the drift check names it, and only
    // it (no false drift on this server, shell and path, a name with a line break included).
    await writeFile(path.join(current, 'a name with spaces.txt'), 'SPACES\n')
    const second = await deploy(inputs({ 'release-id': 'r2' }))
    expect(second.code, second.log).toBe(0)
    const warnings = second.log.split('\n').filter(l => l.startsWith('::warning::'))
    expect(warnings, second.log).toHaveLength(1)
    expect(warnings[0]).toMatch(
      /release r1 was changed on the server since it was deployed: changed a name with spaces\.txt\. /
    )
    expect(second.outputs['files-uploaded']).toBe('4')
    // r1 as it was deployed again, for the rollbacks to compare with.
    await writeFile(path.join(dir, 'releases/r1/a name with spaces.txt'), 'spaces\n')
    expect(second.outputs['files-deleted']).toBe('1')
    const v2 = await describeTree(source)
    expect(await describeTree(current)).toEqual(v2)

    const back = await deploy(inputs({ mode: 'rollback' }))
    expect(back.code, back.log).toBe(0)
    expect(await readlink(current)).toBe('releases/r1')
    expect(await describeTree(current)).toEqual(v1)

    for (let i = 0; i < rollbacks; i++) {
      const to = i % 2 === 0 ? 'r2' : 'r1'
      const again = await deploy(inputs({ mode: 'rollback', 'rollback-to': to }))
      expect(again.code, `rollback ${i + 1} of ${rollbacks}:\n${again.log}`).toBe(0)
      expect(await readlink(current)).toBe(`releases/${to}`)
      expect(await describeTree(current)).toEqual(to === 'r1' ? v1 : v2)
    }
    expect(await list(dir)).toEqual(['.atomic-deploy', 'current', 'releases', 'shared'])
  })
})

describe('refused before anything is written', () => {
  let dropbear: Dropbear
  let target: Target
  const source = (): Promise<string> =>
    mkdtemp(path.join(os.tmpdir(), 'adt-matrix-src-')).then(async dir => {
      cleanups.push(() => rm(dir, { recursive: true, force: true }))
      await writeTree(dir, V1)
      return dir
    })

  it.each([
    {
      name: 'a key Dropbear does not accept',
      inputs: async (): Promise<Record<string, string>> => {
        const stranger = await generateKey({ comment: 'adt-matrix-stranger' })
        return { ...target.inputs, 'private-key': stranger.privateKey }
      },
      message: () => new RegExp(`authentication failed for user '${target.user.name}'`)
    },
    {
      name: 'a user Dropbear does not know',
      inputs: async (): Promise<Record<string, string>> => ({
        ...target.inputs,
        servers: `adtnosuchuser@127.0.0.1:${dropbear.port}`
      }),
      message: () => /authentication failed for user 'adtnosuchuser'/
    }
  ])('$name: the message names authentication and the user', async ({ inputs, message }) => {
    dropbear ??= await ownDropbear(true)
    target ??= await dropbearTarget(dropbear)
    // Dropbear's other keys stay valid; only this run's credentials are wrong.
    await authorizeDropbearKey(dropbear, target.user, target.user.publicKey)
    const result = await deploy({ ...(await inputs()), path: 'app', source: await source() })
    expect(result.code).toBe(1)
    expect(result.log).toMatch(/::error::Cannot reach 1 of 1 server/)
    expect(result.log).toMatch(message())
    expect(await exists(path.join(target.user.home, 'app'))).toBe(false)
  })

  it.each([
    {
      // An SFTP-only account is deployed over SFTP alone (test/deploy/sftp-only.test.ts); one
      // whose every session runs /bin/false has neither a shell nor SFTP.
      name: 'an account that runs nothing (ForceCommand /bin/false)',
      fixture: {
        sshdOptions: { matchBlocks: ['Match Group adtnothing', '    ForceCommand /bin/false'] }
      },
      groups: ['adtnothing'],
      extra: {} as Record<string, string>,
      message:
        /has no shell: the server ran no shell for it \(exit 1\), and (it has no SFTP either|SFTP could not be started) .*give the account a login shell that runs commands, or SFTP/
    },
    {
      name: 'a server with neither tar nor SFTP',
      fixture: { kind: 'notar' as const, sshdOptions: { sftp: false } },
      groups: [],
      extra: {} as Record<string, string>,
      message:
        /no 'tar' in PATH and it has no SFTP \(Unable to start subsystem: sftp\), so files cannot be sent: install tar .*enable SFTP/
    },
    {
      name: 'transfer: sftp on a server without SFTP',
      fixture: { sshdOptions: { sftp: false } },
      groups: [],
      extra: { transfer: 'sftp' },
      message: /transfer is sftp but it has no SFTP .*: set transfer: auto or tar/
    }
  ])(
    '$name: the message says what is missing and what to do',
    async ({ fixture, groups, extra, message }) => {
      const f = await createFixture(fixture)
      cleanups.push(() => f.cleanup())
      for (const group of groups) {
        await runCommand('groupadd', ['-f', group])
        await runCommand('usermod', ['-a', '-G', group, f.user.name])
      }
      await writeTree(f.source, V1)
      const result = await deploy(f.inputs(extra))
      expect(result.code).toBe(1)
      expect(result.log).toMatch(message)
      expect(await exists(f.deployDir)).toBe(false)
    }
  )

  it('a jump host whose key is not the one in known-hosts: refused, naming the jump host', async () => {
    const f = await createFixture()
    cleanups.push(() => f.cleanup())
    const jump = await jumpSshd(f.sshd)
    const hop = await sshdTarget(jump)
    // The jump host's port with another server's key.
    const wrong = f.sshd.knownHosts.replace(`:${f.sshd.port} `, `:${jump.port} `)
    await writeTree(f.source, V1)
    const result = await deploy(
      f.inputs({
        'jump-host': `${hop.user.name}@127.0.0.1:${jump.port}`,
        'jump-private-key': hop.user.privateKey,
        'known-hosts': `${f.sshd.knownHosts}\n${wrong}`
      })
    )
    expect(result.code).toBe(1)
    expect(result.log).toMatch(
      new RegExp(
        `${hop.user.name}@127\\.0\\.0\\.1:${jump.port} \\(jump host\\): host key verification failed`
      )
    )
    expect(await exists(f.deployDir)).toBe(false)
  })
})
