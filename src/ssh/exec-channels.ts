/**
 * The exec channels of one connection and the scripts run on them. Every channel runs the same
 * one-line BOOTSTRAP command and reads its script from stdin, so what crosses the command line is
 * the same for every script and every login shell.
 */
import type { Readable } from 'node:stream'
import type { ClientChannel } from 'ssh2'
import { ConnectionError, ExecRefusedError, ScriptUnreadError, ServerDataError } from '../errors.js'
import { BOOTSTRAP, UNREADABLE_SCRIPT } from './bootstrap.js'
import { isOpenRefused, type LiveConnection } from './live-connection.js'
import {
  SCRIPT_OUTPUT_LIMIT,
  STDERR_LINE_LIMIT,
  type RunOptions,
  type RunResult
} from './remote-host.js'
import { framed, type Script } from './script-frame.js'
import { closedChannels, exits, watchChannel } from './channel-exits.js'
import { ChannelNumberError, takenMeter, type SentAhead } from './ssh2-internals.js'
import { StreamAhead } from './stream-ahead.js'

const STDERR_TAIL = 8192

/**
 * Whether a channel's failure means the script it was to run never ran there: the server
 * refused the open or the exec request (or the channel was never open). Not a timeout, after
 * which a script sent behind the request may still run.
 */
function refusedUnrun(error: unknown): boolean {
  return (
    error instanceof ExecRefusedError ||
    isOpenRefused(error) ||
    (error instanceof Error &&
      (error.message === 'Unable to exec' || error.message === 'Channel is not open'))
  )
}

/**
 * Let go of a channel nothing reads: its streams are drained, or ssh2 never emits its 'close'
 * (a readable stream ends only once read), and the slot it held would never be counted free.
 */
function release(channel: ClientChannel, how: 'end' | 'close'): void {
  channel.resume()
  channel.stderr.resume()
  if (how === 'end') channel.end()
  else channel.close()
}

/**
 * A channel for a script, with the script already on it when `sent` says so, and its stdin
 * begun behind an exec request when `ahead` says so: this channel's when the script is on it,
 * else one the server refused, and this channel gets all of it.
 */
interface Taken {
  channel: ClientChannel
  sent: boolean
  ahead?: StreamAhead
}

/** Bytes that follow a script on its stdin once known (RunOptions.follow), and whether sent. */
interface Following {
  bytes: Promise<Buffer>
  sent: boolean
}

export class ExecChannels {
  /**
   * The spare: `answered` once the server answered its exec request; `requested` as soon as that
   * request went out on a channel opened during authentication (undefined otherwise), so that
   * a script can go right behind it without waiting for the answer.
   */
  private spare:
    { answered: Promise<ClientChannel>; requested: Promise<ClientChannel | undefined> } | undefined
  private sparesEnabled = true

  constructor(
    private readonly connection: LiveConnection,
    /** Close the idle SFTP session, to make room for an exec channel. */
    private readonly dropIdleSftp: () => void
  ) {}

  private get label(): string {
    return this.connection.label
  }

  /**
   * Run `commandLine` on a new exec channel (or on `opened`, a channel opened during
   * authentication). `payload` is written right behind the exec request, before its answer: the
   * server hands it to the command's stdin, and the script is under way one round trip sooner.
   * That needs the channel opened during authentication, so it is done only where the internals
   * switch is on; elsewhere the payload is written by the caller once the channel is ready.
   */
  private async openChannel(
    opened?: Promise<ClientChannel>,
    payload?: Buffer,
    follow?: Following,
    /** Called once the exec request went out on a channel opened during authentication. */
    onRequested?: (channel: ClientChannel) => void
  ): Promise<{ channel: ClientChannel; sent: boolean }> {
    const { connection } = this
    // ssh2 answers a request still pending when the connection ends as if the server had refused
    // it ('Unable to exec'). The script sent behind it may have run, and may have switched: that
    // is a lost connection (what session-prepare.ts checks the server for), not a refusal.
    const unanswered = (error: Error | undefined): Error | undefined =>
      error && connection.closed ? connection.lost() : error
    // The server confirms a channel opened during authentication right behind its success; one
    // that never comes (or a refusal) leaves it to a channel of its own.
    const early = opened
      ? await connection
          .bounded<ClientChannel>(
            'a channel open',
            done =>
              void opened.then(
                c => done(undefined, c),
                (e: Error) => done(e)
              ),
            c => release(c, 'close')
          )
          .catch(() => undefined)
      : undefined
    if (connection.closed) throw connection.lost()
    let sent = false
    const channel = await connection.bounded<ClientChannel>(
      early ? 'an exec request' : 'a channel open',
      done => {
        if (early) {
          connection.track(early)
          // The exit status can arrive in the same read as the exec reply (a short script), and
          // ssh2 emits it at once: listen now, not after the promise resolves, or it is lost.
          watchChannel(early)
          let answered = false
          sent = connection.internals.execOn(early, BOOTSTRAP, payload, error => {
            answered = true
            if (error) release(early, 'close')
            done(unanswered(error), early)
          })
          if (!answered) onRequested?.(early)
          // What follows the script goes behind it as soon as it is known, not a round trip
          // later when the server's answer (and the window it opens) comes back.
          if (sent && follow)
            follow.bytes.then(
              bytes => {
                if (!answered && !follow.sent && !connection.closed)
                  follow.sent = connection.internals.sendBehind(early, bytes)
              },
              () => undefined
            )
          return
        }
        connection.client.exec(BOOTSTRAP, (error, channel) => {
          if (channel) {
            connection.track(channel)
            watchChannel(channel)
          }
          // ssh2's words when the channel opened but the server refused its exec request: the
          // account may be SFTP-only.
          const why = unanswered(error)
          done(
            why?.message === 'Unable to exec'
              ? new ExecRefusedError(`${this.label}: the server refused to run a command`)
              : why,
            channel
          )
        })
      },
      channel => release(channel, 'close')
    )
    return { channel, sent }
  }

  /**
   * Start opening the exec channel the next script will need, so its round trip overlaps with
   * the work in progress. sshd's MaxSessions (10 by default, 2 or 1 on some hosts) bounds the
   * channels per connection; when a spare cannot be opened, spares are given up and channels
   * are opened on demand.
   */
  ensureSpare(): void {
    if (!this.sparesEnabled || this.spare || this.connection.closed) return
    let requested: (channel: ClientChannel | undefined) => void = () => undefined
    const early = new Promise<ClientChannel | undefined>(resolve => (requested = resolve))
    const answered = this.openChannel(
      this.connection.internals.takeEarly('spare'),
      undefined,
      undefined,
      requested
    ).then(opened => opened.channel)
    answered.then(
      () => requested(undefined),
      () => requested(undefined)
    )
    const spare = { answered, requested: early }
    answered.catch(() => {
      this.sparesEnabled = false
      if (this.spare === spare) this.spare = undefined
    })
    this.spare = spare
  }

  /**
   * The channel whose exec request and script went out right behind its open, during
   * authentication (ssh2-internals.ts, ConnectionInternals.execBehindOpen), once the server
   * answered the request; undefined when it refused the open or the exec, and nothing ran (the
   * script then goes on a channel of its own). `scriptBytes` is the first script as this
   * connection frames it: the one sent ahead must be it, byte for byte, or the run fails.
   */
  private async takeAhead(
    ahead: SentAhead,
    scriptBytes: Buffer
  ): Promise<ClientChannel | undefined> {
    const { connection } = this
    if (!ahead.payload.equals(scriptBytes)) {
      ahead.channel.then(c => release(c, 'close')).catch(() => undefined)
      throw new Error(
        `${this.label}: the script sent during authentication is not the first script run; the run stops (a fault of atomic-deploy)`
      )
    }
    let channel: ClientChannel
    try {
      channel = await connection.bounded<ClientChannel>(
        'a channel open',
        done =>
          void ahead.channel.then(
            c => done(undefined, c),
            (e: Error) => done(e)
          ),
        c => release(c, 'close')
      )
    } catch (error) {
      // The server numbered the channel otherwise than the request sent ahead assumed.
      if (error instanceof ChannelNumberError)
        throw new ConnectionError(`${this.label}: ${error.message}`)
      if (connection.closed) throw connection.lost()
      // A refused open ran nothing; after a timeout the script may still run there, so it is
      // not sent again elsewhere.
      if (!refusedUnrun(error)) throw error
      return undefined
    }
    if (!closedChannels.has(channel)) connection.track(channel)
    const refused = await connection.bounded<Error | false>(
      'an exec request',
      done => void ahead.answer.then(error => done(undefined, error ?? false)),
      () => release(channel, 'close')
    )
    if (refused) {
      release(channel, 'close')
      if (connection.closed) throw connection.lost()
      return undefined
    }
    return channel
  }

  /**
   * A channel running the bootstrap, with `payload` already sent on it when `sent` says so.
   * `last`: no script follows on success, so no spare is opened for one (RunOptions.last).
   */
  private async takeChannel(
    payload: Buffer,
    follow?: Following,
    last = false,
    stdin?: Readable
  ): Promise<Taken> {
    const next = (): void => {
      if (!last) this.ensureSpare()
    }
    // The first script of a connection: the channel opened during authentication carries its
    // exec request and the script right behind it, in one flight.
    const command = this.connection.internals.takeEarly('command')
    if (command) {
      try {
        const opened = await this.openChannel(command, payload, follow)
        next()
        return opened
      } catch (error) {
        // Refused: fall through to a spare or a channel of its own, which gets all of it. Not
        // after a timeout: the script may have gone and may still run there.
        if (this.connection.closed || !refusedUnrun(error)) throw error
        if (follow) follow.sent = false
      }
    }
    const spare = this.spare
    this.spare = undefined
    // The script's stdin begun behind the spare's exec request (see below), if it was.
    let ahead: StreamAhead | undefined
    if (spare) {
      // The script goes right behind the spare's exec request where that went out on a channel
      // opened during authentication, as on the first channel; then the answer is waited for.
      const requested = await spare.requested
      let usable = true
      const sent =
        requested !== undefined && this.connection.internals.sendBehind(requested, payload)
      if (sent && follow)
        follow.bytes.then(
          bytes => {
            if (usable && !follow.sent && !this.connection.closed)
              follow.sent = this.connection.internals.sendBehind(requested, bytes)
          },
          () => undefined
        )
      // So does the script's stdin, as far as it is ready and the room behind the request
      // goes; the rest once the answer came.
      const internals = this.connection.internals
      if (sent && stdin)
        ahead = new StreamAhead(stdin, {
          data: chunk => !this.connection.closed && internals.sendBehind(requested, chunk),
          end: () => !this.connection.closed && internals.eofBehind(requested)
        })
      const channel = await spare.answered
        .finally(() => ahead?.stop())
        .catch((error: unknown) => {
          // The script went behind the request: only a refusal means it never ran.
          if (sent && (this.connection.closed || !refusedUnrun(error))) throw error
          return undefined
        })
      if (channel) {
        next()
        return { channel, sent, ...(ahead ? { ahead } : {}) }
      }
      // Fall through to an on-demand channel, which gets all of it.
      usable = false
      if (follow) follow.sent = false
    }
    const opened = await this.withRoom(() => this.openChannel())
    next()
    return { ...opened, ...(ahead ? { ahead } : {}) }
  }

  /**
   * Open a channel; when the server refuses (sshd's MaxSessions: 10 by default, 2 or even 1 on
   * some hosts), give up spares, close the idle SFTP session, wait until one of our channels has
   * closed (the server frees its slot only once it has our close), and try again. The phases
   * never use SFTP and a script at the same time, so an idle session can always go. Bounded:
   * a few attempts, each wait at most the connection's timeout.
   */
  async withRoom<T>(open: () => Promise<T>): Promise<T> {
    let lastError: unknown
    for (let attempt = 0; attempt < 6; attempt++) {
      try {
        return await open()
      } catch (error) {
        lastError = error
        if (this.connection.closed || !isOpenRefused(error)) break
        const busy = this.connection.openChannels
        this.makeRoom()
        // With channels of ours open, one of them closing frees a slot; with none, the refusal
        // is the server's own business, and a short pause is all a retry can hope for.
        if (busy > 0) await this.connection.waitForClose(this.connection.timeoutMs)
        await new Promise(r => setTimeout(r, 20 * (attempt + 1)))
      }
    }
    if (isOpenRefused(lastError))
      throw new ConnectionError(
        `${this.label}: the server refused to open a channel (${(lastError as Error).message}); sshd's MaxSessions may be too low for the channels in use (1 is enough when nothing else holds one).`
      )
    throw lastError
  }

  /** Give up spares and the channels opened during authentication, and close idle SFTP. */
  makeRoom(): void {
    this.sparesEnabled = false
    this.connection.internals.dropEarly()
    const spare = this.spare
    this.spare = undefined
    spare?.answered.then(c => release(c, 'end')).catch(() => undefined)
    this.dropIdleSftp()
  }

  /**
   * Scripts go gzipped (a third of their bytes) where the server has gzip: tried on the first
   * script, and known from its result on (see BOOTSTRAP).
   */
  private compress: boolean | undefined

  async run(script: Script, options: RunOptions = {}): Promise<RunResult> {
    const compress = this.compress !== false
    const result = await this.runOnce(script, options, compress)
    if (compress && this.compress === undefined) {
      if (result.code === UNREADABLE_SCRIPT && result.stdout.length === 0) {
        this.compress = false
        // Nothing of it ran: the script again, as it is.
        if (options.stdin)
          throw new ScriptUnreadError(
            `${this.label}: the server could not read a gzipped script (no gzip?)`
          )
        return this.runOnce(script, options, false)
      }
      this.compress = true
    }
    return result
  }

  private async runOnce(
    script: Script,
    options: RunOptions,
    compress: boolean
  ): Promise<RunResult> {
    const scriptBytes = framed(script, compress)
    let payload = scriptBytes
    // What follows the script: in the same flight when it is known already, else sent when it
    // is. Known already includes a promise derived from settled ones, which settles in the
    // microtasks that run before the next turn of the event loop (setImmediate).
    const known = options.follow
      ? await Promise.race([
          options.follow,
          new Promise<undefined>(resolve => setImmediate(resolve, undefined))
        ]).catch(() => undefined)
      : undefined
    let follow: Following | undefined
    let taken: Taken | undefined
    const first = this.connection.internals.takeAhead()
    if (first) {
      // A spare for the next script, if none was started yet (warmUp starts one).
      if (options.last !== true) this.ensureSpare()
      const channel = await this.takeAhead(first, scriptBytes)
      if (channel) {
        taken = { channel, sent: true }
        // What follows the script went behind it, or goes now, through ssh2's window.
        const bytes = known ? Promise.resolve(known) : options.follow
        if (bytes) follow = { bytes, sent: first.followSent() }
      }
    }
    if (!taken) {
      if (known) payload = Buffer.concat([payload, known])
      follow = options.follow && !known ? { bytes: options.follow, sent: false } : undefined
      taken = await this.takeChannel(payload, follow, options.last === true, options.stdin)
    }
    const { channel, sent, ahead } = taken
    return new Promise<RunResult>((resolve, reject) => {
      const stdout: Buffer[] = []
      let stdoutBytes = 0
      let stderrTail = ''
      let partial = ''
      let code: number | null = null
      let settled = false
      let failure: Error | undefined
      const stop = (): void => {
        try {
          channel.signal('TERM')
        } catch {
          /* older servers do not take signals; closing stdin is enough */
        }
        options.stdin?.unpipe(channel)
        channel.end()
        channel.close()
      }
      const onAbort = (): void => stop()
      // The server is untrusted: a script that stops answering (no byte either way for
      // command-timeout), or one that sends more than any script of ours prints, is stopped
      // rather than waited for or buffered.
      // Progress is a time stamp, checked when the timer fires: a timer reset on every chunk of
      // a long upload cost more CPU than anything else per chunk.
      let last = Date.now()
      let idle: NodeJS.Timeout | undefined
      const watch = (delay: number): void => {
        idle = setTimeout(() => {
          if (settled) return
          const quiet = Date.now() - last
          if (quiet < this.connection.idleMs) {
            watch(this.connection.idleMs - quiet)
            return
          }
          failure ??= this.connection.stalled('running a script')
          stop()
          // The channel's close may never come from a server that answers nothing.
          setTimeout(finish, 2000).unref()
        }, delay)
      }
      const progress = (): void => {
        last = Date.now()
      }
      watch(this.connection.idleMs)
      const finish = (): void => {
        if (settled) return
        settled = true
        clearTimeout(idle)
        const exit = exits.get(channel)
        code = exit?.code ?? null
        if (code === null && exit?.signal) stderrTail += `\n(killed by SIG${exit.signal})`
        options.signal?.removeEventListener('abort', onAbort)
        if (partial !== '') options.onStderrLine?.(partial)
        if (failure) {
          reject(failure)
          return
        }
        if (code === null && this.connection.closed) {
          reject(this.connection.lost())
          return
        }
        resolve({ code, stdout: Buffer.concat(stdout), stderrTail })
      }
      channel.on('data', (chunk: Buffer) => {
        progress()
        stdoutBytes += chunk.length
        if (stdoutBytes > SCRIPT_OUTPUT_LIMIT) {
          if (!failure) {
            failure = new ServerDataError(
              `${this.label}: the server sent more than ${SCRIPT_OUTPUT_LIMIT} bytes of results for one script; the script was stopped`
            )
            stop()
          }
          return
        }
        stdout.push(chunk)
      })
      channel.stderr.on('data', (chunk: Buffer) => {
        progress()
        const text = chunk.toString('utf8')
        stderrTail = (stderrTail + text).slice(-STDERR_TAIL)
        partial += text
        const lines = partial.split('\n')
        partial = lines.pop() ?? ''
        for (const line of lines) options.onStderrLine?.(line)
        // A line that never ends is shown in pieces, never held whole.
        while (partial.length > STDERR_LINE_LIMIT) {
          options.onStderrLine?.(partial.slice(0, STDERR_LINE_LIMIT))
          partial = partial.slice(STDERR_LINE_LIMIT)
        }
      })
      channel.on('close', finish)
      // Closed before this listener existed (a script with no output): finish once the buffered
      // stderr, if any, has been read.
      if (closedChannels.has(channel)) setImmediate(finish)
      if (options.signal) {
        if (options.signal.aborted) onAbort()
        else options.signal.addEventListener('abort', onAbort, { once: true })
      }
      if (options.onStdinMeter) {
        // Counted from the channel's first byte: the script, then stdin.
        const taken = takenMeter(channel)
        options.onStdinMeter(() => (taken ? Math.max(0, taken() - payload.length) : undefined))
      }
      if (!sent) channel.write(payload)
      if (options.stdin) {
        options.stdin.on('error', () => {
          // The script sees a truncated stream and fails; its own error is the one reported.
          channel.end()
        })
        // Bytes the server takes from us are progress too (a long upload, silent on its side).
        options.stdin.on('data', progress)
        // Nothing of it went on this channel when the script did not: all of it goes again.
        if (ahead) ahead.into(channel, !sent)
        else options.stdin.pipe(channel)
      } else if (follow) {
        const end = (bytes?: Buffer): void => {
          if (settled) return
          if (bytes && !follow.sent) channel.write(bytes)
          follow.sent = true
          channel.end()
        }
        follow.bytes.then(end, () => end())
      } else {
        channel.end()
      }
    })
  }

  close(): void {
    this.spare?.answered.then(c => release(c, 'end')).catch(() => undefined)
    this.spare = undefined
    this.sparesEnabled = false
  }
}
