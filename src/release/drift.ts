/**
 * Differences between a release on a server and the record of what it was when it became ready,
 * as the server scripts report them (LISTING_DIFF in remote-scripts.ts): listing lines only one
 * side has, and paths modified since. Turned here into paths added, changed and removed, for the
 * log and for the plan, which must not trust those paths in a copy of the release.
 */

/** What the server reported for one kind (`drift` or `hook`). */
export interface ListingDiff {
  /** Listing lines only the release has now. */
  added: string[]
  /** Listing lines only the record has. */
  missing: string[]
  /** Paths of files modified since the record. */
  newer: string[]
  /** The full counts of added, missing and newer, when the server gave them. */
  counts?: [number, number, number]
}

export interface Drift {
  added: string[]
  changed: string[]
  removed: string[]
  /** Every path reported, for the plan. */
  paths: string[]
  /** Every difference is named: nothing was cut off, and every path was a valid one. */
  complete: boolean
}

/** A line break or a % in a name comes percent-encoded (%0A, %25): every result is one line. */
const decode = (text: string): string =>
  text.replace(/%(25|0A)/g, (_, code: string) => (code === '25' ? '%' : '\n'))

/** Parse `!<kind>-added`, `-missing`, `-newer` and `!<kind> a m n` lines (without the `!`). */
export function parseListingDiff(kind: string, lines: string[]): ListingDiff {
  const diff: ListingDiff = { added: [], missing: [], newer: [] }
  for (const line of lines) {
    if (line.startsWith(`${kind}-added `)) diff.added.push(decode(line.slice(kind.length + 7)))
    else if (line.startsWith(`${kind}-missing `))
      diff.missing.push(decode(line.slice(kind.length + 9)))
    else if (line.startsWith(`${kind}-newer `)) diff.newer.push(decode(line.slice(kind.length + 7)))
    else {
      const counts = new RegExp(`^${kind} (\\d+) (\\d+) (\\d+)$`).exec(line)
      if (counts) diff.counts = [Number(counts[1]), Number(counts[2]), Number(counts[3])]
    }
  }
  return diff
}

/**
 * A path read back from a server, fit to steer a removal inside a release: relative, no `.`, `..`
 * or empty segment, no control character but a line break (which a source file name may hold:
 * every script quotes its paths, and the guard takes any name).
 */
export function isReleasePath(p: string): boolean {
  if (p === '' || p.startsWith('/') || /[\u0000-\u0009\u000b-\u001f\u007f]/.test(p)) return false
  return p.split('/').every(s => s !== '' && s !== '.' && s !== '..')
}

/** The path of a listing line (`f 644 12 ./a/b`, `d 755 ./a`, `l 9 ./link`; `d ./a` before modes). */
export function listingPath(line: string): string | undefined {
  const m = /^(?:f [0-7]+ \d+|l \d+|d [0-7]+|d) \.\/(.*)$/s.exec(line)
  return m ? m[1] : undefined
}

/** Paths with none of their ancestors in the list: removing these removes them all. */
export function topMost(paths: Iterable<string>): string[] {
  const set = new Set(paths)
  return [...set]
    .filter(p => {
      for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1))
        if (set.has(p.slice(0, i))) return false
      return true
    })
    .sort()
}

export function summarizeDiff(diff: ListingDiff): Drift {
  let complete =
    diff.counts !== undefined &&
    diff.counts[0] === diff.added.length &&
    diff.counts[1] === diff.missing.length &&
    diff.counts[2] === diff.newer.length
  const pathsOf = (lines: string[]): Set<string> => {
    const out = new Set<string>()
    for (const line of lines) {
      const p = listingPath(line)
      if (p !== undefined && isReleasePath(p)) out.add(p)
      else complete = false
    }
    return out
  }
  const added = pathsOf(diff.added)
  const missing = pathsOf(diff.missing)
  const newer = new Set<string>()
  for (const p of diff.newer) {
    if (isReleasePath(p)) newer.add(p)
    else complete = false
  }
  const changed = new Set<string>()
  for (const p of added) if (missing.has(p)) changed.add(p)
  for (const p of newer) if (!added.has(p) || missing.has(p)) changed.add(p)
  return {
    added: topMost([...added].filter(p => !changed.has(p))),
    changed: [...changed].sort(),
    removed: topMost([...missing].filter(p => !changed.has(p))),
    paths: [...new Set([...added, ...missing, ...newer])].sort(),
    complete
  }
}

/**
 * `added a, b; changed c; removed d`, at most `limit` paths in all, each as `show` writes it (a
 * name may hold a line break).
 */
export function describeDrift(
  drift: Drift,
  limit = 20,
  show: (path: string) => string = p => p
): string {
  const parts: string[] = []
  let left = limit
  const take = (label: string, paths: string[]): void => {
    if (paths.length === 0) return
    const shown = paths.slice(0, Math.max(left, 0))
    left -= shown.length
    const more = paths.length - shown.length
    parts.push(
      `${label} ${shown.length > 0 ? shown.map(p => show(p)).join(', ') : ''}${more > 0 ? `${shown.length > 0 ? ', and ' : ''}${more} more` : ''}`
    )
  }
  take('added', drift.added)
  take('changed', drift.changed)
  take('removed', drift.removed)
  return parts.join('; ')
}

/**
 * Paths that do not lie under a symlink of the tree `entries` describes: a removal of
 * `<release>/<link>/<rest>` would act wherever the link points, outside the release.
 */
export function notUnderLinks(
  paths: string[],
  entries: { path: string; type: string }[]
): string[] {
  const links = new Set(entries.filter(e => e.type === 'symlink').map(e => e.path))
  return paths.filter(p => {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1))
      if (links.has(p.slice(0, i))) return false
    return true
  })
}
