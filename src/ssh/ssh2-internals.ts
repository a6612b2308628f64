/**
 * Every use of ssh2's private fields, in one place, behind one switch.
 *
 * ssh2's public API waits for the server's answer at each step of a connection: the auth service,
 * a "would you accept this key?" query, then each channel open and each channel request. The
 * savings here send the next step right behind the previous one, which saves three round trips
 * on every deploy, but they reach into ssh2's internals (its protocol object, channel manager,
 * SFTP start) and they rely on how a server orders its answers. So:
 *
 * - the switch (`pipelined`) turns on only for servers whose identification string is one these
 *   savings were tested against (PIPELINED_SOFTWARE); every other server gets ssh2's public
 *   behaviour, one step after another;
 * - the switch stays off when the installed ssh2 lacks any field used here (shapeProblems), and
 *   a test fails loudly when that happens.
 *
 * Reading the SFTP extensions the server announced changes nothing on the wire, so it needs only
 * ssh2's shape, not the switch; nor does gathering SFTP requests into fewer SSH packets, which
 * changes only where packets begin and end in a channel's byte stream (RFC 4254, section 5.2),
 * which no server can tell.
 */
import { KeyObject, createSecretKey } from 'node:crypto'
import type { ClientChannel, SFTPWrapper } from 'ssh2'
import type Client from 'ssh2/lib/client.js'
import { MAX_WINDOW, PACKET_SIZE } from 'ssh2/lib/Channel.js'
import Protocol from 'ssh2/lib/protocol/Protocol.js'
import { SFTP } from 'ssh2/lib/protocol/SFTP.js'
import { ConnectionError } from '../errors.js'
import type { SftpFacts as EngineSftpFacts } from '../sftp/sftp-engine.js'
import { BOOTSTRAP } from './bootstrap.js'
import type { FirstScript } from './script-frame.js'
import { watchChannel } from './channel-exits.js'

/**
 * The server software (the version field of its identification string, e.g. `OpenSSH_9.2p1`)
 * the savings were tested with: OpenSSH 9.2 as Debian 12 ships it, against which the test suite
 * runs. Dropbear is left out on purpose: it closes the connection when channel opens arrive
 * behind a refused key ("Received message 90 before userauth"), and closes opened but unused
 * session channels when any command of the connection exits.
 */
export const PIPELINED_SOFTWARE: readonly RegExp[] = [/^OpenSSH_9\.2p1$/]

type SshClient = InstanceType<typeof Client>
type Handler = (proto: unknown, ...args: unknown[]) => void

interface ProtocolShape {
  authPK: (username: string, key: unknown, keyAlgo?: unknown, cbSign?: unknown) => void
  service: (name: string) => void
  session: (local: number, window: number, packetSize: number) => void
  exec: (remote: number, command: string, wantReply: boolean) => void
  subsystem: (remote: number, name: string, wantReply: boolean) => void
  channelData: (remote: number, data: Buffer) => void
  _handlers: Record<string, Handler | undefined>
}
interface ChannelManagerShape {
  add(opener: unknown): number
  remove(id: number): void
}
interface ClientShape {
  _protocol?: ProtocolShape
  _chanMgr?: ChannelManagerShape
  _remoteVer?: string
}
interface RawChannel {
  outgoing?: { id: number; state: string; window: number; packetSize: number }
  _callbacks?: ((hadError: unknown) => void)[]
  subtype?: string
  allowHalfOpen?: boolean
}
interface ParsedPrivateKey {
  type?: string
  isPrivateKey(): boolean
  sign(data: Buffer, hash?: string): Buffer | Error
}

const PROTOCOL_METHODS = [
  'authPK',
  'service',
  'session',
  'exec',
  'subsystem',
  'channelData'
] as const
const HANDLERS = ['SERVICE_ACCEPT', 'EXT_INFO', 'USERAUTH_FAILURE'] as const

/**
 * What the installed ssh2 lacks of the shape the savings rely on, before any connection: the
 * protocol's methods, SFTP's start, the channel constants. Empty when all is there.
 */
export function shapeProblems(): string[] {
  const problems: string[] = []
  const proto = (Protocol as unknown as { prototype?: Record<string, unknown> }).prototype
  for (const name of PROTOCOL_METHODS)
    if (typeof proto?.[name] !== 'function') problems.push(`Protocol.prototype.${name}`)
  const sftp = (SFTP as unknown as { prototype?: Record<string, unknown> } | undefined)?.prototype
  if (typeof sftp?.['_init'] !== 'function') problems.push('SFTP.prototype._init')
  if (typeof MAX_WINDOW !== 'number' || typeof PACKET_SIZE !== 'number')
    problems.push('Channel MAX_WINDOW / PACKET_SIZE')
  return problems
}

/** The same, for one connected client: its protocol object, handlers and channel manager. */
export function clientShapeProblems(client: SshClient): string[] {
  const raw = client as unknown as ClientShape
  const problems = shapeProblems()
  const proto = raw._protocol
  if (!proto) return [...problems, 'client._protocol']
  for (const name of PROTOCOL_METHODS)
    if (typeof proto[name] !== 'function') problems.push(`client._protocol.${name}`)
  for (const name of HANDLERS)
    if (typeof proto._handlers?.[name] !== 'function') problems.push(`handler ${name}`)
  if (typeof raw._chanMgr?.add !== 'function' || typeof raw._chanMgr.remove !== 'function')
    problems.push('client._chanMgr')
  return problems
}

/**
 * How many bytes of a channel's data the server has taken: the sum of its window adjustments
 * (RFC 4254, section 5.2), which OpenSSH and Dropbear send as the command reads what arrived.
 * ssh2 keeps the send window in `channel.outgoing.window`, lowers it as it sends and raises it
 * only on an adjustment; the property is replaced by one that counts the raises. It changes
 * nothing on the wire, so it needs ssh2's shape only, not the switch. Undefined when the channel
 * has no such field (test/ssh/stdin-meter.test.ts fails then).
 */
export function takenMeter(channel: ClientChannel): (() => number) | undefined {
  const outgoing = (channel as unknown as RawChannel).outgoing
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

/** The channels a connection starts with, each opened behind the authentication request. */
export interface EarlyChannels {
  /** For the first script, whose exec request goes out once it is confirmed. */
  command: Promise<ClientChannel>
  /** The spare exec channel, for the next script. */
  spare: Promise<ClientChannel>
  /** The SFTP session's channel. */
  sftp: Promise<SFTPWrapper>
}

export interface InternalsOptions {
  /**
   * Open the first channels right behind each signed authentication request. Only where a
   * refused key ends the connection anyway (no password to fall back on): see openBehindAuth.
   */
  openEarly: boolean
  /**
   * False: no exec channel is opened ahead of need (shell: none, where no command ever runs);
   * the SFTP session's channel alone is opened behind authentication.
   */
  execChannels?: boolean
  /** False turns the savings off whatever the server (a test of the public behaviour). */
  allowed?: boolean
  /**
   * The connection's first script, framed as the exec channels send it (the bootstrap's stdin):
   * when it is ready before the server confirms the first channel opened behind authentication,
   * it goes out with its exec request then (see execBehindOpen). Undefined: none.
   */
  firstScript?: Promise<FirstScript | undefined>
  /**
   * The server's number for the first channel, which the first script goes to before the
   * confirmation (default FIRST_SERVER_CHANNEL). Only tests set it, to see a wrong guess caught.
   */
  firstServerChannel?: number
}

/**
 * The first script, sent with its exec request right behind its channel's open: the channel,
 * once the server confirms it, and the server's answer to the exec request (an error when it
 * refused it: then nothing ran).
 */
export interface SentAhead {
  payload: Buffer
  channel: Promise<ClientChannel>
  answer: Promise<Error | undefined>
  /**
   * Whether what follows the script went behind it, before the server answered the exec
   * request. Read once the answer came: from then on nothing more goes from here.
   */
  followSent: () => boolean
}

/** The savings for one connection, and what they learn on the way. */
export class ConnectionInternals {
  /** What the installed ssh2 lacks; the savings are off when this is not empty. */
  readonly problems: string[]
  /** server-sig-algs from the server's EXT_INFO (RFC 8308), once it came. */
  serverSigAlgs: string[] | undefined
  private early: Partial<EarlyChannels> | undefined
  /** The first script, sent behind its channel's open and not taken yet. */
  private ahead: SentAhead | undefined
  /** Whether the first script went (behind the request that succeeded), taken or not. */
  private aheadSent = false
  /** Set once the caller asked (firstScriptSent) and it had not gone: it never goes then. */
  private aheadClosed = false
  /** The opens sent behind the request in flight, given up if the server refuses it. */
  private pendingEarly: { ids: number[]; reject: (error: Error) => void } | undefined
  /** RSA signature algorithms tried so far, and worth trying, with the key. */
  private rsaTried = 0
  private rsaCount = 0

  constructor(
    private readonly client: SshClient,
    private readonly options: InternalsOptions
  ) {
    this.problems = clientShapeProblems(client)
    if (this.problems.length > 0) return
    this.authWithoutWaiting()
    this.signFirst()
    this.dropEarlyOnFailure()
  }

  /** The server's software version from its identification string, once it came. */
  get software(): string | undefined {
    const version = (this.client as unknown as ClientShape)._remoteVer
    return typeof version === 'string' ? version : undefined
  }

  /**
   * The switch: true when ssh2 has the shape the savings rely on and the server is one they
   * were tested with. Read at each step, so nothing changes before the server identified itself.
   */
  get pipelined(): boolean {
    const software = this.software
    return (
      this.options.allowed !== false &&
      this.problems.length === 0 &&
      software !== undefined &&
      PIPELINED_SOFTWARE.some(re => re.test(software))
    )
  }

  private get proto(): ProtocolShape {
    return (this.client as unknown as Required<ClientShape>)._protocol
  }

  /**
   * Whether to make another publickey request with the same key after a refusal: yes while an
   * RSA signature algorithm worth trying is left (rsa-sha2-512, then rsa-sha2-256, as OpenSSH's
   * client orders them, of those the server's server-sig-algs lists). Without the switch, ssh2
   * picks the algorithm itself (rsa-sha2-256 first) and makes one request.
   */
  retryPublicKey(): boolean {
    return this.pipelined && this.rsaTried < this.rsaCount
  }

  private rsaAlgorithms(key: unknown): string[] {
    if ((key as ParsedPrivateKey | undefined)?.type !== 'ssh-rsa') return []
    const offered = this.serverSigAlgs
    if (!offered) return []
    return ['rsa-sha2-512', 'rsa-sha2-256'].filter(algo => offered.includes(algo))
  }

  /**
   * Send the first authentication request right behind the request for the auth service,
   * instead of a round trip later when the server accepts it. The server handles messages in
   * order: it accepts the service, then reads the request (OpenSSH installs its userauth handler
   * while accepting). ssh2 starts authenticating on SERVICE_ACCEPT; here it starts once the
   * service was requested and the server's EXT_INFO has arrived (it comes with the server's
   * NEWKEYS, before the accept, and says which RSA signatures the server takes), and the accept
   * itself is then ignored. A server that sends no EXT_INFO is waited for, as before.
   */
  private authWithoutWaiting(): void {
    const proto = this.proto
    const handlers = proto._handlers
    const service = proto.service
    const accept = handlers.SERVICE_ACCEPT as Handler
    const extInfo = handlers.EXT_INFO as Handler
    let requested = false
    let informed = false
    let started = false
    const start = (): void => {
      if (started || !requested || !informed || !this.pipelined) return
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
      const exts = args[0] as { name: string; algs?: string[] }[] | undefined
      const sigAlgs = exts?.find(e => e.name === 'server-sig-algs')?.algs
      if (Array.isArray(sigAlgs)) this.serverSigAlgs ??= sigAlgs
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

  /**
   * Send the publickey request signed at once. ssh2 (like OpenSSH) first asks whether the server
   * would accept the key and signs only after it says yes: a round trip on every deploy, to save
   * a signature the client can make in microseconds. RFC 4252 lets a client send the signed
   * request directly; a server that refuses the key answers it with the same failure, and ssh2
   * then goes on exactly as after a refused query. Only ssh2's own private key objects are
   * signed with; anything else keeps the query. The RSA algorithm is chosen here too, before the
   * server's answer: the first of rsa-sha2-512 and rsa-sha2-256 its server-sig-algs lists, and
   * the other on the next attempt (ssh2 alone tries rsa-sha2-256 only, which a server restricted
   * to rsa-sha2-512 refuses).
   */
  private signFirst(): void {
    const proto = this.proto
    const authPK = proto.authPK
    proto.authPK = (username, key, keyAlgo, cbSign) => {
      const own = key as Partial<ParsedPrivateKey> | undefined
      if (
        !this.pipelined ||
        cbSign !== undefined ||
        typeof keyAlgo === 'function' ||
        typeof own?.sign !== 'function' ||
        typeof own.isPrivateKey !== 'function' ||
        !own.isPrivateKey()
      ) {
        authPK.call(proto, username, key, keyAlgo, cbSign)
        return
      }
      const rsa = this.rsaAlgorithms(key)
      this.rsaCount = rsa.length
      const algo = rsa.length > 0 ? rsa[Math.min(this.rsaTried++, rsa.length - 1)] : keyAlgo
      let signed = false
      authPK.call(proto, username, key, algo, (data: Buffer, done: (sig: Buffer) => void) => {
        const hash = typeof algo === 'string' ? SIGNATURE_HASH[algo] : undefined
        const signature = (own as ParsedPrivateKey).sign(data, hash)
        if (signature instanceof Error) return
        signed = true
        done(signature)
      })
      // A key that cannot sign here: ask first, as ssh2 does, and let it report the problem.
      if (!signed) authPK.call(proto, username, key, algo)
      else if (this.options.openEarly) this.openBehindAuth()
    }
  }

  /**
   * Open the connection's first channels right behind the (signed) authentication request,
   * instead of a round trip after the server accepts it. RFC 4252 (section 5): messages the
   * client sends after the request that succeeds go to the service that authentication started;
   * OpenSSH keeps them, in order, across its privilege separation. The server confirms the
   * channels right behind USERAUTH_SUCCESS. When it refuses the request instead, it got the
   * opens before authentication and answers them with UNIMPLEMENTED (OpenSSH); they are given
   * up and their ids freed (dropEarlyOnFailure), and the next signed request carries new ones.
   */
  private openBehindAuth(): void {
    const channels = (this.client as unknown as Required<ClientShape>)._chanMgr
    const proto = this.proto
    const ids: number[] = []
    const rejects: ((error: Error) => void)[] = []
    const open = <T>(
      type: 'session' | 'sftp',
      // Runs on the server's confirmation, before ssh2 parses the next packet.
      confirmed?: (channel: T) => Error | undefined
    ): { promise: Promise<T>; local: number } => {
      let local = -1
      const promise = new Promise<T>((resolve, reject) => {
        rejects.push(reject)
        // ssh2 calls this on the server's answer, or with an error when the connection closes;
        // it makes an SFTP object of a channel whose opener is of type 'sftp'.
        const opener = Object.assign(
          (error: Error | undefined, channel?: T) => {
            if (error || !channel) {
              reject(error ?? new Error('no channel'))
              return
            }
            const wrong = confirmed?.(channel)
            if (wrong) reject(wrong)
            else resolve(channel)
          },
          { type }
        )
        local = channels.add(opener)
        if (local === -1) reject(new Error('No free channels available'))
        else {
          ids.push(local)
          proto.session(local, MAX_WINDOW, PACKET_SIZE)
        }
      })
      // Never an unhandled rejection: the host falls back to opening channels itself.
      promise.catch(() => undefined)
      return { promise, local }
    }
    this.ahead = undefined
    if (this.options.execChannels === false) {
      this.early = { sftp: open<SFTPWrapper>('sftp').promise }
    } else {
      const first = this.options.firstScript
      const command = first
        ? this.execBehindOpen(first, confirmed => open<ClientChannel>('session', confirmed))
        : open<ClientChannel>('session').promise
      this.early = {
        command,
        spare: open<ClientChannel>('session').promise,
        sftp: open<SFTPWrapper>('sftp').promise
      }
    }
    this.pendingEarly = { ids, reject: error => rejects.forEach(r => r(error)) }
  }

  /**
   * Send the first script's exec request and the script itself as soon as the script is ready,
   * if that is before the server confirms its channel (the first opened behind authentication):
   * then they go before the confirmation says which number the server gave the channel.
   * OpenSSH gives a channel the lowest free slot of its table (channels.c, channel_new), and a
   * session's table is empty until the client opens something: this open, the first after
   * authentication, is the server's channel FIRST_SERVER_CHANNEL. The server handles messages
   * in order: it opens the channel, starts the command (opening its window) and hands the
   * script to its stdin, a round trip sooner than an exec request sent on the confirmation.
   * Where the key is refused, the server got them before authentication and answers each with
   * UNIMPLEMENTED: nothing runs, and the next signed request sends them again. The confirmation
   * is checked: a channel numbered otherwise means the request went elsewhere, and the
   * connection is closed at once. A script not ready before the confirmation (or the channel
   * taken for another script first) leaves the channel to execOn, as without a first script.
   */
  private execBehindOpen(
    first: Promise<FirstScript | undefined>,
    open: (confirmed: (channel: ClientChannel) => Error | undefined) => {
      promise: Promise<ClientChannel>
      local: number
    }
  ): Promise<ClientChannel> {
    const expected = this.options.firstServerChannel ?? FIRST_SERVER_CHANNEL
    let answered: (error: Error | undefined) => void = () => undefined
    const answer = new Promise<Error | undefined>(resolve => (answered = resolve))
    let sent: Buffer | undefined
    let waiting = true
    let isAnswered = false
    let confirmed: ClientChannel | undefined
    /** Bytes sent on the channel before its confirmation: taken from the window it gives. */
    let before = 0
    let followSent = false
    const { promise, local } = open(channel => {
      waiting = false
      if (!sent) return undefined
      const raw = channel as unknown as RawChannel
      const problem = aheadMismatch(raw, expected)
      if (problem) {
        this.client.end()
        return new ChannelNumberError(problem)
      }
      // As requestOn and execOn would have set them, before the packets behind the
      // confirmation (the exec request's answer, the exit status) are parsed.
      watchChannel(channel)
      raw.allowHalfOpen = true
      ;(raw._callbacks as ((hadError: unknown) => void)[]).push(hadError => {
        isAnswered = true
        if (hadError) {
          answered(hadError instanceof Error ? hadError : new Error('Unable to exec'))
          return
        }
        raw.subtype = 'exec'
        answered(undefined)
      })
      ;(raw.outgoing as { window: number }).window -= before
      confirmed = channel
      return undefined
    })
    if (local === -1) return promise
    // Refused, or the connection ended: nothing goes ahead to a channel the server does not have.
    let gone = false
    promise.catch(() => {
      waiting = false
      gone = true
    })
    const proto = this.proto
    const sendRaw = (data: Buffer): void => {
      for (let p = 0; p < data.length; p += AHEAD_PACKET)
        proto.channelData(expected, data.subarray(p, p + AHEAD_PACKET))
      before += data.length
    }
    first
      .then(ready => {
        const payload = ready?.script
        if (
          !waiting ||
          !payload ||
          payload.length === 0 ||
          payload.length > MAX_PAYLOAD_BEHIND_EXEC ||
          // Taken for a script already (or given up): execOn sends that one.
          this.early?.command !== promise ||
          this.aheadClosed ||
          !this.pipelined
        )
          return
        waiting = false
        sent = payload
        proto.exec(expected, BOOTSTRAP, true)
        sendRaw(payload)
        // The channel now carries this script: it is no longer the early command channel.
        if (this.early) this.early.command = undefined
        this.ahead = { payload, channel: promise, answer, followSent: () => followSent }
        this.aheadSent = true
        // What follows the script goes behind it as soon as it is known, while the exec request
        // is unanswered: before the confirmation on the channel's expected number, after it as
        // sendBehind sends. Once answered, the exec channels write it (followSent says whether).
        ready?.follow
          ?.then(bytes => {
            if (isAnswered || followSent || gone || bytes.length === 0) return
            if (confirmed) followSent = this.sendBehind(confirmed, bytes)
            else {
              if (before + bytes.length > MAX_PAYLOAD_BEHIND_EXEC) return
              sendRaw(bytes)
              followSent = true
            }
          })
          .catch(() => undefined)
      })
      .catch(() => undefined)
    return promise
  }

  /** Whether the first script went behind the authentication request (nothing closes it). */
  get firstScriptWent(): boolean {
    return this.aheadSent
  }

  /**
   * Whether the first script went out during authentication (behind the request that
   * succeeded). When it has not, it never will from this call on: the caller may then act as
   * if nothing ran before its own first script.
   */
  firstScriptSent(): boolean {
    if (this.aheadSent) return true
    this.aheadClosed = true
    return false
  }

  /**
   * The first script, sent during authentication with its exec request (execBehindOpen), once:
   * the exec channels run it as their first script. Undefined when none went.
   */
  takeAhead(): SentAhead | undefined {
    const ahead = this.ahead
    this.ahead = undefined
    return ahead
  }

  private dropEarlyOnFailure(): void {
    const handlers = this.proto._handlers
    const channels = (this.client as unknown as Required<ClientShape>)._chanMgr
    const failure = handlers.USERAUTH_FAILURE as Handler
    const success = handlers.USERAUTH_SUCCESS
    handlers.USERAUTH_FAILURE = (p, ...args) => {
      const pending = this.pendingEarly
      this.pendingEarly = undefined
      if (pending) {
        this.early = undefined
        // Sent before a refusal, it never ran (UNIMPLEMENTED): the next request sends it again.
        this.ahead = undefined
        this.aheadSent = false
        for (const id of pending.ids) channels.remove(id)
        pending.reject(new Error('authentication request refused'))
      }
      failure(p, ...args)
    }
    if (typeof success === 'function') {
      handlers.USERAUTH_SUCCESS = (p, ...args) => {
        this.pendingEarly = undefined
        success(p, ...args)
      }
    }
  }

  /**
   * Take one of the channels opened during authentication (once), or undefined when there is
   * none left of that kind.
   */
  takeEarly<K extends keyof EarlyChannels>(kind: K): EarlyChannels[K] | undefined {
    const channel = this.early?.[kind]
    if (this.early) this.early[kind] = undefined
    return channel as EarlyChannels[K] | undefined
  }

  /** Close the channels opened during authentication that nothing took. */
  dropEarly(): void {
    const early = this.early
    this.early = undefined
    // Drained, so that ssh2 emits their 'close' (see release() in exec-channels.ts).
    const close = (c: ClientChannel): void => {
      c.resume()
      c.stderr.resume()
      c.close()
    }
    early?.command?.then(close).catch(() => undefined)
    early?.spare?.then(close).catch(() => undefined)
    this.takeAhead()
      ?.channel.then(close)
      .catch(() => undefined)
    early?.sftp?.then(c => c.end()).catch(() => undefined)
  }

  /**
   * A channel request as ssh2 sends it (reply wanted: `done` runs on the server's answer), on a
   * channel that is already open, which ssh2's public API cannot do.
   */
  private requestOn(
    channel: unknown,
    kind: 'exec' | 'subsystem',
    argument: string,
    done: (error: Error | undefined) => void
  ): void {
    const raw = channel as RawChannel
    const proto = this.proto
    if (
      !this.pipelined ||
      raw.outgoing?.state !== 'open' ||
      typeof raw.outgoing.id !== 'number' ||
      !Array.isArray(raw._callbacks)
    ) {
      done(new Error('Channel is not open'))
      return
    }
    raw._callbacks.push(hadError => {
      if (hadError) {
        const refused =
          kind === 'exec' ? 'Unable to exec' : `Unable to start subsystem: ${argument}`
        done(hadError instanceof Error ? hadError : new Error(refused))
        return
      }
      raw.subtype = kind
      done(undefined)
    })
    proto[kind].call(proto, raw.outgoing.id, argument, true)
  }

  /**
   * ssh2's exec(), on a session channel that is already open, with `payload` (what the command
   * reads from stdin) sent right behind the request, in the same flight. OpenSSH opens a session
   * channel with a window of 0 and opens it (2 MB) while it handles the exec request, as it
   * starts the command (session.c, session_set_fds -> channel_set_fds), before it reads the next
   * message; ssh2 would hold the data until that window adjust arrives, one round trip later.
   * The data is counted against the window ssh2 learns then, so its accounting stays exact.
   * `done` runs on the server's answer. Returns whether the payload was sent.
   */
  execOn(
    channel: ClientChannel,
    commandLine: string,
    payload: Buffer | undefined,
    done: (error: Error | undefined) => void
  ): boolean {
    const raw = channel as unknown as RawChannel
    raw.allowHalfOpen = true
    let answered = false
    this.requestOn(channel, 'exec', commandLine, error => {
      answered = true
      done(error)
    })
    if (answered || payload === undefined) return false
    return this.sendBehind(channel, payload)
  }

  /**
   * Data for a channel whose exec request (execOn) is not answered yet, sent at once rather than
   * when the window OpenSSH opens as it starts the command reaches us: the request went first on
   * the same connection, so the server has started the command (and opened its window) before
   * it reads this. Counted against ssh2's window like execOn's payload; at most
   * MAX_PAYLOAD_BEHIND_EXEC in all, or, once the answer opened the window, what it holds
   * (roomBehind). Returns whether it was sent.
   */
  sendBehind(channel: ClientChannel, data: Buffer): boolean {
    const outgoing = (channel as unknown as RawChannel).outgoing
    if (
      !this.pipelined ||
      !outgoing ||
      outgoing.state !== 'open' ||
      typeof outgoing.window !== 'number' ||
      typeof outgoing.packetSize !== 'number' ||
      outgoing.packetSize <= 0 ||
      data.length > roomBehind(outgoing.window)
    )
      return false
    const proto = this.proto
    for (let p = 0; p < data.length; p += outgoing.packetSize)
      proto.channelData(outgoing.id, data.subarray(p, p + outgoing.packetSize))
    outgoing.window -= data.length
    return true
  }

  /**
   * The end of a channel's data, sent behind data that went with sendBehind, before the exec
   * request's answer: the server reads it after them, once the command has started. Returns
   * whether it was sent (ssh2 then sends no second one when the channel is ended).
   */
  eofBehind(channel: ClientChannel): boolean {
    const outgoing = (channel as unknown as RawChannel).outgoing
    if (!this.pipelined || !outgoing || outgoing.state !== 'open') return false
    channel.eof()
    return true
  }

  /**
   * ssh2's sftp(), on a channel that is already open: the subsystem request, with SFTP's INIT
   * right behind it in the same flight (the window OpenSSH opens as it starts the subsystem, as
   * for execOn), instead of a round trip later.
   */
  startSftpOn(sftp: SFTPWrapper, done: (error: Error | undefined) => void): void {
    const raw = sftp as unknown as RawChannel & { _init?: () => void }
    if (typeof raw._init !== 'function') {
      done(new Error('Channel is not open'))
      return
    }
    let answered = false
    this.requestOn(sftp, 'subsystem', 'sftp', error => {
      answered = true
      if (error) {
        done(error)
        return
      }
      const settle = (failure?: Error): void => {
        sftp.removeListener('ready', onReady)
        sftp.removeListener('error', onError)
        sftp.removeListener('exit', onExit)
        sftp.removeListener('close', onExit)
        done(failure)
      }
      const onReady = (): void => settle()
      const onError = (failure: Error): void => settle(failure)
      const onExit = (): void => settle(new Error('SFTP session ended while starting'))
      sftp.on('ready', onReady).on('error', onError).on('exit', onExit).on('close', onExit)
      // Sends INIT, unless it went out behind the request already.
      raw._init?.call(sftp)
    })
    const outgoing = raw.outgoing
    if (answered || !outgoing || typeof outgoing.window !== 'number') return
    // SSH_FXP_INIT, version 3 (draft-ietf-secsh-filexfer-02, the version ssh2 speaks): what
    // ssh2's own start sends, which is then not sent again.
    this.proto.channelData(outgoing.id, SFTP_INIT)
    outgoing.window -= SFTP_INIT.length
    raw._init = () => undefined
    limitsBehindInit(sftp, this.proto, outgoing)
  }
}

/** The fields of ssh2's SFTP object that limitsBehindInit uses. */
interface RawSftp {
  _writeReqid?: unknown
  _requests?: unknown
}

type LimitsCallback = (error: Error | undefined, limits?: unknown) => void

/**
 * limits@openssh.com (OpenSSH PROTOCOL, section 4.8), asked right behind INIT rather than once
 * VERSION has come back: ssh2 asks for it only then, and emits 'ready' only on its answer, a
 * round trip more on every SFTP start. ssh2's own request still goes out when VERSION lists the
 * extension; the answer to this one, which sftp-server sends right behind VERSION, is handed to
 * it, so ssh2 applies the limits and emits 'ready' a round trip earlier. The answer to ssh2's
 * own request then finds no request of that id and is dropped (ssh2's EXTENDED_REPLY handler
 * ignores an unknown id). A server that does not list the extension answers this request with
 * an error that nothing waits for. Without the fields this relies on, nothing is sent and ssh2
 * asks as before.
 */
function limitsBehindInit(
  sftp: SFTPWrapper,
  proto: ProtocolShape,
  outgoing: NonNullable<RawChannel['outgoing']>
): void {
  const raw = sftp as unknown as RawSftp
  const requests = raw._requests
  if (typeof raw._writeReqid !== 'number' || typeof requests !== 'object' || requests === null)
    return
  const table = requests as Record<string, { extended?: string; cb?: LimitsCallback }>
  const id = (raw._writeReqid + 1) % 2 ** 32
  raw._writeReqid = id
  const name = 'limits@openssh.com'
  const packet = Buffer.alloc(4 + 1 + 4 + 4 + name.length)
  packet.writeUInt32BE(packet.length - 4, 0)
  packet[4] = 200 // SSH_FXP_EXTENDED
  packet.writeUInt32BE(id, 5)
  packet.writeUInt32BE(name.length, 9)
  packet.write(name, 13, 'latin1')
  let answer: [Error | undefined, unknown] | undefined
  let waiting: LimitsCallback | undefined
  const restore = (): void => {
    if (raw._requests !== table) raw._requests = table
  }
  table[String(id)] = {
    extended: name,
    cb: (error, limits) => {
      answer = [error, limits]
      const cb = waiting
      waiting = undefined
      cb?.(error, limits)
    }
  }
  // ssh2's own request for the limits, made on VERSION: its callback waits for this answer.
  raw._requests = new Proxy(table, {
    set(target, key, value: { extended?: string; cb?: LimitsCallback } | undefined) {
      if (value?.extended === name && key !== String(id) && typeof value.cb === 'function') {
        restore()
        const cb = value.cb
        if (answer) {
          const [error, limits] = answer
          queueMicrotask(() => cb(error, limits))
        } else waiting = cb
        return true
      }
      return Reflect.set(target, key, value)
    }
  })
  sftp.once('ready', restore)
  sftp.once('close', restore)
  proto.channelData(outgoing.id, packet)
  outgoing.window -= packet.length
}

/** What sftpFacts learns: the engine's facts, and whether they came from ssh2's internals. */
export interface SftpFacts extends EngineSftpFacts {
  /** Whether the private fields had the expected shape. */
  fromInternals: boolean
}

/**
 * The SFTP draft (version 3, section 3) only promises 32,768-byte data packets; ssh2 itself
 * never sends more than 34,000-byte packets to a server it does not know to be OpenSSH.
 */
const SAFE_DATA_LENGTH = 32 * 1024

interface Internals {
  _extensions?: unknown
  _maxWriteLen?: unknown
  _maxReadLen?: unknown
  maxOpenHandles?: unknown
  outgoing?: { window?: unknown }
}

const positive = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0

/**
 * What ssh2 learnt about this SFTP session and keeps in private fields: the extensions the
 * server announced in its VERSION packet (with their versions), the request sizes it accepts
 * (from limits@openssh.com, which ssh2 asks for itself), and the channel window the server
 * granted. The pipelined SFTP engine sizes its requests and its bytes in flight from these. Only
 * read: nothing changes on the wire, so it needs ssh2's shape, not the switch. When a field is
 * missing or of another shape, the facts fall back to what the public API and the SFTP draft
 * guarantee, and `fromInternals` says so.
 */
export function sftpFacts(sftp: SFTPWrapper): SftpFacts {
  staticProblems ??= shapeProblems()
  const internals = (staticProblems.length > 0 ? {} : sftp) as unknown as Internals
  const raw = internals._extensions
  let extensions: Map<string, string> | undefined
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const entries = Object.entries(raw as Record<string, unknown>)
    if (entries.every(([, v]) => typeof v === 'string'))
      extensions = new Map(entries as [string, string][])
  }
  const write = internals._maxWriteLen
  const read = internals._maxReadLen
  // maxOpenHandles is public: undefined before limits@openssh.com answered, Infinity when the
  // server set no limit.
  const handles = internals.maxOpenHandles
  const window = internals.outgoing?.window
  return {
    extensions,
    maxWriteLength: positive(write) ? write : SAFE_DATA_LENGTH,
    maxReadLength: positive(read) ? read : SAFE_DATA_LENGTH,
    maxOpenHandles: positive(handles) ? handles : undefined,
    windowBytes: positive(window) ? window : undefined,
    fromInternals: extensions !== undefined && positive(write) && positive(read)
  }
}

interface ProtocolInternals {
  channelData?: (channel: number, data: Buffer | string) => void
  channelEOF?: (channel: number) => void
  channelClose?: (channel: number) => void
}

interface Gathering {
  /** Data bytes one SSH packet may carry on this channel (the server's maximum packet). */
  max: number
  pending: Buffer[]
  size: number
}

const GATHERED = Symbol('atomic-deploy: SFTP requests gathered into packets')

/**
 * Gather the SFTP requests sent in one turn of the event loop into as few SSH packets as the
 * channel's maximum packet size allows. ssh2 sends every SFTP request as an SSH packet of its
 * own, and seals each one with a cipher object made for it (AES-GCM: a createCipheriv per
 * packet): at thousands of small requests (hard links, renames) that is most of the runner's CPU
 * time. SFTP is a byte stream inside the channel (draft-ietf-secsh-filexfer-02, section 3), so
 * where the packets begin and end does not matter to the server; the channel window is counted
 * by ssh2 before the bytes reach here, and the order of the bytes is kept. Returns false (and
 * changes nothing) when ssh2's protocol object does not have the expected shape.
 */
export function gatherSftpPackets(sftp: SFTPWrapper): boolean {
  staticProblems ??= shapeProblems()
  if (staticProblems.length > 0) return false
  const internals = sftp as unknown as {
    _protocol?: ProtocolInternals & { [GATHERED]?: Map<number, Gathering> }
    outgoing?: { id?: unknown; packetSize?: unknown }
  }
  const proto = internals._protocol
  const channel = internals.outgoing?.id
  const packetSize = internals.outgoing?.packetSize
  if (
    !proto ||
    typeof proto.channelData !== 'function' ||
    typeof proto.channelEOF !== 'function' ||
    typeof proto.channelClose !== 'function' ||
    typeof channel !== 'number' ||
    !positive(packetSize)
  )
    return false
  let channels = proto[GATHERED]
  if (!channels) {
    const gathered = new Map<number, Gathering>()
    channels = gathered
    proto[GATHERED] = gathered
    const send = proto.channelData.bind(proto)
    const eof = proto.channelEOF.bind(proto)
    const close = proto.channelClose.bind(proto)
    const flush = (id: number): void => {
      const g = gathered.get(id)
      if (!g || g.size === 0) return
      const data = g.pending.length === 1 ? (g.pending[0] as Buffer) : Buffer.concat(g.pending)
      g.pending = []
      g.size = 0
      send(id, data)
    }
    proto.channelData = (id, data) => {
      const g = gathered.get(id)
      if (!g || !Buffer.isBuffer(data)) {
        send(id, data)
        return
      }
      if (g.size + data.length > g.max) flush(id)
      if (data.length >= g.max) {
        send(id, data)
        return
      }
      if (g.size === 0) process.nextTick(flush, id)
      g.pending.push(data)
      g.size += data.length
    }
    proto.channelEOF = id => {
      flush(id)
      eof(id)
    }
    proto.channelClose = id => {
      flush(id)
      gathered.delete(id)
      close(id)
    }
  }
  // Packet headers (type, channel, length) take 9 bytes of the maximum packet.
  channels.set(channel, { max: Math.max(1024, packetSize - 9), pending: [], size: 0 })
  return true
}

/** The extensions (names) the SFTP server announced in its VERSION packet, if readable. */
export function sftpExtensions(sftp: SFTPWrapper): string[] | undefined {
  staticProblems ??= shapeProblems()
  if (staticProblems.length > 0) return undefined
  const extensions = (sftp as unknown as { _extensions?: Record<string, string> })._extensions
  return extensions && typeof extensions === 'object' ? Object.keys(extensions) : undefined
}

let staticProblems: string[] | undefined

const SFTP_INIT = Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3])

/** Far below the 2 MB window OpenSSH opens for a session (CHAN_SES_WINDOW_DEFAULT). */
const MAX_PAYLOAD_BEHIND_EXEC = 256 * 1024

/**
 * What may be sent on a channel with `window` left: before the exec request's answer the
 * window is 0 (OpenSSH) less what this class took from it, and what it opens on that answer is
 * CHANNEL_WINDOW_DEFAULT (2 MB), far above MAX_PAYLOAD_BEHIND_EXEC; once the answer came and
 * opened it, no more than it holds.
 */
function roomBehind(window: number): number {
  return window > 0 ? window : MAX_PAYLOAD_BEHIND_EXEC + window
}

/**
 * The number OpenSSH gives the first channel a client opens after authentication (see
 * execBehindOpen).
 */
export const FIRST_SERVER_CHANNEL = 0

/**
 * The most data in one CHANNEL_DATA sent before the server's confirmation says its packet limit:
 * OpenSSH's session channels take 32 kB (CHAN_SES_PACKET_DEFAULT); half of it leaves room.
 */
const AHEAD_PACKET = 16 * 1024

/** The server numbered a channel otherwise than a request sent ahead of its confirmation assumed. */
export class ChannelNumberError extends ConnectionError {}

/**
 * Why a channel confirmed by the server is not the one a request sent ahead of its confirmation
 * went to: the server numbered it otherwise than `expected`. Undefined when it is that one.
 */
export function aheadMismatch(
  raw: { outgoing?: { id?: unknown; window?: unknown }; _callbacks?: unknown },
  expected: number
): string | undefined {
  const id = raw.outgoing?.id
  if (id === expected && typeof raw.outgoing?.window === 'number' && Array.isArray(raw._callbacks))
    return undefined
  return `the server numbered the first channel ${String(id)}, not ${expected} as the exec request sent ahead of its confirmation assumed; the connection was closed before anything else was sent (a fault of atomic-deploy with this server: report it)`
}

/** The signature hash each public key algorithm takes (ssh2's own mapping, for RSA). */
const SIGNATURE_HASH: Record<string, string> = {
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
  'ssh-rsa': 'sha1'
}

const KEYED = Symbol('atomic-deploy: AES-GCM keys held as KeyObjects')

/** Where ssh2's AES-GCM cipher (outbound) and decipher (inbound) keep their key, and use it. */
const GCM_KEY_FIELDS: readonly { method: 'encrypt' | 'decrypt'; key: string }[] = [
  { method: 'encrypt', key: '_encKey' },
  { method: 'decrypt', key: '_decipherKey' }
]

/**
 * Let ssh2's AES-GCM seal and open packets with the key as a KeyObject. ssh2 (without its native
 * binding, which the bundle leaves out) makes a cipher object per packet with
 * createCipheriv(name, key, iv), and Node turns a key given as bytes into a key object on every
 * call: measured on Node 24 (ssh2's own classes, best of 30 rounds on a loaded 2-core machine),
 * a 100-byte packet sealed and opened again took 70-114 µs that way and 13-15 µs with a
 * KeyObject made once; a 32 kB one 142-169 µs and 55-66 µs. The key, the IV and every byte on
 * the wire stay the same. The class is changed once, on its prototype, so later connections and
 * rekeys get it too. Returns how many of the connection's two directions use it (0 with another
 * cipher, or when ssh2's objects have another shape).
 */
export function keyObjectsForGcm(client: SshClient): number {
  const proto = (client as unknown as { _protocol?: { _cipher?: object; _decipher?: object } })
    ._protocol
  let keyed = 0
  for (const [object, { method, key }] of [
    [proto?._cipher, GCM_KEY_FIELDS[0]],
    [proto?._decipher, GCM_KEY_FIELDS[1]]
  ] as const) {
    if (!object || !key || !method) continue
    const fields = object as Record<string, unknown>
    const cls = Object.getPrototypeOf(object) as Record<string | symbol, unknown> | null
    const original = cls?.[method]
    // Only AES-GCM objects keep a 16- or 32-byte key under this name.
    const held = fields[key]
    const gcm =
      (Buffer.isBuffer(held) && (held.length === 16 || held.length === 32)) ||
      held instanceof KeyObject
    if (!cls || typeof original !== 'function' || !gcm) continue
    if (!cls[KEYED]) {
      cls[KEYED] = true
      cls[method] = function (this: Record<string, unknown>, ...args: unknown[]): unknown {
        const bytes = this[key]
        if (Buffer.isBuffer(bytes)) this[key] = createSecretKey(bytes)
        return (original as (...a: unknown[]) => unknown).apply(this, args)
      }
    }
    keyed++
  }
  return keyed
}
