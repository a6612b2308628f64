/**
 * The release archive on its way out: produced and compressed once, copied to every server that
 * takes the same archive, at the pace of the slowest, and compressed at the level the link
 * calls for.
 */
import { Duplex, PassThrough, type Readable } from 'node:stream'
import { constants, crc32, createDeflateRaw, type DeflateRaw } from 'node:zlib'

/** How many bytes of a channel's input the server has taken, where that is known. */
export type DeliveryMeter = () => number | undefined

interface Output {
  stream: PassThrough
  meter?: DeliveryMeter
  /** Resolves a pending wait for 'drain' (also when the output is dropped). */
  wake?: () => void
  live: boolean
}

/** What the fan-out has seen so far, for the compression level. */
export interface LinkStats {
  /** Bytes handed to each output. */
  produced: number
  /** Bytes the slowest server has taken, or undefined while no output can tell. */
  delivered: number | undefined
  /** Milliseconds spent waiting for an output to take more. */
  blockedMs: number
}

/**
 * Copies one stream to `count` outputs. A chunk is read from the source only once every output
 * took the previous one, so memory holds a chunk and the outputs' buffers, never the archive.
 * An output whose server is done with it (finished, or failed) is dropped and no longer waited
 * for; when all are dropped, the source is destroyed. A source error destroys every output with
 * it.
 */
export class Fanout {
  private readonly outputs: Output[]
  private produced = 0
  private blockedMs = 0

  constructor(
    private readonly source: Readable,
    count: number
  ) {
    this.outputs = Array.from({ length: count }, () => ({
      stream: new PassThrough({ highWaterMark: 64 * 1024 }),
      live: true
    }))
    void this.pump()
  }

  /** The stream for the i-th server. */
  output(i: number): Readable {
    return (this.outputs[i] as Output).stream
  }

  /** How many bytes the i-th server has taken (see RunOptions.onStdinMeter). */
  attach(i: number, meter: DeliveryMeter): void {
    const output = this.outputs[i]
    if (output) output.meter = meter
  }

  /** The i-th server no longer reads: stop waiting for it. */
  drop(i: number): void {
    const output = this.outputs[i]
    if (!output || !output.live) return
    output.live = false
    output.wake?.()
    if (!output.stream.destroyed) output.stream.destroy()
    if (this.outputs.every(o => !o.live)) this.source.destroy()
  }

  stats(): LinkStats {
    let delivered: number | undefined
    for (const output of this.outputs) {
      if (!output.live) continue
      const taken = output.meter?.()
      if (taken === undefined)
        return { produced: this.produced, delivered: undefined, blockedMs: this.blockedMs }
      delivered = delivered === undefined ? taken : Math.min(delivered, taken)
    }
    return { produced: this.produced, delivered, blockedMs: this.blockedMs }
  }

  private async pump(): Promise<void> {
    try {
      for await (const chunk of this.source as AsyncIterable<Buffer>) {
        this.produced += chunk.length
        const waits: Promise<void>[] = []
        for (const output of this.outputs) {
          if (!output.live) continue
          if (!output.stream.write(chunk)) {
            waits.push(
              new Promise<void>(resolve => {
                const done = (): void => {
                  output.stream.off('drain', done)
                  output.wake = undefined
                  resolve()
                }
                output.wake = done
                output.stream.on('drain', done)
              })
            )
          }
        }
        if (waits.length > 0) {
          const started = performance.now()
          await Promise.all(waits)
          this.blockedMs += performance.now() - started
        }
        if (this.outputs.every(o => !o.live)) return
      }
      for (const output of this.outputs) if (output.live) output.stream.end()
    } catch (error) {
      for (const output of this.outputs) if (output.live) output.stream.destroy(error as Error)
    }
  }
}

/**
 * A gzip stream (RFC 1952) whose deflate level can change while it runs. Node's Gzip takes
 * params() but applies it only to deflate and raw deflate streams (in its zlib binding, a gzip
 * stream's level stays what it was made with: measured, a stream switched from 6 to 1 came out
 * byte for byte as level 6). So the deflate data comes from a raw deflate stream, and the gzip
 * header and trailer (CRC-32 and length of the input) are written here. Reading respects
 * backpressure: raw deflate output waits while this stream's reader does.
 */
export class LevelGzip extends Duplex {
  private readonly deflate: DeflateRaw
  private crc = 0
  private size = 0
  private nextLevel: number | undefined

  constructor(level: number) {
    super({ readableHighWaterMark: 64 * 1024 })
    this.deflate = createDeflateRaw({ level, chunkSize: 64 * 1024 })
    // ID1 ID2, CM deflate, no flags, no mtime, no extra flags, OS unknown.
    this.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]))
    this.deflate.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.deflate.pause()
    })
    this.deflate.on('end', () => {
      const trailer = Buffer.alloc(8)
      trailer.writeUInt32LE(this.crc >>> 0, 0)
      trailer.writeUInt32LE(this.size % 2 ** 32, 4)
      this.push(trailer)
      this.push(null)
    })
    this.deflate.on('error', error => this.destroy(error))
  }

  override _read(): void {
    this.deflate.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    const level = this.nextLevel
    if (level !== undefined) {
      // The raw deflate stream flushes, then sets the level in its callback; a write queued
      // behind the flush could be under way in the zlib thread by then, and the level change
      // would corrupt it (measured: "invalid block type" on decompression). So nothing is
      // written until the change is made.
      this.nextLevel = undefined
      this.deflate.params(level, constants.Z_DEFAULT_STRATEGY, () => {
        this._write(chunk, _encoding, done)
      })
      return
    }
    this.crc = crc32(chunk, this.crc)
    this.size += chunk.length
    if (this.deflate.write(chunk)) done()
    else this.deflate.once('drain', () => done())
  }

  override _final(done: (error?: Error) => void): void {
    this.deflate.end()
    done()
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.deflate.destroy()
    done(error)
  }

  /** Change the deflate level from the next write on; what was written before keeps the old one. */
  params(level: number): void {
    this.nextLevel = level
  }
}

/** Deflate levels the link chooses between: gzip's cheapest, and its default. */
export const CHEAP_LEVEL = 1
export const DENSE_LEVEL = 6

/** How often the level is reconsidered, ms; and the first time, how often the meter is read. */
const WINDOW_MS = 100
const FIRST_TICK_MS = 20
/**
 * The first bytes a server takes come in a burst (what sshd had buffered before the command read
 * its input): the rate is measured from this long after the first byte, for at least as long.
 */
const BURST_MS = 40
const MEASURE_MS = 100
/** Seconds of backlog (made, not yet taken) above which the link is what the stream waits on. */
const SLOW_BACKLOG_S = 0.3
/** Seconds of backlog below which the link keeps up with what is made. */
const FAST_BACKLOG_S = 0.1

/**
 * Adjust a gzip stream's level to the link, from what the servers take (SSH window adjustments)
 * against what was made: the backlog, in seconds of the rate they take it at.
 *
 * - It starts dense: on a slow link every byte counts from the first, and several megabytes fit
 *   in the buffers before any server says how fast it takes them.
 * - Once the servers take the stream, their rate is measured (past the first burst), and the
 *   backlog tells: one that would take more than 0.3 s to go means the link is what the
 *   transfer waits on, and the stream stays dense; a smaller one means the link keeps up with
 *   the compressor, and the stream goes cheap.
 * - Then, every window: a backlog that grew past 0.3 s makes it dense again, one under 0.1 s
 *   cheap. The window after a change is skipped, as the buffers settle.
 *
 * Measured on a 3,500-file tree (30 MB): level 1 sends 15.7 MB in about 0.7 s of CPU, level 6
 * 14.0 MB in about 1.7 s; through 1 MiB/s the 1.7 MB are 1.6 s, on a fast link the CPU is.
 * Returns a function that stops the adjustments.
 */
export function adaptLevel(
  gzip: LevelGzip,
  link: () => LinkStats,
  onChange?: (level: number, why: string) => void
): () => void {
  let level = DENSE_LEVEL
  let first: number | undefined
  let mark: { at: number; delivered: number } | undefined
  let rate = 0
  let skip = false
  let last = { at: 0, delivered: 0 }
  const set = (next: number, why: string): void => {
    if (next === level || gzip.destroyed || gzip.writableEnded) return
    level = next
    skip = true
    onChange?.(next, why)
    gzip.params(next)
  }
  const tick = (): void => {
    const now = link()
    if (now.delivered === undefined) return
    const at = performance.now()
    const backlog = now.produced - now.delivered
    if (rate === 0) {
      if (now.delivered === 0) return
      first ??= at
      if (!mark) {
        if (at - first >= BURST_MS) mark = { at, delivered: now.delivered }
        return
      }
      if (at - mark.at < MEASURE_MS) return
      rate = Math.max(1, (now.delivered - mark.delivered) / ((at - mark.at) / 1000))
      last = { at, delivered: now.delivered }
      if (backlog / rate < SLOW_BACKLOG_S) set(CHEAP_LEVEL, 'the link keeps up')
      return
    }
    if (at - last.at < WINDOW_MS) return
    const taken = now.delivered - last.delivered
    if (taken > 0) rate = taken / ((at - last.at) / 1000)
    last = { at, delivered: now.delivered }
    if (skip) {
      skip = false
      return
    }
    const seconds = backlog / rate
    if (seconds > SLOW_BACKLOG_S) set(DENSE_LEVEL, 'the link is slower')
    else if (seconds < FAST_BACKLOG_S) set(CHEAP_LEVEL, 'the link keeps up')
  }
  const timer = setInterval(tick, FIRST_TICK_MS)
  timer.unref()
  const stop = (): void => clearInterval(timer)
  gzip.once('end', stop).once('close', stop).once('error', stop)
  return stop
}
