/**
 * Phases 1-3 over SFTP alone, for accounts that run no commands: resolve the deploy path, refuse
 * what must be refused (before anything is written), create the layout, take the lock with
 * `mkdir` and an owner record, and read what the planner needs: `current` with readlink, the
 * release directories, the release log, and the digest of the manifest the new release starts
 * from, with its view when that digest is not the source's (readBaseRecords).
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
  isSetAsideTree,
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
  /**
   * The source manifest's digest, once hashed: when the starting point's differs, its view is
   * read here, beside the drift check's walk, rather than in round trips of its own at the plan.
   */
  sourceDigest?: Promise<string>
  /**
   * The source's directories, once scanned: the drift check's walk of the live release lists
   * them ahead of need from its start (an incremental deploy's directories are mostly the live
   * release's), rather than only once the listing recorded with that release is read.
   */
  sourceDirs?: Promise<string[]>
}

/** The starting point's manifest, as the plan needs it (see readBaseRecords). */
export interface BaseRecords {
  /** The source digest these were read for. */
  sourceDigest: string
  /** The starting point's digest is the source's: nothing else was read. */
  same: boolean
  /** The first record found, in order: its data, or its size when over the limit (unread). */
  chosen?: { name: 'view' | 'view-text' | 'manifest'; data?: Buffer; size?: number }
}

/** The starting point's compact manifest (less suffixes), an older version's file, the digest. */
export interface SftpBase {
  stem: string
  old: string
  digest?: Buffer
  /** Read at inspect when the source's digest was known by then. */
  records?: BaseRecords
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
  base?: SftpBase
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
  /** Entries of .atomic-deploy/tmp/, listed under the lock: what cut runs left there. */
  tmpNames: string[]
  /** Temporary links a cut switch left beside `current`. */
  switchLinks: string[]
  /**
   * Trees in releases/ that runs set aside to remove and did not finish removing (a cut abort
   * or prune of a shell deploy): real directories named exactly as the scripts name them.
   */
  setAside: string[]
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
 * What the deploy path is: its resolved form, where `current` points, the directory's own
 * attributes (`path/.`: lstat of the directory a symlinked path resolves to), the lstat of each
 * name of the layout in it (undefined when they were not asked for), and its listing, which may
 * still be under way (a listing takes a round trip more than the rest: the layout found by the
 * lstats, the lock need not wait for it).
 */
export interface FirstReads {
  resolved: PromiseSettledResult<string>
  link: PromiseSettledResult<string>
  self: PromiseSettledResult<FileAttributes | undefined>
  layout?: PromiseSettledResult<Map<string, FileAttributes>>
  top: Promise<DirEntry[] | undefined>
}

/**
 * The first reads of an SFTP-only inspect, all at once: nothing is written before every refusal
 * had its chance. Only reads, so they may go out before it is known that they are needed.
 * `layoutNames`: whether the layout's names are found by lstat too (the lock then need not wait
 * for the listing); without them, the listing decides, a round trip later.
 */
export async function firstReads(
  files: RemoteFiles,
  path: string,
  layoutNames = true
): Promise<FirstReads> {
  const top = listOrUndefined(files, path)
  top.catch(() => undefined)
  const names = layoutNames
    ? Promise.all([...LAYOUT_NAMES].map(name => files.lstat(`${path}/${name}`))).then(
        found =>
          new Map(
            [...LAYOUT_NAMES].flatMap((name, i) => {
              const attrs = found[i]
              return attrs ? [[name, attrs] as const] : []
            })
          )
      )
    : undefined
  // Settled beside the others (never an unhandled rejection while they are awaited).
  const layout = names ? Promise.allSettled([names]).then(([settled]) => settled) : undefined
  const [resolved, link, self] = await Promise.allSettled([
    resolvePath(files, path),
    files.readlink(`${path}/current`),
    files.lstat(`${path}/.`)
  ])
  return { resolved, link, self, ...(layout ? { layout: await layout } : {}), top }
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
  return inspected(files, options, await (options.firstReads ?? firstReads(files, options.path)))
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
  { resolved, link, self, layout: found, top: listing }: FirstReads
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
  // A layout there already (its metadata directory found by lstat, in a directory): the checks
  // below need only the lstats, and the lock leaves without waiting for the listing, which
  // follows (a listing takes a round trip more). Otherwise (a first deploy, or a path that is
  // not a directory) the listing decides first, as before anything is written.
  const layoutThere =
    self.status === 'fulfilled' &&
    self.value?.type === 'dir' &&
    found?.status === 'fulfilled' &&
    found.value.get('.atomic-deploy') !== undefined
  let entries: DirEntry[] | undefined
  const byName = new Map<string, DirEntry>()
  if (layoutThere) {
    for (const [name, attrs] of found.value) byName.set(name, { name, attrs })
  } else {
    const top = await listing.then(
      value => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason })
    )
    if (top.status === 'rejected') {
      const attrs = await files.lstat(D).catch(() => undefined)
      if (attrs && attrs.type !== 'dir')
        refused(options, `notdir ${D} exists and is not a directory`)
      const code = top.reason instanceof SftpError ? top.reason.code : undefined
      if (code === SftpStatus.PERMISSION_DENIED) refused(options, `access cannot enter ${D}`)
      throw top.reason
    }
    entries = top.value
    for (const e of entries ?? []) byName.set(e.name, e)
  }
  // The deploy directory is there (listed, or found by lstat with a layout in it).
  const exists = layoutThere || entries !== undefined
  // The listing, when the lock did not wait for it: the owners' names (for messages), and the
  // temporary links a cut switch left.
  const listed = async (): Promise<DirEntry[]> => {
    const all = (await listing) ?? []
    for (const e of all) if (LAYOUT_NAMES.has(e.name)) byName.set(e.name, e)
    return all
  }
  if (entries && !byName.has('.atomic-deploy')) {
    // First deploy: only entries of our own layout may be there (a hand-made shared/ is welcome).
    const foreign = entries.filter(e => !LAYOUT_NAMES.has(e.name)).map(e => shown(e.name))
    if (foreign.length > 0)
      refused(options, `foreign ${D} holds files that are not a deploy layout`, foreign)
  }
  // The deploy directory may belong to another user (root, say), but no user may write to it
  // but its owner: every entry could be swapped.
  if (exists && self.status === 'fulfilled' && self.value && self.value.mode & 0o002)
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

  const tooLarge = new Map<string, number>()
  // The lock's mkdir leaves with the reads of the state: sftp-server handles them in order, so
  // what is read is read under the lock (a lock held by another run makes them moot).
  const locking = options.lock
    ? takeLock(files, options, layout, exists, byName, layoutProblem, listed)
    : Promise.resolve(undefined)
  locking.catch(() => undefined)
  // The starting point's manifest (and the drift check), read beside the rest: of the release
  // current pointed to a moment ago, which the readlink now, under the lock, confirms (or they
  // are read again).
  const earlyRecords = exists
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
    exists ? listOrUndefined(files, layout.releases) : Promise.resolve(undefined),
    exists ? read('log', layout.log, SERVER_LIMITS.logBytes) : Promise.resolve(undefined),
    exists ? listOrUndefined(files, layout.meta) : Promise.resolve(undefined),
    exists ? listOrUndefined(files, layout.tmp) : Promise.resolve(undefined)
  ])
  state.catch(() => undefined)
  await locking
  const [current, releaseList, log, metaList, tmpList] = await state
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
  // The same listing names what a cut abort or prune left: only real directories (a symlink
  // named like one is not followed, nor removed), only by the scripts' exact names.
  const setAside = (releaseList ?? [])
    .filter(e => e.attrs.type === 'dir' && isSetAsideTree(e.name))
    .map(e => e.name)
  const [records, top] = await Promise.all([
    liveRelease === before
      ? earlyRecords
      : liveRecords(files, options, layout, byName, liveRelease, tooLarge),
    entries ?? listed()
  ])
  const switchLinks = top
    .filter(e => e.name.startsWith('.current.tmp-') && e.attrs.type === 'symlink')
    .map(e => e.name)
  return {
    deployDir: D,
    ...(current !== undefined ? { current } : {}),
    ...(liveRelease !== undefined ? { liveRelease } : {}),
    releaseDirs,
    ...(log ? { log } : {}),
    tooLarge,
    ...records,
    metaNames: (metaList ?? []).map(e => e.name),
    // Only of a tmp/ that passed the checks above (a real directory of the deploy user's).
    tmpNames: metaByName.get('tmp')?.attrs.type === 'dir' ? (tmpList ?? []).map(e => e.name) : [],
    switchLinks,
    setAside
  }
}

export type RecordReader = (
  name: string,
  file: string,
  limit: number,
  /** Opened at once, read only if this resolves true (RemoteFiles.readFile). */
  when?: Promise<boolean>
) => Promise<Buffer | undefined>

/** A manifest's digest record: 64 hex digits and a line feed; anything longer is not one. */
const DIGEST_BYTES = 128

/**
 * Read records (readRecord); one over its limit is noted in `tooLarge` by its size, unread, as
 * the inspect script reports it (`toolarge <name> <bytes>`).
 */
export function recordReader(files: RemoteFiles, tooLarge: Map<string, number>): RecordReader {
  return async (name, file, limit, when) => {
    try {
      return await readRecord(files, file, limit, undefined, when)
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
  const digestRead = base ? read('digest', `${base.stem}.digest`, DIGEST_BYTES) : nothing
  // The view, opened beside the digest and read as soon as the digests say it is needed, while
  // the walk below still runs; a read that fails here is left to the plan, which reads again
  // and names what failed.
  const sourceDigest = options.sourceDigest
  const records =
    base && sourceDigest
      ? readBaseRecords(files, base, sourceDigest, digestRead).catch(() => undefined)
      : nothing
  const [digest, links, pending, hooked, drift, baseRecords] = await Promise.all([
    digestRead,
    id !== undefined ? read('links', layout.links(id), linksBytes) : nothing,
    cache ? read('pending', layout.cachePending, manifestBytes) : nothing,
    // What before-switch changed in it (a shell deploy's record), whatever on-drift says, as
    // inspect.sh reads it.
    id !== undefined ? read('hooked', layout.hook(id), linksBytes) : nothing,
    options.drift && id !== undefined
      ? driftCheck(files, layout, id, read, options.sourceDirs)
      : nothing,
    records
  ])
  return {
    ...(base
      ? {
          base: {
            ...base,
            ...(digest ? { digest } : {}),
            ...(baseRecords ? { records: baseRecords } : {})
          }
        }
      : {}),
    ...(links ? { links } : {}),
    ...(pending ? { pending } : {}),
    ...(hooked ? { hooked } : {}),
    ...(drift ?? {})
  }
}

/**
 * What the inspect script would report of the starting point's manifest, given the source's
 * digest: `same` when the digest read is the source's, and nothing more is read. Otherwise the
 * view (only beside a digest, as inspect.sh sends it) or the manifest an older version wrote,
 * whichever is there in that order; one past its limit is noted by its size, unread. Each is
 * read as every record is (readRecord: a regular file only, within the limit); the plan
 * validates what it parses.
 */
export async function readBaseRecords(
  files: RemoteFiles,
  base: SftpBase,
  sourceDigest: string | Promise<string>,
  /**
   * The digest record, still being read: the candidates are opened beside it, and read only
   * once it says they are needed (base.digest otherwise).
   */
  digestRead?: Promise<Buffer | undefined>
): Promise<BaseRecords> {
  const verdict = Promise.all([digestRead ?? base.digest, sourceDigest]).then(
    ([digest, source]) => {
      const text = digest?.toString('latin1')
      const have =
        text !== undefined && /^[0-9a-f]{64}\n$/.test(text) ? text.slice(0, 64) : undefined
      return { have, source, same: have !== undefined && have === source }
    }
  )
  verdict.catch(() => undefined)
  const over = new Map<string, number>()
  const read = recordReader(files, over)
  const limit = SERVER_LIMITS.manifestBytes
  const all = [
    { name: 'view' as const, file: `${base.stem}.view.gz`, view: true },
    { name: 'view-text' as const, file: `${base.stem}.view`, view: true },
    { name: 'manifest' as const, file: base.old, view: false }
  ]
  // A view only beside a digest, as inspect.sh sends it; nothing when the digests match.
  const wanted = (view: boolean): Promise<boolean> => {
    const yes = verdict.then(v => !v.same && (!view || v.have !== undefined))
    yes.catch(() => undefined)
    return yes
  }
  const reads = all.map(c => {
    const p = read(c.name, c.file, limit, wanted(c.view))
    p.catch(() => undefined)
    return p
  })
  const { have, source, same } = await verdict
  if (same) return { sourceDigest: source, same: true }
  const candidates = all.filter(c => have !== undefined || !c.view)
  const found = await Promise.all(candidates.map(c => reads[all.indexOf(c)]))
  const i = candidates.findIndex((c, n) => found[n] !== undefined || over.has(c.name))
  const chosen = candidates[i]
  if (!chosen) return { sourceDigest: source, same: false }
  const data = found[i]
  return {
    sourceDigest: source,
    same: false,
    chosen: data ? { name: chosen.name, data } : { name: chosen.name, size: over.get(chosen.name) }
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
  read: RecordReader,
  sourceDirs?: Promise<string[]>
): Promise<{ drift: ListingDiff | 'unknown' }> {
  const listingRead = read('listing', layout.listing(id), SERVER_LIMITS.listingBytes)
  // The directories the release had, listed all at once (the walk confirms each one).
  const recordedDirs = listingRead.then(listing =>
    listing
      ?.toString('utf8')
      .split('\n')
      .map(l => /^d (?:[0-7]+ )?\.\/(.*)$/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined)
  )
  // The walk leaves with the reads of the records (it only reads), hinted with the source's
  // directories, and with the recorded ones once they are read; it is stopped when the records
  // say there is nothing to compare with.
  const stop = new AbortController()
  const walk = walkTree(files, layout.release(id), {
    laterHints: [...(sourceDirs ? [sourceDirs] : []), recordedDirs],
    signal: stop.signal
  })
  walk.catch(() => undefined)
  const [listing, ready, links] = await Promise.all([
    listingRead,
    files.lstat(layout.ready(id)),
    read('links', layout.links(id), SERVER_LIMITS.linksBytes)
  ]).catch((error: unknown) => {
    stop.abort()
    throw error
  })
  if (!listing || ready?.type !== 'file') {
    stop.abort()
    return { drift: 'unknown' }
  }
  const recorded = listing.toString('utf8')
  const now = await walk
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
  exists: boolean,
  byName: Map<string, DirEntry>,
  layoutProblem: (uid: number | undefined) => string | undefined,
  /** The deploy directory's listing, which names the owners for a refusal's message. */
  listed: () => Promise<unknown>
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
    if (!exists) {
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
  let why = layoutProblem(uid)
  // Refused: the listing names the owner, where the lstat gave only the number.
  if (why !== undefined)
    why =
      (await listed().then(
        () => layoutProblem(uid),
        () => why
      )) ?? why
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
