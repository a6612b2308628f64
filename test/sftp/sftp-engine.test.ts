/**
 * The pipelined SFTP engine against a real OpenSSH sshd (its sftp-server, with umask 0 so that
 * only the engine decides modes), through a latency proxy where round trips are counted. The
 * channel is ssh2's own; a thin observer around it counts what is in flight.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  chown,
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  writeFile
} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Client, type SFTPWrapper } from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeSync, constants, openSync } from 'node:fs'
import { AbortedError, CommandTimeoutError } from '../../src/errors.ts'
import {
  NotRegularFileError,
  SftpEngine,
  TooLargeError,
  type EngineLimits,
  type SftpChannel
} from '../../src/sftp/sftp-engine.ts'
import { removeTree, walkTree, type TreeGuard } from '../../src/sftp/sftp-tree.ts'
import { makeDirectories, umaskSpares, uploadEntries } from '../../src/sftp/sftp-transfer.ts'
import { gatherSftpPackets, sftpFacts } from '../../src/ssh/ssh2-internals.ts'
import type { ManifestEntry } from '../../src/release/manifest.ts'
import { run, sleep } from '../support/exec.ts'
import { startLatencyProxy, type LatencyProxy } from '../support/proxy.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { createUser, removeUser } from '../support/users.ts'

let sshd: Sshd
let user: TestUser
let proxy: LatencyProxy
let local: string
const clients: Client[] = []
/** Round trip added by the proxy. */
const RTT = 40

beforeAll(async () => {
  sshd = await startSshd({ extraConfig: ['Subsystem sftp internal-sftp -u 0000'] })
  user = await createUser(sshd)
  proxy = await startLatencyProxy(
    { host: '127.0.0.1', port: sshd.port },
    { delayMsEachWay: RTT / 2 }
  )
  local = path.join(os.tmpdir(), `adt-engine-${randomBytes(4).toString('hex')}`)
  await mkdir(local)
})
afterAll(async () => {
  for (const c of clients) c.end()
  await proxy?.close()
  if (user) await removeUser(user)
  await sshd?.stop()
  if (local) await rm(local, { recursive: true, force: true })
})

/** A real ssh2 SFTP session through the proxy, the host key checked. */
async function session(debug?: (line: string) => void): Promise<SFTPWrapper> {
  const blob = sshd.knownHosts.split(/\s+/)[2]
  const client = new Client()
  clients.push(client)
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject)
    client.connect({
      host: '127.0.0.1',
      port: proxy.port,
      username: user.name,
      privateKey: user.privateKey,
      hostVerifier: (key: Buffer) => key.toString('base64') === blob,
      ...(debug ? { debug } : {})
    })
  })
  return new Promise((resolve, reject) =>
    client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp)))
  )
}

interface Observed {
  inFlight: number
  maxInFlight: number
  open: number
  maxOpen: number
  /** Paths and modes files were created with. */
  created: { path: string; mode: unknown }[]
  renames: [string, string][]
  unlinks: string[]
  calls: number
  /** READ requests. */
  reads: number
  /** SETSTAT and FSETSTAT requests. */
  setstats: number
  /**
   * Handles open at the server as it handles each request in order (sftp-server's one loop):
   * opens sent less closes sent, and the most there ever were.
   */
  atServer: number
  maxAtServer: number
  /** OPEN requests sent before the first CLOSE was answered. */
  opensBeforeClosed: number
  closesAnswered: number
}

/** ssh2's channel, with every request counted while it is in flight. */
function observe(sftp: SftpChannel): { channel: SftpChannel; seen: Observed } {
  const seen: Observed = {
    inFlight: 0,
    maxInFlight: 0,
    open: 0,
    maxOpen: 0,
    created: [],
    renames: [],
    unlinks: [],
    calls: 0,
    reads: 0,
    setstats: 0,
    atServer: 0,
    maxAtServer: 0,
    opensBeforeClosed: 0,
    closesAnswered: 0
  }
  const channel = new Proxy(sftp, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof value !== 'function' || prop === 'once' || prop === 'on') return value
      return (...args: unknown[]) => {
        const callback = args.pop() as (...r: unknown[]) => void
        seen.calls++
        if (prop === 'read') seen.reads++
        if (prop === 'setstat' || prop === 'fsetstat') seen.setstats++
        seen.inFlight++
        seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight)
        if (prop === 'open' || prop === 'opendir') {
          seen.atServer++
          seen.maxAtServer = Math.max(seen.maxAtServer, seen.atServer)
          if (prop === 'open' && seen.closesAnswered === 0) seen.opensBeforeClosed++
          seen.open++
          seen.maxOpen = Math.max(seen.maxOpen, seen.open)
          if (prop === 'open' && args[1] === 'wx')
            seen.created.push({
              path: args[0] as string,
              mode: (args[2] as { mode?: unknown })?.mode
            })
        }
        if (prop === 'ext_openssh_rename') seen.renames.push([args[0] as string, args[1] as string])
        if (prop === 'unlink') seen.unlinks.push(args[0] as string)
        if (prop === 'close') seen.atServer--
        return (value as (...a: unknown[]) => unknown).call(target, ...args, (...r: unknown[]) => {
          seen.inFlight--
          if ((prop === 'open' || prop === 'opendir') && r[0]) {
            seen.open--
            seen.atServer--
          }
          if (prop === 'close') {
            seen.open--
            seen.closesAnswered++
          }
          callback(...r)
        })
      }
    }
  })
  return { channel, seen }
}

async function engine(limits: Partial<EngineLimits> = {}) {
  const sftp = await session()
  const { channel, seen } = observe(sftp)
  return { engine: new SftpEngine(channel, 'test', sftpFacts(sftp), limits), seen, sftp }
}

/** A directory the user owns on the server, fresh per test. */
async function remoteDir(name: string): Promise<string> {
  const dir = path.join(user.home, name)
  await mkdir(dir)
  const { uid, gid } = await stat(user.home)
  await chown(dir, uid, gid)
  return dir
}

/** A guard that lets everything go and records what it was shown. */
const recording = (seen: string[]): TreeGuard => ({
  check: p => void seen.push(p),
  confirm: async () => undefined
})

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

describe('what ssh2 keeps about the SFTP session', () => {
  it('still holds the extensions, limits and window where src/ssh/ssh2-internals.ts reads them', async () => {
    const facts = sftpFacts(await session())
    expect(facts.fromInternals).toBe(true)
    for (const [name, version] of [
      ['posix-rename@openssh.com', '1'],
      ['hardlink@openssh.com', '1'],
      ['copy-data', '1'],
      ['statvfs@openssh.com', '2'],
      ['limits@openssh.com', '1']
    ])
      expect(facts.extensions?.get(name)).toBe(version)
    // OpenSSH's limits@openssh.com answer: 256 KiB messages, 1 KiB of them for the header.
    expect(facts.maxWriteLength).toBe(256 * 1024 - 1024)
    expect(facts.maxReadLength).toBe(256 * 1024 - 1024)
    expect(facts.maxOpenHandles).toBeGreaterThan(10)
    expect(facts.windowBytes).toBeGreaterThan(64 * 1024)
  })
})

describe('what ssh2 sends', () => {
  it('carries many SFTP requests in one SSH packet once they are gathered (src/ssh/ssh2-internals.ts)', async () => {
    const sent: number[] = []
    let channel = -1
    const sftp = await session(line => {
      const m = /Outbound: Sending CHANNEL_DATA \(r:(\d+), (\d+)\)/.exec(line)
      if (m && Number(m[1]) === channel) sent.push(Number(m[2]))
    })
    channel = (sftp as unknown as { outgoing: { id: number } }).outgoing.id
    const e = new SftpEngine(sftp, 'test', sftpFacts(sftp))
    const burst = (): Promise<unknown> =>
      Promise.all(Array.from({ length: 200 }, (_, i) => e.lstat(`${user.home}/missing-${i}`)))
    await burst()
    expect(sent.length).toBe(200)
    sent.length = 0
    expect(gatherSftpPackets(sftp)).toBe(true)
    await burst()
    // About 50 bytes a request: a few packets of up to the channel's maximum.
    expect(sent.length).toBeGreaterThan(0)
    expect(sent.length).toBeLessThan(10)
    expect(sent.reduce((a, b) => a + b, 0)).toBeGreaterThan(200 * 30)
  })
})

describe('the pipelined engine', () => {
  it('uploads many files with many requests in flight, within its bounds, each under a temporary name with its own mode', async () => {
    const remote = await remoteDir('upload')
    const source = path.join(local, 'upload')
    const entries: ManifestEntry[] = [{ path: 'd', type: 'dir', mode: 0o755, size: 0, mtime: 0 }]
    await mkdir(path.join(source, 'd'), { recursive: true })
    const modes = [0o644, 0o755, 0o600, 0o640]
    for (let i = 0; i < 300; i++) {
      // Mostly small files, a few of several chunks.
      const data = randomBytes(i % 50 === 0 ? 700_000 + i : 100 + i * 13)
      const p = `d/f${i}.bin`
      await writeFile(path.join(source, p), data)
      entries.push({
        path: p,
        type: 'file',
        mode: modes[i % 4]!,
        size: data.length,
        mtime: 1_700_000_000 + i,
        sha256: sha(data)
      })
    }
    const limits = { requests: 96, bytes: 512 * 1024, handles: 48 }
    const { engine: e, seen } = await engine(limits)
    const started = Date.now()
    await uploadEntries(e, entries, { root: remote, sourceRoot: source, directoryMode: 0o755 })
    const took = Date.now() - started

    for (const entry of entries.filter(x => x.type === 'file')) {
      const there = path.join(remote, entry.path)
      expect(sha(await readFile(there))).toBe(entry.sha256)
      const st = await stat(there)
      expect(st.mode & 0o7777).toBe(entry.mode)
    }
    expect((await readdir(path.join(remote, 'd'))).length).toBe(300)
    // Every file was created under a temporary name, with the mode it keeps (never 0666), and
    // renamed onto its own name.
    expect(seen.created.length).toBe(300)
    for (const c of seen.created) {
      expect(path.basename(c.path)).toMatch(/^\.atomic-deploy-[0-9a-f]+\.tmp$/)
      expect(modes).toContain(c.mode)
    }
    expect(new Set(seen.renames.map(([, to]) => to)).size).toBe(300)
    // Pipelined, within the bounds.
    expect(seen.maxInFlight).toBeGreaterThan(48)
    expect(seen.maxInFlight).toBeLessThanOrEqual(limits.requests)
    expect(seen.maxOpen).toBeLessThanOrEqual(limits.handles)
    // About two round trips a file, 48 files at a time, plus the directory and the data: a few
    // dozen round trips' worth. One request at a time would be over 1,500 (60 s); the bound
    // leaves room for a busy machine.
    console.log(`engine upload: 300 files, ${seen.calls} requests, ${took} ms at ${RTT} ms RTT`)
    expect(seen.calls).toBeGreaterThan(1500)
    expect(took).toBeLessThan(150 * RTT)
  })

  it('makes unchanged files on the server: a hard link shares the inode, copy-data makes a new one with the mode asked', async () => {
    const remote = await remoteDir('copies')
    const data = randomBytes(300_000)
    await writeFile(path.join(remote, 'a'), data, { mode: 0o640 })
    // Linux's protected_hardlinks: a user may only hard-link files of its own.
    const { uid, gid } = await stat(user.home)
    await chown(path.join(remote, 'a'), uid, gid)
    const { engine: e } = await engine()
    await e.hardlink(`${remote}/a`, `${remote}/linked`)
    await e.copyFile(`${remote}/a`, `${remote}/copied`, { mode: 0o644 })
    const [a, linked, copied] = await Promise.all(
      ['a', 'linked', 'copied'].map(n => stat(path.join(remote, n)))
    )
    expect(linked!.ino).toBe(a!.ino)
    expect(copied!.ino).not.toBe(a!.ino)
    expect(copied!.mode & 0o7777).toBe(0o644)
    expect(sha(await readFile(path.join(remote, 'copied')))).toBe(sha(data))
    expect((await readdir(remote)).sort()).toEqual(['a', 'copied', 'linked'])
    // Read back in order, chunk by chunk.
    expect(await e.sha256(`${remote}/copied`, data.length)).toEqual({
      sha256: sha(data),
      size: data.length
    })
  })

  it('copies with copy-data within its handle bound at the server, each copy holding its two handles for one round trip', async () => {
    const remote = await remoteDir('many-copies')
    const { uid, gid } = await stat(user.home)
    const names = Array.from({ length: 40 }, (_, i) => `f${i}`)
    const data = new Map(names.map(n => [n, randomBytes(1000 + names.indexOf(n))]))
    for (const n of names) {
      await writeFile(path.join(remote, n), data.get(n)!)
      await chown(path.join(remote, n), uid, gid)
    }
    const handles = 8
    const { engine: e, seen } = await engine({ handles })
    await Promise.all(
      names.map(n => e.copyFile(`${remote}/${n}`, `${remote}/c-${n}`, { mode: 0o640 }))
    )
    for (const n of names) {
      expect(sha(await readFile(path.join(remote, `c-${n}`)))).toBe(sha(data.get(n)!))
      expect((await stat(path.join(remote, `c-${n}`))).mode & 0o7777).toBe(0o640)
    }
    // Never more handles at the server than the bound, counted in the order sftp-server handles
    // the requests (a close counts once it is sent)...
    expect(seen.maxAtServer).toBeLessThanOrEqual(handles)
    expect(seen.atServer).toBe(0)
    // ...and the next copies' opens leave behind the closes, before these are answered: more
    // opens than the bound went out before the first close was answered.
    expect(seen.opensBeforeClosed).toBeGreaterThan(handles)
  })

  it('opens a record ahead of need and reads it only once told to; told not to, closes it unread', async () => {
    const remote = await remoteDir('gated')
    await writeFile(path.join(remote, 'rec'), 'recorded\n')
    const { uid, gid } = await stat(user.home)
    await chown(path.join(remote, 'rec'), uid, gid)
    const { engine: e, seen } = await engine()
    let go: (read: boolean) => void = () => undefined
    const reading = e.readFile(
      `${remote}/rec`,
      1000,
      undefined,
      new Promise<boolean>(resolve => {
        go = resolve
      })
    )
    await sleep(3 * RTT)
    // Opened (and its lstat taken), nothing read yet.
    expect(seen.open).toBe(1)
    expect(seen.reads).toBe(0)
    const calls = seen.calls
    go(true)
    expect((await reading).toString()).toBe('recorded\n')
    // No open of its own once told: the size, the read, the close.
    expect(seen.calls - calls).toBe(3)
    const skipped = await e.readFile(`${remote}/rec`, 1000, undefined, Promise.resolve(false))
    expect(skipped.length).toBe(0)
    expect(seen.reads).toBe(1)
    // Both closed (the second unread): their closes answered, on a busy machine a while later.
    for (let i = 0; i < 100 && seen.open > 0; i++) await sleep(RTT / 2)
    expect(seen.open).toBe(0)
  })

  it('removes a deep tree in a few round trips, and a symlink in it is removed, never followed', async () => {
    const remote = await remoteDir('tree')
    const outside = await remoteDir('outside')
    await writeFile(path.join(outside, 'keep.txt'), 'keep')
    const dirs: string[] = []
    let at = ''
    for (let depth = 0; depth < 12; depth++) {
      at = at ? `${at}/l${depth}` : `l${depth}`
      dirs.push(at)
      await mkdir(path.join(remote, at), { recursive: true })
      await writeFile(path.join(remote, at, 'file'), `depth ${depth}`)
    }
    await symlink(outside, path.join(remote, 'l0', 'escape'))
    await symlink('../..', path.join(remote, dirs[5]!, 'up'))
    const { uid, gid } = await stat(user.home)
    await run('chown', ['-R', '-h', `${uid}:${gid}`, remote])
    const { engine: e, seen } = await engine()
    // The listing sees links as links.
    const listed = await walkTree(e, remote, { hints: dirs })
    expect(listed.find(x => x.path === 'l0/escape')?.attrs.type).toBe('symlink')
    expect(listed.filter(x => x.attrs.type === 'dir').map(x => x.path)).toEqual(dirs)
    // Hints that come while the walk is under way are listed ahead of need too (the same walk,
    // in a few round trips, not two a level); one that comes after it ended lists nothing.
    let late: (hints: string[]) => void = () => undefined
    const walkStarted = Date.now()
    const hinted = await walkTree(e, remote, {
      laterHints: [
        sleep(5).then(() => dirs),
        new Promise<string[]>(resolve => {
          late = resolve
        })
      ]
    })
    const walkTook = Date.now() - walkStarted
    expect(hinted).toEqual(listed)
    expect(walkTook).toBeLessThan(8 * RTT)
    const calls = seen.calls
    late(['l0/not-walked', 'elsewhere'])
    await sleep(RTT)
    expect(seen.calls).toBe(calls)

    const guarded: string[] = []
    const started = Date.now()
    await removeTree(e, remote, { guard: recording(guarded), hints: dirs })
    const took = Date.now() - started
    expect(await lstat(remote).catch(() => undefined)).toBeUndefined()
    expect(await readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('keep')
    expect(guarded).toContain(`${remote}/l0/escape`)
    expect(guarded.length).toBe(listed.length + 1)
    // A root that is itself a symlink to a directory: the link goes, the directory stays.
    await symlink(outside, path.join(user.home, 'tree-link'))
    await removeTree(e, path.join(user.home, 'tree-link'), { guard: recording([]) })
    expect(await lstat(path.join(user.home, 'tree-link')).catch(() => undefined)).toBeUndefined()
    expect(await readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('keep')
    // lstat, the listings (all at once), the removals: well under one round trip per level.
    console.log(`engine removal: 12 levels in ${took} ms at ${RTT} ms RTT`)
    expect(took).toBeLessThan(10 * RTT)
  })

  it('stops on abort: queued requests never leave, every handle comes back, the session stays usable', async () => {
    const remote = await remoteDir('abort')
    const source = path.join(local, 'abort')
    await mkdir(source)
    const entries: ManifestEntry[] = []
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(40_000)
      await writeFile(path.join(source, `f${i}`), data)
      entries.push({
        path: `f${i}`,
        type: 'file',
        mode: 0o644,
        size: data.length,
        mtime: 0,
        sha256: sha(data)
      })
    }
    const { engine: e, seen } = await engine({ handles: 16 })
    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('SIGTERM')), 3 * RTT)
    const outcome = await uploadEntries(e, entries, {
      root: remote,
      sourceRoot: source,
      directoryMode: 0o755,
      signal: controller.signal
    }).then(
      () => 'finished',
      (error: unknown) => error
    )
    expect(outcome).toBeInstanceOf(AbortedError)
    const callsAtAbort = seen.calls
    // Only files whose every write was sent got their final name, and those are whole.
    const names = await readdir(remote)
    const finished = names.filter(n => !n.startsWith('.'))
    expect(finished.length).toBeLessThan(200)
    for (const name of finished)
      expect(sha(await readFile(path.join(remote, name)))).toBe(
        entries.find(x => x.path === name)!.sha256
      )
    // Every handle is back: as many files at once as the bound allows, right away.
    expect(seen.open).toBe(0)
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        e.writeFile(`${remote}/after${i}`, Buffer.from(`after ${i}`), { mode: 0o600 })
      )
    )
    expect(await readFile(path.join(remote, 'after15'), 'utf8')).toBe('after 15')
    expect(seen.calls).toBeGreaterThan(callsAtAbort)
    // The temporary files of cut uploads are removed by whoever removes the release; nothing
    // else was left.
    expect(
      names.filter(n => n.startsWith('.') && !/^\.atomic-deploy-[0-9a-f]+\.tmp$/.test(n))
    ).toEqual([])
  })

  it('refuses to finish a file whose local content is not what the manifest says', async () => {
    const remote = await remoteDir('changed')
    const local1 = path.join(local, 'changed.txt')
    await writeFile(local1, 'what the build wrote later')
    const { engine: e } = await engine()
    const manifest = {
      local: local1,
      size: 26,
      sha256: sha(Buffer.from('what the manifest hashed'))
    }
    await expect(e.writeFile(`${remote}/page.html`, manifest, { mode: 0o644 })).rejects.toThrow(
      /changed while it was being sent/
    )
    // Shorter or longer than the manifest says: refused too.
    const grown = { local: local1, size: 10 }
    await expect(e.writeFile(`${remote}/grown.html`, grown, { mode: 0o644 })).rejects.toThrow(
      /changed while it was being sent/
    )
    // Nothing under either name, and no temporary file left.
    expect(await readdir(remote)).toEqual([])
  })

  it('swaps a symlink atomically in one round trip and reads it back', async () => {
    const remote = await remoteDir('swap')
    await mkdir(path.join(remote, 'releases/a'), { recursive: true })
    await mkdir(path.join(remote, 'releases/b'), { recursive: true })
    await symlink('releases/a', path.join(remote, 'current'))
    const { engine: e } = await engine()
    // As long as a single request's round trip, measured beside it (the machine may be busy).
    let single = Date.now()
    await e.readlink(`${remote}/current`)
    single = Date.now() - single
    const started = Date.now()
    expect(await e.swapSymlink(`${remote}/current`, 'releases/b', '.current.tmp-x')).toBe(
      'releases/b'
    )
    expect(Date.now() - started).toBeLessThan(single + RTT)
    expect(await readlink(path.join(remote, 'current'))).toBe('releases/b')
    expect((await readdir(remote)).sort()).toEqual(['current', 'releases'])
  })
})

describe('a server whose sftp-server has its own umask', () => {
  it('gives the directories of a new tree exactly the mode asked, and plain mkdir what the umask leaves; leaves the setstat out only for modes the umask spares', async () => {
    const strict = await startSshd({ extraConfig: ['Subsystem sftp internal-sftp -u 0077'] })
    const owner = await createUser(strict)
    const client = new Client()
    try {
      const blob = strict.knownHosts.split(/\s+/)[2]
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve()).once('error', reject)
        client.connect({
          host: '127.0.0.1',
          port: strict.port,
          username: owner.name,
          privateKey: owner.privateKey,
          hostVerifier: (key: Buffer) => key.toString('base64') === blob
        })
      })
      const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
        client.sftp((error, s) => (error ? reject(error) : resolve(s)))
      )
      const e = new SftpEngine(sftp, 'strict', sftpFacts(sftp))
      const root = path.join(owner.home, 'tree')
      await makeDirectories(e, [root, `${root}/a`, `${root}/a/b`], 0o755)
      for (const dir of [root, `${root}/a`, `${root}/a/b`])
        expect((await stat(dir)).mode & 0o7777).toBe(0o755)
      await e.mkdir(`${owner.home}/plain`, 0o755)
      expect((await stat(`${owner.home}/plain`)).mode & 0o7777).toBe(0o700)

      // What the umask spares, learned from a mkdir: the setstat after an open or a mkdir is
      // left out only for those modes, and every mode still comes out exactly as asked.
      await e.mkdir(`${owner.home}/probe`, 0o775)
      const spares = umaskSpares(0o775, (await e.lstat(`${owner.home}/probe`))?.mode)
      expect([0o700, 0o600, 0o644, 0o755, 0o4700].map(spares)).toEqual([
        true,
        true,
        false,
        false,
        false
      ])
      expect(umaskSpares(0o775, undefined)(0o600)).toBe(false)
      const source = path.join(local, 'umask-077')
      await mkdir(path.join(source, 'd'), { recursive: true })
      const entries: ManifestEntry[] = [{ path: 'd', type: 'dir', mode: 0o700, size: 0, mtime: 0 }]
      for (const [name, mode] of [
        ['d/private', 0o600],
        ['d/public', 0o644],
        ['d/tool', 0o755]
      ] as const) {
        const data = randomBytes(1000)
        await writeFile(path.join(source, name), data)
        entries.push({ path: name, type: 'file', mode, size: 1000, mtime: 0, sha256: sha(data) })
      }
      const { channel, seen } = observe(sftp)
      const counted = new SftpEngine(channel, 'strict', sftpFacts(sftp))
      const up = `${owner.home}/up`
      await mkdir(up)
      await chown(up, (await stat(owner.home)).uid, (await stat(owner.home)).gid)
      await uploadEntries(counted, entries, {
        root: up,
        sourceRoot: source,
        directoryMode: 0o700,
        modeAtOpen: spares
      })
      // mkdir (no setstat after it), and a setstat only for the two files whose modes the
      // umask does not spare.
      expect(seen.setstats).toBe(2)
      const copies: [string, number][] = [
        ['d/private', 0o600],
        ['d/public', 0o644],
        ['d/tool', 0o755]
      ]
      for (const [name, mode] of copies)
        await counted.copyFile(`${up}/${name}`, `${up}/${name}.copy`, {
          mode,
          modeAtOpen: spares(mode)
        })
      // The setstat of a copy only where the umask would narrow the mode.
      expect(seen.setstats).toBe(4)
      for (const e of entries)
        expect((await stat(path.join(up, e.path))).mode & 0o7777).toBe(e.mode)
      for (const [name, mode] of copies)
        expect((await stat(path.join(up, `${name}.copy`))).mode & 0o7777).toBe(mode)
    } finally {
      client.end()
      await removeUser(owner)
      await strict.stop()
    }
  })
})

describe('a server that stops answering (command-timeout)', () => {
  it('gives up the session after the bound with the error that names the request; reads of records take regular files only, within their limit', async () => {
    const remote = await remoteDir('stall')
    await writeFile(path.join(remote, 'big'), Buffer.alloc(5000))
    await symlink('big', path.join(remote, 'link'))
    // open(2) of a FIFO blocks until a writer comes: sftp-server, one request at a time, then
    // answers nothing more, as a server on a dead mount would.
    await run('mkfifo', [path.join(remote, 'fifo')])
    await run('chown', ['-R', `${user.name}:`, remote])
    const sftp = await session()
    const e = new SftpEngine(sftp, 'test', sftpFacts(sftp), {}, undefined, {
      ms: 500,
      stalled: what => new CommandTimeoutError(`no answer while ${what}`)
    })
    // Refused before a byte is kept: a larger file, a symlink. A file far past its limit is
    // refused on its size: the one READ sent beside the size, never the rest.
    await writeFile(path.join(remote, 'huge'), Buffer.alloc(8 * 1024 * 1024))
    const { engine: counted, seen } = await engine()
    await expect(counted.readFile(`${remote}/huge`, 4096)).rejects.toBeInstanceOf(TooLargeError)
    expect(seen.reads).toBe(1)
    await expect(e.readFile(`${remote}/big`, 4096)).rejects.toBeInstanceOf(TooLargeError)
    await expect(e.readFile(`${remote}/link`, 1 << 20)).rejects.toBeInstanceOf(NotRegularFileError)
    expect(await e.readFile(`${remote}/big`, 5000)).toHaveLength(5000)
    // Answered requests keep the session alive however long it lasts.
    for (let i = 0; i < 4; i++) {
      await e.lstat(`${remote}/big`)
      await sleep(200)
    }
    const started = Date.now()
    const stalled = e.readFile(`${remote}/fifo`, 4096)
    stalled.catch(() => undefined)
    await sleep(100)
    // Sent once the open is on its way: the server never gets to it.
    const behind = e.lstat(`${remote}/big`)
    await expect(stalled).rejects.toThrow(
      new CommandTimeoutError(`no answer while open ${remote}/fifo`)
    )
    await expect(behind).rejects.toBeInstanceOf(CommandTimeoutError)
    expect(Date.now() - started).toBeGreaterThanOrEqual(450)
    expect(Date.now() - started).toBeLessThan(3000)
    // Given up: what is asked afterwards fails at once.
    const after = Date.now()
    await expect(e.lstat(`${remote}/big`)).rejects.toBeInstanceOf(CommandTimeoutError)
    expect(Date.now() - after).toBeLessThan(100)
    // Let the server's blocked open go.
    const fd = openSync(path.join(remote, 'fifo'), constants.O_WRONLY | constants.O_NONBLOCK)
    closeSync(fd)
  })
})

describe('names from the server', () => {
  /** A hand-written SFTP channel whose listing holds whatever a hostile server sends. */
  function hostile(names: string[]): { channel: SftpChannel; removed: string[] } {
    const removed: string[] = []
    const dirStats = { mode: 0o040755, size: 0, mtime: 0 }
    const fileStats = { mode: 0o100644, size: 1, mtime: 0 }
    let listed = false
    const fake = {
      once: () => fake,
      lstat: (_p: string, cb: (e: unknown, s?: unknown) => void) => cb(undefined, dirStats),
      opendir: (_p: string, cb: (e: unknown, h?: Buffer) => void) => {
        listed = false
        cb(undefined, Buffer.from('h'))
      },
      readdir: (_h: Buffer, cb: (e: unknown, l?: unknown) => void) => {
        if (listed) return cb(Object.assign(new Error('EOF'), { code: 1 }))
        listed = true
        cb(
          undefined,
          names.map(filename => ({ filename, longname: filename, attrs: fileStats }))
        )
      },
      close: (_h: Buffer, cb: (e?: unknown) => void) => cb(),
      unlink: (p: string, cb: (e?: unknown) => void) => {
        removed.push(p)
        cb()
      },
      rmdir: (p: string, cb: (e?: unknown) => void) => {
        removed.push(p)
        cb()
      }
    }
    return { channel: fake as unknown as SftpChannel, removed }
  }
  const facts = {
    extensions: new Map(),
    maxWriteLength: 32768,
    maxReadLength: 32768,
    maxOpenHandles: 100,
    windowBytes: 1 << 20
  }

  it.each([['..'], ['.'], ['a/../../etc'], ['../outside'], [''], ['x\0y']])(
    'refuses a listing holding %j, and nothing is removed',
    async name => {
      const { channel, removed } = hostile(['fine', name])
      const e = new SftpEngine(channel, 'hostile', facts)
      // '.' and '..' are what every server lists for a directory; the engine skips them.
      if (name === '.' || name === '..') {
        expect((await e.list('/srv/app/releases/x')).map(x => x.name)).toEqual(['fine'])
        return
      }
      await expect(e.list('/srv/app/releases/x')).rejects.toThrow(/invalid name/)
      await expect(removeTree(e, '/srv/app/releases/x', { guard: recording([]) })).rejects.toThrow(
        /invalid name/
      )
      expect(removed).toEqual([])
    }
  )
})
