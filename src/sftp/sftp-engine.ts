/**
 * A pipelined SFTP client. Per-file SFTP is slow only when it is done one request at a time
 * (ssh2-sftp-client's uploadDir: 4 or more round trips a file, 248 s for 3,344 files at 40 ms):
 * SFTP lets a client keep many requests in flight on one channel, and then the round-trip time
 * stops mattering. Here every operation is a request queued in order; requests leave at once
 * while three bounds allow: requests in flight, bytes in flight (about the server's channel
 * window, so ssh2 never has to buffer much more), and open handles (below the server's
 * limits@openssh.com). Many files are open at once, each written with all its chunks in flight.
 *
 * Requests leave in the order they were made, and OpenSSH's sftp-server answers them in order
 * (one loop, one request at a time), which the switch relies on; everything else waits for the
 * answers it depends on.
 */
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import type { InputAttributes, SFTPWrapper, Stats } from 'ssh2'
import {
  AbortedError,
  CommandTimeoutError,
  ConnectionError,
  SwitchRefusedError,
  messageOf
} from '../errors.js'
import type {
  Appender,
  CopyAbilities,
  PendingFile,
  DirEntry,
  FileAttributes,
  LocalFile,
  RemoteFiles,
  WriteOptions
} from './remote-files.js'

/** The part of ssh2's SFTPWrapper the engine uses. */
export type SftpChannel = Pick<
  SFTPWrapper,
  | 'open'
  | 'close'
  | 'read'
  | 'write'
  | 'fstat'
  | 'fsetstat'
  | 'opendir'
  | 'readdir'
  | 'lstat'
  | 'mkdir'
  | 'rmdir'
  | 'unlink'
  | 'symlink'
  | 'readlink'
  | 'realpath'
  | 'ext_openssh_rename'
  | 'ext_openssh_hardlink'
  | 'ext_openssh_statvfs'
  | 'ext_copy_data'
  | 'setstat'
  | 'once'
  | 'end'
>

/** What the session knows about the server (see sftpFacts in src/ssh/ssh2-internals.ts). */
export interface SftpFacts {
  /**
   * Extensions the server announced, name -> version data, or undefined when unknown (then the
   * engine tries an extension and learns from ssh2's refusal to send it).
   */
  extensions: ReadonlyMap<string, string> | undefined
  /** Largest data length of one WRITE request the server takes. */
  maxWriteLength: number
  /** Largest data length of one READ request the server answers in full. */
  maxReadLength: number
  /** Handles the server lets one session hold open. */
  maxOpenHandles: number | undefined
  /** Bytes the server's channel window held when the session started. */
  windowBytes: number | undefined
}

export interface EngineLimits {
  /** Requests sent and not yet answered. */
  requests: number
  /** Bytes of requests sent and not yet answered. */
  bytes: number
  /** Handles open at once. */
  handles: number
  /** Data bytes in one WRITE. */
  writeChunk: number
  /** Data bytes in one READ. */
  readChunk: number
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02, section 7) the engine tells apart. */
export const SftpStatus = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  OP_UNSUPPORTED: 8
} as const

/**
 * A failed SFTP request. `code` is the server's status; undefined when no answer came (the
 * connection was lost), so whether the request took effect is unknown.
 */
export class SftpError extends Error {
  override name = 'SftpError'
  constructor(
    message: string,
    readonly code: number | undefined,
    readonly path: string
  ) {
    super(message)
  }
}

export function isMissing(error: unknown): boolean {
  return error instanceof SftpError && error.code === SftpStatus.NO_SUCH_FILE
}

/** A file read back that is larger than the caller accepts: it was not read past the limit. */
export class TooLargeError extends Error {
  override name = 'TooLargeError'
  constructor(
    readonly path: string,
    /** Bytes, as far as they are known (the file's size, or what was read when it grew). */
    readonly size: number,
    readonly limit: number
  ) {
    super(`${path} is ${size} bytes, over the limit of ${limit}`)
  }
}

/**
 * A file read back as a record that is not a regular file (a symlink, a FIFO, a directory):
 * never read through, as the shell scripts' `blob` never reads one.
 */
export class NotRegularFileError extends Error {
  override name = 'NotRegularFileError'
  constructor(
    readonly path: string,
    readonly type: FileAttributes['type']
  ) {
    super(`${path} is a ${type === 'other' ? 'special file' : type}, not a regular file`)
  }
}

/**
 * command-timeout for SFTP: how long requests may be outstanding with no answer to any of them
 * before the session is given up, and the error that says so (LiveConnection.stalled).
 */
export interface IdleBound {
  ms: number
  stalled: (what: string) => Error
}

/** Names in one directory listing, and entries in one walk, accepted from a server. */
export const LISTING_LIMIT = 1_000_000

/** Bounds from what the server said, never more than is useful or than memory should hold. */
/** Requests the engine lets be in flight at once on one session (EngineLimits.requests). */
export const MAX_REQUESTS = 8192

export function limitsFor(facts: SftpFacts): EngineLimits {
  // What the server allows, less a few (OpenSSH's sftp-server announces its descriptor limit
  // less the five it uses itself), and no more than a few thousand. A server-side copy holds
  // two handles for one round trip (its slots are given back once its closes are queued): on a
  // host with the usual limit of 1,024 descriptors, about 500 copies are under way at once.
  const handles =
    facts.maxOpenHandles === undefined
      ? 64
      : Math.max(4, Math.min(4096, Math.floor(facts.maxOpenHandles) - 16))
  return {
    requests: MAX_REQUESTS,
    // OpenSSH grants a session channel 2 MB; bytes beyond the window wait in ssh2's memory.
    bytes: Math.min(Math.max(facts.windowBytes ?? 2 * 1024 * 1024, 256 * 1024), 8 * 1024 * 1024),
    handles,
    writeChunk: Math.min(facts.maxWriteLength, 256 * 1024),
    readChunk: Math.min(facts.maxReadLength, 256 * 1024)
  }
}

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000

export function attributesOf(
  stats: Pick<Stats, 'mode' | 'size' | 'mtime'> & { uid?: number }
): FileAttributes {
  const format = stats.mode & S_IFMT
  return {
    type:
      format === S_IFREG
        ? 'file'
        : format === S_IFDIR
          ? 'dir'
          : format === S_IFLNK
            ? 'symlink'
            : 'other',
    mode: stats.mode & 0o7777,
    size: stats.size,
    mtime: stats.mtime,
    // sftp-server always sends the owner (SSH_FILEXFER_ATTR_UIDGID); a server that does not
    // leaves it unknown, and the layout check then refuses (see sftp-layout.ts).
    uid: typeof stats.uid === 'number' ? stats.uid : -1
  }
}

/**
 * A name from a directory listing is server data: it becomes part of paths the deploy removes,
 * so anything that is not one plain path segment is refused.
 */
export function checkEntryName(dir: string, name: unknown): string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\0')
  ) {
    throw new Error(`the server listed an invalid name in ${dir}: ${JSON.stringify(name)}`)
  }
  return name
}

interface HandleWaiter {
  count: number
  grant: () => void
  cancelled: boolean
}

interface Waiting {
  bytes: number
  start: () => void
  cancelled: boolean
}

type Callback<T> = (error: Error | null | undefined, value?: T) => void

/** One request for a file being written, sent in order with the others for that file. */
type FileStep = (what: string, bytes: number, send: (callback: Callback<void>) => void) => void

/** Data of one file to write: a buffer, or a local file read (and hashed) as it is sent. */
interface Source {
  size: number
  /** Copy `length` bytes at `offset` into `into`, at the moment the request leaves. */
  fill(into: Buffer, offset: number, length: number): void
  /** After the last chunk: the content matched what the manifest says. */
  finish(): void
  close(): void
}

function bufferSource(data: Buffer): Source {
  return {
    size: data.length,
    fill: (into, offset, length) => void data.copy(into, 0, offset, offset + length),
    finish: () => undefined,
    close: () => undefined
  }
}

function localSource(file: LocalFile): Source {
  const fd = openSync(file.local, 'r')
  const hash = file.sha256 ? createHash('sha256') : undefined
  let read = 0
  const changed = (): Error =>
    new Error(
      `${file.local} changed while it was being sent (the manifest says ${file.size} bytes${file.sha256 ? ` with sha256 ${file.sha256.slice(0, 12)}…` : ''}); is a build still writing to the source?`
    )
  return {
    size: file.size,
    fill: (into, offset, length) => {
      let got = 0
      while (got < length) {
        const n = readSync(fd, into, got, length - got, offset + got)
        if (n === 0) throw changed()
        got += n
      }
      hash?.update(into.subarray(0, length))
      read += length
    },
    finish: () => {
      // The file must end where the manifest says it does, with the content it hashed.
      const probe = Buffer.allocUnsafe(1)
      if (read !== file.size || readSync(fd, probe, 0, 1, file.size) !== 0) throw changed()
      if (hash && hash.digest('hex') !== file.sha256) throw changed()
    },
    close: () => closeSync(fd)
  }
}

const SCRATCH = { buffer: Buffer.alloc(0) }

/** One buffer that every WRITE is filled from: ssh2 copies the data into its packet at once. */
function scratch(size: number): Buffer {
  if (SCRATCH.buffer.length < size) SCRATCH.buffer = Buffer.allocUnsafe(size)
  return SCRATCH.buffer
}

export class SftpEngine implements RemoteFiles {
  readonly limits: EngineLimits
  readonly abilities: CopyAbilities
  private inFlight = 0
  private bytesInFlight = 0
  private queue: Waiting[] = []
  private head = 0
  private freeHandles: number
  private handleWaiters: HandleWaiter[] = []
  private lost: string | undefined
  /** What every request fails with once the session is given up (a lost channel, a stall). */
  private lostError: Error | undefined
  /** What waits on each abort signal (see onAbort). */
  private readonly watched = new WeakMap<AbortSignal, Set<() => void>>()
  /**
   * Requests in flight, oldest first, each with what it is: to fail when the channel closes
   * under them, and to name the oldest when the server stops answering.
   */
  private readonly pending = new Map<(error: Error) => void, string>()
  /** When the server last answered a request (or the first of a burst left, after a pause). */
  private lastProgress = 0
  private watchdog: NodeJS.Timeout | undefined

  constructor(
    private readonly sftp: SftpChannel,
    readonly label: string,
    facts: SftpFacts,
    limits: Partial<EngineLimits> = {},
    /**
     * Called before each request leaves: the connection gathers the requests that leave in one
     * turn of the event loop into one write (many small SSH packets, one system call).
     */
    private readonly beforeSend: () => void = () => undefined,
    /**
     * command-timeout: requests outstanding with no answer to any of them for this long end
     * the session with the error it makes, never a wait for ever.
     */
    private readonly idle?: IdleBound
  ) {
    this.limits = { ...limitsFor(facts), ...limits }
    this.freeHandles = this.limits.handles
    const has = (name: string, version: string): boolean =>
      // Unknown extensions: assume OpenSSH's; ssh2 refuses to send one the server did not list.
      facts.extensions === undefined || facts.extensions.get(name) === version
    this.abilities = {
      hardlink: has('hardlink@openssh.com', '1'),
      copyData: has('copy-data', '1'),
      posixRename: has('posix-rename@openssh.com', '1'),
      statvfs: has('statvfs@openssh.com', '2')
    }
    sftp.once('close', () => this.fail('the SFTP session closed'))
  }

  /** The channel closed: nothing more can be sent, and nothing in flight will be answered. */
  private fail(reason: string, cause?: Error): void {
    if (this.lost !== undefined) return
    this.lost = reason
    clearTimeout(this.watchdog)
    const error =
      cause ?? new SftpError(`${this.label}: connection lost (${reason})`, undefined, '')
    this.lostError = cause
    for (const reject of [...this.pending.keys()]) reject(error)
    const waiting = this.queue.slice(this.head)
    this.queue = []
    this.head = 0
    for (const w of waiting) if (!w.cancelled) w.start()
  }

  /**
   * The watchdog of command-timeout: one timer for the whole session, however many requests are
   * in flight. With thousands pipelined, a request may wait long behind the others while the
   * server answers steadily; what is bounded is a server that answers none of them. A stalled
   * session is given up: its requests fail, and the channel is closed (the session starts
   * again when it is next needed).
   */
  private watch(): void {
    const idle = this.idle
    if (!idle || this.watchdog !== undefined || this.lost !== undefined) return
    const check = (): void => {
      this.watchdog = undefined
      if (this.pending.size === 0 || this.lost !== undefined) return
      const quiet = Date.now() - this.lastProgress
      if (quiet < idle.ms) {
        this.watchdog = setTimeout(check, idle.ms - quiet)
        return
      }
      const [oldest = 'an SFTP request'] = this.pending.values()
      this.fail('no answer', idle.stalled(oldest))
      try {
        this.sftp.end()
      } catch {
        // Already closing.
      }
    }
    this.watchdog = setTimeout(check, idle.ms)
  }

  private pump(): void {
    while (this.head < this.queue.length) {
      const next = this.queue[this.head] as Waiting
      if (next.cancelled) {
        this.head++
        continue
      }
      if (this.inFlight >= this.limits.requests) break
      if (this.bytesInFlight > 0 && this.bytesInFlight + next.bytes > this.limits.bytes) break
      this.head++
      next.start()
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  /**
   * Queue one request. `send` is called when the request may leave, and must make exactly one
   * ssh2 call with the callback it is given. A request still queued when `signal` aborts is
   * never sent.
   */
  request<T>(
    what: string,
    path: string,
    bytes: number,
    send: (callback: Callback<T>) => void,
    signal?: AbortSignal
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortedError(signal))
        return
      }
      const entry: Waiting = {
        bytes,
        cancelled: false,
        start: () => {
          forget()
          if (this.lost !== undefined) {
            reject(
              this.lostError ??
                new SftpError(`${this.label}: connection lost (${this.lost})`, undefined, path)
            )
            return
          }
          // The first request after a pause starts the clock; every answer restarts it.
          if (this.pending.size === 0) this.lastProgress = Date.now()
          this.inFlight++
          this.bytesInFlight += bytes
          let settled = false
          const settle = (error: Error | null | undefined, value?: T): void => {
            if (settled) return
            settled = true
            this.pending.delete(lose)
            this.lastProgress = Date.now()
            if (this.pending.size === 0) {
              clearTimeout(this.watchdog)
              this.watchdog = undefined
            }
            this.inFlight--
            this.bytesInFlight -= bytes
            if (error) reject(wrapError(error, `${what} ${path}`, path))
            else resolve(value as T)
            this.pump()
          }
          const lose = (error: Error): void => settle(error)
          this.pending.set(lose, `${what} ${path}`)
          this.watch()
          this.beforeSend()
          try {
            send(settle)
          } catch (error) {
            // ssh2 refuses synchronously: an extension the server did not offer, a bad argument.
            settle(error instanceof Error ? error : new Error(String(error)))
          }
        }
      }
      const forget = this.onAbort(signal, () => {
        entry.cancelled = true
        reject(abortedError(signal))
      })
      this.queue.push(entry)
      this.pump()
    })
  }

  /** Take `count` handle slots (first come, first served). */
  private async acquireHandles(count: number, signal: AbortSignal | undefined): Promise<void> {
    if (count > this.limits.handles) throw new Error(`${count} handles requested`)
    if (signal?.aborted) throw abortedError(signal)
    if (this.handleWaiters.length === 0 && this.freeHandles >= count) {
      this.freeHandles -= count
      return
    }
    // Queued in order; a release hands its slots to the waiters at the head, exactly as many as
    // fit, so thousands of waiting files cost nothing while they wait.
    await new Promise<void>((resolve, reject) => {
      const waiter: HandleWaiter = {
        count,
        cancelled: false,
        grant: () => {
          forget()
          resolve()
        }
      }
      const forget = this.onAbort(signal, () => {
        waiter.cancelled = true
        reject(abortedError(signal))
      })
      this.handleWaiters.push(waiter)
    })
  }

  /**
   * Call `cancel` when `signal` aborts, until the returned function is called. One listener per
   * signal, however many requests wait on it: an AbortSignal's listeners are a list that every
   * addEventListener searches, and thousands of queued requests share one signal.
   */
  private onAbort(signal: AbortSignal | undefined, cancel: () => void): () => void {
    if (!signal) return () => undefined
    let cancels = this.watched.get(signal)
    if (!cancels) {
      const set = new Set<() => void>()
      cancels = set
      this.watched.set(signal, set)
      signal.addEventListener(
        'abort',
        () => {
          const all = [...set]
          set.clear()
          for (const c of all) c()
        },
        { once: true }
      )
    }
    const set = cancels
    set.add(cancel)
    return () => void set.delete(cancel)
  }

  private releaseHandles(count: number): void {
    this.freeHandles += count
    this.grantHandles()
  }

  /** Run `work` holding `count` handle slots. */
  async withHandles<T>(count: number, signal: AbortSignal | undefined, work: () => Promise<T>) {
    await this.acquireHandles(count, signal)
    try {
      return await work()
    } finally {
      this.releaseHandles(count)
    }
  }

  /**
   * Run `work` holding one handle slot, given back when the close `work` started is answered:
   * the caller has its answer a round trip before the server confirms the close.
   */
  private async withHandleUntilClosed<T>(
    signal: AbortSignal | undefined,
    work: () => Promise<{ value: T; closed: Promise<unknown> }>
  ): Promise<T> {
    await this.acquireHandles(1, signal)
    let result: { value: T; closed: Promise<unknown> }
    try {
      result = await work()
    } catch (error) {
      this.releaseHandles(1)
      throw error
    }
    void result.closed.then(
      () => this.releaseHandles(1),
      () => this.releaseHandles(1)
    )
    return result.value
  }

  private grantHandles(): void {
    while (this.handleWaiters.length > 0) {
      const next = this.handleWaiters[0] as HandleWaiter
      if (next.cancelled) {
        this.handleWaiters.shift()
        continue
      }
      if (this.freeHandles < next.count) return
      this.handleWaiters.shift()
      this.freeHandles -= next.count
      next.grant()
    }
  }

  // -------------------------------------------------------------------------------------------
  // Single requests

  async lstat(path: string, signal?: AbortSignal): Promise<FileAttributes | undefined> {
    try {
      const stats = await this.request<Stats>(
        'lstat',
        path,
        64,
        cb => this.sftp.lstat(path, cb),
        signal
      )
      return attributesOf(stats)
    } catch (error) {
      if (isMissing(error)) return undefined
      throw error
    }
  }

  readlink(path: string, signal?: AbortSignal): Promise<string> {
    return this.request<string>('readlink', path, 64, cb => this.sftp.readlink(path, cb), signal)
  }

  realpath(path: string, signal?: AbortSignal): Promise<string> {
    return this.request<string>('realpath', path, 64, cb => this.sftp.realpath(path, cb), signal)
  }

  async mkdir(dir: string, mode: number, signal?: AbortSignal): Promise<void> {
    await this.request<void>(
      'mkdir',
      dir,
      64,
      cb => this.sftp.mkdir(dir, { mode }, cb as Callback<void>),
      signal
    )
  }

  async mkdirExact(dir: string, mode: number, signal?: AbortSignal): Promise<void> {
    // The server's umask applies to mkdir's mode (sftp-server's, not the login's): the mode is
    // set again right behind it, in the same round trip; sftp-server handles them in order.
    await Promise.all([this.mkdir(dir, mode, signal), this.setMode(dir, mode, signal)])
  }

  async setMode(path: string, mode: number, signal?: AbortSignal): Promise<void> {
    await this.request<void>(
      'set mode of',
      path,
      64,
      cb => this.sftp.setstat(path, { mode }, cb as Callback<void>),
      signal
    )
  }

  async rmdir(dir: string, signal?: AbortSignal): Promise<void> {
    await this.request<void>('rmdir', dir, 64, cb => this.sftp.rmdir(dir, cb), signal)
  }

  async unlink(file: string, signal?: AbortSignal): Promise<void> {
    await this.request<void>('remove', file, 64, cb => this.sftp.unlink(file, cb), signal)
  }

  async symlink(target: string, link: string, signal?: AbortSignal): Promise<void> {
    // ssh2 swaps the SSH_FXP_SYMLINK arguments for OpenSSH and Dropbear servers, whose
    // sftp-server takes them in the reverse order of the draft (OpenSSH PROTOCOL, section 4.1).
    await this.request<void>('symlink', link, 64, cb => this.sftp.symlink(target, link, cb), signal)
  }

  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    // Plain SFTP rename never replaces an existing target on OpenSSH (OpenSSH PROTOCOL, section
    // 4.3); posix-rename@openssh.com is rename(2), which does, atomically.
    await this.request<void>(
      'rename',
      `${from} to ${to}`,
      64,
      cb => this.sftp.ext_openssh_rename(from, to, cb),
      signal
    )
  }

  async hardlink(existing: string, link: string, signal?: AbortSignal): Promise<void> {
    await this.request<void>(
      'hard-link',
      link,
      64,
      cb => this.sftp.ext_openssh_hardlink(existing, link, cb),
      signal
    )
  }

  async freeBytes(path: string, signal?: AbortSignal): Promise<number | undefined> {
    if (!this.abilities.statvfs) return undefined
    const info = await this.request<{ f_bavail?: unknown; f_frsize?: unknown }>(
      'statvfs',
      path,
      64,
      cb => this.sftp.ext_openssh_statvfs(path, cb as Callback<unknown>),
      signal
    )
    // statvfs@openssh.com (OpenSSH PROTOCOL, section 4.4): blocks available to unprivileged
    // users, in units of the fundamental block size. ssh2 gives numbers, or bigints.
    const count = (v: unknown): number | undefined =>
      typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined
    const available = count(info?.f_bavail)
    const size = count(info?.f_frsize)
    return available !== undefined && size !== undefined ? available * size : undefined
  }

  private open(
    path: string,
    flags: 'r' | 'wx' | 'a',
    attrs: InputAttributes | undefined,
    signal?: AbortSignal
  ): Promise<Buffer> {
    return this.request<Buffer>(
      'open',
      path,
      96,
      cb =>
        attrs === undefined
          ? this.sftp.open(path, flags, cb)
          : this.sftp.open(path, flags, attrs, cb),
      signal
    )
  }

  /** Closing never takes the caller's signal: a handle is always given back. */
  private close(handle: Buffer, path: string): Promise<void> {
    return this.request<void>('close', path, 32, cb => this.sftp.close(handle, cb))
  }

  // -------------------------------------------------------------------------------------------
  // Files

  async list(dir: string, signal?: AbortSignal): Promise<DirEntry[]> {
    return this.withHandleUntilClosed(signal, async () => {
      const handle = await this.request<Buffer>(
        'open directory',
        dir,
        64,
        cb => this.sftp.opendir(dir, cb),
        signal
      )
      const entries: DirEntry[] = []
      const close = (): Promise<unknown> => this.close(handle, dir).catch(() => undefined)
      try {
        // OpenSSH answers a READDIR with at most 100 names: two in flight read most
        // directories in one round trip (the second answers EOF), larger ones in a few.
        for (let rounds = 0; rounds < 100_000; rounds++) {
          const batch = await Promise.all(
            [0, 1].map(() =>
              this.request<{ filename: string; longname?: unknown; attrs: Stats }[] | false>(
                'list',
                dir,
                32,
                cb =>
                  this.sftp.readdir(handle, (error, list) => {
                    if (error && (error as { code?: unknown }).code === SftpStatus.EOF)
                      cb(undefined, false)
                    else cb(error, list)
                  }),
                signal
              )
            )
          )
          for (const list of batch) {
            if (!list) continue
            if (entries.length + list.length > LISTING_LIMIT)
              throw new Error(`${dir} holds more than ${LISTING_LIMIT} names`)
            for (const item of list) {
              if (item.filename === '.' || item.filename === '..') continue
              const owner =
                typeof item.longname === 'string' ? item.longname.split(/\s+/)[2] : undefined
              entries.push({
                name: checkEntryName(dir, item.filename),
                attrs: attributesOf(item.attrs),
                ...(owner ? { owner } : {})
              })
            }
          }
          if (batch.some(list => list === false || list.length === 0))
            return { value: entries, closed: close() }
        }
        throw new Error(`${dir}: the listing does not end`)
      } catch (error) {
        await close()
        throw error
      }
    })
  }

  /**
   * Read a file in order, chunk by chunk, all chunks in flight at once; the engine's byte bound
   * counts the answers too, so memory stays bounded however large the file.
   */
  private async readChunks(
    path: string,
    maxBytes: number,
    signal: AbortSignal | undefined,
    consume: (chunk: Buffer) => void,
    /** Refuse anything but a regular file: the lstat goes out beside the open. */
    regular = false,
    /** Read only once this resolves true (false: closed unread). */
    when?: Promise<boolean>
  ): Promise<number> {
    // Awaited only once the file is open: a `when` that fails while the open is refused (or
    // never answered) is no unhandled rejection.
    when?.catch(() => undefined)
    return this.withHandleUntilClosed(signal, async () => {
      const kind = regular ? this.lstat(path, signal) : undefined
      kind?.catch(() => undefined)
      const handle = await this.open(path, 'r', undefined, signal)
      const close = (): Promise<unknown> => this.close(handle, path).catch(() => undefined)
      try {
        const attrs = await kind
        // Opened through a symlink, or a special file: never read (see readFile).
        if (regular && attrs?.type !== 'file')
          throw new NotRegularFileError(path, attrs?.type ?? 'other')
        if (when && !(await when)) return { value: 0, closed: close() }
        const chunk = this.limits.readChunk
        const read = (offset: number, length: number): Promise<Buffer> =>
          this.request<Buffer>(
            'read',
            path,
            length + 32,
            cb =>
              this.sftp.read(handle, Buffer.allocUnsafe(length), 0, length, offset, (e, n, data) =>
                cb(e, e ? undefined : data.subarray(0, n))
              ),
            signal
          )
        // The size and the first chunk in one round trip; the rest all at once.
        const [stats, first] = await Promise.all([
          this.request<Stats>('stat', path, 32, cb => this.sftp.fstat(handle, cb), signal),
          read(0, chunk)
        ])
        const size = Math.max(stats.size, first.length)
        if (size > maxBytes) throw new TooLargeError(path, size, maxBytes)
        const chunks: { offset: number; length: number; data: Promise<Buffer> }[] = [
          { offset: 0, length: Math.min(chunk, size), data: Promise.resolve(first) }
        ]
        for (let offset = chunk; offset < size; offset += chunk) {
          const length = Math.min(chunk, size - offset)
          const data = read(offset, length)
          data.catch(() => undefined)
          chunks.push({ offset, length, data })
        }
        let total = 0
        for (const c of chunks) {
          let data = await c.data
          // A server may answer a READ with fewer bytes than asked (the draft allows it): read
          // the rest of that chunk before going on. An empty answer is the end of the file.
          for (let got = data.length; got < c.length && data.length > 0; got += data.length) {
            consume(data)
            total += data.length
            data = await read(c.offset + got, c.length - got)
          }
          if (data.length === 0) return { value: total, closed: close() }
          consume(data)
          total += data.length
          if (total > maxBytes) throw new TooLargeError(path, total, maxBytes)
        }
        return { value: total, closed: close() }
      } catch (error) {
        await close()
        throw error
      }
    })
  }

  async readFile(
    path: string,
    maxBytes: number,
    signal?: AbortSignal,
    when?: Promise<boolean>
  ): Promise<Buffer> {
    const chunks: Buffer[] = []
    await this.readChunks(path, maxBytes, signal, chunk => chunks.push(chunk), true, when)
    return Buffer.concat(chunks)
  }

  async sha256(
    path: string,
    maxBytes: number,
    signal?: AbortSignal
  ): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256')
    const size = await this.readChunks(path, maxBytes, signal, chunk => hash.update(chunk))
    return { sha256: hash.digest('hex'), size }
  }

  /** A temporary name beside `path` (or in `dir`), never one in use. */
  private temporaryFor(path: string, dir?: string): string {
    const base = dir ?? path.slice(0, path.lastIndexOf('/'))
    return `${base}/.atomic-deploy-${randomBytes(8).toString('hex')}.tmp`
  }

  async writeFile(path: string, data: Buffer | LocalFile, options: WriteOptions): Promise<void> {
    const { signal } = options
    await this.withHandles(1, signal, async () => {
      const source = Buffer.isBuffer(data) ? bufferSource(data) : localSource(data)
      try {
        const temporary = this.temporaryFor(path, options.temporaryDir)
        // Created with our mode (never ssh2's default 0666), which the server's umask may
        // narrow at open; set again explicitly below.
        const handle = await this.open(temporary, 'wx', { mode: options.mode }, signal)
        await this.finishFile(handle, temporary, path, options, step =>
          this.writeSource(step, handle, source)
        )
      } finally {
        source.close()
      }
    })
  }

  /** The WRITE requests of a file's content, in chunks read (and hashed) as each one leaves. */
  private writeSource(step: FileStep, handle: Buffer, source: Source): void {
    const chunk = this.limits.writeChunk
    // Chunks no larger than ssh2's own limit: a larger WRITE would be split by ssh2, which sends
    // the rest later from the caller's buffer, and the buffer here is shared.
    for (let offset = 0; offset < source.size; offset += chunk) {
      const length = Math.min(chunk, source.size - offset)
      const last = offset + length >= source.size
      step('write', length + 64, cb => {
        const into = scratch(length)
        source.fill(into, offset, length)
        if (last) source.finish()
        this.sftp.write(handle, into, 0, length, offset, e => cb(e))
      })
    }
    if (source.size === 0) source.finish()
  }

  async openForWrite(path: string, options: WriteOptions): Promise<PendingFile> {
    const { signal } = options
    await this.acquireHandles(1, signal)
    const temporary = this.temporaryFor(path, options.temporaryDir)
    let handle: Buffer
    try {
      handle = await this.open(temporary, 'wx', { mode: options.mode }, signal)
    } catch (error) {
      this.releaseHandles(1)
      throw error
    }
    let done = false
    const once = (): void => {
      if (done) throw new Error(`${path}: written or given up already`)
      done = true
    }
    return {
      commit: async data => {
        once()
        try {
          await this.finishFile(handle, temporary, path, options, step =>
            this.writeSource(step, handle, bufferSource(data))
          )
        } finally {
          this.releaseHandles(1)
        }
      },
      discard: async () => {
        if (done) return
        done = true
        await this.close(handle, temporary).catch(() => undefined)
        this.releaseHandles(1)
        await this.unlink(temporary).catch(() => undefined)
      }
    }
  }

  /**
   * Copy a file on the server with copy-data, straight to its final name: the file is created
   * there exclusively (O_EXCL: a new inode, never one another release shares), and a copy that
   * fails fails the deploy, which removes the release it was being made in.
   */
  async copyFile(from: string, to: string, options: WriteOptions): Promise<void> {
    const { signal } = options
    await this.acquireHandles(2, signal)
    // The two slots are given back as soon as both closes are queued, not when they are
    // answered: requests leave in the order they were queued and sftp-server handles them in
    // that order (see the top of this file), so an open queued after the closes reaches the
    // server after its handles are closed. A copy then holds its slots for one round trip, not
    // two, and twice as many copies are under way within the server's handle limit.
    let held = true
    const giveBack = (): void => {
      if (!held) return
      held = false
      this.releaseHandles(2)
    }
    try {
      const [input, output] = await Promise.allSettled([
        this.open(from, 'r', undefined, signal),
        this.open(to, 'wx', { mode: options.mode }, signal)
      ])
      if (input.status === 'rejected' || output.status === 'rejected') {
        const closing = Promise.all([
          input.status === 'fulfilled' ? this.close(input.value, from).catch(() => 0) : 0,
          output.status === 'fulfilled' ? this.close(output.value, to).catch(() => 0) : 0
        ])
        giveBack()
        await closing
        throw input.status === 'rejected' ? input.reason : (output as PromiseRejectedResult).reason
      }
      // The mode only: file times are the server's own, as tar -m leaves them on a shell
      // deploy, so a file changed after the release was ready shows as newer (drift).
      const attrs: InputAttributes = { mode: options.mode }
      // One burst: the copy (a length of 0 copies to the end of the file, OpenSSH PROTOCOL,
      // copy-data), the explicit mode (unless the open gave it), both closes.
      const burst = Promise.allSettled([
        this.request<void>(
          'copy',
          `${from} to ${to}`,
          96,
          cb => this.sftp.ext_copy_data(input.value, 0, 0, output.value, 0, cb),
          signal
        ),
        ...(options.modeAtOpen
          ? []
          : [
              this.request<void>(
                'set mode of',
                to,
                96,
                cb => this.sftp.fsetstat(output.value, attrs, cb),
                signal
              )
            ]),
        this.close(output.value, to),
        this.close(input.value, from)
      ])
      giveBack()
      const results = await burst
      const failed = results.find(r => r.status === 'rejected')
      if (failed) throw (failed as PromiseRejectedResult).reason
    } finally {
      giveBack()
    }
  }

  /**
   * The end of every file written: its data requests, the explicit mode, the close,
   * and the rename of the temporary name over the final one, all sent back to back (one round
   * trip). The rename is held back when anything before it failed or was aborted before it
   * left; a failure the server reports for a request already on its way fails the deploy,
   * which removes the release, so a partial file never goes live.
   */
  private async finishFile(
    handle: Buffer,
    temporary: string,
    path: string,
    options: WriteOptions,
    data: (step: FileStep) => void
  ): Promise<void> {
    const { signal } = options
    const steps: Promise<void>[] = []
    let failure: unknown
    // A failure is known at once, not a microtask later: the rename checks it when it leaves,
    // which can be in the same turn as a failing request before it. (The error reported is the
    // one the request rejects with, which names it.)
    let broken = false
    const failed = (): boolean => broken || failure !== undefined || signal?.aborted === true
    const step: FileStep = (what, bytes, send) => {
      const sent = this.request<void>(
        what,
        path,
        bytes,
        cb => {
          if (failed()) throw new Error('not sent: an earlier request for this file failed')
          try {
            send(error => {
              if (error) broken = true
              cb(error)
            })
          } catch (error) {
            broken = true
            throw error
          }
        },
        signal
      )
      steps.push(
        sent.catch(error => {
          failure ??= error
        })
      )
    }
    try {
      data(step)
      // The mode only: file times are the server's own, as tar -m leaves them on a shell
      // deploy, so a file changed after the release was ready shows as newer (drift).
      const attrs: InputAttributes = { mode: options.mode }
      if (!options.modeAtOpen) step('set mode of', 96, cb => this.sftp.fsetstat(handle, attrs, cb))
    } catch (error) {
      failure ??= error
    }
    const closed = this.close(handle, temporary)
    const renamed = this.request<void>('rename', `${temporary} to ${path}`, 64, cb => {
      if (failed()) throw new Error('not renamed: the file is incomplete')
      this.sftp.ext_openssh_rename(temporary, path, cb)
    })
    // Looked at below, once the data requests have settled; never an unhandled rejection.
    closed.catch(() => undefined)
    renamed.catch(() => undefined)
    await Promise.all(steps)
    const [closeResult, renameResult] = await Promise.allSettled([closed, renamed])
    if (failure === undefined && closeResult.status === 'rejected') failure = closeResult.reason
    if (failure === undefined && renameResult.status === 'rejected') failure = renameResult.reason
    if (failure !== undefined) {
      if (renameResult.status === 'rejected') await this.unlink(temporary).catch(() => undefined)
      throw failure
    }
  }

  async appendFile(path: string, data: Buffer, mode: number, signal?: AbortSignal) {
    await this.withHandleUntilClosed(signal, async () => {
      // O_APPEND: every write lands at the end, whatever offset it names.
      const handle = await this.open(path, 'a', { mode }, signal)
      // The write and the close leave together; the write's answer is the one waited for.
      const written = this.request<void>(
        'write',
        path,
        data.length + 64,
        cb => this.sftp.write(handle, data, 0, data.length, 0, e => cb(e)),
        signal
      )
      const closed = this.close(handle, path)
      closed.catch(() => undefined)
      try {
        await written
      } catch (error) {
        await closed.catch(() => undefined)
        throw error
      }
      return { value: undefined, closed }
    })
  }

  async appender(path: string, mode: number, signal?: AbortSignal): Promise<Appender> {
    await this.acquireHandles(1, signal)
    let handle: Buffer
    try {
      // O_APPEND: every write lands at the end, whatever offset it names.
      handle = await this.open(path, 'a', { mode }, signal)
    } catch (error) {
      this.releaseHandles(1)
      throw error
    }
    let closed: Promise<void> | undefined
    return {
      append: async (data, writeSignal) => {
        if (closed) throw new Error(`${path}: appended to after it was closed`)
        await this.request<void>(
          'write',
          path,
          data.length + 64,
          cb => this.sftp.write(handle, data, 0, data.length, 0, e => cb(e)),
          writeSignal
        )
      },
      close: () => {
        closed ??= this.close(handle, path)
          .catch(() => undefined)
          .finally(() => this.releaseHandles(1))
        return closed
      }
    }
  }

  async swapSymlink(link: string, target: string, temporaryName: string): Promise<string> {
    const dir = link.slice(0, link.lastIndexOf('/'))
    const temporary = `${dir}/${temporaryName}`
    // Three requests sent back to back: one round trip. sftp-server handles them in order, so
    // if the symlink fails the rename fails too and `link` keeps its old target.
    const made = this.symlink(target, temporary)
    const renamed = this.rename(temporary, link)
    const readBack = this.readlink(link)
    const results = await Promise.allSettled([made, renamed, readBack])
    for (const result of results.slice(0, 2)) {
      if (result.status === 'rejected') {
        const message = `${this.label}: switch failed: ${messageOf(result.reason)}`
        // An answer from the server means the rename did not happen. Without one (the
        // connection dropped), it may have: the caller must find out and put it back.
        const answered = result.reason instanceof SftpError && result.reason.code !== undefined
        throw answered ? new SwitchRefusedError(message) : new ConnectionError(message)
      }
    }
    if (results[2].status === 'rejected')
      throw new Error(`${this.label}: ${messageOf(results[2].reason)}`)
    return results[2].value
  }
}

function abortedError(signal: AbortSignal | undefined): AbortedError {
  return new AbortedError('cancelled', { cause: signal?.reason as unknown })
}

function wrapError(error: Error, what: string, path: string): Error {
  if (
    error instanceof SftpError ||
    error instanceof AbortedError ||
    error instanceof CommandTimeoutError
  )
    return error
  // ssh2 gives the server's status a numeric code; a request that never got an answer (a lost
  // connection) has none.
  const code = (error as Error & { code?: unknown }).code
  // sftp-server reports ENOSPC and EDQUOT as a bare FAILURE (SFTP version 3 has no code for it).
  const hint =
    code === SftpStatus.FAILURE && /^(write|copy|set mode of|rename)\b/.test(what)
      ? ' (is the disk full, or a quota reached?)'
      : ''
  return new SftpError(
    `${what}: ${error.message}${hint}`,
    typeof code === 'number' ? code : undefined,
    path
  )
}
