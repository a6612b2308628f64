import { randomBytes } from 'node:crypto'
import { connect as connectSocket, type Socket } from 'node:net'
import type { Readable } from 'node:stream'
import type { ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2'
import Client from 'ssh2/lib/client.js'
import { ConnectionError, HostKeyError, SwitchRefusedError, messageOf } from '../errors.js'
import { command } from '../shell-quote.js'
import { hostVerifierFor, keyTypeOfBlob, type HostKeyPolicy } from './known-hosts.js'
import type { RemoteFiles, RemoteHost, RunOptions, RunResult } from './remote-host.js'
import { BOOTSTRAP } from './bootstrap.js'
import type { Server } from './servers.js'

export interface ConnectOptions {
  server: Server
  hostKeys: HostKeyPolicy
  privateKey?: string
  passphrase?: string
  password?: string
  /** Seconds for the TCP connect plus the SSH handshake and authentication. */
  timeoutSeconds: number
  /** Called for things worth a warning (insecure host key, ...). */
  warn?: (message: string) => void
  /** ssh2's protocol trace, for tests that check what crosses the wire. */
  debug?: (line: string) => void
}

const STDERR_TAIL = 8192

/** Exit status of each channel, recorded from the moment it is open. */
const exits = new WeakMap<ClientChannel, { code: number | null; signal?: string }>()
/** Channels already closed, for the same reason. */
const closedChannels = new WeakSet<ClientChannel>()

// Host key algorithm families, tried one by one when only a fingerprint is known: the server
// offers its preferred type first, and a fingerprint does not say which type it is of.
const KEY_FAMILIES = [
  ['ssh-ed25519'],
  ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'],
  ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']
]

/** Open one SSH connection, verifying the host key before authentication. */
export async function connectSsh(options: ConnectOptions): Promise<SshRemoteHost> {
  const { server } = options
  let verifier: ReturnType<typeof hostVerifierFor>
  try {
    verifier = hostVerifierFor(options.hostKeys, server.host, server.port)
  } catch (error) {
    throw new HostKeyError(`${server.label}: ${messageOf(error)}`)
  }
  if (options.hostKeys.kind === 'insecure') {
    options.warn?.(
      `${server.label}: host key NOT verified (insecure-ignore-host-key: true). Anyone on the network path could impersonate this server.`
    )
  }
  const first = await attempt(options, verifier, verifier.algorithms)
  if (first.client && first.socket)
    return new SshRemoteHost(server.label, first.client, first.socket, first.early)
  if (options.hostKeys.kind !== 'fingerprint' || first.offeredType === undefined) throw first.error
  // The server's preferred key is not the one fingerprinted: ask for each other type in turn.
  const reasons = [first.reason]
  for (const family of KEY_FAMILIES) {
    if (
      family.includes(first.offeredType) ||
      (first.offeredType === 'ssh-rsa' && family.includes('rsa-sha2-512'))
    )
      continue
    const next = await attempt(options, verifier, family)
    if (next.client && next.socket)
      return new SshRemoteHost(server.label, next.client, next.socket, next.early)
    if (next.reason) reasons.push(next.reason)
    else if (!(
      next.error instanceof ConnectionError &&
      /no matching|handshake failed/i.test(next.error.message)
    ))
      throw next.error
  }
  throw new HostKeyError(
    `${server.label}: host key verification failed: none of the server's host keys matches host-fingerprint. ${reasons.join(' ')}`
  )
}

interface Attempt {
  client?: InstanceType<typeof Client>
  socket?: Socket
  /** Channels opened right behind the authentication request, if they were. */
  early?: EarlyChannels
  error?: Error
  /** Set when the host key was the problem. */
  reason?: string
  offeredType?: string
}

async function attempt(
  options: ConnectOptions,
  verifier: ReturnType<typeof hostVerifierFor>,
  algorithms: string[] | undefined
): Promise<Attempt> {
  const { server } = options
  const client = new Client()
  let hostKeyFailure: string | undefined
  let offeredType: string | undefined
  let early: EarlyChannels | undefined
  const config: ConnectConfig = {
    host: server.host,
    port: server.port,
    username: server.user,
    readyTimeout: options.timeoutSeconds * 1000,
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
    // Only the methods we have credentials for. ssh2 would otherwise start with 'none', a
    // round trip that only learns what the server allows.
    authHandler: [
      ...(options.privateKey !== undefined ? ['publickey'] : []),
      ...(options.password !== undefined ? ['password', 'keyboard-interactive'] : [])
    ] as never
  }
  // Pin the host key algorithms to the types we hold: otherwise the server may offer a type we
  // have no key for, and a valid server would be refused.
  if (algorithms) config.algorithms = { serverHostKey: algorithms as never }
  if (options.privateKey !== undefined) {
    config.privateKey = options.privateKey
    if (options.passphrase !== undefined) config.passphrase = options.passphrase
  }
  if (options.password !== undefined) config.password = options.password

  return new Promise<Attempt>(resolve => {
    const onError = (error: Error & { level?: string; code?: string }): void => {
      client.removeListener('ready', onReady)
      client.end()
      if (hostKeyFailure !== undefined) {
        resolve({
          error: new HostKeyError(
            `${server.label}: host key verification failed: ${hostKeyFailure}`
          ),
          reason: hostKeyFailure,
          offeredType
        })
        return
      }
      resolve({
        error: new ConnectionError(`${server.label}: ${describeConnectError(error, options)}`)
      })
    }
    const onReady = (): void => {
      client.removeListener('error', onError)
      resolve({ client, socket, early })
    }
    client.once('ready', onReady)
    client.once('error', onError)
    if (options.password !== undefined) {
      client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
        finish(prompts.map(() => options.password ?? ''))
      })
    }
    // Our own socket, so that close() can drop it without waiting for the server's FIN. Every
    // phase is a small request followed by a small reply. With Nagle's algorithm on, each small
    // write waits for the ACK of the previous one, which Linux delays by up to 40 ms: measured
    // here, an exec round trip on loopback fell from 88 ms to 9 ms.
    const socket = connectSocket({ host: server.host, port: server.port, noDelay: true })
    try {
      client.connect({
        ...config,
        sock: socket,
        ...(options.debug ? { debug: options.debug } : {})
      })
      // With a key as the only credential, a refused key ends the attempt, so a channel opened
      // behind the signed request is lost only when the deploy is too. With a password to fall
      // back on, it is not worth the exchange that a server closing on it would cost.
      signFirst(
        client,
        options.password === undefined
          ? () => {
              early ??= openBehindAuth(client)
            }
          : undefined
      )
      authWithoutWaiting(client)
    } catch (error) {
      socket.destroy()
      // ssh2 throws synchronously for a key it cannot parse (wrong passphrase included).
      resolve({ error: new ConnectionError(`${server.label}: ${keyProblem(messageOf(error))}`) })
    }
  })
}

/** The signature hash each public key algorithm takes (ssh2's own mapping, for RSA). */
const SIGNATURE_HASH: Record<string, string> = {
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
  'ssh-rsa': 'sha1'
}

interface ParsedPrivateKey {
  isPrivateKey(): boolean
  sign(data: Buffer, hash?: string): Buffer | Error
}
type AuthPK = (username: string, key: unknown, keyAlgo?: unknown, cbSign?: unknown) => void

/**
 * Send the publickey request signed at once. ssh2 (like OpenSSH) first asks whether the server
 * would accept the key and signs only after it says yes: a round trip on every deploy, to save
 * a signature the client can make in microseconds. RFC 4252 lets a client send the signed
 * request directly; a server that refuses the key answers it with the same failure, and ssh2
 * then goes on exactly as after a refused query. Only ssh2's own private key objects are
 * signed with; anything else (an agent) keeps the query.
 */
function signFirst(client: InstanceType<typeof Client>, afterSigned?: () => void): void {
  const proto = (client as unknown as { _protocol?: { authPK?: AuthPK } })._protocol
  const authPK = proto?.authPK
  if (!proto || typeof authPK !== 'function') return
  proto.authPK = (username, key, keyAlgo, cbSign) => {
    const own = key as Partial<ParsedPrivateKey> | undefined
    if (
      cbSign !== undefined ||
      typeof keyAlgo === 'function' ||
      typeof own?.sign !== 'function' ||
      typeof own.isPrivateKey !== 'function' ||
      !own.isPrivateKey()
    ) {
      authPK.call(proto, username, key, keyAlgo, cbSign)
      return
    }
    let signed = false
    authPK.call(proto, username, key, keyAlgo, (data: Buffer, done: (sig: Buffer) => void) => {
      const hash = typeof keyAlgo === 'string' ? SIGNATURE_HASH[keyAlgo] : undefined
      const signature = (own as ParsedPrivateKey).sign(data, hash)
      if (signature instanceof Error) return
      signed = true
      done(signature)
    })
    // A key that cannot sign here: ask first, as ssh2 does, and let it report the problem.
    if (!signed) authPK.call(proto, username, key, keyAlgo)
    else afterSigned?.()
  }
}

interface ChannelManager {
  add(opener: unknown): number
}
interface RawChannel {
  outgoing: { id: number; state: string }
  _callbacks: ((hadError: unknown) => void)[]
  subtype?: string
  allowHalfOpen?: boolean
}
type Protocol = {
  session?: (local: number, window: number, packetSize: number) => void
  exec?: (remote: number, command: string, wantReply: boolean) => void
  subsystem?: (remote: number, name: string, wantReply: boolean) => void
}

// ssh2's own channel window and packet size (lib/utils.js), which its channels are built with.
const CHANNEL_WINDOW = 2 * 1024 * 1024
const CHANNEL_PACKET = 32 * 1024

/** The channels a connection starts with, each opened behind the authentication request. */
export interface EarlyChannels {
  /** For the first command (lock and inspect), which goes as its exec request. */
  command: Promise<ClientChannel>
  /** The spare exec channel, for the next script. */
  spare: Promise<ClientChannel>
  /** The SFTP session's channel. */
  sftp: Promise<SFTPWrapper>
}

/**
 * Open the connection's first channels right behind the (signed) authentication request,
 * instead of a round trip after the server accepts it. RFC 4252 (section 5): messages the client
 * sends after the request that succeeds go to the service that authentication started; OpenSSH
 * keeps them, in order, across its privilege separation. The server confirms the channels right
 * behind USERAUTH_SUCCESS, so the first command goes out with no open in between, and the spare
 * channel and the SFTP session are ready a round trip sooner. Only a key is sent this way, and a
 * refused key ends the connection (it is the only credential), which gives the opens up: the
 * server got them before authentication (OpenSSH answers UNIMPLEMENTED; others may close).
 */
function openBehindAuth(client: InstanceType<typeof Client>): EarlyChannels | undefined {
  const internals = client as unknown as { _protocol?: Protocol; _chanMgr?: ChannelManager }
  const proto = internals._protocol
  const channels = internals._chanMgr
  if (!proto || !channels || typeof proto.session !== 'function') return undefined
  const open = <T>(type: 'session' | 'sftp'): Promise<T> => {
    const promise = new Promise<T>((resolve, reject) => {
      // ssh2 calls this on the server's answer, or with an error when the connection closes;
      // it makes an SFTP object of a channel whose opener is of type 'sftp'.
      const opener = Object.assign(
        (error: Error | undefined, channel?: T) =>
          error || !channel ? reject(error ?? new Error('no channel')) : resolve(channel),
        { type }
      )
      const local = channels.add(opener)
      if (local === -1) reject(new Error('No free channels available'))
      else proto.session?.(local, CHANNEL_WINDOW, CHANNEL_PACKET)
    })
    // Never an unhandled rejection: the host falls back to opening channels itself.
    promise.catch(() => undefined)
    return promise
  }
  return {
    command: open<ClientChannel>('session'),
    spare: open<ClientChannel>('session'),
    sftp: open<SFTPWrapper>('sftp')
  }
}

/**
 * A channel request as ssh2 sends it (reply wanted: the callback waits for the server's answer),
 * on a channel that is already open.
 */
function requestOn(
  client: InstanceType<typeof Client>,
  channel: unknown,
  kind: 'exec' | 'subsystem',
  argument: string,
  done: (error: Error | undefined) => void
): void {
  const raw = channel as RawChannel
  const proto = (client as unknown as { _protocol?: Protocol })._protocol
  const send = proto?.[kind]
  if (raw.outgoing?.state !== 'open' || !proto || typeof send !== 'function') {
    done(new Error('Channel is not open'))
    return
  }
  raw._callbacks.push(hadError => {
    if (hadError) {
      const refused = kind === 'exec' ? 'Unable to exec' : `Unable to start subsystem: ${argument}`
      done(hadError instanceof Error ? hadError : new Error(refused))
      return
    }
    raw.subtype = kind
    done(undefined)
  })
  send.call(proto, raw.outgoing.id, argument, true)
}

/** ssh2's sftp(), on a channel that is already open: the subsystem request and SFTP's init. */
function startSftpOn(
  client: InstanceType<typeof Client>,
  sftp: SFTPWrapper,
  done: (error: Error | undefined, sftp?: SFTPWrapper) => void
): void {
  const init = (sftp as unknown as { _init?: () => void })._init
  if (typeof init !== 'function') {
    done(new Error('Channel is not open'))
    return
  }
  requestOn(client, sftp, 'subsystem', 'sftp', error => {
    if (error) {
      done(error)
      return
    }
    const settle = (failure?: Error): void => {
      sftp.removeListener('ready', onReady)
      sftp.removeListener('error', onError)
      sftp.removeListener('exit', onExit)
      sftp.removeListener('close', onExit)
      done(failure, failure ? undefined : sftp)
    }
    const onReady = (): void => settle()
    const onError = (failure: Error): void => settle(failure)
    const onExit = (): void => settle(new Error('SFTP session ended while starting'))
    sftp.on('ready', onReady).on('error', onError).on('exit', onExit).on('close', onExit)
    init.call(sftp)
  })
}

/** ssh2's exec(), on a session channel that is already open. */
function execOn(
  client: InstanceType<typeof Client>,
  channel: ClientChannel,
  commandLine: string,
  done: (error: Error | undefined, channel?: ClientChannel) => void
): void {
  requestOn(client, channel, 'exec', commandLine, error => {
    if (error) {
      done(error)
      return
    }
    ;(channel as unknown as RawChannel).allowHalfOpen = true
    done(undefined, channel)
  })
}

/**
 * How many bytes of a channel's data the server has taken: the sum of its window adjustments
 * (RFC 4254, section 5.2), which OpenSSH sends as the command reads what arrived. ssh2 keeps the
 * send window in `channel.outgoing.window`, lowers it as it sends and raises it only on an
 * adjustment; the property is replaced by one that counts the raises. Undefined when ssh2 no
 * longer has that shape (test/ssh/channels.test.ts checks it does).
 */
export function takenMeter(channel: ClientChannel): (() => number) | undefined {
  const outgoing = (channel as unknown as { outgoing?: { window?: unknown } }).outgoing
  if (!outgoing || typeof outgoing.window !== 'number') return undefined
  let window = outgoing.window
  let taken = 0
  Object.defineProperty(outgoing, 'window', {
    configurable: true,
    enumerable: true,
    get: () => window,
    set: (value: number) => {
      if (value > window) taken += value - window
      window = value
    }
  })
  return () => taken
}

type Handler = (proto: unknown, ...args: unknown[]) => void

/**
 * Send the first authentication request right behind the request for the auth service, instead
 * of a round trip later when the server accepts it. The server handles messages in order: it
 * accepts the service, then reads the request (OpenSSH installs its userauth handler while
 * accepting). ssh2 starts authenticating on SERVICE_ACCEPT; here it starts once the service was
 * requested and the server's EXT_INFO has arrived (it comes with the server's NEWKEYS, before
 * the accept, and says which RSA signatures the server takes), and the accept itself is then
 * ignored. A server that sends no EXT_INFO is waited for, as before.
 */
function authWithoutWaiting(client: InstanceType<typeof Client>): void {
  const proto = (
    client as unknown as {
      _protocol?: { service?: (name: string) => void; _handlers?: Record<string, Handler> }
    }
  )._protocol
  const handlers = proto?._handlers
  const service = proto?.service
  const accept = handlers?.SERVICE_ACCEPT
  const extInfo = handlers?.EXT_INFO
  if (!proto || !handlers || typeof service !== 'function' || !accept || !extInfo) return
  let requested = false
  let informed = false
  let started = false
  const start = (): void => {
    if (started || !requested || !informed) return
    started = true
    accept(proto, 'ssh-userauth')
  }
  proto.service = (name: string) => {
    service.call(proto, name)
    if (name === 'ssh-userauth') {
      requested = true
      start()
    }
  }
  handlers.EXT_INFO = (p, ...args) => {
    extInfo(p, ...args)
    informed = true
    start()
  }
  handlers.SERVICE_ACCEPT = (p, name, ...args) => {
    if (name === 'ssh-userauth' && started) return
    if (name === 'ssh-userauth') started = true
    accept(p, name, ...args)
  }
}

function keyProblem(message: string): string {
  if (/passphrase|decrypt|bad decrypt|integrity/i.test(message)) {
    return `cannot decrypt private-key: check 'passphrase'. (${message})`
  }
  return `cannot use private-key: ${message}. Pass the whole private key text, including its BEGIN and END lines.`
}

function describeConnectError(
  error: Error & { level?: string; code?: string },
  options: ConnectOptions
): string {
  const { server } = options
  if (error.level === 'client-authentication') {
    const methods = [options.privateKey ? 'private-key' : '', options.password ? 'password' : '']
      .filter(Boolean)
      .join(' and ')
    return `authentication failed for user '${server.user}' with ${methods}. Check that the public key is in ~${server.user}/.ssh/authorized_keys on the server (or the password is right).`
  }
  if (error.level === 'client-timeout' || /Timed out/i.test(error.message)) {
    return `no SSH handshake within ${options.timeoutSeconds}s (connect-timeout). Is the host reachable and the port right?`
  }
  if (error.code === 'ECONNREFUSED')
    return `connection refused on port ${server.port}. Is sshd running, and is the port right?`
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN')
    return `cannot resolve host name '${server.host}'.`
  if (error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH')
    return `host unreachable (${error.code}).`
  if (/Cannot parse privateKey|private key/i.test(error.message)) return keyProblem(error.message)
  return `connection failed: ${error.message}`
}

/** A RemoteHost over one ssh2 connection: one SFTP session and few exec channels. */
export class SshRemoteHost implements RemoteHost {
  private spare: Promise<ClientChannel> | undefined
  private sparesEnabled = true
  private sftpSession: Promise<SFTPWrapper> | undefined
  private closed = false
  private lostReason: string | undefined

  constructor(
    readonly label: string,
    private readonly client: InstanceType<typeof Client>,
    private readonly socket: Socket,
    /** Channels opened during authentication; each is taken once. */
    private early?: Partial<EarlyChannels>
  ) {
    client.on('error', error => {
      this.lostReason = error.message
    })
    client.on('close', () => {
      this.closed = true
      this.lostReason ??= 'connection closed'
    })
  }

  /**
   * Start opening the channels the next steps will need (one exec channel and the SFTP session),
   * so their round trips overlap with the work in progress. sshd's MaxSessions (10 by default,
   * 2 on some hosts) bounds the channels per connection; when a spare cannot be opened, spares
   * are given up and channels are opened on demand.
   */
  warmUp(): void {
    this.ensureSpare()
    void this.files().catch(() => undefined)
  }

  /**
   * Take one of the channels opened during authentication, once the server confirmed it;
   * undefined when it is taken already, or was refused (then a channel is opened the usual way).
   */
  private async takeEarly<K extends keyof EarlyChannels>(
    kind: K
  ): Promise<Awaited<EarlyChannels[K]> | undefined> {
    const channel = this.early?.[kind] as Promise<Awaited<EarlyChannels[K]>> | undefined
    if (this.early) this.early[kind] = undefined
    return channel?.catch(() => undefined)
  }

  /**
   * Open an exec channel running commandLine. `early`: run it on that channel opened during
   * authentication, if it is still unused.
   */
  private async openChannel(
    commandLine = BOOTSTRAP,
    early?: 'command' | 'spare'
  ): Promise<ClientChannel> {
    const opened = early ? await this.takeEarly(early) : undefined
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(
          new ConnectionError(`${this.label}: connection lost (${this.lostReason ?? 'closed'})`)
        )
        return
      }
      const exec = (done: (error: Error | undefined, channel?: ClientChannel) => void): void => {
        if (opened) execOn(this.client, opened, commandLine, done)
        else this.client.exec(commandLine, done)
      }
      exec((error, channel) => {
        if (error || !channel) {
          reject(
            new ConnectionError(
              `${this.label}: cannot open a channel: ${error?.message ?? 'no channel'}`
            )
          )
          return
        }
        // The exit status can arrive in the same read as the exec reply (a short inline script),
        // and ssh2 emits it at once: listen now, not after the promise resolves, or it is lost.
        channel.on('exit', (code: number | null, signalName?: string) => {
          exits.set(channel, { code: typeof code === 'number' ? code : null, signal: signalName })
        })
        channel.once('close', () => closedChannels.add(channel))
        resolve(channel)
      })
    })
  }

  private ensureSpare(): void {
    if (!this.sparesEnabled || this.spare || this.closed) return
    const spare = this.openChannel(BOOTSTRAP, 'spare')
    spare.catch(() => {
      this.sparesEnabled = false
      if (this.spare === spare) this.spare = undefined
    })
    this.spare = spare
  }

  private async takeChannel(): Promise<ClientChannel> {
    const spare = this.spare
    this.spare = undefined
    if (spare) {
      try {
        const channel = await spare
        this.ensureSpare()
        return channel
      } catch {
        // fall through to an on-demand channel
      }
    }
    // The first command of a connection with no spare (the post step's unlock): the channel
    // opened during authentication is there for it.
    const channel = await this.withRoom(() => this.openChannel(BOOTSTRAP, 'command'))
    this.ensureSpare()
    return channel
  }

  /**
   * Open a channel; when the server refuses (sshd's MaxSessions: 10 by default, 2 or even 1 on
   * some hosts), give up spares, close the idle SFTP session, and try again a few times. The
   * phases never use SFTP and a script at the same time, so an idle session can always go.
   */
  private async withRoom<T>(open: () => Promise<T>): Promise<T> {
    let lastError: unknown
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return await open()
      } catch (error) {
        lastError = error
        if (this.closed) break
        this.makeRoom()
        await new Promise(r => setTimeout(r, 50 * (attempt + 1)))
      }
    }
    throw lastError
  }

  private makeRoom(): void {
    this.sparesEnabled = false
    this.dropEarly()
    const spare = this.spare
    this.spare = undefined
    spare?.then(c => c.end()).catch(() => undefined)
    const session = this.sftpSession
    this.sftpSession = undefined
    session?.then(sftp => sftp.end()).catch(() => undefined)
  }

  async run(script: string, options: RunOptions = {}): Promise<RunResult> {
    const channel = options.inline
      ? await this.withRoom(() => this.openChannel(command('sh', '-c', script), 'command'))
      : await this.takeChannel()
    return new Promise<RunResult>((resolve, reject) => {
      const stdout: Buffer[] = []
      let stderrTail = ''
      let partial = ''
      let code: number | null = null
      let settled = false
      const onAbort = (): void => {
        try {
          channel.signal('TERM')
        } catch {
          /* older servers do not take signals; closing stdin is enough */
        }
        options.stdin?.unpipe(channel)
        channel.end()
        channel.close()
      }
      const finish = (): void => {
        if (settled) return
        settled = true
        const exit = exits.get(channel)
        code = exit?.code ?? null
        if (code === null && exit?.signal) stderrTail += `\n(killed by SIG${exit.signal})`
        options.signal?.removeEventListener('abort', onAbort)
        if (partial !== '') options.onStderrLine?.(partial)
        if (code === null && this.closed) {
          reject(
            new ConnectionError(`${this.label}: connection lost (${this.lostReason ?? 'closed'})`)
          )
          return
        }
        resolve({ code, stdout: Buffer.concat(stdout), stderrTail })
      }
      channel.on('data', (chunk: Buffer) => stdout.push(chunk))
      channel.stderr.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8')
        stderrTail = (stderrTail + text).slice(-STDERR_TAIL)
        partial += text
        const lines = partial.split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) options.onStderrLine?.(line)
      })
      channel.on('close', finish)
      // Closed before this listener existed (a script with no output): finish once the buffered
      // stderr, if any, has been read.
      if (closedChannels.has(channel)) setImmediate(finish)
      channel.on('error', () => undefined)
      if (options.signal) {
        if (options.signal.aborted) onAbort()
        else options.signal.addEventListener('abort', onAbort, { once: true })
      }
      const header = options.inline ? '' : `${Buffer.byteLength(script)}\n${script}`
      if (options.onStdinMeter) {
        const taken = takenMeter(channel)
        const headerBytes = Buffer.byteLength(header)
        options.onStdinMeter(() => (taken ? Math.max(0, taken() - headerBytes) : undefined))
      }
      if (header) channel.write(header)
      if (options.stdin) {
        options.stdin.on('error', () => {
          // The script sees a truncated stream and fails; its own error is the one reported.
          channel.end()
        })
        options.stdin.pipe(channel)
      } else {
        channel.end()
      }
    })
  }

  files(): Promise<RemoteFiles> {
    const session = (this.sftpSession ??= this.openSftp())
    session.catch(() => {
      if (this.sftpSession === session) this.sftpSession = undefined
    })
    return session.then(sftp => new SftpFiles(sftp, this.label))
  }

  /** Close the channels opened during authentication that nothing took. */
  private dropEarly(): void {
    const early = this.early
    this.early = undefined
    early?.command?.then(c => c.close()).catch(() => undefined)
    early?.spare?.then(c => c.close()).catch(() => undefined)
    early?.sftp?.then(c => c.end()).catch(() => undefined)
  }

  private openSftp(): Promise<SFTPWrapper> {
    const once = async (): Promise<SFTPWrapper> => {
      const opened = await this.takeEarly('sftp')
      return new Promise<SFTPWrapper>((resolve, reject) => {
        const done = (error: Error | undefined, sftp?: SFTPWrapper): void => {
          if (error || !sftp)
            reject(
              new ConnectionError(
                `${this.label}: cannot start SFTP: ${error?.message ?? 'no session'}`
              )
            )
          else resolve(sftp)
        }
        if (opened) startSftpOn(this.client, opened, done)
        else this.client.sftp(done)
      })
    }
    return once().catch(() => {
      // Most likely MaxSessions: drop the spare channel and try once more.
      this.sparesEnabled = false
      const spare = this.spare
      this.spare = undefined
      spare?.then(c => c.end()).catch(() => undefined)
      return new Promise(r => setTimeout(r, 50)).then(once)
    })
  }

  get connected(): boolean {
    return !this.closed
  }

  close(): void {
    this.spare?.then(c => c.end()).catch(() => undefined)
    this.spare = undefined
    this.sparesEnabled = false
    this.client.end()
    // DISCONNECT is written (the kernel still delivers it after the socket is closed); waiting
    // for the server's FIN would only keep the process alive one more round trip.
    const { socket } = this
    if (socket.writableLength === 0) socket.destroy()
    else socket.once('finish', () => socket.destroy())
  }
}

class SftpFiles implements RemoteFiles {
  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly label: string
  ) {}

  private call<T>(
    what: string,
    fn: (cb: (error: Error | null | undefined, value?: T) => void) => void
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      try {
        fn((error, value) => {
          if (!error) return resolve(value as T)
          // ssh2 gives SFTP status errors (the server's answer) a numeric code; a request that
          // never got an answer (lost connection) has none.
          const wrapped = new Error(`${what}: ${error.message}`) as Error & { code?: unknown }
          wrapped.code = (error as Error & { code?: unknown }).code
          reject(wrapped)
        })
      } catch (error) {
        reject(new Error(`${what}: ${messageOf(error)}`))
      }
    })
  }

  async swapSymlink(link: string, target: string, temporaryName: string): Promise<string> {
    const dir = link.slice(0, link.lastIndexOf('/'))
    const temporary = `${dir}/${temporaryName}`
    // Three requests sent back to back: one round trip. sftp-server handles them in order, so
    // if the symlink fails the rename fails too and `current` keeps its old target.
    // ssh2 swaps the SSH_FXP_SYMLINK arguments for OpenSSH servers, whose sftp-server takes
    // them in the reverse order of the draft (OpenSSH PROTOCOL, section 4.1).
    const made = this.call<void>(`create ${temporary}`, cb =>
      this.sftp.symlink(target, temporary, cb)
    )
    // posix-rename@openssh.com is rename(2): atomic, and it replaces `link`. Plain SFTP rename
    // never overwrites on OpenSSH (OpenSSH PROTOCOL, section 4.3).
    const renamed = this.call<void>(`rename ${temporary} over ${link}`, cb =>
      this.sftp.ext_openssh_rename(temporary, link, cb)
    )
    const readBack = this.call<string>(`read ${link}`, cb => this.sftp.readlink(link, cb))
    const results = await Promise.allSettled([made, renamed, readBack])
    for (const result of results.slice(0, 2)) {
      if (result.status === 'rejected') {
        const message = `${this.label}: switch failed: ${messageOf(result.reason)}`
        // An answer from the server means the rename did not happen. Without one (the
        // connection dropped), it may have: the caller must find out and put it back.
        const answered = typeof (result.reason as { code?: unknown }).code === 'number'
        throw answered ? new SwitchRefusedError(message) : new ConnectionError(message)
      }
    }
    if (results[2].status === 'rejected')
      throw new Error(`${this.label}: ${messageOf(results[2].reason)}`)
    return results[2].value
  }

  async mkdir(dir: string, mode: number): Promise<void> {
    await this.call<void>(`mkdir ${dir}`, cb => this.sftp.mkdir(dir, { mode }, cb))
  }

  async unlink(file: string): Promise<void> {
    await this.call<void>(`remove ${file}`, cb => this.sftp.unlink(file, cb))
  }

  async symlink(target: string, link: string): Promise<void> {
    await this.call<void>(`symlink ${link}`, cb => this.sftp.symlink(target, link, cb))
  }

  async writeFileAtomic(file: string, source: Readable, mode: number, size: number): Promise<void> {
    const dir = file.slice(0, file.lastIndexOf('/'))
    const temporary = `${dir}/.atomic-deploy-${randomBytes(6).toString('hex')}`
    // ssh2's put()/createWriteStream default to mode 0666; the file is created with our mode,
    // and fchmod'ed again because the server's umask applies at open time.
    const handle = await this.call<Buffer>(`create ${file}`, cb =>
      this.sftp.open(temporary, 'wx', { mode }, cb)
    )
    let written = 0
    const pending: Promise<void>[] = []
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        const offset = written
        written += chunk.length
        pending.push(
          this.call<void>(`write ${file}`, cb =>
            this.sftp.write(handle, chunk, 0, chunk.length, offset, err => cb(err))
          )
        )
        // Keep a bounded number of writes in flight: pipelined, but memory stays bounded.
        if (pending.length >= 16) await pending.shift()
      }
      await Promise.all(pending)
      if (written !== size)
        throw new Error(`${file} changed while it was being read (${size} bytes, then ${written})`)
      await this.call<void>(`chmod ${file}`, cb => this.sftp.fchmod(handle, mode, cb))
    } catch (error) {
      // The source failed or was aborted: let the writes in flight settle before closing.
      await Promise.allSettled(pending)
      throw error
    } finally {
      await this.call<void>(`close ${file}`, cb => this.sftp.close(handle, cb)).catch(
        () => undefined
      )
    }
    await this.call<void>(`rename ${file}`, cb => this.sftp.ext_openssh_rename(temporary, file, cb))
  }
}
