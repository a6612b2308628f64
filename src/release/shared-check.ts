/**
 * What linking shared/ into a release would run into, worked out on the runner from a listing of
 * shared/ and the manifest: the same rules as the release script's autoShared and explicitShared,
 * for a dry run, which may write nothing on the server.
 */
import type { ManifestEntry } from './manifest.js'

export type EntryType = 'dir' | 'file' | 'symlink'

export interface SharedProblem {
  kind: 'conflict' | 'missing'
  path: string
}

/** How deep shared/ must be listed to decide: the deepest directory of the source, plus one. */
export function sharedDepth(entries: ManifestEntry[], sharedPaths: string[] | undefined): number {
  const depth = (p: string): number => p.replace(/\/$/, '').split('/').length
  if (sharedPaths) return Math.max(1, ...sharedPaths.map(depth))
  return Math.max(1, ...entries.filter(e => e.type === 'dir').map(e => depth(e.path) + 1))
}

/** Parse `d ./a`, `f ./a/b`, `l ./c` lines of the shared/ listing. */
export function parseSharedListing(lines: string[]): Map<string, EntryType> {
  const types: Record<string, EntryType> = { d: 'dir', f: 'file', l: 'symlink' }
  const out = new Map<string, EntryType>()
  for (const line of lines) {
    const m = /^([dfl]) \.\/(.+)$/.exec(line)
    if (m) out.set(m[2] as string, types[m[1] as string] as EntryType)
  }
  return out
}

export function sharedProblems(
  shared: Map<string, EntryType>,
  entries: ManifestEntry[],
  sharedPaths: string[] | undefined,
  conflict: 'fail' | 'replace'
): SharedProblem[] {
  const source = new Map(entries.map(e => [e.path, e.type]))
  const problems: SharedProblem[] = []
  if (sharedPaths) {
    for (const entry of sharedPaths) {
      const rel = entry.replace(/\/$/, '')
      if (shared.has(rel)) {
        if (source.has(rel) && conflict === 'fail') problems.push({ kind: 'conflict', path: rel })
      } else if (!source.has(rel) && !entry.endsWith('/')) {
        problems.push({ kind: 'missing', path: rel })
      }
    }
    return problems
  }
  if (conflict === 'replace') return problems
  // Every entry of shared/ at the first level the release does not have as a real directory.
  const children = new Map<string, string[]>()
  for (const p of shared.keys()) {
    const at = p.lastIndexOf('/')
    const parent = at < 0 ? '' : p.slice(0, at)
    children.set(parent, [...(children.get(parent) ?? []), p])
  }
  const walk = (dir: string): void => {
    for (const rel of (children.get(dir) ?? []).sort()) {
      if (source.get(rel) === 'dir' && shared.get(rel) === 'dir') walk(rel)
      else if (source.has(rel)) problems.push({ kind: 'conflict', path: rel })
    }
  }
  walk('')
  return problems
}
