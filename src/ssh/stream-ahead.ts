/**
 * A script's standard input (the release's tar stream), sent behind the script while the
 * server's answer to the exec request is still on its way, instead of a round trip later once
 * it has come: with a small archive (a deploy that changes little) the server has all of it,
 * and its end, when the script starts reading.
 */
import type { Readable, Writable } from 'node:stream'

export interface AheadSender {
  /** Send data behind the exec request; false when it cannot go (no room left, no pipelining). */
  data(chunk: Buffer): boolean
  /** Send the end of the data behind it; false when it cannot go. */
  end(): boolean
}

export class StreamAhead {
  /** Sent behind the request, kept for a channel of its own should the server refuse it. */
  private readonly sent: Buffer[] = []
  /** Read but not sent (there was no room), in order; they go once the channel is answered. */
  private readonly held: Buffer[] = []
  private ended = false
  private failed = false
  private stopped = false
  // Both run only until stop(), which removes them: the first chunk without room stops them.
  private readonly onData = (chunk: Buffer): void => {
    if (this.send.data(chunk)) {
      this.sent.push(chunk)
      return
    }
    this.held.push(chunk)
    this.stop()
  }
  private readonly onEnd = (): void => {
    this.ended = true
    this.send.end()
    this.stop()
  }
  private readonly onError = (): void => {
    this.failed = true
    this.stop()
  }

  constructor(
    private readonly stream: Readable,
    private readonly send: AheadSender
  ) {
    stream.on('data', this.onData)
    stream.once('end', this.onEnd)
    stream.once('error', this.onError)
  }

  /**
   * Send nothing more behind the request; the stream waits, paused, for `into` (a failure in
   * the meantime is still noted, so that `into` ends the channel).
   */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.stream.pause()
    this.stream.off('data', this.onData)
    this.stream.off('end', this.onEnd)
  }

  /**
   * The rest of the stream into the channel the server answered: what was held, then what is
   * still to come, then its end. `again`: the server refused the request the data went behind,
   * so nothing of it arrived, and this channel gets it all.
   */
  into(channel: Writable, again = false): void {
    this.stop()
    this.stream.off('error', this.onError)
    if (again) for (const chunk of this.sent) channel.write(chunk)
    for (const chunk of this.held) channel.write(chunk)
    // A stream that failed or ended is not piped: pipe() would never end the channel.
    // Ending it once its end went behind the request sends nothing more (ssh2 sends one EOF).
    if (this.failed || this.ended) {
      channel.end()
      return
    }
    this.stream.pipe(channel)
  }
}
