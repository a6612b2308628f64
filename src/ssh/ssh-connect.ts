/**
 * Opening one SSH connection: the socket (or a tunnel through jump hosts), the host key check
 * before authentication, authentication, and an error that says what to do for each way it
 * fails.
 */
import { connect as connectSocket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { AuthenticationType, ConnectConfig, ParsedKey, PublicKeyAuthMethod } from 'ssh2'
import Client from 'ssh2/lib/client.js'
import { parseKey } from 'ssh2/lib/protocol/keyParser.js'
import { ConnectionError, HostKeyError, messageOf } from '../errors.js'
import { CLIENT_SOFTWARE, takeEarlyConnection } from './early-connect.js'
import { hostVerifierFor, keyTypeOfBlob, type HostKeyPolicy } from './known-hosts.js'
import type { Server } from './servers.js'
import type { FirstScript } from './script-frame.js'
import { ConnectionInternals, keyObjectsForGcm } from './ssh2-internals.js'

/** How to reach a server other than by a TCP connection of our own (a jump host's tunnel). */
export type Tunnel = (host: string, port: number) => Promise<Duplex>

export interface Credentials {
  privateKey?: string
  passphrase?: string
  password?: string
}

export interface ConnectOptions extends Credentials {
  server: Server
  hostKeys: HostKeyPolicy
  /** Seconds for the TCP connect plus the SSH handshake and authentication. */
  timeoutSeconds: number
  /**
   * Seconds a script or an SFTP request may go without any progress (no byte either way) before
   * it is stopped with a CommandTimeoutError (command-timeout; default 600).
   */
  commandTimeoutSeconds?: number
  /** Reach the server through this tunnel instead of a TCP connection. */
  tunnel?: Tunnel
  /** What the server is to the deploy, in messages: 'jump host' for a hop. */
  role?: string
  /** Open the first channels behind authentication (a deploy target; not a jump host). */
  channelsBehindAuth?: boolean
  /** False turns off the round-trip savings of ssh2-internals.ts for this connection. */
  allowPipelining?: boolean
  /**
   * The connection's first script, framed (script-frame.ts): with the savings on, if it is
   * ready before the server confirms the first channel, it goes out then (ssh2-internals.ts,
   * execBehindOpen), and the first script run must be it. Only where nothing may wait for other
   * servers before it runs (a deploy to one server).
   */
  firstScript?: Promise<FirstScript | undefined>
  /** Tests only: the server channel number the first script is sent to (see ssh2-internals.ts). */
  firstServerChannel?: number
  /**
   * False for `shell: none`: no exec channel is ever opened, not even ahead of need; the
   * connection carries SFTP alone.
   */
  exec?: boolean
  /** Called for things worth a warning (insecure host key, ...). */
  warn?: (message: string) => void
  /** ssh2's protocol trace, for tests that check what crosses the wire. */
  debug?: (line: string) => void
}

/** A connection that authenticated. */
export interface OpenConnection {
  client: InstanceType<typeof Client>
  socket: Duplex
  internals: ConnectionInternals
}

// Host key algorithm families, tried one by one when only a fingerprint is known: the server
// offers its preferred type first, and a fingerprint does not say which type it is of.
const KEY_FAMILIES = [
  ['ssh-ed25519'],
  ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'],
  ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
]

/** Open one authenticated connection, verifying the host key before authentication. */
export async function openConnection(options: ConnectOptions): Promise<OpenConnection> {
  const { server } = options
  const what = `${server.label}${options.role ? ` (${options.role})` : ''}`
  let verifier: ReturnType<typeof hostVerifierFor>
  try {
    verifier = hostVerifierFor(options.hostKeys, server.host, server.port)
  } catch (error) {
    throw new HostKeyError(`${what}: ${messageOf(error)}`)
  }
  if (options.hostKeys.kind === 'insecure') {
    options.warn?.(
      `${what}: host key NOT verified (insecure-ignore-host-key: true). Anyone on the network path could impersonate this server.`
    )
  }
  const started = Date.now()
  let first = await attempt(options, what, verifier, verifier.algorithms, true)
  // A connection opened while the action loaded that ended before the key exchange (a server
  // that closed it, or dropped it as one unauthenticated connection too many): once more, on a
  // connection of its own, as it would have been without. Only within what is left of
  // connect-timeout, which bounds the two together as it bounds one connection without them;
  // out of that time, the first one's failure is the one reported.
  const left = options.timeoutSeconds * 1000 - (Date.now() - started)
  if (first.earlyLost && left > 0) {
    const again = await attempt(options, what, verifier, verifier.algorithms, false, left)
    if (!again.timedOut) first = again
  }
  if (first.connection) return first.connection
  if (options.hostKeys.kind !== 'fingerprint' || first.offeredType === undefined) throw first.error
  // The server's preferred key is not the one fingerprinted: ask for each other type in turn.
  const reasons = [first.reason]
  for (const family of KEY_FAMILIES) {
    if (
      family.includes(first.offeredType) ||
      (first.offeredType === 'ssh-rsa' && family.includes('rsa-sha2-512'))
    )
      continue
    const next = await attempt(options, what, verifier, family)
    if (next.connection) return next.connection
    if (next.reason) reasons.push(next.reason)
    else if (!(
      next.error instanceof ConnectionError &&
      /no matching|handshake failed/i.test(next.error.message)
    ))
      throw next.error
  }
  throw new HostKeyError(
    `${what}: host key verification failed: none of the server's host keys matches host-fingerprint. ${reasons.join(' ')}`
  )
}

interface Attempt {
  connection?: OpenConnection
  error?: Error
  /** Set when the host key was the problem. */
  reason?: string
  offeredType?: string
  /** The attempt went over an early connection (early-connect.ts) that ended before the key exchange. */
  earlyLost?: boolean
  /** Its time (readyMs) ran out. */
  timedOut?: boolean
}

/**
 * The authentication methods in order: the key (again, for the next RSA signature algorithm,
 * while one is worth trying), then the password by both methods. Only methods we have
 * credentials for: ssh2 would otherwise start with 'none', a round trip that only learns what
 * the server allows.
 */
function authSequence(
  options: Credentials,
  username: string,
  internals: () => ConnectionInternals | undefined
): (methodsLeft: string[] | null) => AuthenticationType | PublicKeyAuthMethod | false {
  let keyTried = false
  const rest: AuthenticationType[] =
    options.password !== undefined ? ['password', 'keyboard-interactive'] : []
  return methodsLeft => {
    const allowed = (method: string): boolean =>
      methodsLeft === null || methodsLeft.includes(method)
    if (
      options.privateKey !== undefined &&
      (!keyTried || internals()?.retryPublicKey()) &&
      allowed('publickey')
    ) {
      keyTried = true
      // Parsed before the connection began (attempt), so this does not throw.
      return { type: 'publickey', username, key: privateKeyOf(options) }
    }
    keyTried = true
    while (rest.length > 0) {
      const method = rest.shift() as AuthenticationType
      if (allowed(method)) return method
    }
    return false
  }
}

/**
 * The private key as ssh2 uses it, parsed once per key and passphrase for the whole run, or the
 * error its parsing threw. ssh2 parses the key text on every connect, and an encrypted OpenSSH
 * key then runs bcrypt_pbkdf in JavaScript: measured on Node 24, 155 ms of CPU per connection
 * for an ed25519 key with a passphrase (0.05 ms without), during which no other connection's
 * handshake moves: ten connections at once to one sshd took 1.85 s of CPU, and 0.28 s with the
 * key parsed once.
 */
const parsedKeys = new Map<string, ParsedKey | Error>()

export function privateKeyOf(credentials: Credentials): ParsedKey {
  const text = credentials.privateKey ?? ''
  const id = JSON.stringify([credentials.passphrase ?? null, text])
  let parsed = parsedKeys.get(id)
  if (!parsed) {
    parsed = parseOnce(text, credentials.passphrase)
    parsedKeys.set(id, parsed)
  }
  if (parsed instanceof Error) throw parsed
  return parsed
}

/** ssh2's own checks of a key given as text (Client.connect), with its messages. */
function parseOnce(text: string, passphrase: string | undefined): ParsedKey | Error {
  let parsed = parseKey(text, passphrase)
  if (parsed instanceof Error) return new Error(`Cannot parse privateKey: ${parsed.message}`)
  // OpenSSH's format holds one key.
  if (Array.isArray(parsed)) parsed = parsed[0] as ParsedKey
  if (!parsed.isPrivateKey() || parsed.getPrivatePEM() === null)
    return new Error('privateKey value does not contain a (valid) private key')
  return parsed
}

async function attempt(
  options: ConnectOptions,
  what: string,
  verifier: ReturnType<typeof hostVerifierFor>,
  algorithms: string[] | undefined,
  useEarly = false,
  readyMs = options.timeoutSeconds * 1000
): Promise<Attempt> {
  const { server } = options
  const client = new Client()
  let internals: ConnectionInternals | undefined
  let hostKeyFailure: string | undefined
  let offeredType: string | undefined
  const config: ConnectConfig = {
    host: server.host,
    port: server.port,
    username: server.user,
    // The same identification string an early connection sent.
    ident: CLIENT_SOFTWARE,
    readyTimeout: readyMs,
    keepaliveInterval: 10_000,
    keepaliveCountMax: 3,
    // ssh2 passes the raw host key blob; the base64 field of a known_hosts line decodes to
    // exactly that blob, so the comparison is byte for byte. This runs before authentication.
    hostVerifier: (key: Buffer) => {
      const result = verifier.verify(key)
      if (!result.ok) {
        hostKeyFailure = result.reason
        try {
          offeredType = keyTypeOfBlob(key)
        } catch {
          offeredType = undefined
        }
      }
      return result.ok
    },
    tryKeyboard: options.password !== undefined,
    authHandler: authSequence(options, server.user, () => internals) as never
  }
  // Pin the host key algorithms to the types we hold: otherwise the server may offer a type we
  // have no key for, and a valid server would be refused.
  if (algorithms) config.algorithms = { serverHostKey: algorithms as never }
  if (options.password !== undefined) config.password = options.password

  let socket: Duplex
  let wasEarly = false
  let reached = false
  try {
    // Our own socket, so that close() can drop it without waiting for the server's FIN. Every
    // phase is a small request followed by a small reply. With Nagle's algorithm on, each small
    // write waits for the ACK of the previous one, which Linux delays by up to 40 ms: measured
    // here, an exec round trip on loopback fell from 88 ms to 9 ms.
    // The connection opened while the action loaded, if it is still good (early-connect.ts).
    const early =
      options.tunnel || !useEarly ? undefined : takeEarlyConnection(server.host, server.port)
    wasEarly = early !== undefined
    // Whether it reached the server: one refused, unreachable or of a name that does not
    // resolve fails as a connection of its own would, and is not tried again.
    reached = early !== undefined && !early.connecting
    early?.once('connect', () => (reached = true))
    socket = options.tunnel
      ? await options.tunnel(server.host, server.port)
      : (early ?? connectSocket({ host: server.host, port: server.port, noDelay: true }))
  } catch (error) {
    // A jump host's own failure (its host key, its login) keeps its kind.
    const Kind = error instanceof HostKeyError ? HostKeyError : ConnectionError
    return { error: new Kind(`${what}: ${messageOf(error)}`) }
  }
  // ssh2 reports socket errors as its own 'error' events; this one only keeps a late error on
  // a socket ssh2 has let go of from ending the process.
  socket.on('error', () => undefined)
  gatherWrites(socket)

  return new Promise<Attempt>(resolve => {
    let settled = false
    let authenticating = false
    const settle = (result: Attempt): void => {
      if (settled) return
      settled = true
      // Lost once the first script had gone behind the authentication request: the server may
      // have run it (a deploy's lock and inspect), which no answer will tell.
      const lost = result.error instanceof ConnectionError && internals?.firstScriptWent === true
      resolve(lost ? { ...result, error: mayHaveRun(result.error as ConnectionError) } : result)
    }
    // An early connection lost before the key exchange finished, once it had reached the server,
    // for no reason of its own (not the host key, not a timeout): openConnection tries once more
    // on a new one.
    const lostEarly = (error?: Error & { level?: string }): boolean =>
      wasEarly &&
      reached &&
      !authenticating &&
      hostKeyFailure === undefined &&
      error?.level !== 'client-timeout'
    // A listener for the client's whole life, not once: ssh2 can emit several errors on one
    // connection (a refused key, then the reset of the connection the server closed), and an
    // 'error' event with no listener ends the process. Once connected, the host adds its own.
    client.once('handshake', () => (authenticating = true))
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      if (settled) return
      client.end()
      socket.destroy()
      if (authenticating && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) {
        settle({
          error: new ConnectionError(
            `${what}: the server closed the connection while authenticating user '${server.user}' (${error.code}). Some servers do so on a refused key or an unknown user: check that the user exists and the public key is in ~${server.user}/.ssh/authorized_keys (or the password is right).`
          )
        })
        return
      }
      if (hostKeyFailure !== undefined) {
        settle({
          error: new HostKeyError(`${what}: host key verification failed: ${hostKeyFailure}`),
          reason: hostKeyFailure,
          offeredType
        })
        return
      }
      settle({
        error: new ConnectionError(`${what}: ${describeConnectError(error, options)}`),
        ...(lostEarly(error) ? { earlyLost: true } : {}),
        ...(error.level === 'client-timeout' ? { timedOut: true } : {})
      })
    })
    client.once('ready', () => {
      // Nothing changes on the wire: ssh2's AES-GCM stops turning its key into a key object
      // for every packet (runner CPU, per packet of every connection).
      keyObjectsForGcm(client)
      if (internals) settle({ connection: { client, socket, internals } })
    })
    client.once('close', () =>
      settle({
        error: new ConnectionError(
          `${what}: ${describeConnectError(new Error('Connection lost before handshake'), options)}`
        ),
        ...(lostEarly() ? { earlyLost: true } : {})
      })
    )
    if (options.password !== undefined) {
      client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
        finish(prompts.map(() => options.password ?? ''))
      })
    }
    try {
      // A key ssh2 cannot use throws here, before anything is sent (see keyProblem).
      if (options.privateKey !== undefined) privateKeyOf(options)
      client.connect({
        ...config,
        sock: socket as never,
        ...(options.debug ? { debug: options.debug } : {})
      })
      // With a key as the only credential, a refused key ends the attempt, so a channel opened
      // behind the signed request is lost only when the deploy is too. With a password to fall
      // back on, it is not worth the exchange that a server closing on it would cost.
      internals = new ConnectionInternals(client, {
        openEarly: options.password === undefined && options.channelsBehindAuth !== false,
        execChannels: options.exec !== false,
        allowed: options.allowPipelining !== false,
        ...(options.firstScript ? { firstScript: options.firstScript } : {}),
        ...(options.firstServerChannel !== undefined
          ? { firstServerChannel: options.firstServerChannel }
          : {})
      })
    } catch (error) {
      socket.destroy()
      // privateKeyOf throws for a key that cannot be parsed (a wrong passphrase included), and
      // ssh2's connect for a configuration it refuses.
      settle({ error: new ConnectionError(`${what}: ${keyProblem(messageOf(error))}`) })
    }
  })
}

/**
 * Every write of one tick leaves in one system call. ssh2 writes each packet in three pieces
 * (with AES-GCM: the length, the ciphertext, the tag), and with Nagle's algorithm off each
 * write is a send of its own: measured, 165 sends a server for 50 packets on a ten-server
 * deploy, runner CPU that grows with the servers. Corked until the tick ends, the pieces of
 * every packet written in it go out together (a writev): the same bytes in the same order, a
 * few microseconds later. end() uncorks at once, so the disconnect is never held back.
 */
export function gatherWrites(socket: Duplex): void {
  const write = socket.write
  let corked = false
  const uncork = (): void => {
    corked = false
    socket.uncork()
  }
  socket.write = function (this: Duplex, ...args: unknown[]): boolean {
    if (!corked && !this.writableEnded && !this.destroyed) {
      corked = true
      this.cork()
      process.nextTick(uncork)
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args)
  } as Duplex['write']
}

/** `error`, saying that the first script may have run before the connection was lost. */
function mayHaveRun(error: ConnectionError): ConnectionError {
  const marked = new ConnectionError(
    `${error.message} The lock-and-inspect script had gone with the authentication request and may have run: if the next deploy finds the lock held by this run, run the action with mode: unlock.`
  )
  marked.scriptMayHaveRun = true
  return marked
}

function keyProblem(message: string): string {
  if (/passphrase|decrypt|bad decrypt|integrity/i.test(message)) {
    return `cannot decrypt private-key: check 'passphrase'. (${message})`
  }
  return `cannot use private-key: ${message}. Pass the whole private key text, including its BEGIN and END lines.`
}

/** What went wrong while connecting, and what to do about it, in one sentence or two. */
export function describeConnectError(
  error: Error & { level?: string; code?: string },
  options: Pick<ConnectOptions, 'server' | 'privateKey' | 'password' | 'timeoutSeconds' | 'role'>
): string {
  const { server } = options
  if (error.level === 'client-authentication') {
    const methods = [options.privateKey ? 'private-key' : '', options.password ? 'password' : '']
      .filter(Boolean)
      .join(' and ')
    const inputs = options.role === 'jump host' ? ' (jump-private-key / jump-password)' : ''
    return `authentication failed for user '${server.user}' with ${methods}${inputs}. Check that the user exists and the public key is in ~${server.user}/.ssh/authorized_keys on the server (or the password is right).`
  }
  if (error.level === 'client-timeout' || /Timed out/i.test(error.message)) {
    return `no SSH handshake within ${options.timeoutSeconds}s (connect-timeout). Is the host reachable and the port right?`
  }
  if (/lost before handshake/i.test(error.message)) {
    // OpenSSH 9.8 added PerSourcePenalties: after refused logins (or connections dropped before
    // authenticating) from one address, sshd closes new connections from it at once, for 30 s
    // and more. MaxStartups does the same when too many connections are unauthenticated.
    return `the server closed the connection before the SSH handshake. sshd does this to an address it is throttling: OpenSSH 9.8 and later refuse an address for a while after repeated refused logins (PerSourcePenalties), and MaxStartups drops connections when too many are unauthenticated. Fix the credentials if earlier attempts were refused, and try again in a minute.`
  }
  if (error.code === 'ECONNREFUSED')
    return `connection refused on port ${server.port}. Is sshd running, and is the port right?`
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN')
    return `cannot resolve host name '${server.host}'.`
  if (error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH')
    return `host unreachable (${error.code}).`
  if (/Cannot parse privateKey|private key/i.test(error.message)) return keyProblem(error.message)
  if (/identification string|protocol version|bad packet/i.test(error.message))
    return `the server on port ${server.port} does not speak SSH-2 (${error.message}). Is the port right?`
  return `connection failed: ${error.message}`
}
