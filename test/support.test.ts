/**
 * Smoke test for the integration harness in test/support: real OpenSSH sshd instances,
 * throwaway accounts (plain, dash, BusyBox-only, no-tar), and the latency/fault proxy,
 * exercised with the real ssh2 client.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import ssh2, { type ConnectConfig } from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run, sleep } from './support/exec.ts'
import { childrenOf, isAlive, procRef, type ProcRef } from './support/process-tree.ts'
import { startLatencyProxy, type LatencyProxy } from './support/proxy.ts'
import {
  BUSYBOX_PROFILE,
  DEFAULT_USER_PATH,
  NOTAR_PROFILE,
  startSshd,
  type Sshd,
  type TestUser
} from './support/sshd.ts'
import {
  authorizeKey,
  createBusyboxUser,
  createDashUser,
  createUser,
  createUserWithoutTar,
  generateKey,
  removeUser,
  runAs
} from './support/users.ts'

const { Client } = ssh2
type Client = InstanceType<typeof Client>

const sshds: Sshd[] = []
const users: TestUser[] = []
const proxies: LatencyProxy[] = []
const clients: Client[] = []

async function newSshd(...args: Parameters<typeof startSshd>): Promise<Sshd> {
  const sshd = await startSshd(...args)
  sshds.push(sshd)
  return sshd
}

async function track(user: Promise<TestUser>): Promise<TestUser> {
  const created = await user
  users.push(created)
  return created
}

type Endpoint = Pick<Sshd, 'host' | 'port' | 'knownHosts'>

/** The sshd as reached through a proxy: same host keys, known_hosts lines for the proxy port. */
function through(proxy: LatencyProxy, target: Sshd = sshd): Endpoint {
  return {
    host: target.host,
    port: proxy.port,
    knownHosts: target.knownHosts.replaceAll(`]:${target.port} `, `]:${proxy.port} `)
  }
}

function knownBlobs(sshd: Endpoint): Map<string, string> {
  const blobs = new Map<string, string>()
  for (const line of sshd.knownHosts.split('\n')) {
    const [host, type, blob] = line.split(' ')
    expect(host).toBe(`[127.0.0.1]:${sshd.port}`)
    blobs.set(blob!, type!)
  }
  return blobs
}

/** Connect with a host key check against the harness's known_hosts lines; bounded. */
function connect(
  sshd: Endpoint,
  user: TestUser,
  extra: Partial<ConnectConfig> = {},
  seen: string[] = []
): Promise<Client> {
  const blobs = knownBlobs(sshd)
  return new Promise((resolve, reject) => {
    const client = new Client()
    clients.push(client)
    const timer = setTimeout(() => {
      client.end()
      reject(new Error('connect timed out'))
    }, 15_000)
    client.on('ready', () => {
      clearTimeout(timer)
      resolve(client)
    })
    // Stays attached after 'ready' so that later connection errors (injected faults) are
    // observed rather than thrown as unhandled 'error' events.
    client.on('error', error => {
      clearTimeout(timer)
      reject(error)
    })
    client.connect({
      host: sshd.host,
      port: sshd.port,
      username: user.name,
      privateKey: user.privateKey,
      readyTimeout: 10_000,
      hostVerifier: (key: Buffer) => {
        const base64 = key.toString('base64')
        seen.push(base64)
        return blobs.has(base64)
      },
      ...extra
    })
  })
}

interface ExecResult {
  stdout: string
  stderr: string
  code: number | null
}

function exec(client: Client, command: string, timeoutMs = 10_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec timed out: ${command}`)), timeoutMs)
    client.exec(command, (error, stream) => {
      if (error) {
        clearTimeout(timer)
        reject(error)
        return
      }
      let stdout = ''
      let stderr = ''
      let code: number | null = null
      stream.on('data', (data: Buffer) => (stdout += data.toString()))
      stream.stderr.on('data', (data: Buffer) => (stderr += data.toString()))
      stream.on('exit', (exitCode: number | null) => (code = exitCode))
      stream.on('close', () => {
        clearTimeout(timer)
        resolve({ stdout, stderr, code })
      })
    })
  })
}

function sftpCall<T>(fn: (cb: (error: Error | null | undefined, value?: T) => void) => void) {
  return new Promise<T>((resolve, reject) =>
    fn((error, value) => (error ? reject(error) : resolve(value as T)))
  )
}

function fingerprintOf(base64Blob: string): string {
  const digest = createHash('sha256').update(Buffer.from(base64Blob, 'base64')).digest('base64')
  return `SHA256:${digest.replace(/=+$/, '')}`
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
    })
  ])
}

/** Resolves with the error (or undefined for a plain close) once the client drops. */
function dropped(client: Client): Promise<Error | undefined> {
  return new Promise(resolve => {
    client.once('error', error => resolve(error))
    client.once('close', () => resolve(undefined))
  })
}

let sshd: Sshd
let user: TestUser

beforeAll(async () => {
  sshd = await newSshd()
  user = await track(createUser(sshd))
})

afterAll(async () => {
  for (const client of clients) client.destroy()
  for (const proxy of proxies) await proxy.close()
  for (const created of users) await removeUser(created)
  for (const server of sshds) await server.stop()
})

describe('sshd + users', () => {
  it('serves a verified host key and runs commands in the user home', async () => {
    const seen: string[] = []
    const client = await connect(sshd, user, {}, seen)
    expect(seen).toHaveLength(1)
    expect(fingerprintOf(seen[0]!)).toBe(sshd.fingerprints.ed25519)
    expect((await exec(client, 'id -un')).stdout.trim()).toBe(user.name)
    expect((await exec(client, 'pwd')).stdout.trim()).toBe(user.home)
    // Default shell is /bin/sh, which on Debian is dash.
    expect((await exec(client, 'readlink -f /proc/$$/exe')).stdout.trim()).toBe('/usr/bin/dash')
    // runAs sees the server side with the same identity and PATH as an SSH session.
    const sessionPath = (await exec(client, 'echo "$PATH"')).stdout.trim()
    expect(sessionPath).toBe(DEFAULT_USER_PATH)
    expect(
      (await runAs(user, ['sh', '-c', 'id -un; pwd; echo "$PATH"'])).trim().split('\n')
    ).toEqual([user.name, user.home, sessionPath])
    client.end()
  })

  it('knownHosts and fingerprints satisfy the OpenSSH client and ssh-keygen', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-client-'))
    try {
      await writeFile(path.join(dir, 'known_hosts'), `${sshd.knownHosts}\n`)
      await writeFile(path.join(dir, 'id'), user.privateKey, { mode: 0o600 })
      const listed = await run('ssh-keygen', ['-l', '-f', path.join(dir, 'known_hosts')])
      expect(listed.stdout.split(/\s+/)[1]).toBe(sshd.fingerprints.ed25519)
      const ssh = await run('ssh', [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`,
        '-i',
        path.join(dir, 'id'),
        '-p',
        String(sshd.port),
        `${user.name}@${sshd.host}`,
        'id -un'
      ])
      expect(ssh.stdout.trim()).toBe(user.name)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('does a posix-rename over an existing symlink via SFTP', async () => {
    const client = await connect(sshd, user)
    const sftp = await sftpCall<ssh2.SFTPWrapper>(cb => client.sftp(cb))
    const base = `${user.home}/app`
    await exec(client, `mkdir -p ${base}/releases/1 ${base}/releases/2`)
    await sftpCall(cb => sftp.symlink('releases/1', `${base}/current`, cb))
    await sftpCall(cb => sftp.symlink('releases/2', `${base}/current.tmp`, cb))
    expect(await sftpCall<string>(cb => sftp.readlink(`${base}/current`, cb))).toBe('releases/1')
    await sftpCall(cb => sftp.ext_openssh_rename(`${base}/current.tmp`, `${base}/current`, cb))
    expect(await sftpCall<string>(cb => sftp.readlink(`${base}/current`, cb))).toBe('releases/2')
    await expect(sftpCall(cb => sftp.lstat(`${base}/current.tmp`, cb))).rejects.toThrow()
    expect((await runAs(user, ['readlink', 'app/current'])).trim()).toBe('releases/2')
    client.end()
  })

  it('serves every requested host key type with matching known_hosts and fingerprints', async () => {
    const multi = await newSshd({ hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] })
    const multiUser = await track(createUser(multi))
    expect(Object.keys(multi.fingerprints).sort()).toEqual(['ecdsa', 'ed25519', 'rsa'])
    expect(multi.knownHosts.split('\n')).toHaveLength(3)
    const algorithms = {
      ed25519: 'ssh-ed25519',
      ecdsa: 'ecdsa-sha2-nistp256',
      rsa: 'rsa-sha2-256'
    } as const
    for (const [type, algorithm] of Object.entries(algorithms)) {
      const seen: string[] = []
      const client = await connect(
        multi,
        multiUser,
        { algorithms: { serverHostKey: [algorithm] } },
        seen
      )
      expect(fingerprintOf(seen[0]!)).toBe(multi.fingerprints[type])
      client.end()
    }
  })

  it('authorizes extra keys: passphrase-protected OpenSSH and PEM', async () => {
    const encrypted = await generateKey({ type: 'ed25519', passphrase: 'sesame-123' })
    expect(encrypted.privateKey).toContain('BEGIN OPENSSH PRIVATE KEY')
    const pem = await generateKey({ type: 'ecdsa', format: 'pem', passphrase: 'sesame-456' })
    expect(pem.privateKey).toContain('BEGIN EC PRIVATE KEY')
    await expect(generateKey({ type: 'ed25519', format: 'pem' })).rejects.toThrow(/PEM/)
    await authorizeKey(sshd, user, encrypted.publicKey)
    await authorizeKey(sshd, user, pem.publicKey)
    for (const [key, passphrase] of [
      [encrypted, 'sesame-123'],
      [pem, 'sesame-456']
    ] as const) {
      const client = await connect(sshd, user, { privateKey: key.privateKey, passphrase })
      expect((await exec(client, 'id -un')).stdout.trim()).toBe(user.name)
      client.end()
    }
  })

  it('dash user: login shell is dash', async () => {
    const dashUser = await track(createDashUser(sshd))
    expect(dashUser.shell).toBe('/bin/dash')
    const client = await connect(sshd, dashUser)
    expect((await exec(client, 'readlink -f /proc/$$/exe')).stdout.trim()).toBe('/usr/bin/dash')
    client.end()
  })

  it('BusyBox user: busybox sh with only BusyBox applets on PATH', async () => {
    const bb = await track(createBusyboxUser(sshd))
    expect(bb.shell).toBe(BUSYBOX_PROFILE.shell)
    const client = await connect(sshd, bb)
    const check = await exec(
      client,
      'readlink -f /proc/$$/exe; echo "$PATH"; command -v tar; tar --version 2>&1 | head -1'
    )
    const [exe, path, tar, version] = check.stdout.trim().split('\n')
    expect(exe).toMatch(/\/busybox$/)
    expect(path).toBe(BUSYBOX_PROFILE.binDir)
    expect(tar).toBe(`${BUSYBOX_PROFILE.binDir}/tar`)
    expect(version).not.toMatch(/GNU/)
    expect(version).toMatch(/BusyBox/i)
    // The same holds for server-side inspection.
    expect((await runAs(bb, ['sh', '-c', 'command -v tar'])).trim()).toBe(
      `${BUSYBOX_PROFILE.binDir}/tar`
    )
    client.end()
  })

  it('no-tar user: usual tools present, tar and gzip absent', async () => {
    const noTar = await track(createUserWithoutTar(sshd))
    const client = await connect(sshd, noTar)
    for (const missing of ['tar', 'gzip']) {
      const found = await exec(client, `command -v ${missing}`)
      expect(found.code).not.toBe(0)
      expect(found.stdout).toBe('')
    }
    const tools = 'sh find stat sha256sum cp mv rm ln mkdir cat dd sort awk sed xargs'
    const present = await exec(client, `for t in ${tools}; do command -v $t; done`)
    expect(present.code).toBe(0)
    const paths = present.stdout.trim().split('\n')
    expect(paths).toHaveLength(tools.split(' ').length)
    for (const p of paths) expect(p.startsWith(`${NOTAR_PROFILE.binDir}/`)).toBe(true)
    expect((await exec(client, 'echo hi | sha256sum | cut -c1-8')).stdout.trim()).toBe('98ea6e4f')
    await expect(runAs(noTar, ['sh', '-c', 'command -v tar'])).rejects.toThrow()
    client.end()
  })

  it('password auth works when enabled with extraConfig', async () => {
    const withPasswords = await newSshd({ extraConfig: ['PasswordAuthentication yes'] })
    const password = 'pa:ss word-1'
    const pwUser = await track(createUser(withPasswords, { password }))
    const client = await connect(withPasswords, pwUser, { privateKey: undefined, password })
    expect((await exec(client, 'id -un')).stdout.trim()).toBe(pwUser.name)
    client.end()
    await expect(
      connect(withPasswords, pwUser, { privateKey: undefined, password: 'wrong' })
    ).rejects.toThrow(/authentication methods failed/)
    // And it stays off by default.
    const noPwUser = await track(createUser(sshd, { password }))
    await expect(connect(sshd, noPwUser, { privateKey: undefined, password })).rejects.toThrow(
      /authentication methods failed/
    )
  })

  it('restart keeps port and host keys; sessions survive unless killSessions', async () => {
    const before = { ...sshd.fingerprints }
    const knownBefore = sshd.knownHosts
    const pidBefore = sshd.pid
    const survivor = await connect(sshd, user)
    await sshd.restart()
    expect(sshd.pid).not.toBe(pidBefore)
    expect(sshd.fingerprints).toEqual(before)
    expect(sshd.knownHosts).toBe(knownBefore)
    const seen: string[] = []
    const fresh = await connect(sshd, user, {}, seen)
    expect(fingerprintOf(seen[0]!)).toBe(before.ed25519)
    expect((await exec(fresh, 'echo fresh')).stdout.trim()).toBe('fresh')
    // Like `systemctl restart ssh`: the established connection carries on.
    expect((await exec(survivor, 'echo alive')).stdout.trim()).toBe('alive')

    const drop = dropped(fresh)
    await sshd.restart({ killSessions: true })
    await withTimeout(drop, 5000, 'killSessions drop')
    const again = await connect(sshd, user)
    expect((await exec(again, 'echo again')).stdout.trim()).toBe('again')
    again.end()
  })

  it('stop() kills the listener and every session process', async () => {
    const doomed = await newSshd()
    const doomedUser = await track(createUser(doomed))
    const client = await connect(doomed, doomedUser)
    const started = exec(client, 'sleep 60 & echo $!; wait', 70_000).catch(() => undefined)
    await sleep(300)
    const tree: ProcRef[] = []
    const listener = procRef(doomed.pid)!
    tree.push(listener)
    // Collect the whole tree below the listener (connection, session, shell, sleep).
    for (let i = 0; i < tree.length; i++) {
      tree.push(...childrenOf(tree[i]!.pid))
    }
    expect(tree.length).toBeGreaterThanOrEqual(4)
    await doomed.stop()
    await sleep(100)
    expect(tree.filter(isAlive)).toEqual([])
    await withTimeout(started, 5000, 'exec after stop')
  })

  it('rejects with sshd stderr when the config is bad', async () => {
    await expect(
      startSshd({ extraConfig: ['NoSuchKeyword yes'], startTimeoutMs: 5000 })
    ).rejects.toThrow(/NoSuchKeyword|Bad configuration/i)
  })
})

describe('latency proxy', () => {
  it('adds the configured latency to SSH round trips', async () => {
    const proxy = await startLatencyProxy(
      { host: sshd.host, port: sshd.port },
      { delayMsEachWay: 50 }
    )
    proxies.push(proxy)
    const client = await connect(through(proxy), user)
    const t0 = performance.now()
    expect((await exec(client, 'echo ping')).stdout.trim()).toBe('ping')
    const rtt = performance.now() - t0
    expect(rtt).toBeGreaterThanOrEqual(100)
    expect(proxy.stats().up).toBeGreaterThan(0)
    expect(proxy.stats().down).toBeGreaterThan(0)
    expect(proxy.stats().connections).toBe(1)

    proxy.setDelay(0)
    const t1 = performance.now()
    await exec(client, 'true')
    expect(performance.now() - t1).toBeLessThan(rtt)

    // A cut cable mid-command: the exec fails instead of finishing.
    const drop = dropped(client)
    const inFlight = exec(client, 'sleep 3; echo done', 10_000)
    await sleep(300)
    proxy.cutAll()
    const error = await withTimeout(drop, 5000, 'drop after cutAll')
    const result = await withTimeout(inFlight, 5000, 'in-flight exec')
    expect(result.stdout).not.toContain('done')
    expect(result.code).toBeNull()
    expect(error === undefined || /ECONNRESET|closed|reset/i.test(error.message)).toBe(true)
    expect(proxy.stats().active).toBe(0)
  })

  // Raw TCP checks of the proxy itself.
  async function sink(): Promise<{
    port: number
    received: () => number
    arrivals: number[]
    closed: Promise<void>
    server: net.Server
  }> {
    let received = 0
    const arrivals: number[] = []
    let markClosed!: () => void
    const closed = new Promise<void>(resolve => (markClosed = resolve))
    const server = net.createServer(socket => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length
        arrivals.push(performance.now())
      })
      socket.on('error', () => {})
      socket.on('close', () => markClosed())
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    return { port, received: () => received, arrivals, closed, server }
  }

  function dial(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket))
      socket.once('error', reject)
    })
  }

  it('delays chunks without serialising them behind each other', async () => {
    const target = await sink()
    const proxy = await startLatencyProxy(
      { host: '127.0.0.1', port: target.port },
      { delayMsEachWay: 400 }
    )
    proxies.push(proxy)
    const socket = await dial(proxy.port)
    socket.on('error', () => {})
    const t0 = performance.now()
    socket.write('a')
    await sleep(20)
    socket.write('b')
    await withTimeout(
      (async () => {
        while (target.received() < 2) await sleep(5)
      })(),
      3000,
      'both chunks'
    )
    const [first, second] = target.arrivals
    expect(first! - t0).toBeGreaterThanOrEqual(399)
    // Sent 20 ms apart, they arrive about 20 ms apart; serialised, the second would come a whole
    // delay (400 ms) after the first. The margin absorbs a busy machine's scheduling.
    expect(second! - first!).toBeGreaterThan(5)
    expect(second! - first!).toBeLessThan(300)
    socket.destroy()
    target.server.close()
  })

  it('caps a direction at the set rate, and lifts the cap', async () => {
    const target = await sink()
    const proxy = await startLatencyProxy({ host: '127.0.0.1', port: target.port })
    proxies.push(proxy)
    proxy.setRate(1024 * 1024)
    const socket = await dial(proxy.port)
    socket.on('error', () => {})
    const until = async (bytes: number, what: string): Promise<number> => {
      const t0 = performance.now()
      await withTimeout(
        (async () => {
          while (target.received() < bytes) await sleep(5)
        })(),
        5000,
        what
      )
      return performance.now() - t0
    }
    socket.write(Buffer.alloc(512 * 1024, 1))
    // Half a MiB at 1 MiB/s takes half a second; uncapped it takes a few milliseconds.
    const capped = await until(512 * 1024, 'capped transfer')
    expect(capped).toBeGreaterThan(450)
    expect(capped).toBeLessThan(2000)
    proxy.setRate(undefined)
    socket.write(Buffer.alloc(512 * 1024, 2))
    expect(await until(1024 * 1024, 'uncapped transfer')).toBeLessThan(300)
    socket.destroy()
    target.server.close()
  })

  it('cuts a connection after exactly N client->server bytes', async () => {
    const target = await sink()
    const proxy = await startLatencyProxy(
      { host: '127.0.0.1', port: target.port },
      { delayMsEachWay: 5 }
    )
    proxies.push(proxy)
    const cut = proxy.cutAfterBytes(100_000)
    const socket = await dial(proxy.port)
    const clientError = new Promise<Error | undefined>(resolve => {
      socket.on('error', error => resolve(error))
      socket.on('close', () => resolve(undefined))
    })
    socket.write(Buffer.alloc(1024 * 1024, 7))
    await withTimeout(cut, 5000, 'cutAfterBytes')
    await withTimeout(target.closed, 5000, 'server side closed')
    await withTimeout(clientError, 5000, 'client side closed')
    expect(target.received()).toBe(100_000)
    expect(proxy.stats().up).toBe(100_000)
    // One-shot: the next connection is not cut.
    const next = await dial(proxy.port)
    next.write(Buffer.alloc(200_000, 1))
    await withTimeout(
      (async () => {
        while (target.received() < 300_000) await sleep(5)
      })(),
      5000,
      'second connection'
    )
    next.destroy()
    target.server.close()
  })

  it('keeps data intact under backpressure', async () => {
    const total = 32 * 1024 * 1024
    const hashIn = createHash('sha256')
    let received = 0
    let done!: () => void
    const finished = new Promise<void>(resolve => (done = resolve))
    const server = net.createServer(socket => {
      // A slow reader: stop reading now and then so the proxy has to hold the sender back.
      socket.on('data', (chunk: Buffer) => {
        hashIn.update(chunk)
        received += chunk.length
        if (received >= total) done()
        else if (Math.random() < 0.05) {
          socket.pause()
          setTimeout(() => socket.resume(), 10)
        }
      })
      socket.on('error', () => {})
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const proxy = await startLatencyProxy(
      { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port },
      { delayMsEachWay: 2, maxQueuedBytes: 256 * 1024 }
    )
    proxies.push(proxy)
    const socket = await dial(proxy.port)
    socket.on('error', () => {})
    const hashOut = createHash('sha256')
    const block = Buffer.alloc(64 * 1024)
    for (let sent = 0; sent < total; sent += block.length) {
      block.fill(sent & 0xff)
      hashOut.update(block)
      if (!socket.write(Buffer.from(block))) await new Promise(r => socket.once('drain', r))
    }
    await withTimeout(finished, 30_000, 'transfer')
    expect(hashIn.digest('hex')).toBe(hashOut.digest('hex'))
    expect(proxy.stats().up).toBe(total)
    socket.destroy()
    server.close()
  })

  it('pause blackholes or refuses new connections until resume', async () => {
    const proxy = await startLatencyProxy({ host: sshd.host, port: sshd.port })
    proxies.push(proxy)
    const banner = (socket: net.Socket): Promise<string> =>
      new Promise(resolve => socket.once('data', (d: Buffer) => resolve(d.toString())))

    proxy.pause()
    const held = await dial(proxy.port)
    held.on('error', () => {})
    const heldBanner = banner(held)
    const early = await Promise.race([heldBanner, sleep(300).then(() => 'nothing')])
    expect(early).toBe('nothing')
    proxy.resume()
    expect(await withTimeout(heldBanner, 5000, 'banner after resume')).toMatch(/^SSH-2\.0-/)
    held.destroy()

    proxy.pause('refuse')
    await expect(dial(proxy.port)).rejects.toThrow(/ECONNREFUSED/)
    proxy.resume()
    const after = await dial(proxy.port)
    after.on('error', () => {})
    expect(await withTimeout(banner(after), 5000, 'banner after refuse')).toMatch(/^SSH-2\.0-/)
    after.destroy()
  })

  it('freezeAll stalls traffic silently and thawAll delivers it', async () => {
    const proxy = await startLatencyProxy({ host: sshd.host, port: sshd.port })
    proxies.push(proxy)
    const client = await connect(through(proxy), user)
    proxy.freezeAll()
    const pending = exec(client, 'echo thawed', 10_000)
    const early = await Promise.race([pending, sleep(500).then(() => 'stalled' as const)])
    expect(early).toBe('stalled')
    proxy.thawAll()
    expect((await pending).stdout.trim()).toBe('thawed')
    client.end()
  })
})
