/**
 * The connections opened while the action loads (src/ssh/early-connect.ts): which inputs open
 * them, that a connection to a real sshd completes over one, and that one is handed over only
 * while it is good and only to ssh2's identification string.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import dns from 'node:dns'
import net from 'node:net'
import {
  dropEarlyConnections,
  openEarlyConnections,
  takeEarlyConnection
} from '../../src/ssh/early-connect.ts'
import { parseKnownHosts } from '../../src/ssh/known-hosts.ts'
import { openConnection } from '../../src/ssh/ssh-connect.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { createUser, removeUser } from '../support/users.ts'

let sshd: Sshd
let user: TestUser

beforeAll(async () => {
  sshd = await startSshd()
  user = await createUser(sshd)
})

afterAll(async () => {
  if (user) await removeUser(user)
  await sshd?.stop()
})

const INPUTS = [
  'INPUT_SERVERS',
  'INPUT_PORT',
  'INPUT_JUMP-HOST',
  'INPUT_MAX-PARALLEL',
  'INPUT_STRATEGY',
  'STATE_isPost'
]

/** Set the step's inputs as the runner does, for one test. */
function inputs(values: Record<string, string>): void {
  for (const name of INPUTS) delete process.env[name]
  Object.assign(process.env, values)
}

afterEach(() => {
  dropEarlyConnections()
  for (const name of INPUTS) delete process.env[name]
})

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** A loopback server that records what each connection sends and when it closes. */
async function recorder(): Promise<{
  port: number
  received: () => string
  closed: () => number
  stop: () => Promise<void>
}> {
  let data = ''
  let closed = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('data', chunk => (data += chunk.toString('latin1')))
    socket.on('error', () => undefined)
    socket.on('close', () => closed++)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    received: () => data,
    closed: () => closed,
    stop: () =>
      new Promise(resolve => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
  }
}

/** Wait, bounded, until `ready` holds. */
async function until(ready: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ready() && Date.now() < deadline) await sleep(10)
}

/** A relay in front of sshd that counts the connections made through it. */
async function countingRelay(): Promise<{
  port: number
  count: () => number
  stop: () => Promise<void>
}> {
  let count = 0
  const relay = net.createServer(client => {
    count++
    client.on('error', () => undefined)
    const upstream = net.connect(sshd.port, sshd.host)
    upstream.on('error', () => client.destroy())
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>(resolve => relay.listen(0, '127.0.0.1', resolve))
  const port = (relay.address() as net.AddressInfo).port
  return {
    port,
    count: () => count,
    stop: () => new Promise(resolve => relay.close(() => resolve()))
  }
}

/** Connect as the action does to `port` (a relay in front of sshd) and run a command. */
async function connectAndRun(port: number): Promise<string> {
  const opened = await openConnection({
    server: { user: user.name, host: '127.0.0.1', port, label: `${user.name}@127.0.0.1:${port}` },
    hostKeys: {
      kind: 'known-hosts',
      entries: parseKnownHosts(sshd.knownHosts.replaceAll(`]:${sshd.port} `, `]:${port} `))
    },
    privateKey: user.privateKey,
    timeoutSeconds: 20
  })
  try {
    return await new Promise<string>((resolve, reject) => {
      opened.client.exec('echo early', (error, channel) => {
        if (error) return reject(error)
        let text = ''
        channel.on('data', (d: Buffer) => (text += d.toString()))
        channel.on('close', () => resolve(text))
      })
    })
  } finally {
    opened.client.end()
    opened.socket.destroy()
  }
}

/** Connect as the action does to a loopback `port` that is expected not to let it in. */
async function failedConnect(
  port: number,
  timeoutSeconds: number,
  trace?: string[]
): Promise<Error> {
  const error: unknown = await openConnection({
    server: { user: 'deploy', host: '127.0.0.1', port, label: `deploy@127.0.0.1:${port}` },
    // Never asked: no server here gets as far as its host key.
    hostKeys: { kind: 'insecure' },
    password: 'not used',
    timeoutSeconds,
    ...(trace ? { debug: (line: string) => trace.push(line) } : {})
  }).then(
    () => new Error('connected'),
    (e: unknown) => e
  )
  if (!(error instanceof Error)) throw new Error(`not an error: ${String(error)}`)
  return error
}

describe('early connections', () => {
  it.each([
    ['still being made', 0],
    ['up, with the server greeting waiting in it', 300]
  ])(
    'carry a whole connection to sshd when taken %s: one connection, which runs a command',
    async (_when, wait) => {
      const relay = await countingRelay()
      try {
        inputs({ INPUT_SERVERS: `${user.name}@127.0.0.1:${relay.port}` })
        expect(openEarlyConnections()).toBe(1)
        // One tick: the connection is being made (its SYN sent), not yet up.
        if (wait === 0) await new Promise(resolve => process.nextTick(resolve))
        else await sleep(wait)
        expect(await connectAndRun(relay.port)).toBe('early\n')
        // The one opened early was the one used: no second connection, nothing left to take.
        expect(relay.count()).toBe(1)
        expect(takeEarlyConnection('127.0.0.1', relay.port)).toBeUndefined()
      } finally {
        await relay.stop()
      }
    }
  )

  it('lost before the key exchange, give way to a connection of their own', async () => {
    // In front of sshd: the first connection is held, then closed once ssh2 has it; the next
    // ones are passed through.
    let count = 0
    const relay = net.createServer(client => {
      count++
      client.on('error', () => undefined)
      if (count === 1) {
        setTimeout(() => client.destroy(), 300)
        return
      }
      const upstream = net.connect(sshd.port, sshd.host)
      upstream.on('error', () => client.destroy())
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>(resolve => relay.listen(0, '127.0.0.1', resolve))
    const port = (relay.address() as net.AddressInfo).port
    try {
      inputs({ INPUT_SERVERS: `${user.name}@127.0.0.1:${port}` })
      expect(openEarlyConnections()).toBe(1)
      await sleep(50)
      expect(await connectAndRun(port)).toBe('early\n')
      expect(count).toBe(2)
    } finally {
      await new Promise(resolve => relay.close(resolve))
    }
  })

  it('lost before the key exchange, are tried again only within what is left of connect-timeout', async () => {
    // Every connection gets the server's greeting, then is closed 1.8 s later: a LoginGraceTime
    // shorter than connect-timeout, over a key exchange that does not go through.
    const accepted = new Set<net.Socket>()
    const server = net.createServer(socket => {
      accepted.add(socket)
      socket.on('error', () => undefined)
      socket.resume().write('SSH-2.0-OpenSSH_9.9\r\n')
      setTimeout(() => socket.destroy(), 1800)
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      inputs({ INPUT_SERVERS: `deploy@127.0.0.1:${port}` })
      expect(openEarlyConnections()).toBe(1)
      const started = Date.now()
      const error = await failedConnect(port, 2)
      // As without the early connection: the server's close is reported, within the 2 s (not
      // after a second 1.8 s).
      expect(error.message).toMatch(/closed the connection before the SSH handshake/)
      expect(Date.now() - started).toBeLessThan(3000)
    } finally {
      for (const socket of accepted) socket.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  })

  it('handed over while still being made and then refused, fail once, as a connection of their own would', async () => {
    // Port 1 of loopback: refused, once the connection taken in this same tick is being made.
    inputs({ INPUT_SERVERS: 'deploy@127.0.0.1:1' })
    expect(openEarlyConnections()).toBe(1)
    const trace: string[] = []
    const error = await failedConnect(1, 5, trace)
    expect(error.message).toMatch(/connection refused on port 1\./)
    // The early connection was the one used, and no other was made behind it.
    expect(takeEarlyConnection('127.0.0.1', 1)).toBeUndefined()
    expect(trace.filter(line => line.startsWith('Socket error')).length).toBe(1)
  })

  it('send the identification string and nothing else, and hand each socket over once', async () => {
    const server = await recorder()
    try {
      inputs({ INPUT_SERVERS: `deploy@127.0.0.1:${server.port}` })
      expect(openEarlyConnections()).toBe(1)
      await until(() => server.received().length > 0)
      expect(server.received()).toBe('SSH-2.0-ssh2js1.17.0\r\n')
      const socket = takeEarlyConnection('127.0.0.1', server.port)
      expect(socket).toBeInstanceOf(net.Socket)
      expect(takeEarlyConnection('127.0.0.1', server.port)).toBeUndefined()
      // A wrapper installed over the socket's write (as gatherWrites does) stays in place.
      let wrapped = 0
      if (socket) {
        const write = socket.write
        socket.write = function (this: net.Socket, ...args: unknown[]): boolean {
          wrapped++
          return (write as (...a: unknown[]) => boolean).apply(this, args)
        } as net.Socket['write']
      }
      // ssh2's own identification string is not sent twice; what follows it is.
      socket?.write(Buffer.from('SSH-2.0-ssh2js1.17.0\r\n', 'latin1'))
      socket?.write(Buffer.from('next'))
      socket?.write(Buffer.from('!'))
      expect(wrapped).toBe(3)
      await until(() => server.received().endsWith('next!'))
      expect(server.received()).toBe('SSH-2.0-ssh2js1.17.0\r\nnext!')
      socket?.destroy()
    } finally {
      await server.stop()
    }
  })

  it('are dropped, not used, when the first thing written is not the identification string sent', async () => {
    const server = await recorder()
    try {
      inputs({ INPUT_SERVERS: `deploy@127.0.0.1:${server.port}` })
      openEarlyConnections()
      await until(() => server.received().length > 0)
      const socket = takeEarlyConnection('127.0.0.1', server.port)
      const failed = new Promise<Error>(resolve => socket?.once('error', resolve))
      expect(socket?.write(Buffer.from('SSH-2.0-another\r\n'))).toBe(false)
      expect((await failed).message).toMatch(/identification string sent early/)
      expect(socket?.destroyed).toBe(true)
      await until(() => server.closed() === 1)
      expect(server.received()).toBe('SSH-2.0-ssh2js1.17.0\r\n')
    } finally {
      await server.stop()
    }
  })

  it('are not handed over once older than they may be, even before their timer drops them', async () => {
    const server = await recorder()
    try {
      // Two accounts on one server: two connections to one host and port.
      inputs({ INPUT_SERVERS: `one@127.0.0.1:${server.port}, two@127.0.0.1:${server.port}` })
      const opened = Date.now()
      expect(openEarlyConnections(200)).toBe(2)
      await until(() => server.received().length === 2 * 22)
      // A busy process: the timer that drops them has had no chance to run.
      while (Date.now() - opened < 300) {
        /* busy */
      }
      expect(takeEarlyConnection('127.0.0.1', server.port)).toBeUndefined()
      expect(takeEarlyConnection('127.0.0.1', server.port)).toBeUndefined()
      await until(() => server.closed() === 2)
      expect(server.closed()).toBe(2)
    } finally {
      await server.stop()
    }
  })

  it('are not handed over once the server closed them, or sent more than a greeting', async () => {
    const accepted = new Set<net.Socket>()
    const servers = [
      net.createServer(socket => socket.resume().end()),
      // More than a greeting, and the connection left open.
      net.createServer(socket => {
        accepted.add(socket)
        socket.resume().write(Buffer.alloc(100 * 1024, 'x'))
      })
    ]
    for (const server of servers) {
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as net.AddressInfo).port
      try {
        inputs({ INPUT_SERVERS: `deploy@127.0.0.1:${port}` })
        expect(openEarlyConnections()).toBe(1)
        await sleep(200)
        expect(takeEarlyConnection('127.0.0.1', port)).toBeUndefined()
      } finally {
        for (const socket of accepted) socket.destroy()
        await new Promise(resolve => server.close(resolve))
      }
    }
  })

  it('to a host name of several addresses, do not keep the process alive until taken', async () => {
    // A name with an IPv6 and an IPv4 address, the first refused (an IPv6 address on a runner
    // without IPv6 routes): Node tries the next one on a new socket handle. The resolver is the
    // one fake part: no name on a test machine resolves to two loopback addresses.
    const lookup = dns.lookup
    const name = 'two-addresses.test'
    const addresses = [
      { address: '::1', family: 6 },
      { address: '127.0.0.1', family: 4 }
    ]
    const fake = (host: string, options: unknown, callback: unknown): void => {
      if (host !== name) return (lookup as (...a: unknown[]) => void)(host, options, callback)
      setImmediate(() => (callback as (e: null, a: typeof addresses) => void)(null, addresses))
    }
    // Its own sockets do not keep the process alive: only the client's are counted.
    const accepted = new Set<net.Socket>()
    const server = net.createServer(socket => {
      accepted.add(socket)
      socket
        .unref()
        .on('error', () => undefined)
        .resume()
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    server.unref()
    const port = (server.address() as net.AddressInfo).port
    const sockets = (): number =>
      process.getActiveResourcesInfo().filter(r => r === 'TCPSocketWrap').length
    const taken: (net.Socket | undefined)[] = []
    try {
      Object.assign(dns, { lookup: fake })
      const before = sockets()
      inputs({ INPUT_SERVERS: `deploy@${name}:${port}` })
      expect(openEarlyConnections()).toBe(1)
      await until(() => accepted.size === 1)
      expect(accepted.size).toBe(1)
      expect(sockets()).toBe(before)
      // Taken, it is ssh2's, and keeps the process alive as any connection in use does; also
      // when taken before its later addresses are tried.
      taken.push(takeEarlyConnection(name, port))
      expect(taken[0]).toBeInstanceOf(net.Socket)
      expect(sockets()).toBe(before + 1)
      taken[0]?.destroy()
      expect(openEarlyConnections()).toBe(1)
      taken.push(takeEarlyConnection(name, port))
      expect(taken[1]?.connecting).toBe(true)
      await until(() => accepted.size === 2)
      expect(accepted.size).toBe(2)
      expect(sockets()).toBe(before + 1)
    } finally {
      Object.assign(dns, { lookup })
      for (const socket of [...taken, ...accepted]) socket?.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  })

  it('open as many as the connect phase starts with, and none for the post step, a jump host or inputs that do not parse', () => {
    // Port 1 of loopback addresses: refused at once, and nothing leaves the machine.
    const list = [11, 12, 13, 14, 15].map(h => `deploy@127.0.0.${h}:1`).join(',')
    inputs({ INPUT_SERVERS: list })
    expect(openEarlyConnections()).toBe(3)
    inputs({ INPUT_SERVERS: list, 'INPUT_MAX-PARALLEL': '4' })
    expect(openEarlyConnections()).toBe(4)
    inputs({ INPUT_SERVERS: list, INPUT_STRATEGY: 'sequential' })
    expect(openEarlyConnections()).toBe(1)
    inputs({ INPUT_SERVERS: list, STATE_isPost: 'true' })
    expect(openEarlyConnections()).toBe(0)
    inputs({ INPUT_SERVERS: list, 'INPUT_JUMP-HOST': 'bastion@127.0.0.16' })
    expect(openEarlyConnections()).toBe(0)
    inputs({ INPUT_SERVERS: 'deploy@127.0.0.11:99999' })
    expect(openEarlyConnections()).toBe(0)
    inputs({ INPUT_SERVERS: '127.0.0.11' })
    expect(openEarlyConnections()).toBe(0)
    inputs({ INPUT_SERVERS: 'deploy@127.0.0.11', INPUT_PORT: 'ssh' })
    expect(openEarlyConnections()).toBe(0)
    inputs({})
    expect(openEarlyConnections()).toBe(0)
  })
})
