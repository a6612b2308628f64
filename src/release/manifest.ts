import { createHash, hash as hashOnce } from 'node:crypto'
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { gunzip, gzip } from 'node:zlib'
import { Minimatch } from 'minimatch'
import { InputError } from '../errors.js'
import { HashWorkers, THREADS_FROM } from './hash-workers.js'

/** One path of a release, as deployed. */
export interface ManifestEntry {
  /** Relative, '/'-separated, no leading './'. */
  path: string
  type: 'file' | 'dir' | 'symlink'
  /** Permission bits as deployed: source bits without world-write, setuid, setgid or sticky. */
  mode: number
  /** Bytes for files; the target's byte length for symlinks; 0 for directories. */
  size: number
  /** Modification time in seconds (files only matter). */
  mtime: number
  /** Hex sha256 of a file's content. */
  sha256?: string
  /** A symlink's target, verbatim. */
  target?: string
}

/** What a release holds, stored gzipped in .atomic-deploy/manifests/<id>.json.gz. */
export interface Manifest {
  version: 1
  /** Sorted by path. */
  entries: ManifestEntry[]
  /** Paths in the release that are links into shared/, added after verification. */
  sharedLinks: string[]
}

/**
 * Deployed files never carry world-write or the set-id and sticky bits, whatever the source had:
 * a release must not become a place anybody on the server can write to, nor grow setuid files.
 */
export function deployedMode(sourceMode: number): number {
  return sourceMode & 0o775
}

/**
 * Compile exclude globs into a predicate over relative paths, with .gitignore's rules: a pattern
 * without a slash (other than a trailing one) matches a name at any depth; a leading slash
 * anchors it to the top of `source`; a trailing slash matches directories only; `!pattern`
 * re-includes what an earlier pattern excluded (the last matching pattern decides). As in git,
 * nothing inside an excluded directory can be re-included: the walk never enters it.
 */
export function excludeMatcher(
  patterns: string[]
): (relative: string, isDirectory: boolean) => boolean {
  const compiled: { mm: Minimatch; dirOnly: boolean; negate: boolean }[] = []
  for (const raw of patterns) {
    const negate = raw.startsWith('!')
    let pattern = negate ? raw.slice(1) : raw
    const anchored = pattern.startsWith('/')
    pattern = pattern.replace(/^\/+/, '').replace(/^\.\//, '')
    const dirOnly = pattern.endsWith('/')
    pattern = pattern.replace(/\/+$/, '')
    if (pattern === '') continue
    const options = {
      dot: true,
      matchBase: !anchored && !pattern.includes('/'),
      nocomment: true,
      nonegate: true
    }
    compiled.push({ mm: new Minimatch(pattern, options), dirOnly, negate })
    // 'node_modules/**' means the directory too: skip it whole instead of deploying it empty.
    if (pattern.endsWith('/**')) {
      compiled.push({ mm: new Minimatch(pattern.slice(0, -3), options), dirOnly: true, negate })
    }
  }
  return (relative, isDirectory) => {
    let excluded = false
    for (const { mm, dirOnly, negate } of compiled) {
      if ((!dirOnly || isDirectory) && mm.match(relative)) excluded = !negate
    }
    return excluded
  }
}

export interface ScanResult {
  entries: ManifestEntry[]
  /** Paths skipped because they are sockets, FIFOs or devices. */
  skipped: string[]
  /** Milliseconds the scan and the hashing took (buildManifest). */
  elapsedMs?: number
  /** Worker threads that hashed (buildManifest); 0: the main thread did. */
  threads?: number
}

/**
 * Walk `root` without following symlinks. `.git` is always left out, at any depth (a submodule
 * has a .git file). Hashes are not computed here; see hashEntries.
 *
 * The walk uses synchronous calls: an lstat costs microseconds as a system call but far more
 * as a round trip through libuv's thread pool, and a tree has thousands (measured: 3,500 files
 * in 50 ms this way, 400 ms with promises). It yields to the event loop between directories,
 * so the SSH handshakes running meanwhile keep moving.
 */
export async function scanSource(
  root: string,
  exclude: string[],
  onFile?: (entry: ManifestEntry) => void
): Promise<ScanResult> {
  const excluded = excludeMatcher(exclude)
  const entries: ManifestEntry[] = []
  const skipped: string[] = []
  const yielder = eventLoopYielder()
  const prefix = pathPrefix(root)
  const walk = async (relativeDir: string): Promise<void> => {
    const names = sortNames(readdirSync(prefix + relativeDir))
    const unreadable = names.some(name => name.includes('\uFFFD'))
      ? checkNames(root, relativeDir, excluded)
      : undefined
    for (const name of names) {
      if (unreadable?.has(name)) continue
      if (name === '.git') continue
      const relative = relativeDir === '' ? name : `${relativeDir}/${name}`
      const absolute = prefix + relative
      const st = lstatSync(absolute)
      const isDirectory = st.isDirectory()
      if (excluded(relative, isDirectory)) continue
      const mtime = Math.floor(st.mtimeMs / 1000)
      if (isDirectory) {
        entries.push({ path: relative, type: 'dir', mode: deployedMode(st.mode), size: 0, mtime })
        await yielder()
        await walk(relative)
      } else if (st.isFile()) {
        const entry: ManifestEntry = {
          path: relative,
          type: 'file',
          mode: deployedMode(st.mode),
          size: st.size,
          mtime
        }
        entries.push(entry)
        onFile?.(entry)
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(absolute)
        entries.push({
          path: relative,
          type: 'symlink',
          mode: 0o777,
          size: Buffer.byteLength(target),
          mtime,
          target
        })
      } else {
        skipped.push(relative)
      }
    }
  }
  await walk('')
  return { entries, skipped }
}

/**
 * `root` as an absolute path ending in a separator, to put a relative path (names from readdir
 * joined by `/`) behind: a concatenation, where path.join would normalize the whole path again
 * for each of a tree's files (a tenth of the main thread's time in the walk of the 50,000-file
 * tree). The names readdir returns are never empty, `.` or `..`, nor hold a `/`.
 */
export function pathPrefix(root: string): string {
  const absolute = path.resolve(root)
  return absolute.endsWith(path.sep) ? absolute : absolute + path.sep
}

/**
 * Names are read as UTF-8; one that is not valid UTF-8 comes back with U+FFFD in place of its
 * bad bytes, and could be neither found again nor written under its real name on the server.
 * Such a name is refused with the name shown byte for byte, unless exclude leaves it out:
 * the names (as read) of those are returned, for the walk to skip.
 */
function checkNames(
  root: string,
  relativeDir: string,
  excluded: (relative: string, isDirectory: boolean) => boolean
): Set<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const skip = new Set<string>()
  for (const raw of readdirSync(path.join(root, relativeDir), { encoding: 'buffer' })) {
    try {
      decoder.decode(raw)
      continue
    } catch {
      // not UTF-8: below
    }
    const lossy = raw.toString('utf8')
    const relative = relativeDir === '' ? lossy : `${relativeDir}/${lossy}`
    const full = Buffer.concat([Buffer.from(path.join(root, relativeDir) + '/'), raw])
    if (excluded(relative, lstatSync(full).isDirectory())) {
      skip.add(lossy)
      continue
    }
    const bytes = [...raw]
      .map(b =>
        b >= 0x20 && b < 0x7f && b !== 0x5c
          ? String.fromCharCode(b)
          : `\\x${b.toString(16).padStart(2, '0')}`
      )
      .join('')
    throw new InputError(
      'source',
      `source has a file name that is not valid UTF-8: '${relativeDir === '' ? '' : `${relativeDir}/`}${bytes}'. Rename it to UTF-8 (e.g. 'convmv -f latin1 -t utf-8 -r --notest ${relativeDir === '' ? '.' : relativeDir}'), or leave it out with exclude.`
    )
  }
  return skip
}

/**
 * Byte order of the UTF-8 names: what `LC_ALL=C sort` does, and stable across platforms. UTF-8's
 * byte order is code point order, which JavaScript's UTF-16 code unit order agrees with below
 * the surrogates (U+D800); from there on, the names' bytes are compared. Sorting 50,000 manifest
 * lines took 60 ms with bytes for every comparison, a few ms this way.
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x < 0xd800 && y < 0xd800) return x - y
    return Buffer.compare(Buffer.from(a), Buffer.from(b))
  }
  return a.length - b.length
}

/** Code units from the surrogates up, where UTF-16 order and UTF-8's part. */
const HIGH_UNITS = /[\ud800-\uffff]/

/** `names` sorted in place by compareNames: with the engine's own string order where it agrees. */
export function sortNames(names: string[]): string[] {
  return names.some(name => HIGH_UNITS.test(name)) ? names.sort(compareNames) : names.sort()
}

/** A function to await now and then in a synchronous loop: it yields every ~10 ms of work. */
function eventLoopYielder(sliceMs = 10): () => Promise<void> {
  let last = performance.now()
  return async () => {
    if (performance.now() - last < sliceMs) return
    await new Promise(resolve => setImmediate(resolve))
    last = performance.now()
  }
}

const HASH_CHUNK = 1024 * 1024

/**
 * sha256 of one file, read in chunks of at most 1 MB into one buffer: memory does not grow with
 * the file's size. Synchronous reads, for the reason scanSource gives.
 *
 * `expected` is the size the walk saw. A file smaller than the buffer usually comes in one read:
 * when that read is short and brings exactly the size seen, it is the file's end, so no read
 * more is made to find it, and the bytes are hashed in one call, without a Hash object. On the
 * 50,000-file tree that is a quarter of the system calls per file. A short read of any other
 * size (a file that changed, a file system that returns less than there is) goes on reading to
 * the end, and the caller compares the size.
 */
function hashFileSync(
  file: string,
  buffer: Buffer,
  expected = -1
): { sha256: string; size: number } {
  const fd = openSync(file, 'r')
  try {
    const first = readSync(fd, buffer, 0, buffer.length, 0)
    if (first < buffer.length && first === expected)
      return { sha256: hashOnce('sha256', buffer.subarray(0, first), 'hex'), size: first }
    const hash = createHash('sha256')
    let size = 0
    for (let n = first; n > 0; n = readSync(fd, buffer, 0, buffer.length, size)) {
      hash.update(buffer.subarray(0, n))
      size += n
    }
    return { sha256: hash.digest('hex'), size }
  } finally {
    closeSync(fd)
  }
}

/** sha256 of one file, streamed: memory does not grow with the file's size. */
export async function hashFile(file: string): Promise<{ sha256: string; size: number }> {
  return hashFileSync(file, Buffer.allocUnsafe(HASH_CHUNK))
}

/** Fill in sha256 for every file entry, yielding to the event loop every few milliseconds. */
export async function hashEntries(root: string, entries: ManifestEntry[]): Promise<void> {
  const buffer = Buffer.allocUnsafe(HASH_CHUNK)
  const yielder = eventLoopYielder()
  const prefix = pathPrefix(root)
  for (const entry of entries) {
    if (entry.type !== 'file') continue
    const { sha256, size } = hashFileSync(prefix + entry.path, buffer, entry.size)
    if (size !== entry.size) {
      throw new Error(
        `${entry.path} changed while it was being read (${entry.size} bytes, then ${size}); is a build still writing to the source?`
      )
    }
    entry.sha256 = sha256
    await yielder()
  }
}

/**
 * Threads that scan and hash: one per core the process may use (os.availableParallelism follows
 * the CPU affinity mask, so `taskset` and container limits count), at most eight. Each holds a
 * 1 MB read buffer and a small heap.
 */
export function scanThreads(): number {
  return Math.min(availableParallelism(), 8)
}

export interface BuildOptions {
  /** Worker threads at most; 0 hashes on the calling thread. Default: scanThreads(). */
  threads?: number
  /** A tree with fewer files and bytes than this is hashed on the calling thread. */
  threadsFrom?: { files: number; bytes: number }
}

/** Scan and hash `root`: the manifest of what will be deployed. */
export async function buildManifest(
  root: string,
  exclude: string[],
  options: BuildOptions = {}
): Promise<ScanResult> {
  const started = performance.now()
  const threads = options.threads ?? scanThreads()
  let scan: ScanResult
  if (threads > 0) {
    // Files are hashed on the workers while the walk goes on.
    const workers = new HashWorkers(
      pathPrefix(root),
      threads,
      batch => hashEntries(root, batch),
      options.threadsFrom ?? THREADS_FROM
    )
    try {
      scan = await scanSource(root, exclude, entry => workers.add(entry))
    } catch (error) {
      workers.close()
      throw error
    }
    await workers.done()
    scan.threads = workers.threads
  } else {
    scan = await scanSource(root, exclude)
    await hashEntries(root, scan.entries)
  }
  return { ...scan, elapsedMs: Math.round(performance.now() - started) }
}

// Entries are stored as arrays rather than objects: a 50,000-file manifest stays a few MB.
type StoredEntry = [
  path: string,
  type: 'f' | 'd' | 'l',
  mode: number,
  size: number,
  mtime: number,
  extra: string
]

export async function serializeManifest(manifest: Manifest): Promise<Buffer> {
  // The same text as JSON.stringify of the whole object, without an array of 50,000 entries
  // and one 10 MB string alive at once.
  const head = `{"version":1,"sharedLinks":${JSON.stringify(manifest.sharedLinks)},"entries":[`
  const body = piecesToBuffer(manifest.entries, (e, i) => {
    const stored: StoredEntry = [
      e.path,
      e.type === 'file' ? 'f' : e.type === 'dir' ? 'd' : 'l',
      e.mode,
      e.size,
      e.mtime,
      e.type === 'file' ? (e.sha256 ?? '') : e.type === 'symlink' ? (e.target ?? '') : ''
    ]
    return (i === 0 ? '' : ',') + JSON.stringify(stored)
  })
  return promisify(gzip)(Buffer.concat([Buffer.from(head), body, Buffer.from(']}')]), {
    level: 6
  })
}

/**
 * The concatenated pieces as bytes, built about 64 KB at a time rather than as one array of
 * strings: on a 50,000-file tree such an array outlives a few young-generation collections and
 * then stays in the old generation as garbage for the rest of the deploy.
 */
export function piecesToBuffer<T>(items: T[], piece: (item: T, index: number) => string): Buffer {
  const buffers: Buffer[] = []
  let text = ''
  for (let i = 0; i < items.length; i++) {
    text += piece(items[i] as T, i)
    if (text.length >= 65_536) {
      buffers.push(Buffer.from(text))
      text = ''
    }
  }
  buffers.push(Buffer.from(text))
  return Buffer.concat(buffers)
}

/** Limits on a stored manifest read back from a server (see server-data.ts, SERVER_LIMITS). */
export interface ManifestLimits {
  /** Bytes of the gzip data. */
  compressed: number
  /** Bytes once unpacked: a gzip bomb stops here, with bounded memory. */
  json: number
}

const NO_LIMITS: ManifestLimits = { compressed: Infinity, json: 2 ** 31 - 1 }

/**
 * Parse a stored manifest. It comes back from a server, so everything is checked: a tree of
 * relative paths (no '..', '.', empty segments or NUL; every entry's parent is a directory of
 * the manifest, so no path lies beneath a symlink or a file), no path twice, numbers that are
 * numbers. Throws with a reason on anything unexpected: the caller then uploads everything.
 */
export async function parseManifest(
  data: Buffer,
  limits: ManifestLimits = NO_LIMITS
): Promise<Manifest> {
  if (data.length > limits.compressed)
    throw new Error(`it is ${data.length} bytes, over the limit of ${limits.compressed}`)
  let unpacked: Buffer
  try {
    unpacked = await promisify(gunzip)(data, { maxOutputLength: limits.json })
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new Error(`it unpacks to more than ${limits.json} bytes`, { cause: error })
    throw error
  }
  const parsed = JSON.parse(unpacked.toString('utf8')) as {
    version?: unknown
    sharedLinks?: unknown
    entries?: unknown
  } | null
  if (parsed === null || typeof parsed !== 'object') throw new Error('it is not a manifest')
  if (parsed.version !== 1) throw new Error(`unknown manifest version ${String(parsed.version)}`)
  if (!Array.isArray(parsed.entries)) throw new Error('manifest has no entries')
  const sharedLinks = Array.isArray(parsed.sharedLinks)
    ? parsed.sharedLinks.filter((s): s is string => typeof s === 'string')
    : []
  const seen = new Set<string>()
  const directories = new Set<string>()
  const entries = parsed.entries.map((raw: unknown, i: number): ManifestEntry => {
    if (!Array.isArray(raw) || raw.length !== 6) throw new Error(`manifest entry ${i} is malformed`)
    const [p, t, mode, size, mtime, extra] = raw as unknown[]
    if (
      typeof p !== 'string' ||
      p === '' ||
      p.includes('\0') ||
      p.startsWith('/') ||
      p.split('/').some(s => s === '..' || s === '' || s === '.')
    ) {
      throw new Error(`manifest entry ${i} has an invalid path`)
    }
    if (seen.has(p)) throw new Error(`manifest entry ${i} repeats a path`)
    seen.add(p)
    const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0
    if (
      !isCount(mode) ||
      mode > 0o7777 ||
      !isCount(size) ||
      typeof mtime !== 'number' ||
      !Number.isFinite(mtime) ||
      typeof extra !== 'string'
    ) {
      throw new Error(`manifest entry ${i} is malformed`)
    }
    if (t === 'f') {
      if (!/^[0-9a-f]{64}$/.test(extra)) throw new Error(`manifest entry ${i} has no sha256`)
      return { path: p, type: 'file', mode, size, mtime, sha256: extra }
    }
    if (t === 'd') {
      directories.add(p)
      return { path: p, type: 'dir', mode, size: 0, mtime }
    }
    if (t === 'l') {
      if (extra === '' || extra.includes('\0') || Buffer.byteLength(extra) !== size)
        throw new Error(`manifest entry ${i} has an invalid symlink target`)
      return { path: p, type: 'symlink', mode: 0o777, size, mtime, target: extra }
    }
    throw new Error(`manifest entry ${i} has an unknown type`)
  })
  // Whatever the order, every path's parent is a directory of the manifest: a plan made from
  // it then never removes or writes beneath what the release holds as a symlink or a file.
  entries.forEach((entry, i) => {
    const slash = entry.path.lastIndexOf('/')
    if (slash > 0 && !directories.has(entry.path.slice(0, slash)))
      throw new Error(`manifest entry ${i} lies beneath a path that is not a directory in it`)
  })
  return { version: 1, entries, sharedLinks }
}

/**
 * Symlinks whose target is absolute or leads out of the deployed tree: they are deployed as
 * links, and on the server they resolve to whatever is there (Debian's WordPress package links
 * wp-config.php to /etc/wordpress).
 */
export function linksLeavingTree(entries: ManifestEntry[]): ManifestEntry[] {
  return entries.filter(e => {
    if (e.type !== 'symlink') return false
    const target = e.target ?? ''
    if (target.startsWith('/')) return true
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(e.path), target))
    return resolved === '..' || resolved.startsWith('../')
  })
}
