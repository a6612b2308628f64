/**
 * gatherWrites: the writes of one tick leave the socket together (one writev), in order, and
 * nothing is held back by end(). A real TCP connection on loopback; the count is of the socket's
 * own _write and _writev calls, each one system call.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { gatherWrites } from '../../src/ssh/ssh-connect.ts'

const closers: (() => void)[] = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

/** A loopback server that collects what one client sends until it ends; and that client. */
async function pair(): Promise<{ client: net.Socket; received: Promise<Buffer> }> {
  let resolve!: (data: Buffer) => void
  const received = new Promise<Buffer>(r => (resolve = r))
  const server = net.createServer(socket => {
    const chunks: Buffer[] = []
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('end', () => {
      resolve(Buffer.concat(chunks))
      socket.end()
    })
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  const client = net.connect({ host: '127.0.0.1', port, noDelay: true })
  await new Promise<void>((r, reject) => client.once('connect', r).once('error', reject))
  closers.push(() => {
    client.destroy()
    server.close()
  })
  return { client, received }
}

/** Count the socket's system-call-sized writes: each _write or _writev call. */
function countSends(socket: net.Socket): { sends: number } {
  const counted = { sends: 0 }
  const s = socket as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>
  for (const name of ['_write', '_writev'] as const) {
    const original = s[name].bind(socket)
    s[name] = (...args: unknown[]) => {
      counted.sends++
      return original(...args)
    }
  }
  return counted
}

describe('gatherWrites', () => {
  it('sends the writes of one tick in one call, and each later tick in its own', async () => {
    const { client, received } = await pair()
    gatherWrites(client)
    const counted = countSends(client)
    client.write(Buffer.from('len-'))
    client.write(Buffer.from('ciphertext-'))
    client.write(Buffer.from('tag'))
    await new Promise(r => setImmediate(r))
    expect(counted.sends).toBe(1)
    client.write(Buffer.from('|next'))
    await new Promise(r => setImmediate(r))
    expect(counted.sends).toBe(2)
    client.end()
    expect((await received).toString()).toBe('len-ciphertext-tag|next')
  })

  it('holds nothing back when the socket is ended in the same tick', async () => {
    const { client, received } = await pair()
    gatherWrites(client)
    client.write('a')
    client.write('b')
    client.end('c')
    expect((await received).toString()).toBe('abc')
  })

  it('without it, every write is a send of its own', async () => {
    const { client, received } = await pair()
    const counted = countSends(client)
    client.write('a')
    client.write('b')
    client.write('c')
    await new Promise(r => setImmediate(r))
    client.end()
    await received
    // The first write goes at once; the two behind it wait for it and may leave together.
    expect(counted.sends).toBeGreaterThan(1)
  })
})
