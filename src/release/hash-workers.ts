/**
 * Hashing the source on worker threads, so a large tree's local work scales with the runner's
 * cores (GitHub's hosted runners have four) and the main thread stays free for the SSH
 * handshakes that run meanwhile.
 *
 * The walk itself stays on the main thread: it decides what is deployed (excludes), and its
 * system calls cost microseconds (3,500 files in about 20 ms here), while a directory handed to
 * another thread costs a message each way, and a tree has thousands of directories (measured:
 * walking the 50,000-file tree one directory per message took 0.8 s against 0.2 s in one
 * thread). The files it finds go to the workers in batches as it goes, so hashing overlaps the
 * walk.
 *
 * The workers' code is a self-contained string run with `eval`: it needs only Node's built-in
 * modules, so it runs the same from the bundle (dist/index.js) and from the sources under test.
 */
import { Worker } from 'node:worker_threads'
import type { ManifestEntry } from './manifest.js'

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const { createHash, hash } = require('node:crypto')
const buffer = Buffer.allocUnsafe(1024 * 1024)
parentPort.on('message', task => {
  const digests = Buffer.alloc(task.files.length * 32)
  const sizes = new Float64Array(task.files.length)
  try {
    for (let i = 0; i < task.files.length; i++) {
      const fd = fs.openSync(workerData.prefix + task.files[i], 'r')
      let size = 0
      try {
        // As hashFileSync in manifest.ts: a short first read of the size the walk saw is the end.
        const first = fs.readSync(fd, buffer, 0, buffer.length, 0)
        if (first < buffer.length && first === task.sizes[i]) {
          hash('sha256', buffer.subarray(0, first), 'buffer').copy(digests, i * 32)
          size = first
        } else {
          const h = createHash('sha256')
          for (let n = first; n > 0; n = fs.readSync(fd, buffer, 0, buffer.length, size)) {
            h.update(buffer.subarray(0, n))
            size += n
          }
          h.digest().copy(digests, i * 32)
        }
      } finally {
        fs.closeSync(fd)
      }
      sizes[i] = size
    }
    parentPort.postMessage({ id: task.id, digests, sizes }, [digests.buffer, sizes.buffer])
  } catch (error) {
    parentPort.postMessage({ id: task.id, error: { message: String((error && error.message) || error), code: error && error.code } })
  }
})
`

interface Reply {
  id: number
  digests?: Uint8Array
  sizes?: Float64Array
  error?: { message: string; code?: string }
}

/** A batch is handed out at this many files or bytes: small enough to spread a tree evenly. */
const BATCH_FILES = 128
const BATCH_BYTES = 4 * 1024 * 1024
/** Batches queued at each worker, so it never waits for the main thread between two. */
const IN_FLIGHT = 2

/**
 * Below this much (files or bytes) the tree is hashed on the main thread, once the walk ends:
 * starting a thread costs about 25 ms and a few MB, and 3,500 files (30 MB) hash in about 60 ms
 * on one core here.
 */
export const THREADS_FROM = { files: 16_000, bytes: 64 * 1024 * 1024 }

/**
 * Fills in the sha256 of file entries: `add` them as the walk finds them, then `done()`
 * resolves once every one is hashed, or rejects with the first error (the same messages as
 * hashing on the main thread). Worker threads start once the tree proves large enough to gain
 * from them; a small tree is hashed on the main thread.
 */
export class HashWorkers {
  private readonly workers: { worker: Worker; queued: number }[] = []
  private readonly waiting: ManifestEntry[][] = []
  private readonly pending = new Map<number, { entries: ManifestEntry[]; at: { queued: number } }>()
  private batch: ManifestEntry[] = []
  private batchBytes = 0
  private files = 0
  private bytes = 0
  private nextId = 0
  private ended = false
  private closed = false
  private failure: Error | undefined
  private settle: { resolve: () => void; reject: (error: Error) => void } | undefined

  /** `prefix`: the tree's root as manifest.ts's pathPrefix gives it, put before each path. */
  constructor(
    private readonly prefix: string,
    private readonly count: number,
    private readonly hashHere: (entries: ManifestEntry[]) => Promise<void>,
    private readonly from = THREADS_FROM
  ) {}

  /** Worker threads started: 0 when the tree was small enough to hash on the main thread. */
  get threads(): number {
    return this.workers.length
  }

  private start(): void {
    for (let i = 0; i < this.count; i++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { prefix: this.prefix },
        // A worker holds a batch's names and a 1 MB read buffer: a small heap is plenty.
        resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
        stdout: false,
        stderr: false
      })
      // Never what keeps the process alive: a deploy that fails elsewhere exits regardless.
      worker.unref()
      const slot = { worker, queued: 0 }
      this.workers.push(slot)
      worker.on('message', (reply: Reply) => this.onReply(slot, reply))
      worker.on('error', error => this.fail(error))
      worker.on('exit', code => {
        if (!this.closed) this.fail(new Error(`a hashing thread stopped (exit ${code})`))
      })
    }
  }

  /** Queue a file entry; its sha256 is set before done() resolves. */
  add(entry: ManifestEntry): void {
    this.batch.push(entry)
    this.batchBytes += entry.size
    this.files++
    this.bytes += entry.size
    if (this.batch.length >= BATCH_FILES || this.batchBytes >= BATCH_BYTES) this.flush()
    if (
      this.workers.length === 0 &&
      this.count > 0 &&
      (this.files >= this.from.files || this.bytes >= this.from.bytes)
    )
      this.start()
    this.dispatch()
  }

  /** Every entry has been added: resolves when all are hashed. Stops the workers either way. */
  async done(): Promise<void> {
    this.ended = true
    this.flush()
    if (this.workers.length === 0) {
      // A small tree: its batches are hashed here.
      const batches = this.waiting.splice(0)
      for (const batch of batches) await this.hashHere(batch)
      return
    }
    const promise = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject }
    })
    if (this.failure) this.settle?.reject(this.failure)
    else this.dispatch()
    return promise.finally(() => this.close())
  }

  /** Stop the workers (also when the walk failed and done() is never called). */
  close(): void {
    this.closed = true
    for (const { worker } of this.workers) void worker.terminate()
  }

  private flush(): void {
    if (this.batch.length === 0) return
    this.waiting.push(this.batch)
    this.batch = []
    this.batchBytes = 0
  }

  private dispatch(): void {
    if (this.failure || this.workers.length === 0) return
    while (this.waiting.length > 0) {
      let free: (typeof this.workers)[number] | undefined
      for (const w of this.workers)
        if (w.queued < IN_FLIGHT && (!free || w.queued < free.queued)) free = w
      if (!free) break
      const entries = this.waiting.shift() as ManifestEntry[]
      const id = this.nextId++
      free.queued++
      this.pending.set(id, { entries, at: free })
      // The sizes the walk saw, for the reads to know a file's end when they reach it.
      const sizes = Float64Array.from(entries, e => e.size)
      free.worker.postMessage({ id, files: entries.map(e => e.path), sizes }, [sizes.buffer])
    }
    if (this.ended && this.waiting.length === 0 && this.pending.size === 0) this.settle?.resolve()
  }
  private onReply(slot: { queued: number }, reply: Reply): void {
    const job = this.pending.get(reply.id)
    if (!job || this.failure) return
    this.pending.delete(reply.id)
    slot.queued--
    if (reply.error) {
      const error = new Error(reply.error.message) as Error & { code?: string }
      if (reply.error.code) error.code = reply.error.code
      this.fail(error)
      return
    }
    const digests = Buffer.from(
      (reply.digests as Uint8Array).buffer,
      (reply.digests as Uint8Array).byteOffset
    )
    const sizes = reply.sizes as Float64Array
    for (let i = 0; i < job.entries.length; i++) {
      const entry = job.entries[i] as ManifestEntry
      const size = sizes[i] as number
      if (size !== entry.size) {
        this.fail(
          new Error(
            `${entry.path} changed while it was being read (${entry.size} bytes, then ${size}); is a build still writing to the source?`
          )
        )
        return
      }
      entry.sha256 = digests.toString('hex', i * 32, i * 32 + 32)
    }
    this.dispatch()
  }

  private fail(error: Error): void {
    if (this.failure) return
    this.failure = error
    this.close()
    this.settle?.reject(error)
  }

  /** The first error, if any: the walk checks it to stop early. */
  get error(): Error | undefined {
    return this.failure
  }
}
