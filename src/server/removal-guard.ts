/**
 * The one check every removal over SFTP passes (DESIGN.md, Trust), with the rules of the shell
 * scripts' guard (lib/guard.sh) in the same words, so that a path is refused, or let go, the
 * same way whichever way a server is deployed to (test/server/removal-guard-cases.ts is the
 * table both are tested on). What the server said steers which paths are removed (the release
 * log, listings, seed records), so whatever a caller asks, the guard refuses:
 *
 * - anything that is not a plain path inside the deploy directory;
 * - the layout's own directories, and `current` (or anything through it);
 * - what `current` points to, read afresh before each removal, anything in it, and anything
 *   holding it;
 * - the releases the runner keeps (the one live when the run began, the one it replaced);
 * - anything reached through a symlink: each parent between the deploy directory and the path
 *   is looked at (lstat) before anything is removed.
 */
import type { RemoteFiles } from '../sftp/remote-files.js'
import { isMissing } from '../sftp/sftp-engine.js'
import { shown } from './server-data.js'

/** A removal the guard refused; callers that can go on without it catch this class. */
export class RemovalRefusedError extends Error {
  override name = 'RemovalRefusedError'
}

/**
 * Paths of the layout (relative to the deploy directory) that are never removed themselves
 * (their content may be): lib/guard.sh's `removable` lists the same.
 */
export const LAYOUT_PATHS = [
  'releases',
  'shared',
  '.atomic-deploy',
  '.atomic-deploy/manifests',
  '.atomic-deploy/revisions',
  'current'
] as const

/**
 * `current`'s target as lib/guard.sh's current_target makes it: relative to the deploy
 * directory when it was absolute, without trailing slashes; undefined when there is none.
 */
export function currentTarget(target: string | undefined, deployDir: string): string | undefined {
  if (target === undefined) return undefined
  let ct = target.startsWith(`${deployDir}/`) ? target.slice(deployDir.length + 1) : target
  while (ct.endsWith('/')) ct = ct.slice(0, -1)
  return ct === '' ? undefined : ct
}

/**
 * Why `rel` (relative to the deploy directory) may not be removed, in lib/guard.sh's words
 * (its `removable`, less the symlink check, which needs the server); undefined when it may.
 */
export function removalProblem(
  rel: string,
  current: string | undefined,
  keep: Iterable<string>
): string | undefined {
  const framed = `/${rel}/`
  if (
    framed.includes('//') ||
    framed.includes('/./') ||
    framed.includes('/../') ||
    rel.includes('\0')
  )
    return `'${shown(rel)}' is not a plain relative path`
  if ((LAYOUT_PATHS as readonly string[]).includes(rel) || rel.startsWith('current/'))
    return `${rel} is part of the deploy layout`
  if (current !== undefined) {
    if (rel === current || rel.startsWith(`${current}/`)) return `${rel} is what current points to`
    if (current.startsWith(`${rel}/`)) return `${rel} holds what current points to`
  }
  for (const id of keep) {
    if (rel === `releases/${id}` || rel.startsWith(`releases/${id}/`))
      return `${rel} is release ${id}, which is kept`
  }
  return undefined
}

export interface GuardState {
  /** Absolute, resolved deploy directory. */
  deployDir: string
  /** Release ids that must survive whatever else asks: the live one, the one it replaced. */
  protectedReleases: Iterable<string | undefined>
}

export interface RemovalGuard {
  readonly deployDir: string
  /**
   * Throw RemovalRefusedError for an absolute path that must not be removed, given `current`
   * (currentTarget) as last read; without it, only what needs no reading of the server.
   */
  check(path: string, current?: string): void
  /**
   * Read `current` afresh and lstat every directory between the deploy directory and each of
   * `paths`, all at once; refuse (RemovalRefusedError) if any path must not go. Resolves to
   * current's target as read, for checking what lies below the paths.
   */
  confirm(files: RemoteFiles, paths: string[], signal?: AbortSignal): Promise<string | undefined>
}

export function removalGuard(state: GuardState): RemovalGuard {
  const root = state.deployDir.replace(/\/+$/, '')
  const keep = [...state.protectedReleases].filter((id): id is string => id !== undefined)
  const refuse = (path: string, why: string): never => {
    throw new RemovalRefusedError(`refusing to remove ${shown(path)}: ${why}`)
  }
  const relative = (path: string): string => {
    if (root === '' || !root.startsWith('/')) refuse(path, 'the deploy directory is not resolved')
    if (!path.startsWith(`${root}/`))
      refuse(path, `'${shown(path)}' is not a plain relative path inside ${shown(root)}`)
    return path.slice(root.length + 1)
  }
  const check = (path: string, current?: string): void => {
    const why = removalProblem(relative(path), current, keep)
    if (why !== undefined) refuse(path, why)
  }
  return {
    deployDir: root,
    check,
    async confirm(files, paths, signal) {
      for (const p of paths) check(p)
      // Every parent of every path, once: lib/guard.sh's parents_real.
      const parents = new Set<string>()
      for (const p of paths) {
        const rel = relative(p)
        for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1))
          parents.add(rel.slice(0, i))
      }
      const list = [...parents]
      const [target, found] = await Promise.all([
        files.readlink(`${root}/current`, signal).catch((error: unknown) => {
          if (isMissing(error)) return undefined
          // Not a symlink, or unreadable: nothing it points to, and the layout refuses it.
          if ((error as { code?: unknown }).code !== undefined) return undefined
          throw error
        }),
        Promise.all(list.map(rel => files.lstat(`${root}/${rel}`, signal)))
      ])
      const current = currentTarget(target, root)
      const symlinks = new Set(list.filter((_, i) => found[i]?.type === 'symlink'))
      for (const p of paths) {
        check(p, current)
        const rel = relative(p)
        for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) {
          const parent = rel.slice(0, i)
          if (symlinks.has(parent)) refuse(p, `${parent} is a symlink`)
        }
      }
      return current
    }
  }
}
