/**
 * The drift check of an SFTP-only inspect: how the live release differs from the listing its
 * deploy recorded when it was verified, and which of its files are newer than the marker made
 * when it became ready. The same comparison as lib/diff.sh's listing_diff, on a listing walked
 * over SFTP, so a release deployed either way is checked either way and named the same way.
 */
import { listingPath, type ListingDiff } from '../release/drift.js'
import type { TreeEntry } from '../sftp/sftp-tree.js'
import { listingLine } from './sftp-listing.js'

/** Paths of the listing at or under a shared link: not the release's own. */
function linkedTest(links: string[]): (p: string) => boolean {
  const set = new Set(links)
  return p => {
    for (let at = p; ;) {
      if (set.has(at)) return true
      const slash = at.lastIndexOf('/')
      if (slash < 0) return false
      at = at.slice(0, slash)
    }
  }
}

/** Whether a parent of `p` is in `dirs` and not in `not` (a directory new, or gone, as a whole). */
function within(p: string, dirs: Set<string>, not: Set<string>): boolean {
  for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
    const parent = p.slice(0, i)
    if (dirs.has(parent) && !not.has(parent)) return true
  }
  return false
}

const LISTING_START = /^(?:f [0-7]+ \d+|l \d+|d [0-7]+|d) \.\//

/**
 * The entries of a recorded listing: a name holding a line break spans lines, so a line that
 * does not start like a listing line continues the one before (as listing_diff reads it).
 */
function listingEntries(recorded: string): string[] {
  const entries: string[] = []
  // Every line ends with a line break: the last one ends the listing.
  const lines = recorded.split('\n')
  if (lines.at(-1) === '') lines.pop()
  for (const line of lines) {
    if (LISTING_START.test(line) || entries.length === 0) entries.push(line)
    else entries[entries.length - 1] += `\n${line}`
  }
  return entries.filter(e => e !== '')
}

/**
 * `recorded`: the listing written when the release was verified (list_tree's lines); `actual`:
 * the release now; `readyMtime`: the marker's time (seconds, as SFTP gives it); at most `max`
 * of each kind named, with the full counts. As listing_diff: what a new directory holds is new
 * with it (only the directory is named), and likewise for one that is gone; a file is named newer
 * only when it is neither added nor under a new directory.
 */
export function driftOf(
  recorded: string,
  actual: TreeEntry[],
  readyMtime: number,
  links: string[],
  max = 50
): ListingDiff {
  const linked = linkedTest(links)
  // A listing recorded before directory modes were listed (`d ./<path>`) is compared without
  // them, rather than naming every directory as changed.
  const modes = !/^d \.\//m.test(recorded)
  const expected = new Map<string, number>()
  for (const line of listingEntries(recorded)) expected.set(line, (expected.get(line) ?? 0) + 1)
  const added: { line: string; path: string }[] = []
  const addedPaths = new Set<string>()
  const addedDirs = new Set<string>()
  const fresh: string[] = []
  for (const entry of actual) {
    const listed = listingLine(entry)
    if (listed === undefined) continue
    const line = modes ? listed : listed.replace(/^d [0-7]+ /, 'd ')
    const isNewer = entry.attrs.type !== 'dir' && entry.attrs.mtime > readyMtime
    const count = expected.get(line) ?? 0
    if (!isNewer && count > 0) {
      expected.set(line, count - 1)
      continue
    }
    if (linked(entry.path)) continue
    if (isNewer) fresh.push(entry.path)
    if (count > 0) {
      expected.set(line, count - 1)
      continue
    }
    added.push({ line, path: entry.path })
    addedPaths.add(entry.path)
    if (entry.attrs.type === 'dir') addedDirs.add(entry.path)
  }
  const missing: { line: string; path: string; count: number }[] = []
  const missingDirs = new Set<string>()
  for (const [line, count] of expected) {
    const p = listingPath(line) ?? line
    if (count <= 0 || linked(p)) continue
    missing.push({ line, path: p, count })
    if (line.startsWith('d ')) missingDirs.add(p)
  }
  const diff: ListingDiff = { added: [], missing: [], newer: [] }
  let [a, m, n] = [0, 0, 0]
  for (const x of added) {
    if (within(x.path, addedDirs, missingDirs)) continue
    a++
    if (a <= max) diff.added.push(x.line)
  }
  for (const x of missing) {
    if (within(x.path, missingDirs, addedDirs)) continue
    m += x.count
    if (diff.missing.length < max) diff.missing.push(x.line)
  }
  for (const p of fresh) {
    if (addedPaths.has(p) || within(p, addedDirs, missingDirs)) continue
    n++
    if (n <= max) diff.newer.push(p)
  }
  diff.counts = [a, m, n]
  return diff
}
