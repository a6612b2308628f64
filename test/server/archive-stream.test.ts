/**
 * The archive's way out: one stream copied to several servers at the pace of the slowest, and a
 * gzip level that follows what the link takes. The level is checked on real gzip streams fed
 * with compressible text, against links simulated by how fast their bytes are taken.
 */
import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { execFileSync } from 'node:child_process'
import { createGunzip, gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import {
  adaptLevel,
  CHEAP_LEVEL,
  DENSE_LEVEL,
  Fanout,
  LevelGzip,
  type LinkStats
} from '../../src/server/archive-stream.ts'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** `count` chunks of `size` bytes, each different, produced as fast as they are read. */
function chunks(count: number, size: number): Readable {
  let i = 0
  return new Readable({
    read() {
      if (i === count) return void this.push(null)
      this.push(Buffer.alloc(size, i++ % 251))
    }
  })
}

/** A consumer that takes `bytesPerTick` every tick of `tickMs`, hashing what it got. */
function consumer(stream: Readable, bytesPerTick: number, tickMs = 5) {
  const hash = createHash('sha256')
  let received = 0
  const done = new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    stream.on('end', resolve)
  })
  stream.pause()
  const timer = setInterval(() => {
    let budget = bytesPerTick
    while (budget > 0) {
      const chunk = stream.read(Math.min(budget, stream.readableLength || budget)) as Buffer | null
      if (!chunk) break
      hash.update(chunk)
      received += chunk.length
      budget -= chunk.length
    }
  }, tickMs)
  stream.on('end', () => clearInterval(timer))
  stream.on('error', () => clearInterval(timer))
  return { done, received: () => received, digest: () => hash.digest('hex') }
}

describe('Fanout', () => {
  it('gives every output the same bytes, reading the source no faster than the slowest takes', async () => {
    // 4 MB through three outputs; one takes 64 KB every 5 ms, the others 1 MB.
    const source = chunks(64, 64 * 1024)
    const fanout = new Fanout(source, 3)
    const fast = [consumer(fanout.output(0), 1024 * 1024), consumer(fanout.output(2), 1024 * 1024)]
    const slow = consumer(fanout.output(1), 64 * 1024)
    let maxAhead = 0
    const watch = setInterval(() => {
      maxAhead = Math.max(maxAhead, fast[0]!.received() - slow.received())
    }, 2)
    await Promise.all([...fast.map(c => c.done), slow.done])
    clearInterval(watch)
    const hash = createHash('sha256')
    for (let i = 0; i < 64; i++) hash.update(Buffer.alloc(64 * 1024, i % 251))
    const expected = hash.digest('hex')
    for (const c of [...fast, slow]) expect(c.digest()).toBe(expected)
    expect(slow.received()).toBe(4 * 1024 * 1024)
    expect(fast[0]!.received()).toBe(4 * 1024 * 1024)
    // The fast ones were never more than the buffers (64 KB each, a chunk in hand) ahead.
    expect(maxAhead).toBeLessThan(512 * 1024)
    expect(fanout.stats().blockedMs).toBeGreaterThan(0)
  })

  it('stops waiting for an output that is dropped, and ends the others whole', async () => {
    const source = chunks(32, 64 * 1024)
    const fanout = new Fanout(source, 2)
    const kept = consumer(fanout.output(0), 1024 * 1024)
    // The second output's server fails at once and never reads.
    fanout.output(1).on('error', () => undefined)
    setTimeout(() => fanout.drop(1), 20)
    await kept.done
    expect(kept.received()).toBe(2 * 1024 * 1024)
  })

  it('destroys the source once every output is dropped', async () => {
    const source = chunks(1000, 64 * 1024)
    const fanout = new Fanout(source, 2)
    fanout.drop(0)
    fanout.drop(1)
    await sleep(10)
    expect(source.destroyed).toBe(true)
  })

  it('passes a source error to every output', async () => {
    const source = new Readable({ read() {} })
    const fanout = new Fanout(source, 2)
    const errors = [0, 1].map(
      i => new Promise<Error>(resolve => fanout.output(i).on('error', resolve))
    )
    source.destroy(new Error('disk read failed'))
    for (const error of await Promise.all(errors)) expect(error.message).toBe('disk read failed')
  })

  it('reports what the slowest server took, once every output has a meter', () => {
    const fanout = new Fanout(new Readable({ read() {} }), 2)
    expect(fanout.stats().delivered).toBeUndefined()
    fanout.attach(0, () => 500)
    expect(fanout.stats().delivered).toBeUndefined()
    fanout.attach(1, () => 200)
    expect(fanout.stats().delivered).toBe(200)
    fanout.drop(1)
    expect(fanout.stats().delivered).toBe(500)
  })
})

/** Source-like text: compressible, but not trivially. */
function text(bytes: number): Buffer {
  const words = 'user order product cart invoice payment account session request response'.split(
    ' '
  )
  let seed = 7
  const parts: string[] = []
  let length = 0
  while (length < bytes) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    const line = `$${words[seed % words.length]} = $this->${words[(seed >> 8) % words.length]}(${seed % 997});\n`
    parts.push(line)
    length += line.length
  }
  return Buffer.from(parts.join('')).subarray(0, bytes)
}

/**
 * Gzip `input` through a simulated link that takes `rate` bytes per second of the compressed
 * stream (undefined: as fast as it comes), with adaptLevel watching. Returns the levels chosen
 * and the output, which must decompress to the input.
 */
async function through(input: Buffer, rate: number | undefined) {
  const gzip = new LevelGzip(DENSE_LEVEL)
  let produced = 0
  let delivered = 0
  const started = performance.now()
  const levels: number[] = []
  const stop = adaptLevel(
    gzip,
    (): LinkStats => {
      // A link of `rate` takes what was produced, no faster than its rate allows.
      const allowed = rate === undefined ? produced : ((performance.now() - started) / 1000) * rate
      delivered = Math.max(delivered, Math.min(produced, allowed))
      return { produced, delivered, blockedMs: 0 }
    },
    level => levels.push(level)
  )
  const out: Buffer[] = []
  gzip.on('data', (chunk: Buffer) => {
    produced += chunk.length
    out.push(chunk)
  })
  // Fed in 64 KB pieces, a little at a time, as the tar writer does.
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!gzip.write(chunk)) gzip.once('drain', callback)
      else setTimeout(callback, 1)
    },
    final(callback) {
      gzip.end()
      gzip.once('end', () => callback())
    }
  })
  await new Promise<void>((resolve, reject) => {
    Readable.from(
      Array.from({ length: Math.ceil(input.length / 65_536) }, (_, i) =>
        input.subarray(i * 65_536, (i + 1) * 65_536)
      )
    )
      .pipe(sink)
      .on('finish', resolve)
      .on('error', reject)
  })
  stop()
  return { levels, output: Buffer.concat(out) }
}

describe('LevelGzip', () => {
  /** `input` through a LevelGzip, its level set to `to` (if given) after the first 64 KB. */
  async function gzipOf(input: Buffer, to?: number): Promise<Buffer> {
    const gzip = new LevelGzip(DENSE_LEVEL)
    const out: Buffer[] = []
    gzip.on('data', (c: Buffer) => out.push(c))
    const ended = new Promise((resolve, reject) => gzip.on('end', resolve).on('error', reject))
    gzip.write(input.subarray(0, 65_536))
    if (to !== undefined) gzip.params(to)
    gzip.end(input.subarray(65_536))
    await ended
    return Buffer.concat(out)
  }

  it('is a gzip stream gunzip and gzip -t take, and a level change takes effect', async () => {
    const input = text(4 * 1024 * 1024)
    const dense = await gzipOf(input)
    const switched = await gzipOf(input, CHEAP_LEVEL)
    for (const output of [dense, switched]) {
      expect(gunzipSync(output).equals(input)).toBe(true)
      // The trailer's CRC-32 and length, as gzip itself checks them.
      execFileSync('gzip', ['-t'], { input: output })
    }
    // Node's own Gzip would ignore the change (see LevelGzip): here the rest is at level 1.
    expect(switched.length).toBeGreaterThan(dense.length * 1.05)
  })

  it('stays whole when its level changes while writes are under way', async () => {
    // Piped as the archive is, the level changed every millisecond: a change made while a
    // write was being compressed once gave "invalid block type" or "incorrect data check" on
    // decompression.
    const input = text(16 * 1024 * 1024)
    const gzip = new LevelGzip(DENSE_LEVEL)
    const out: Buffer[] = []
    gzip.on('data', (c: Buffer) => out.push(c))
    const ended = new Promise((resolve, reject) => gzip.on('end', resolve).on('error', reject))
    let n = 0
    const flip = setInterval(() => gzip.params(++n % 2 === 0 ? DENSE_LEVEL : CHEAP_LEVEL), 1)
    Readable.from(
      Array.from({ length: input.length / 65_536 }, (_, i) =>
        input.subarray(i * 65_536, (i + 1) * 65_536)
      )
    ).pipe(gzip)
    await ended.finally(() => clearInterval(flip))
    expect(n).toBeGreaterThan(10)
    const output = Buffer.concat(out)
    expect(gunzipSync(output).equals(input)).toBe(true)
    execFileSync('gzip', ['-t'], { input: output })
  })

  it('holds its output while its reader does not read (bounded memory)', async () => {
    const gzip = new LevelGzip(CHEAP_LEVEL)
    const input = Buffer.from(Array.from({ length: 8 * 1024 * 1024 }, (_, i) => (i * 7919) % 251))
    let writable = true
    for (let i = 0; i < input.length && writable; i += 65_536)
      writable = gzip.write(input.subarray(i, i + 65_536))
    await sleep(100)
    // Nothing read: the buffers fill, and writing says to wait.
    expect(writable).toBe(false)
    expect(gzip.readableLength).toBeLessThan(1024 * 1024)
    gzip.destroy()
  })
})

describe('adaptLevel', () => {
  it('stays dense on a slow link, and goes cheap on a fast one; both streams decompress whole', async () => {
    const input = text(12 * 1024 * 1024)
    // 100 KB/s: far slower than the compressor, however busy the machine running the test.
    const slow = await through(input, 100 * 1024)
    expect(slow.levels).toEqual([])
    expect(gunzipSync(slow.output).equals(input)).toBe(true)

    const fast = await through(input, undefined)
    expect(fast.levels[0]).toBe(CHEAP_LEVEL)
    expect(gunzipSync(fast.output).equals(input)).toBe(true)
    // The cheap level sends more bytes: the slow link got the denser stream.
    expect(fast.output.length).toBeGreaterThan(slow.output.length)
  })

  it('goes dense again when the link falls behind', async () => {
    const gzip = new LevelGzip(DENSE_LEVEL)
    gzip.resume()
    gzip.on('error', () => undefined)
    let produced = 0
    let delivered = 0
    let slowLink = false
    const levels: number[] = []
    const stop = adaptLevel(
      gzip,
      () => ({ produced, delivered, blockedMs: 0 }),
      level => levels.push(level)
    )
    // 1 MB every 20 ms produced; taken whole at first, then a tenth of it.
    const tick = setInterval(() => {
      produced += 1024 * 1024
      delivered += slowLink ? 100 * 1024 : 1024 * 1024
    }, 20)
    await sleep(450)
    slowLink = true
    await sleep(450)
    clearInterval(tick)
    stop()
    gzip.end()
    expect(levels).toEqual([CHEAP_LEVEL, DENSE_LEVEL])
  })

  it('keeps its level when the link cannot tell what it took', async () => {
    const gzip = new LevelGzip(DENSE_LEVEL)
    gzip.resume()
    const levels: number[] = []
    const stop = adaptLevel(
      gzip,
      () => ({ produced: 10 * 1024 * 1024, delivered: undefined, blockedMs: 0 }),
      level => levels.push(level)
    )
    await sleep(350)
    stop()
    gzip.end()
    expect(levels).toEqual([])
  })
})

// createGunzip is used by the stream check below, which decompresses a level-switching stream
// piecewise, as tar -xz does on the server.
describe('a gzip stream whose level changes midway', () => {
  it('decompresses to the input as a stream', async () => {
    const input = text(3 * 1024 * 1024)
    const { output } = await through(input, undefined)
    const gunzip = createGunzip()
    const parts: Buffer[] = []
    gunzip.on('data', (c: Buffer) => parts.push(c))
    const ended = new Promise(resolve => gunzip.on('end', resolve))
    for (let i = 0; i < output.length; i += 1000) gunzip.write(output.subarray(i, i + 1000))
    gunzip.end()
    await ended
    expect(Buffer.concat(parts).equals(input)).toBe(true)
  })
})
