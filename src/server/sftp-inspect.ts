/**
 * Phases 1-3 over SFTP alone, for accounts that run no commands: resolve the deploy path, refuse
 * what must be refused (before anything is written), create the layout, take the lock with
 * `mkdir` and an owner record, and read what the planner needs: `current` with readlink, the
 * release directories, the release log, and the digest of the manifest the new release starts
 * from (its view is read when the plan needs it: see readBaseOverSftp in session/session-plan.ts).
 *
 * Everything read here is server data, checked as the shell path's inspect.sh and the runner's
 * server-data.ts check it: the resolved path, `current`'s target, release names, the layout's
 * directories (real directories of the deploy user's that no other user may write to), and every
 * record within its limit (SERVER_LIMITS) and only as a regular file.
 *
 * Independent requests leave together: the whole phase is a few round trips.
 */
import * as path from 'node:path'
import { DeployRefusedError, LockHeldError, ServerDataError, messageOf } from '../errors.js'
import type { DirEntry, FileAttributes, RemoteFiles } from '../sftp/remote-files.js'
import { isMissing, SftpError, SftpStatus, TooLargeError } from '../sftp/sftp-engine.js'
import { ensureDirectories } from '../sftp/sftp-transfer.js'
import type { Reuse } from '../settings.js'
import { lockHeldMessage, refusalMessage } from './server-messages.js'
import type { ListingDiff } from '../release/drift.js'
import { walkTree } from '../sftp/sftp-tree.js'
import {
  liveReleaseOf,
  parseLinkList,
  releaseDirectories,
  resolvedDeployDir,
  SERVER_LIMITS,
  shown
} from './server-data.js'
import { driftOf } from './sftp-drift.js'
import { layoutDirProblem, layoutOf, MODES, readRecord, type Layout } from './sftp-layout.js'
import { systemDirectoryProblem } from './system-directories.js'

export interface SftpInspectOptions {
  /** The `path` input (absolute, or relative to the login directory). */
  path: string
  /** Take the lock with this owner record (not for a dry run, which only reads). */
  lock?: { token: string; json: string }
  reuse: Reuse
  /** The login name, for messages. */
  user: string
  label: string
  /** Called as soon as the lock is ours, so that any failure after it releases it. */
  onLocked?: (deployDir: string) => void
  /** Compare the live release with what it was when it became ready (drift). */
  drift?: boolean
  /** firstReads(), already under way. */
  firstReads?: Promise<FirstReads>
  /**
   * Read the digest of the starting point's manifest: a deploy (or its dry run) plans against
   * it. Not for a rollback, which needs no manifest.
   */
  plans?: boolean
}

export interface SftpInspection {
  deployDir: string
  /** What `current` points to, as read back, when it is a symlink. */
  current?: string
  /** The release `current` points to. */
  liveRelease?: string
  releaseDirs: Set<string>
  /** The release log (missing: none). */
  log?: Buffer
  /**
   * Records over their limit, not read: by the names the inspect script reports them under
   * (`log`, `manifest`, `links`, `pending`, `hooked`, and `listing` for the drift check).
   */
  tooLarge: Map<string, number>
  /**
   * The starting point's manifest, when a plan is to be made against it: its compact records,
   * less their suffixes (Layout.manifestStem, or cacheStem); the file an older version wrote
   * instead; and `<stem>.digest` as read (missing: none, or written by an older version).
   */
  base?: { stem: string; old: string; digest?: Buffer }
  /** The shared links recorded with the live release. */
  links?: Buffer
  /** cache.pending, with reuse: cache. */
  pending?: Buffer
  /** How the live release differs from what it was when it became ready, when checked. */
  drift?: ListingDiff | 'unknown'
  /** What before-switch changed in the live release when it was made (a shell deploy's). */
  hooked?: Buffer
  /** Entries of .atomic-deploy/, for leftovers (seed records, copies left by shell deploys). */
  metaNames: string[]
  /** Temporary links a cut switch left beside `current`. */
  switchLinks: string[]
}

const LAYOUT_NAMES = new Set(['releases', 'shared', 'cache', 'current', '.atomic-deploy'])
/** The layout's directories directly in the deploy directory, and in .atomic-deploy/. */
const TOP_DIRS = ['releases', 'shared', 'cache', '.atomic-deploy']
const META_DIRS = ['manifests', 'revisions', 'tmp']

function refused(
  options: SftpInspectOptions,
  reason: string,
  foreign: string[] = [],
  dir = options.path
): never {
  throw new DeployRefusedError(
    `${options.label}: ${refusalMessage(reason, foreign, options.user, dir)}`
  )
}

/** The physical absolute form of `p`, which need not exist yet (its existing part is resolved). */
async function resolvePath(files: RemoteFiles, p: string): Promise<string> {
  let at = p
  const rest: string[] = []
  for (let i = 0; i < 256; i++) {
    try {
      return path.posix.normalize(path.posix.join(await files.realpath(at), ...rest))
    } catch (error) {
      if (!isMissing(error) || at === '/' || at === '.') throw error
    }
    const slash = at.lastIndexOf('/')
    rest.unshift(slash < 0 ? at : at.slice(slash + 1))
    at = slash < 0 ? '.' : slash === 0 ? '/' : at.slice(0, slash)
  }
  throw new Error(`${p}: too many missing components`)
}

async function listOrUndefined(files: RemoteFiles, dir: string): Promise<DirEntry[] | undefined> {
  try {
    return await files.list(dir)
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

/** Who holds the lock. Its record is written right after the mkdir, so a moment is allowed. */
async function lockOwner(files: RemoteFiles, layout: Layout): Promise<string | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const owner = await readRecord(files, layout.owner, SERVER_LIMITS.ownerBytes)
      if (owner !== undefined) return owner.toString('utf8').trim()
    } catch {
      return undefined
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return undefined
}

/**
 * What the deploy path is: its resolved form, its entries, where `current` points, and the
 * directory's own attributes (`path/.`: lstat of the directory a symlinked path resolves to).
 */
export type FirstReads = [
  PromiseSettledResult<string>,
  PromiseSettledResult<DirEntry[] | undefined>,
  PromiseSettledResult<string>,
  PromiseSettledResult<FileAttributes | undefined>
]

/**
 * The first reads of an SFTP-only inspect, all at once: nothing is written before every refusal
 * had its chance. Only reads, so they may go out before it is known that they are needed.
 */
export function firstReads(files: RemoteFiles, path: string): Promise<FirstReads> {
  return Promise.allSettled([
    resolvePath(files, path),
    listOrUndefined(files, path),
    files.readlink(`${path}/current`),
    files.lstat(`${path}/.`)
  ])
}

export async function inspectOverSftp(
  files: RemoteFiles,
  options: SftpInspectOptions
): Promise<SftpInspection> {
  if (!files.abilities.posixRename) {
    throw new DeployRefusedError(
      `${options.label}: the server's SFTP has no posix-rename@openssh.com, which the atomic switch of 'current' needs (OpenSSH has had it since 4.8).`
    )
  }
  const [resolved, top, link, self] = await (options.firstReads ?? firstReads(files, options.path))
  return inspected(files, options, resolved, top, link, self)
}

/** Server data that fails validation: the error names the server. */
function checked<T>(options: SftpInspectOptions, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof ServerDataError)
      throw new ServerDataError(`${options.label}: ${error.message}`)
    throw error
  }
}

async function inspected(
  files: RemoteFiles,
  options: SftpInspectOptions,
  resolved: FirstReads[0],
  top: FirstReads[1],
  link: FirstReads[2],
  self: FirstReads[3]
): Promise<SftpInspection> {
  const input = options.path
  if (resolved.status === 'rejected') {
    refused(options, `access cannot resolve ${shown(input)}: ${messageOf(resolved.reason)}`)
  }
  // Every later step gets this path, as inspect.sh's `path` line: one with a line break is
  // refused there, and so here; then the same checks as that line's (resolvedDeployDir).
  if (/[\r\n]/.test(resolved.value))
    refused(options, 'layout the deploy path resolves to a name that contains a newline')
  const D = checked(options, () => resolvedDeployDir(resolved.value, input))
  const layout = layoutOf(D)
  const problem = systemDirectoryProblem(D)
  if (problem) refused(options, `system ${problem.replace(/'/g, '')}`)
  let entries: DirEntry[] | undefined
  if (top.status === 'rejected') {
    const attrs = await files.lstat(D).catch(() => undefined)
    if (attrs && attrs.type !== 'dir') refused(options, `notdir ${D} exists and is not a directory`)
    const code = top.reason instanceof SftpError ? top.reason.code : undefined
    if (code === SftpStatus.PERMISSION_DENIED) refused(options, `access cannot enter ${D}`)
    throw top.reason
  } else entries = top.value
  const byName = new Map((entries ?? []).map(e => [e.name, e]))
  if (entries && !byName.has('.atomic-deploy')) {
    // First deploy: only entries of our own layout may be there (a hand-made shared/ is welcome).
    const foreign = entries.filter(e => !LAYOUT_NAMES.has(e.name)).map(e => shown(e.name))
    if (foreign.length > 0)
      refused(options, `foreign ${D} holds files that are not a deploy layout`, foreign)
  }
  // The deploy directory may belong to another user (root, say), but no user may write to it
  // but its owner: every entry could be swapped.
  if (entries && self.status === 'fulfilled' && self.value && self.value.mode & 0o002)
    refused(
      options,
      `layout ${D} is writable by every user, so anybody could swap its entries; remove that (chmod o-w)`
    )
  // The layout's directories, as far as can be told before the lock (the owner once it is ours);
  // where one is a symlink, the refusal says where it points.
  const targets = await symlinkTargets(files, D, TOP_DIRS, byName)
  const layoutProblem = (uid: number | undefined): string | undefined => {
    for (const name of TOP_DIRS) {
      const e = byName.get(name)
      const why = layoutDirProblem(
        name,
        e?.attrs,
        { uid, user: options.user },
        {
          ...(e?.owner ? { owner: e.owner } : {}),
          ...(targets.has(name) ? { target: targets.get(name) } : {})
        }
      )
      if (why !== undefined) return why
    }
    return undefined
  }
  const early = layoutProblem(undefined)
  if (early !== undefined) refused(options, `layout ${early}`)
  const currentEntry = byName.get('current')
  if (currentEntry && currentEntry.attrs.type !== 'symlink')
    refused(options, `layout ${D}/current exists and is not a symlink`)
  // What current points to, checked before anything is written (again under the lock below).
  const before =
    currentEntry && link.status === 'fulfilled'
      ? checked(options, () => liveReleaseOf(link.value, D))
      : undefined
  const switchLinks = (entries ?? [])
    .filter(e => e.name.startsWith('.current.tmp-') && e.attrs.type === 'symlink')
    .map(e => e.name)

  const tooLarge = new Map<string, number>()
  // The lock's mkdir leaves with the reads of the state: sftp-server handles them in order, so
  // what is read is read under the lock (a lock held by another run makes them moot).
  const locking = options.lock
    ? takeLock(files, options, layout, entries, byName, layoutProblem)
    : Promise.resolve(undefined)
  locking.catch(() => undefined)
  // The starting point's manifest (and the drift check), read beside the rest: of the release
  // current pointed to a moment ago, which the readlink now, under the lock, confirms (or they
  // are read again).
  const earlyRecords = entries
    ? liveRecords(files, options, layout, byName, before, tooLarge)
    : Promise.resolve({})
  earlyRecords.catch(() => undefined)
  const read = recordReader(files, tooLarge)
  const state = Promise.all([
    currentEntry || options.lock
      ? files.readlink(layout.current).catch(error => {
          if (isMissing(error)) return undefined
          throw error
        })
      : Promise.resolve(undefined),
    entries ? listOrUndefined(files, layout.releases) : Promise.resolve(undefined),
    entries ? read('log', layout.log, SERVER_LIMITS.logBytes) : Promise.resolve(undefined),
    entries ? listOrUndefined(files, layout.meta) : Promise.resolve(undefined)
  ])
  state.catch(() => undefined)
  await locking
  const [current, releaseList, log, metaList] = await state
  // The rest of the layout's directories, before anything is written into them.
  const metaByName = new Map((metaList ?? []).map(e => [e.name, e]))
  const metaTargets = await symlinkTargets(files, layout.meta, META_DIRS, metaByName)
  for (const name of META_DIRS) {
    const e = metaByName.get(name)
    const why = layoutDirProblem(
      `.atomic-deploy/${name}`,
      e?.attrs,
      { uid: lockUid.get(options), user: options.user },
      {
        ...(e?.owner ? { owner: e.owner } : {}),
        ...(metaTargets.has(name) ? { target: metaTargets.get(name) } : {})
      }
    )
    if (why !== undefined) refused(options, `layout ${why}`)
  }
  const liveRelease =
    current === undefined ? undefined : checked(options, () => liveReleaseOf(current, D))
  // Only names that are release ids, and only real directories (sftp-server lists with lstat).
  const releaseDirs = releaseDirectories(
    (releaseList ?? []).filter(e => e.attrs.type === 'dir').map(e => e.name)
  )
  const records = await (liveRelease === before
    ? earlyRecords
    : liveRecords(files, options, layout, byName, liveRelease, tooLarge))
  return {
    deployDir: D,
    ...(current !== undefined ? { current } : {}),
    ...(liveRelease !== undefined ? { liveRelease } : {}),
    releaseDirs,
    ...(log ? { log } : {}),
    tooLarge,
    ...records,
    metaNames: (metaList ?? []).map(e => e.name),
    switchLinks
  }
}

export type RecordReader = (
  name: string,
  file: string,
  limit: number
) => Promise<Buffer | undefined>

/** A manifest's digest record: 64 hex digits and a line feed; anything longer is not one. */
const DIGEST_BYTES = 128

/**
 * Read records (readRecord); one over its limit is noted in `tooLarge` by its size, unread, as
 * the inspect script reports it (`toolarge <name> <bytes>`).
 */
export function recordReader(files: RemoteFiles, tooLarge: Map<string, number>): RecordReader {
  return async (name, file, limit) => {
    try {
      return await readRecord(files, file, limit)
    } catch (error) {
      if (!(error instanceof TooLargeError)) throw error
      tooLarge.set(name, error.size)
      return undefined
    }
  }
}

/** Where those of `names` in `dir` that are symlinks point (read only when there are some). */
async function symlinkTargets(
  files: RemoteFiles,
  dir: string,
  names: string[],
  byName: Map<string, DirEntry>
): Promise<Map<string, string>> {
  const links = names.filter(n => byName.get(n)?.attrs.type === 'symlink')
  const read = await Promise.all(
    links.map(n => files.readlink(`${dir}/${n}`).catch(() => undefined))
  )
  return new Map(
    links.flatMap((n, i) => (read[i] === undefined ? [] : [[n, read[i] as string] as const]))
  )
}

/** What the plan and the drift check need of the starting point and of the live release `id`. */
async function liveRecords(
  files: RemoteFiles,
  options: SftpInspectOptions,
  layout: Layout,
  byName: Map<string, DirEntry>,
  id: string | undefined,
  tooLarge: Map<string, number>
): Promise<Partial<SftpInspection>> {
  const cache = options.reuse === 'cache' && byName.has('cache')
  const read = recordReader(files, tooLarge)
  const nothing = Promise.resolve(undefined)
  const { manifestBytes, linksBytes } = SERVER_LIMITS
  // Only the digest of the starting point's manifest: the same as the source's, and nothing
  // more of it crosses the wire (a deploy with nothing changed); its view is read otherwise.
  const base = !options.plans
    ? undefined
    : cache
      ? { stem: layout.cacheStem, old: layout.cacheManifest }
      : options.reuse === 'previous' && id !== undefined
        ? { stem: layout.manifestStem(id), old: layout.manifest(id) }
        : undefined
  const [digest, links, pending, hooked, drift] = await Promise.all([
    base ? read('digest', `${base.stem}.digest`, DIGEST_BYTES) : nothing,
    id !== undefined ? read('links', layout.links(id), linksBytes) : nothing,
    cache ? read('pending', layout.cachePending, manifestBytes) : nothing,
    // What before-switch changed in it (a shell deploy's record), whatever on-drift says, as
    // inspect.sh reads it.
    id !== undefined ? read('hooked', layout.hook(id), linksBytes) : nothing,
    options.drift && id !== undefined ? driftCheck(files, layout, id, read) : nothing
  ])
  return {
    ...(base ? { base: { ...base, ...(digest ? { digest } : {}) } } : {}),
    ...(links ? { links } : {}),
    ...(pending ? { pending } : {}),
    ...(hooked ? { hooked } : {}),
    ...(drift ?? {})
  }
}

/**
 * The live release against what its deploy recorded: its listing when verified and the marker
 * made when it became ready (a release made before these records existed, or a listing over its
 * limit: unknown).
 */
async function driftCheck(
  files: RemoteFiles,
  layout: Layout,
  id: string,
  read: RecordReader
): Promise<{ drift: ListingDiff | 'unknown' }> {
  const [listing, ready, links] = await Promise.all([
    read('listing', layout.listing(id), SERVER_LIMITS.listingBytes),
    files.lstat(layout.ready(id)),
    read('links', layout.links(id), SERVER_LIMITS.linksBytes)
  ])
  if (!listing || ready?.type !== 'file') return { drift: 'unknown' }
  const recorded = listing.toString('utf8')
  // The directories the release had, listed all at once (the walk confirms each one).
  const hints = recorded
    .split('\n')
    .map(l => /^d (?:[0-7]+ )?\.\/(.*)$/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined)
  const now = await walkTree(files, layout.release(id), { hints })
  // A link list that is not ours is reported when the plan reads it (parseLinkList); here it
  // only names paths that are not the release's own, so none are taken as such.
  let linked: string[]
  try {
    linked = parseLinkList(links ?? Buffer.alloc(0), layout.links(id))
  } catch {
    linked = []
  }
  return { drift: driftOf(recorded, now, ready.mtime, linked) }
}

/** The deploy user's id, learned from the lock each inspection made (see takeLock). */
const lockUid = new WeakMap<SftpInspectOptions, number>()

/**
 * Create what the layout lacks, then `mkdir .atomic-deploy/lock` and learn the deploy user's id
 * from it (SFTP has no getuid: the directory this run just made is the user's own). With it, the
 * layout's directories are checked for their owner before anything else is written; a refusal
 * then takes back what this run made. Returns once the lock is ours and its owner record written.
 */
async function takeLock(
  files: RemoteFiles,
  options: SftpInspectOptions,
  layout: Layout,
  entries: DirEntry[] | undefined,
  byName: Map<string, DirEntry>,
  layoutProblem: (uid: number | undefined) => string | undefined
): Promise<void> {
  const D = layout.dir
  const held = async (): Promise<never> => {
    const there = await files.lstat(layout.lock).catch(() => undefined)
    if (!there) refused(options, `permission user ${options.user} cannot write to ${D}`, [], D)
    throw new LockHeldError(
      `${options.label}: ${lockHeldMessage(await lockOwner(files, layout), D)}`
    )
  }
  const made: string[] = []
  if (!byName.has('.atomic-deploy')) {
    // The deploy directory and any missing parents, shallowest first, then the metadata
    // directory (private, as the shell scripts make it).
    const missing: string[] = []
    if (!entries) {
      const ancestors: string[] = []
      for (let at = D; at !== '/' && at !== ''; at = path.posix.dirname(at)) ancestors.unshift(at)
      const found = await Promise.all(ancestors.map(a => files.lstat(a).catch(() => undefined)))
      ancestors.forEach((a, i) => {
        if (!found[i]) missing.push(a)
      })
    }
    try {
      // mkdir -p: another deploy starting at the same moment may make them first.
      if (missing.length > 0) await ensureDirectories(files, missing, MODES.layoutDir)
      await files.mkdir(layout.meta, MODES.privateDir)
      made.push(layout.meta)
    } catch (error) {
      const there = await files.lstat(layout.meta).catch(() => undefined)
      if (there?.type !== 'dir')
        refused(
          options,
          `permission user ${options.user} cannot create directories in ${D} (${messageOf(error)})`,
          [],
          D
        )
    }
  }
  const [lock, mine] = await Promise.allSettled([
    files.mkdir(layout.lock, MODES.privateDir),
    files.lstat(layout.lock)
  ])
  if (lock.status === 'rejected') {
    const error: unknown = lock.reason
    if (!(error instanceof SftpError) || error.code === undefined) throw error
    return held()
  }
  const uid = mine.status === 'fulfilled' ? mine.value?.uid : undefined
  if (uid !== undefined && uid >= 0) lockUid.set(options, uid)
  const why = layoutProblem(uid)
  if (why !== undefined) {
    // Taken back, with whatever this run made for it: a refusal leaves the server as it was.
    await files.rmdir(layout.lock).catch(() => undefined)
    for (const dir of made.reverse()) await files.rmdir(dir).catch(() => undefined)
    refused(options, `layout ${why}`)
  }
  options.onLocked?.(D)
  const missing = ['releases', 'shared'].filter(n => !byName.has(n)).map(n => `${D}/${n}`)
  await Promise.all([
    // The owner record, private like every record; the metadata directory private too, as the
    // shell scripts leave it (`chmod 700` on every lock).
    files.writeFile(layout.owner, Buffer.from(`${options.lock?.json ?? ''}\n`), {
      mode: MODES.privateFile,
      temporaryDir: layout.lock
    }),
    files.setMode(layout.meta, MODES.privateDir),
    missing.length > 0 ? ensureDirectories(files, missing, MODES.layoutDir) : undefined
  ]).catch(error => {
    if (error instanceof SftpError && error.code !== undefined)
      refused(
        options,
        `permission user ${options.user} cannot create directories in ${D} (${messageOf(error)})`,
        [],
        D
      )
    throw error
  })
}
