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

/** The manifest file of `entries`, and its digest. */
export function compactManifest(entries: ManifestEntry[]): { text: Buffer; digest: string } {
  const lines = sortLines(entries.map(manifestLine))
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
  const text = Buffer.concat(pieces)
  return { text, digest: createHash('sha256').update(text).digest('hex') }
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
    if (seen.has(path)) throw bad('repeats a path')
    seen.add(path)
    if (type === 'd' ? modeText !== '-' : !/^[0-7]{1,4}$/.test(modeText))
      throw bad(type === 'd' ? 'is a directory with a mode' : 'has a mode that is not octal')
    if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) throw bad('has a size that is not a number')
    // A directory's mode is the server's: the plan never compares it.
    const mode = type === 'd' ? 0 : parseInt(modeText, 8)
    const size = Number(sizeText)
    if (!Number.isSafeInteger(size)) throw bad('has a size out of range')
    if (type === 'f') {
      if (!FILE_DIGITS.test(extra)) throw bad('has no sha256 digits')
      entries.push({ path, type: 'file', mode, size, mtime: 0, sha256: extra })
    } else if (type === 'd') {
      if (extra !== '-') throw bad('is a directory with something after its size')
      directories.add(path)
      entries.push({ path, type: 'dir', mode, size: 0, mtime: 0 })
    } else if (type === 'l') {
      const target = unescapeField(extra)
      if (target === undefined || target === '' || target.includes('\0'))
        throw bad('has an invalid symlink target')
      if (Buffer.byteLength(target) !== size) throw bad('has a target whose length is not its size')
      entries.push({ path, type: 'symlink', mode: 0o777, size, mtime: 0, target })
    } else {
      throw bad(`has an unknown type '${type}'`)
    }
  })
  entries.forEach(entry => {
    const slash = entry.path.lastIndexOf('/')
    if (slash > 0 && !directories.has(entry.path.slice(0, slash)))
      throw new ViewError(`${entry.path} lies beneath a path that is not a directory in it`)
  })
  // The plan wants parents before their children: entries by depth, in file order within one.
  const byDepth: ManifestEntry[][] = []
  for (const entry of entries) {
    let depth = 0
    for (let i = entry.path.indexOf('/'); i >= 0; i = entry.path.indexOf('/', i + 1)) depth++
    ;(byDepth[depth] ??= []).push(entry)
  }
  return byDepth.flat()
}
