/**
 * The manifest as the server keeps it: one line per entry, which POSIX tools can sort, join and
 * rewrite, so a deploy sends only what changed and the server puts the new manifest together.
 *
 * A line is `<path> <type> <mode> <size> <extra>`, fields separated by one space:
 * - path: relative, '/'-separated, escaped (below);
 * - type: `f` file, `d` directory, `l` symlink;
 * - mode: a file's deployed permission bits in octal, as `find -printf %m` prints them (no
 *   leading 0); `777` for a symlink; `-` for a directory, whose mode the server's umask decides
 *   (a directory whose mode changed in the source is no change to deploy, so its line must not
 *   change either: the manifest the server puts together would no longer be the source's);
 * - size: bytes of a file, bytes of a symlink's target, 0 for a directory;
 * - extra: a file's sha256 (64 hex digits), a symlink's target (escaped), `-` for a directory.
 *
 * Escaping keeps a line one line and a field one field: `\` becomes `\\`, a line feed `\n`, a
 * carriage return `\r`, a tab `\t`, a space `\s`. Nothing else is special, so a name's other
 * bytes (UTF-8 included) stay as they are.
 *
 * The manifest file holds the lines sorted bytewise (`LC_ALL=C sort`), each ending in a line
 * feed; its digest is the sha256 of those bytes. Both sides compute it: the runner from the
 * source, the server from the file it assembled (the live manifest less what changed, plus
 * what the runner sent), and a deploy goes on only when they agree.
 *
 * The view is what the next deploy downloads to plan against: the same lines with a file's
 * sha256 cut to its first 16 hex digits (64 bits), about a quarter of the bytes once gzipped. A
 * changed file is taken for unchanged only if its path, mode and size are the same and those 64
 * bits of its digest too (a chance of 2^-64 per changed file); the verification before the
 * switch then still compares every path's type, size and mode, and the uploaded files' sha256.
 */
import { createHash } from 'node:crypto'
import { relativePathProblem } from '../server/server-data.js'
import { sortNames, type ManifestEntry } from './manifest.js'

/** Hex digits of a file's sha256 kept in the view. */
export const VIEW_DIGITS = 16

/** What escapeField rewrites: most names hold none of it, and are taken as they are. */
const ESCAPED = /[\\\n\r\t ]/

export function escapeField(text: string): string {
  // A test before the replace: a deploy makes its lines once, before the engine optimises
  // the replace's callback (measured: a 50,000-entry manifest's lines in 20 ms, not 55 ms).
  if (!ESCAPED.test(text)) return text
  return text.replace(/[\\\n\r\t ]/g, c =>
    c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : '\\s'
  )
}

/** What makes unescapeField look closer: an escape, or what escapeField never leaves. */
const UNESCAPE_NEEDED = /[\\ \n\r\t]/

/** The inverse of escapeField; undefined for a text escapeField cannot have made. */
export function unescapeField(text: string): string | undefined {
  // Most names have nothing escaped: taken as they are, not rebuilt a character at a time.
  if (!UNESCAPE_NEEDED.test(text)) return text
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') return undefined
    if (c !== '\\') {
      out += c
      continue
    }
    const next = text[++i]
    if (next === '\\') out += '\\'
    else if (next === 'n') out += '\n'
    else if (next === 'r') out += '\r'
    else if (next === 't') out += '\t'
    else if (next === 's') out += ' '
    else return undefined
  }
  return out
}

/** An entry's line, without the line feed. */
export function manifestLine(e: ManifestEntry): string {
  const path = escapeField(e.path)
  switch (e.type) {
    case 'file':
      return `${path} f ${e.mode.toString(8)} ${e.size} ${e.sha256 ?? ''}`
    case 'dir':
      return `${path} d - 0 -`
    case 'symlink':
      return `${path} l 777 ${e.size} ${escapeField(e.target ?? '')}`
  }
}

/** Lines in the manifest file's order: bytewise, as `LC_ALL=C sort` orders them. */
export function sortLines(lines: string[]): string[] {
  return sortNames(lines)
}

/** Source views by scan, made or to be made (see sourceManifestAndView). */
const localViews = new WeakMap<ManifestEntry[], () => LocalView>()

/** The manifest file of `entries`, and its digest. */
export function compactManifest(entries: ManifestEntry[]): { text: Buffer; digest: string } {
  return withDigest(joinLines(sortLines(entries.map(manifestLine))))
}

function withDigest(text: Buffer): { text: Buffer; digest: string } {
  return { text, digest: createHash('sha256').update(text).digest('hex') }
}

/** Lines as one buffer, each ending in a line feed (made 64 KB of text at a time). */
function joinLines(lines: Iterable<string>): Buffer {
  const pieces: Buffer[] = []
  let chunk = ''
  for (const line of lines) {
    chunk += `${line}\n`
    if (chunk.length >= 65_536) {
      pieces.push(Buffer.from(chunk))
      chunk = ''
    }
  }
  pieces.push(Buffer.from(chunk))
  return Buffer.concat(pieces)
}

/**
 * The source's manifest file and digest (as compactManifest makes them), and a function that
 * makes its view (as localView makes it) from the same sort of the lines, kept for localView: the
 * digest can go to the servers first, and the view be made while they answer. A view line is its
 * manifest line with a file's digest cut, and lines differ by their path, which ends at the
 * first space: cutting digests leaves the order as it is, so the view needs no sort of its own.
 * Each line carries its entry's index after a line feed, which no line holds (escaped), through
 * the sort: no line is the start of another (a path ends at the first space, and paths differ),
 * so what follows a line never changes its place.
 */
export function sourceManifestAndView(entries: ManifestEntry[]): {
  text: Buffer
  digest: string
  view: () => LocalView
} {
  const keyed = sortLines(entries.map((e, i) => `${manifestLine(e)}\n${i}`))
  const n = keyed.length
  const lines: string[] = new Array<string>(n)
  const ordered: ManifestEntry[] = new Array<ManifestEntry>(n)
  for (let i = 0; i < n; i++) {
    const k = keyed[i] as string
    const cut = k.lastIndexOf('\n')
    lines[i] = k.slice(0, cut)
    ordered[i] = entries[Number(k.slice(cut + 1))] as ManifestEntry
  }
  let made: LocalView | undefined
  const view = (): LocalView => {
    if (made) return made
    const viewLines: string[] = new Array<string>(n)
    const starts = new Uint32Array(n + 1)
    let at = 0
    for (let i = 0; i < n; i++) {
      const line = lines[i] as string
      const viewLine =
        ordered[i]?.type === 'file' ? line.slice(0, line.length - 64 + VIEW_DIGITS) : line
      viewLines[i] = viewLine
      starts[i] = at
      at += Buffer.byteLength(viewLine) + 1
    }
    starts[n] = at
    made = { text: joinLines(viewLines), starts, entries: ordered }
    return made
  }
  if (!localViews.has(entries)) localViews.set(entries, view)
  return { ...withDigest(joinLines(lines)), view }
}

/**
 * The view of a manifest file's bytes: each file's sha256 cut to VIEW_DIGITS hex digits, the
 * rest as it is (what lib/manifest.sh's manifest_view makes on the server, byte for byte).
 */
export function manifestView(text: Buffer): Buffer {
  const lines = text.toString('utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const last = line.lastIndexOf(' ')
    // `<path> f <mode> <size> <sha256>`: the type is the second field.
    if (last > 0 && line.slice(line.indexOf(' '), line.indexOf(' ') + 3) === ' f ')
      lines[i] = line.slice(0, last + 1 + VIEW_DIGITS)
  }
  return Buffer.from(lines.join('\n'))
}

/** Manifest lines of `entries`, sorted, as one buffer (for the part of a manifest a deploy sends). */
export function manifestText(entries: ManifestEntry[]): Buffer {
  return compactManifest(entries).text
}

/** A file's digest in a view or a manifest: at least VIEW_DIGITS hex digits. */
const FILE_DIGITS = new RegExp(`^[0-9a-f]{${VIEW_DIGITS},64}$`)

/** A view or manifest read back from a server did not parse: the reason, naming the line. */
export class ViewError extends Error {
  override name = 'ViewError'
}

/**
 * One line of a view read back from a server, checked (`index` numbers it for the message). The
 * checks that need the other lines (no path twice, every parent a directory) are the caller's.
 */
function parseViewLine(line: string, index: number): ManifestEntry {
  const bad = (why: string): ViewError =>
    new ViewError(`line ${index + 1} ${why}: '${line.slice(0, 120)}'`)
  const fields = line.split(' ')
  if (fields.length !== 5) throw bad('does not have five fields')
  const [rawPath, type, modeText, sizeText, extra] = fields as [
    string,
    string,
    string,
    string,
    string
  ]
  const path = unescapeField(rawPath)
  if (path === undefined) throw bad('has a path that is not escaped as expected')
  // The same rule as for every path read back from a server (a name may hold a line break).
  const problem = relativePathProblem(path, { newline: true })
  if (problem) throw bad(`has a path that is not inside the release: ${problem}`)
  if (type === 'd' ? modeText !== '-' : !/^[0-7]{1,4}$/.test(modeText))
    throw bad(type === 'd' ? 'is a directory with a mode' : 'has a mode that is not octal')
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) throw bad('has a size that is not a number')
  // A directory's mode is the server's: the plan never compares it.
  const mode = type === 'd' ? 0 : parseInt(modeText, 8)
  const size = Number(sizeText)
  if (!Number.isSafeInteger(size)) throw bad('has a size out of range')
  if (type === 'f') {
    if (!FILE_DIGITS.test(extra)) throw bad('has no sha256 digits')
    return { path, type: 'file', mode, size, mtime: 0, sha256: extra }
  }
  if (type === 'd') {
    if (extra !== '-') throw bad('is a directory with something after its size')
    return { path, type: 'dir', mode, size: 0, mtime: 0 }
  }
  if (type === 'l') {
    const target = unescapeField(extra)
    if (target === undefined || target === '' || target.includes('\0'))
      throw bad('has an invalid symlink target')
    if (Buffer.byteLength(target) !== size) throw bad('has a target whose length is not its size')
    return { path, type: 'symlink', mode: 0o777, size, mtime: 0, target }
  }
  throw bad(`has an unknown type '${type}'`)
}

/** Entries by depth, in their order within one: parents before their children, as the plan wants. */
function byDepth(entries: ManifestEntry[]): ManifestEntry[] {
  const groups: ManifestEntry[][] = []
  for (const entry of entries) {
    let depth = 0
    for (let i = entry.path.indexOf('/'); i >= 0; i = entry.path.indexOf('/', i + 1)) depth++
    ;(groups[depth] ??= []).push(entry)
  }
  return groups.flat()
}

/**
 * Parse a view (or a manifest: full digests are taken as they are) read back from a server. It
 * is checked as any manifest is: every line well formed, paths relative without '..', '.' or
 * empty segments, no path twice, every path's parent a directory of it (so a plan made from it
 * never writes beneath a symlink or a file). Files carry at least VIEW_DIGITS hex digits.
 */
export function parseView(data: Buffer): ManifestEntry[] {
  const text = data.toString('utf8')
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const entries: ManifestEntry[] = []
  const seen = new Set<string>()
  const directories = new Set<string>()
  lines.forEach((line, index) => {
    const entry = parseViewLine(line, index)
    if (seen.has(entry.path))
      throw new ViewError(`line ${index + 1} repeats a path: '${line.slice(0, 120)}'`)
    seen.add(entry.path)
    if (entry.type === 'dir') directories.add(entry.path)
    entries.push(entry)
  })
  entries.forEach(entry => {
    const slash = entry.path.lastIndexOf('/')
    if (slash > 0 && !directories.has(entry.path.slice(0, slash)))
      throw new ViewError(`${entry.path} lies beneath a path that is not a directory in it`)
  })
  return byDepth(entries)
}

/**
 * The source's own view, in the manifest file's order: what a server's view is read against
 * (see parseViewAgainst). The same bytes as manifestView of the source's manifest file.
 */
export interface LocalView {
  text: Buffer
  /** Where each line starts in `text`, and the text's length last: line i is starts[i] to starts[i + 1] - 1. */
  starts: Uint32Array
  /** The entry of each line. */
  entries: ManifestEntry[]
  /** Line numbers of the directories, by path (made when first needed). */
  directories?: Map<string, number>
}

/** The view of the source `entries`, made once per scan however many servers ask. */
export function localView(entries: ManifestEntry[]): LocalView {
  return (localViews.get(entries) ?? sourceManifestAndView(entries).view)()
}

/** Bytes at which two buffers agree from `ai` and `bi` on: a few comparisons per 64 KB alike. */
function agreeing(a: Buffer, ai: number, b: Buffer, bi: number): number {
  const max = Math.min(a.length - ai, b.length - bi)
  let n = 0
  for (let step = 65_536; step >= 16; step >>= 4) {
    while (n + step <= max && a.compare(b, bi + n, bi + n + step, ai + n, ai + n + step) === 0)
      n += step
  }
  while (n < max && a[ai + n] === b[bi + n]) n++
  return n
}

/** Where the path of the line starting at `start` ends (its first space), or `end`. */
function pathEnd(data: Buffer, start: number, end: number): number {
  const space = data.indexOf(0x20, start)
  return space < 0 || space > end ? end : space
}

/**
 * parseView of a server's view, read against the source's own (`local`): the same entries, and
 * the same errors. Both are sorted the same way, and from one deploy to the next most lines are
 * byte for byte the source's: runs of equal bytes are found a few comparisons per 64 KB, and
 * their lines are the source's entries, which need no checks; only the lines that differ are
 * parsed and checked (on a 50,000-line view with 20 files changed: 20 lines, not 50,000). What
 * the checks need of the other lines is learned as they pass: the lines must be sorted, each
 * after the one before with another path (so no path comes twice), and every path's parent must
 * be a directory of the view. A view that is not sorted is parsed whole, by parseView.
 */
export function parseViewAgainst(data: Buffer, local: LocalView): ManifestEntry[] {
  try {
    const parsed = readAgainst(data, local)
    if (parsed) return parsed
  } catch (error) {
    if (!(error instanceof ViewError)) throw error
  }
  // Unsorted, or wrong somewhere: the whole view's reading says what, as it would have.
  return parseView(data)
}

function readAgainst(data: Buffer, local: LocalView): ManifestEntry[] | undefined {
  const { text, starts, entries } = local
  const n = entries.length
  const matched = new Uint8Array(n)
  const out: ManifestEntry[] = []
  /** Entries parsed from lines that are not the source's. */
  const parsed: ManifestEntry[] = []
  const serverDirectories = new Set<string>()
  let i = 0
  let q = 0
  let index = 0
  // The previous line of the server's view, as offsets into `data` (none yet: -1).
  let prevStart = -1
  let prevEnd = -1
  /** The line q..end comes after the previous one, with another path. */
  const follows = (start: number, end: number): boolean => {
    if (prevStart < 0) return true
    if (data.compare(data, start, end, prevStart, prevEnd) >= 0) return false
    const a = pathEnd(data, prevStart, prevEnd)
    const b = pathEnd(data, start, end)
    return !(a - prevStart === b - start && data.compare(data, start, b, prevStart, a) === 0)
  }
  /** A line that is not the source's, parsed and checked; false when it is out of order. */
  const takeParsed = (start: number, end: number): boolean => {
    if (!follows(start, end)) return false
    const entry = parseViewLine(data.toString('utf8', start, end), index)
    out.push(entry)
    parsed.push(entry)
    if (entry.type === 'dir') serverDirectories.add(entry.path)
    return true
  }
  while (q < data.length) {
    if (i < n) {
      const agree = agreeing(text, starts[i] as number, data, q)
      // The last line of the source's that lies whole in the run.
      let lo = i
      let hi = n
      const limit = (starts[i] as number) + agree
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1
        if ((starts[mid] as number) <= limit) lo = mid
        else hi = mid - 1
      }
      if (lo > i) {
        const first = q
        const firstEnd = q + (starts[i + 1] as number) - (starts[i] as number) - 1
        if (!follows(first, firstEnd)) return undefined
        for (let k = i; k < lo; k++) {
          out.push(entries[k] as ManifestEntry)
          matched[k] = 1
        }
        const consumed = (starts[lo] as number) - (starts[i] as number)
        prevStart = q + (starts[lo - 1] as number) - (starts[i] as number)
        prevEnd = q + consumed - 1
        index += lo - i
        q += consumed
        i = lo
        continue
      }
    }
    const newline = data.indexOf(0x0a, q)
    const end = newline < 0 ? data.length : newline
    const next = newline < 0 ? data.length : newline + 1
    if (i < n) {
      const lStart = starts[i] as number
      const lEnd = (starts[i + 1] as number) - 1
      const order = text.compare(data, q, end, lStart, lEnd)
      const lPath = pathEnd(text, lStart, lEnd)
      const sPath = pathEnd(data, q, end)
      const samePath =
        lPath - lStart === sPath - q && text.compare(data, q, sPath, lStart, lPath) === 0
      if (order < 0 && !samePath) {
        // A line only the source has: the server's line is looked at again against the next.
        i++
        continue
      }
      if (order === 0) {
        // The source's line, the last of the view without its line feed.
        if (!follows(q, end)) return undefined
        out.push(entries[i] as ManifestEntry)
        matched[i] = 1
      } else if (!takeParsed(q, end)) return undefined
      if (samePath || order === 0) i++
    } else if (!takeParsed(q, end)) return undefined
    prevStart = q
    prevEnd = end
    index++
    q = next
  }
  // Every parent a directory of the view: one of the lines parsed, or a directory of the
  // source's whose line the view has as it is.
  local.directories ??= new Map(
    entries.flatMap((e, k) => (e.type === 'dir' ? [[e.path, k] as const] : []))
  )
  const directories = local.directories
  const isDirectory = (p: string): boolean => {
    if (serverDirectories.has(p)) return true
    const k = directories.get(p)
    return k !== undefined && matched[k] === 1
  }
  for (const entry of parsed) {
    const slash = entry.path.lastIndexOf('/')
    if (slash > 0 && !isDirectory(entry.path.slice(0, slash)))
      throw new ViewError(`${entry.path} lies beneath a path that is not a directory in it`)
  }
  // The source's lines the view has: their parents are directories of the source, and must be
  // of the view too (a directory's line is always the same, so it is one of them, or missing).
  const missing = new Set<string>()
  for (const [p, k] of directories) if (matched[k] !== 1) missing.add(p)
  if (missing.size > 0) {
    for (let k = 0; k < n; k++) {
      if (matched[k] !== 1) continue
      const p = (entries[k] as ManifestEntry).path
      const slash = p.lastIndexOf('/')
      if (slash > 0 && missing.has(p.slice(0, slash)))
        throw new ViewError(`${p} lies beneath a path that is not a directory in it`)
    }
  }
  return byDepth(out)
}
