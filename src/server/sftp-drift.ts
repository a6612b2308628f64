/**
 * The drift check of an SFTP-only inspect: how the live release differs from the listing its
 * deploy recorded when it was verified, and which of its files are newer than the marker made
 * when it became ready. The same comparison as lib/diff.sh's listing_diff, on a listing walked
 * over SFTP, so a release deployed either way is checked either way.
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

/**
 * `recorded`: the listing written when the release was verified (list_tree's lines); `actual`:
 * the release now; `readyMtime`: the marker's time (seconds, as SFTP gives it); at most `max`
 * of each kind named, with the full counts.
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
  for (const line of recorded.split('\n'))
    if (line !== '') expected.set(line, (expected.get(line) ?? 0) + 1)
  const diff: ListingDiff = { added: [], missing: [], newer: [] }
  let added = 0
  let missing = 0
  let newer = 0
  for (const entry of actual) {
    const listed = listingLine(entry)
    if (listed === undefined) continue
    const line = modes ? listed : listed.replace(/^d [0-7]+ /, 'd ')
    if (entry.attrs.type !== 'dir' && entry.attrs.mtime > readyMtime && !linked(entry.path)) {
      newer++
      if (newer <= max) diff.newer.push(entry.path)
    }
    const count = expected.get(line) ?? 0
    if (count > 0) expected.set(line, count - 1)
    else if (!linked(entry.path)) {
      added++
      if (added <= max) diff.added.push(line)
    }
  }
  for (const [line, count] of expected) {
    if (count <= 0 || linked(listingPath(line) ?? line)) continue
    missing += count
    if (diff.missing.length < max) diff.missing.push(line)
  }
  diff.counts = [added, missing, newer]
  return diff
}
