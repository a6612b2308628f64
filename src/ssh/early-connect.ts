/**
 * TCP connections to the servers, opened while the rest of the action is still loading.
 *
 * Loading the bundle (the SSH library, GitHub's toolkit and its HTTP client) takes 80 to 200 ms
 * of a runner's CPU before the first input is read. The first steps of an SSH connection do not
 * need any of it: the TCP handshake (a round trip), the server starting its session process
 * (sshd forks and re-executes itself for every connection) and the exchange of identification
 * strings, after which the server sends its key exchange offer (RFC 4253, section 4.2: either
 * side sends its identification string as soon as the connection is up). This module is the
 * entry point's first import: it reads the `servers` input, connects to the servers the connect
 * phase starts with, and sends the client's identification string. When ssh2 takes a socket
 * over (takeEarlyConnection), the server's identification and key exchange offer are waiting
 * in it, and the key exchange goes out at once.
 *
 * Nothing else is sent before the inputs are checked: no key, no user name, nothing that writes
 * on a server. Only the first step that would be taken anyway happens sooner. It is skipped
 * where it could not be used as it is (the post step, a jump host, inputs it cannot read), and
 * it never decides anything: a connection that failed, closed, or waited too long is dropped,
 * and the connect phase opens its own, which reports any failure as usual.
 */
import { Socket, connect } from 'node:net'
import { DEFAULT_MAX_PARALLEL } from '../settings.js'
import { parsePort, parseServers } from './servers.js'

/**
 * The identification string's software version, given to ssh2 (its `ident` option) and sent by
 * this module: the two must be the same bytes, because both sides put the identification
 * strings into the key exchange's hash.
 */
export const CLIENT_SOFTWARE = 'ssh2js1.17.0'
const IDENT_LINE = Buffer.from(`SSH-2.0-${CLIENT_SOFTWARE}\r\n`, 'latin1')

/**
 * How long an early connection stays usable. sshd gives an unauthenticated connection
 * LoginGraceTime (120 s by default; some servers set 20 or 30): one older than this is not
 * handed over, so a server that closes it cannot fail a deploy that would have connected anew.
 */
const USABLE_MS = 5000

/**
 * Most bytes kept from a server before ssh2 takes its socket: an identification string and a
 * key exchange offer are about 1.2 kB (a server may send lines before its identification, up to
 * ssh2's own limit on them).
 */
const MAX_RECEIVED = 64 * 1024

interface Early {
  socket: Socket
  opened: number
  usableMs: number
  taken?: boolean
  /** What the server sent before ssh2 took the socket. */
  received: Buffer[]
  bytes: number
}

/** The early connections not taken yet, by host and port, in the order they were opened. */
const early = new Map<string, Early[]>()

const key = (host: string, port: number): string => `${host.toLowerCase()} ${port}`

/**
 * An input as the toolkit's getInput reads it (`INPUT_` and the name upper-cased, spaces as
 * underscores), trimmed. @actions/core itself is what this module runs ahead of.
 */
function input(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
}

/**
 * Open the early connections the inputs allow. Returns how many were opened; none when this is
 * the post step (the state the main step saved), a jump host carries the connections, or the
 * inputs do not parse (the input check reports them).
 */
export function openEarlyConnections(usableMs = USABLE_MS): number {
  // The post step: @actions/core's getState reads the state the main step saved from here.
  if (process.env.STATE_isPost === 'true' || input('jump-host') !== '') return 0
  let servers
  try {
    const portText = input('port')
    const port = portText === '' ? 22 : parsePort(portText)
    if (port === undefined) return 0
    servers = parseServers(input('servers'), input('username') || undefined, port)
  } catch {
    return 0
  }
  // The connect phase opens max-parallel connections at once, in the order given; a rolling
  // deploy connects to the first server first.
  const parallel =
    input('strategy') === 'sequential'
      ? 1
      : /^[0-9]{1,3}$/.test(input('max-parallel'))
        ? Math.min(Math.max(Number(input('max-parallel')), 1), 100)
        : DEFAULT_MAX_PARALLEL
  for (const server of servers.slice(0, parallel)) {
    const socket = connect({ host: server.host, port: server.port, noDelay: true })
    const entry: Early = {
      socket,
      opened: Date.now(),
      usableMs,
      received: [],
      bytes: 0
    }
    // Two accounts on one server are two connections to one host and port.
    const k = key(server.host, server.port)
    early.set(k, [...(early.get(k) ?? []), entry])
    // Until ssh2 takes it, the socket does not keep the process alive. What the server sends
    // (its identification string and key exchange offer) is kept, bounded, to be put back in
    // front of the socket's data for ssh2; reading it is also how a close is seen.
    socket.unref()
    // A host name of several addresses is tried one address after another, each on a new
    // handle (Node's autoSelectFamily), which would keep the process alive again.
    socket.on('connectionAttempt', () => {
      if (!entry.taken) socket.unref()
    })
    socket.on('data', (chunk: Buffer) => {
      entry.received.push(chunk)
      entry.bytes += chunk.length
      if (entry.bytes > MAX_RECEIVED) socket.destroy()
    })
    // Written past the check takeEarlyConnection puts on the socket's write, which may be in
    // place by the time a slow connection is up.
    socket.once('connect', () => Socket.prototype.write.call(socket, IDENT_LINE))
    // A failed connection is destroyed, which takeEarlyConnection sees; the error itself is
    // for the connect phase's own connection to report.
    socket.on('error', () => undefined)
    // Not taken in time: dropped (the connect phase opens its own).
    const timer = setTimeout(() => {
      const left = (early.get(k) ?? []).filter(e => e !== entry)
      if (left.length > 0) early.set(k, left)
      else early.delete(k)
      if (!entry.taken) socket.destroy()
    }, usableMs)
    timer.unref()
  }
  return Math.min(servers.length, parallel)
}

/**
 * An early connection to host:port (the next one opened, once), if it is still being made, or is
 * up with the identification string sent and the server's side open; and is younger than USABLE_MS (or what openEarlyConnections was given);
 * otherwise undefined, and that connection is dropped. What the server sent is put back in front
 * of the socket's data, for ssh2 to read first.
 *
 * The socket's first write is ssh2's identification string, already sent: it is checked to be
 * the same bytes and not sent again. Any other first write destroys the socket, and the
 * connection fails as one that was lost.
 */
export function takeEarlyConnection(host: string, port: number): Socket | undefined {
  const k = key(host, port)
  const entries = early.get(k)
  const entry = entries?.shift()
  if (!entry) return undefined
  if (entries?.length === 0) early.delete(k)
  entry.taken = true
  const { socket } = entry
  const age = Date.now() - entry.opened
  const greeted = socket.readyState === 'open' && socket.bytesWritten >= IDENT_LINE.length
  // Still connecting is fine: this module's 'connect' listener, registered first, sends the
  // identification string before ssh2's runs.
  if (socket.destroyed || age > entry.usableMs || !(socket.connecting || greeted)) {
    socket.destroy()
    return undefined
  }
  socket.ref()
  // The socket is this module's own: the only 'data' listener is the one above.
  socket.removeAllListeners('data')
  socket.pause()
  if (entry.bytes > 0) socket.unshift(Buffer.concat(entry.received))
  // A wrapper of its own, in place for the socket's life (not put back after the first write):
  // another one installed over it (gatherWrites, in ssh-connect.ts) must stay in place.
  const write = socket.write
  let first = true
  socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
    if (!first) return (write as (...a: unknown[]) => boolean).apply(this, [chunk, ...rest])
    first = false
    if (Buffer.isBuffer(chunk) && chunk.equals(IDENT_LINE)) {
      const callback = rest.find(r => typeof r === 'function') as (() => void) | undefined
      if (callback) process.nextTick(callback)
      return true
    }
    socket.destroy(
      new Error('the SSH identification string sent early is not the one the client sends')
    )
    return false
  } as Socket['write']
  return socket
}

/** Drop every early connection not taken (tests; the process drops them at exit anyway). */
export function dropEarlyConnections(): void {
  for (const entries of early.values()) for (const entry of entries) entry.socket.destroy()
  early.clear()
}
