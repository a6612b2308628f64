/**
 * The one check every removal over SFTP passes (DESIGN.md, Trust): what the server said steers
 * which paths are removed (the release log, listings, seed records), so each path is checked
 * against what must survive whatever the server said: `current`, the release it points to, the
 * release it replaced, the layout's own directories, and anything outside the deploy path.
 */

/** A removal the guard refused; callers that can go on without it catch this class. */
export class RemovalRefusedError extends Error {
  override name = 'RemovalRefusedError'
}

/** Directories of the layout that are never removed themselves (their content may be). */
const LAYOUT = ['releases', 'shared', '.atomic-deploy', '.atomic-deploy/manifests']

export interface GuardState {
  /** Absolute, resolved deploy directory. */
  deployDir: string
  /** Release ids that must survive: current's target, the release it replaced. */
  protectedReleases: Iterable<string | undefined>
}

/** A function that throws RemovalRefusedError for a path that must not be removed. */
export type RemovalGuard = (path: string) => void

export function removalGuard(state: GuardState): RemovalGuard {
  const root = state.deployDir.replace(/\/+$/, '')
  const protectedIds = new Set([...state.protectedReleases].filter(id => id !== undefined))
  return (path: string) => {
    const refuse = (why: string): never => {
      throw new RemovalRefusedError(`refusing to remove ${path}: ${why}`)
    }
    if (root === '' || !root.startsWith('/')) refuse('the deploy directory is not resolved')
    if (!path.startsWith(`${root}/`)) refuse(`it is outside ${root}`)
    const relative = path.slice(root.length + 1)
    const segments = relative.split('/')
    if (segments.some(s => s === '' || s === '.' || s === '..' || s.includes('\0')))
      refuse('it is not a plain path inside the deploy directory')
    if (relative === 'current') refuse('it is the live link')
    if (LAYOUT.includes(relative)) refuse('it is a directory of the deploy layout')
    if (segments[0] === 'releases' && protectedIds.has(segments[1] as string))
      refuse(`release ${segments[1]} is live, or the one the live release replaced`)
  }
}
