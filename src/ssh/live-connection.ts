/**
 * The state one SSH connection's channels share: whether it is still up, how many session
 * channels are open on it, and a bound on the time any channel open or start may take.
 */
import type { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import type Client from 'ssh2/lib/client.js'
import { CommandTimeoutError, ConnectionError } from '../errors.js'
import type { ConnectionInternals } from './ssh2-internals.js'

export class LiveConnection {
  closed = false
  lostReason: string | undefined
  /** Session channels (exec and SFTP) open on this connection. */
  private open = 0
  private closeWaiters: (() => void)[] = []

  constructor(
    readonly label: string,
    readonly client: InstanceType<typeof Client>,
    readonly socket: Duplex,
    readonly internals: ConnectionInternals,
    /** Bound on each channel open and each SFTP start. */
    readonly timeoutMs: number,
    /** command-timeout: how long a script or SFTP request may go without progress. */
    readonly idleMs: number = 600_000
  ) {
    client.on('error', error => {
      this.lostReason = error.message
    })
    client.on('close', () => {
      this.closed = true
      this.lostReason ??= 'connection closed'
      this.wake()
    })
  }

  get openChannels(): number {
    return this.open
  }

  /** What a script or SFTP request that made no progress for idleMs fails with. */
  stalled(what: string): CommandTimeoutError {
    return new CommandTimeoutError(
      `${this.label}: no answer from the server for ${Math.round(this.idleMs / 1000)}s while ${what} (command-timeout); it was stopped. If a hook runs longer than that without printing anything, raise command-timeout.`
    )
  }

  /** The error for anything attempted after the connection was lost. */
  lost(): ConnectionError {
    return new ConnectionError(`${this.label}: connection lost (${this.lostReason ?? 'closed'})`)
  }

  /** Count a session channel as open until it closes. */
  track(channel: EventEmitter): void {
    this.open++
    let counted = true
    channel.once('close', () => {
      if (!counted) return
      counted = false
      this.open--
      this.wake()
    })
  }

  private wake(): void {
    const waiters = this.closeWaiters
    this.closeWaiters = []
    for (const wake of waiters) wake()
  }

  /** Resolve when one of this connection's channels closes, or after `ms`. */
  waitForClose(ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.closeWaiters.push(done)
    })
  }

  /**
   * Start something that answers through a callback (a channel open, an exec request, an SFTP
   * start), bounded by the connection's timeout. ssh2 waits for the server's answer forever; a
   * server that never answers (a channel it dropped, a wedged sftp-server) would hold the deploy
   * until the job's own timeout. What arrives after the timeout is handed to `late` to close.
   */
  bounded<T>(
    what: string,
    start: (done: (error: Error | undefined, value?: T) => void) => void,
    late: (value: T) => void = () => undefined
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        reject(
          new ConnectionError(
            `${this.label}: no answer to ${what} within ${Math.round(this.timeoutMs / 1000)}s (connect-timeout).`
          )
        )
      }, this.timeoutMs)
      try {
        start((error, value) => {
          if (settled) {
            if (!error && value !== undefined) late(value)
            return
          }
          settled = true
          clearTimeout(timer)
          if (error || value === undefined) reject(error ?? new Error(`no answer to ${what}`))
          else resolve(value)
        })
      } catch (error) {
        settled = true
        clearTimeout(timer)
        reject(error)
      }
    })
  }
}

/** Whether an error is the server refusing a channel open (sshd's MaxSessions, for one). */
export function isOpenRefused(error: unknown): boolean {
  return error instanceof Error && /Channel open failure/i.test(error.message)
}
