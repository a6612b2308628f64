/**
 * Whole trees over SFTP: listing one (for verification) and removing one (stale releases,
 * pruning, aborts). A tree is walked level by level, and a directory is only entered when its
 * parent's listing (sftp-server takes each entry's attributes with lstat) says it is a real
 * directory, never a symlink: a removal never leaves the tree it was asked to remove. Directories
 * the caller expects are listed ahead of need, all at once, so a deep tree costs a few round
 * trips rather than a few per level; such a listing is only used once the walk confirms it.
 */
import type { DirEntry, FileAttributes, RemoteFiles } from './remote-files.js'
import { isMissing, LISTING_LIMIT } from './sftp-engine.js'

export interface TreeEntry {
  /** Relative to the root, '/'-separated. */
  path: string
  attrs: FileAttributes
}

/** Bound on a tree's depth (PATH_MAX allows about 2,000 levels of one-letter names). */
const MAX_DEPTH = 4096

/**
 * Every entry below `root` (a directory), parents before children. `hints` are directories,
 * relative to `root`, that are probably there.
 */
export async function walkTree(
  files: RemoteFiles,
  root: string,
  options: {
    hints?: Iterable<string>
    /** More hints, listed ahead of need as each comes (while the walk is still under way). */
    laterHints?: Promise<Iterable<string> | undefined>[]
    signal?: AbortSignal
    /** Entries this many levels below the root at most (1: the root's own entries). */
    maxDepth?: number
  } = {}
): Promise<TreeEntry[]> {
  const { signal } = options
  const listings = new Map<string, Promise<DirEntry[]>>()
  const listing = (relative: string): Promise<DirEntry[]> => {
    let promise = listings.get(relative)
    if (!promise) {
      promise = files.list(relative === '' ? root : `${root}/${relative}`, signal)
      // A hint that is not a directory fails here, and is never asked for.
      promise.catch(() => undefined)
      listings.set(relative, promise)
    }
    return promise
  }
  listing('')
  for (const hint of options.hints ?? []) listing(hint)
  let walking = true
  for (const later of options.laterHints ?? [])
    later.then(
      hints => {
        if (walking) for (const hint of hints ?? []) listing(hint)
      },
      () => undefined
    )
  try {
    return await walkLevels(root, listing, options.maxDepth ?? Infinity)
  } finally {
    walking = false
  }
}

async function walkLevels(
  root: string,
  listing: (relative: string) => Promise<DirEntry[]>,
  maxDepth: number
): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = []
  let level = ['']
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > MAX_DEPTH) throw new Error(`${root} is more than ${MAX_DEPTH} levels deep`)
    const next: string[] = []
    const listed = await Promise.all(
      level.map(async relative => ({ relative, children: await listing(relative) }))
    )
    for (const { relative, children } of listed) {
      for (const child of children) {
        const path = relative === '' ? child.name : `${relative}/${child.name}`
        entries.push({ path, attrs: child.attrs })
        if (entries.length > LISTING_LIMIT)
          throw new Error(`${root} holds more than ${LISTING_LIMIT} entries`)
        if (child.attrs.type === 'dir' && depth + 1 < maxDepth) next.push(path)
      }
    }
    level = next
  }
  return entries
}

/** What removals over SFTP pass (src/server/removal-guard.ts). */
export interface TreeGuard {
  check(path: string, current?: string): void
  confirm(files: RemoteFiles, paths: string[], signal?: AbortSignal): Promise<string | undefined>
}

export interface RemoveOptions {
  guard: TreeGuard
  hints?: Iterable<string>
  signal?: AbortSignal
}

/**
 * Remove `root` and everything below it. The guard sees every path before anything is removed
 * and throws to refuse. Returns false when `root` did not exist.
 */
export async function removeTree(
  files: RemoteFiles,
  root: string,
  options: RemoveOptions
): Promise<boolean> {
  const [removed] = await removeTrees(files, [root], options)
  return removed as boolean
}

/**
 * Remove each of `roots` with everything below it, once the guard has let every one of them go:
 * when it refuses one, nothing is removed (as lib/guard.sh's guarded_rm). The guard's reads (the
 * target of `current`, the parents of each root) leave beside each root's lstat and listing, so
 * this costs no round trip more than the removal itself. Returns, for each root, whether it
 * existed.
 */
export async function removeTrees(
  files: RemoteFiles,
  roots: string[],
  options: RemoveOptions
): Promise<boolean[]> {
  const { guard, signal } = options
  for (const root of roots) guard.check(root)
  const confirmed = guard.confirm(files, roots, signal)
  confirmed.catch(() => undefined)
  // The lstat decides; the listing goes out beside it (reading is harmless) and is used only
  // when the root is a real directory: opendir follows a symlink, a removal must not.
  const reads = roots.map(root => {
    const walked = walkTree(files, root, options)
    walked.catch(() => undefined)
    const top = files.lstat(root, signal)
    top.catch(() => undefined)
    return { root, walked, top }
  })
  const current = await confirmed
  return Promise.all(
    reads.map(async ({ root, walked, top }) => {
      const attrs = await top
      if (!attrs) return false
      if (attrs.type !== 'dir') {
        await files.unlink(root, signal).catch(error => {
          if (!isMissing(error)) throw error
        })
        return true
      }
      await removeListed(files, root, await walked, current, options)
      return true
    })
  )
}

async function removeListed(
  files: RemoteFiles,
  root: string,
  entries: TreeEntry[],
  current: string | undefined,
  options: RemoveOptions
): Promise<void> {
  const { guard, signal } = options
  const full = (relative: string): string => `${root}/${relative}`
  for (const e of entries) guard.check(full(e.path), current)
  const dirs = entries.filter(e => e.attrs.type === 'dir').map(e => e.path)
  dirs.push('')
  const depth = (p: string): number => (p === '' ? 0 : p.split('/').length)
  dirs.sort((a, b) => depth(b) - depth(a))
  // Everything at once: files and links, then directories deepest first. sftp-server handles
  // requests in order, so each directory is empty when its rmdir arrives; a server that does
  // not keep the order gets the directories it refused again, one level at a time.
  const unlinks = entries
    .filter(e => e.attrs.type !== 'dir')
    .map(e =>
      files.unlink(full(e.path), signal).catch(error => {
        if (!isMissing(error)) throw error
      })
    )
  const rmdir = (p: string): Promise<void> =>
    files.rmdir(p === '' ? root : full(p), signal).catch(error => {
      if (!isMissing(error)) throw error
    })
  const first = dirs.map(p =>
    rmdir(p).then(
      () => undefined,
      (error: unknown) => ({ p, error })
    )
  )
  await Promise.all(unlinks)
  let refused = (await Promise.all(first)).filter(r => r !== undefined)
  for (let pass = 0; refused.length > 0 && pass <= MAX_DEPTH; pass++) {
    const deepest = depth(refused[0]!.p)
    const now = refused.filter(r => depth(r.p) === deepest)
    refused = refused.filter(r => depth(r.p) !== deepest)
    await Promise.all(now.map(r => rmdir(r.p)))
  }
}
