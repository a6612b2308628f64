/**
 * Phases 1-3 over SFTP alone, for accounts that run no commands: resolve the deploy path, refuse
 * what must be refused (before anything is written), create the layout, take the lock with
 * `mkdir` and an owner record, and read what the planner needs: `current` with readlink, the
 * release directories, the release log, and the manifest the new release starts from.
 *
 * Independent requests leave together: the whole phase is about four round trips.
 */
import * as path from 'node:path'
import { DeployRefusedError, LockHeldError, messageOf } from '../errors.js'
import type { DirEntry, RemoteFiles } from '../sftp/remote-files.js'
import { isMissing, SftpError, SftpStatus } from '../sftp/sftp-engine.js'
import { ensureDirectories } from '../sftp/sftp-transfer.js'
import type { Reuse } from '../settings.js'
import { lockHeldMessage, refusalMessage } from './server-messages.js'
import type { ListingDiff } from '../release/drift.js'
import { walkTree } from '../sftp/sftp-tree.js'
import { driftOf } from './sftp-drift.js'
import {
  isPlainRelativePath,
  layoutOf,
  READ_LIMITS,
  releaseOfTarget,
  type Layout
} from './sftp-layout.js'
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
   * `mkdir <path>/.atomic-deploy/lock`, sent beside the first reads (see tryLock): ours if it
   * succeeded, and given back if a refusal follows.
   */
  lockTry?: Promise<PromiseSettledResult<void>>
}

export interface SftpInspection {
  deployDir: string
  /** What `current` points to, as read back, when it is a symlink. */
  current?: string
  /** The release `current` points to. */
  liveRelease?: string
  releaseDirs: Set<string>
  logText: string
  /** The manifest of the starting point (the live release, or cache/). */
  manifest?: Buffer
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
const DIRECTORY_MODE = 0o775

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

async function readOrUndefined(
  files: RemoteFiles,
  file: string,
  limit: number
): Promise<Buffer | undefined> {
  try {
    return await files.readFile(file, limit)
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

/** Who holds the lock. Its record is written right after the mkdir, so a moment is allowed. */
async function lockOwner(files: RemoteFiles, layout: Layout): Promise<string | undefined> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const owner = await readOrUndefined(files, layout.owner, READ_LIMITS.owner)
      if (owner !== undefined) return owner.toString('utf8').trim()
    } catch {
      return undefined
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return undefined
}

/** What the deploy path is: its resolved form, its entries, where `current` points. */
export type FirstReads = [
  PromiseSettledResult<string>,
  PromiseSettledResult<DirEntry[] | undefined>,
  PromiseSettledResult<string>
]

/**
 * The first reads of an SFTP-only inspect, all at once: nothing is written before every refusal
 * had its chance. Only reads, so they may go out before it is known that they are needed.
 */
export function firstReads(files: RemoteFiles, path: string): Promise<FirstReads> {
  return Promise.allSettled([
    resolvePath(files, path),
    listOrUndefined(files, path),
    files.readlink(`${path}/current`)
  ])
}

/**
 * Take the lock of an existing layout without waiting for the first reads: the mkdir succeeds
 * only where `.atomic-deploy/` exists (a deploy layout, ours), and a lock taken for a deploy
 * then refused is removed again at once. A first deploy's mkdir fails, and the lock is taken
 * once the layout is made.
 */
export function tryLock(files: RemoteFiles, path: string): Promise<PromiseSettledResult<void>> {
  return Promise.allSettled([files.mkdir(`${path}/.atomic-deploy/lock`, DIRECTORY_MODE)]).then(
    ([result]) => result as PromiseSettledResult<void>
  )
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
  const input = options.path
  const [[resolved, top, link], locked] = await Promise.all([
    options.firstReads ?? firstReads(files, input),
    options.lock ? (options.lockTry ?? tryLock(files, input)) : undefined
  ])
  try {
    return await inspected(files, options, resolved, top, link, locked)
  } catch (error) {
    // A lock taken beside the first reads, for a deploy refused after all: given back.
    if (locked?.status === 'fulfilled' && !lockedHere.has(options))
      await files.rmdir(`${input}/.atomic-deploy/lock`).catch(() => undefined)
    throw error
  }
}

/** Inspections whose lock became the deploy's (its owner record on the way). */
const lockedHere = new WeakSet<SftpInspectOptions>()

async function inspected(
  files: RemoteFiles,
  options: SftpInspectOptions,
  resolved: FirstReads[0],
  top: FirstReads[1],
  link: FirstReads[2],
  locked: PromiseSettledResult<void> | undefined
): Promise<SftpInspection> {
  const input = options.path
  if (resolved.status === 'rejected') {
    refused(options, `access cannot resolve ${input}: ${messageOf(resolved.reason)}`)
  }
  const D = resolved.value
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
    const foreign = entries.filter(e => !LAYOUT_NAMES.has(e.name)).map(e => e.name)
    if (foreign.length > 0)
      refused(options, `foreign ${D} holds files that are not a deploy layout`, foreign)
  }
  for (const name of ['releases', 'shared', 'cache', '.atomic-deploy']) {
    const e = byName.get(name)
    if (e && e.attrs.type !== 'dir')
      refused(options, `layout ${D}/${name} exists and is not a directory`)
  }
  const currentEntry = byName.get('current')
  if (currentEntry && currentEntry.attrs.type !== 'symlink')
    refused(options, `layout ${D}/current exists and is not a symlink`)
  if (currentEntry && link.status === 'fulfilled' && releaseOfTarget(link.value) === undefined) {
    throw new DeployRefusedError(
      `${options.label}: ${D}/current points to '${link.value}', which is not a release of this deploy directory (releases/<id>). A deploy would replace it and could not switch back to it. Point it at a release, or remove it. Nothing was changed.`
    )
  }
  const switchLinks = (entries ?? [])
    .filter(e => e.name.startsWith('.current.tmp-') && e.attrs.type === 'symlink')
    .map(e => e.name)

  // The owner record is written while the state is read: the lock is ours from its mkdir on.
  const ownerWritten = options.lock
    ? (await takeLock(files, options, layout, entries, byName, locked)).ownerWritten
    : Promise.resolve()
  ownerWritten.catch(() => undefined)
  // The starting point's manifest (and the drift check), read beside the rest: of the release
  // current pointed to a moment ago, which the readlink now, under the lock, confirms (or they
  // are read again).
  const before = link.status === 'fulfilled' ? releaseOfTarget(link.value) : undefined
  const early = entries ? liveRecords(files, options, layout, byName, before) : Promise.resolve({})
  early.catch(() => undefined)
  const [current, releaseList, logText, metaList] = await Promise.all([
    currentEntry || options.lock
      ? files.readlink(layout.current).catch(error => {
          if (isMissing(error)) return undefined
          throw error
        })
      : Promise.resolve(undefined),
    entries ? listOrUndefined(files, layout.releases) : Promise.resolve(undefined),
    entries ? readOrUndefined(files, layout.log, READ_LIMITS.log) : Promise.resolve(undefined),
    entries ? listOrUndefined(files, layout.meta) : Promise.resolve(undefined)
  ])
  await ownerWritten
  const liveRelease = current === undefined ? undefined : releaseOfTarget(current)
  if (current !== undefined && liveRelease === undefined) {
    throw new DeployRefusedError(
      `${options.label}: ${D}/current points to '${current}', which is not a release of this deploy directory (releases/<id>). Point it at a release, or remove it.`
    )
  }
  const releaseDirs = new Set(
    (releaseList ?? []).filter(e => e.attrs.type === 'dir').map(e => e.name)
  )
  const records = await (liveRelease === before
    ? early
    : liveRecords(files, options, layout, byName, liveRelease))
  return {
    deployDir: D,
    current,
    liveRelease,
    releaseDirs,
    logText: logText?.toString('utf8') ?? '',
    ...records,
    metaNames: (metaList ?? []).map(e => e.name),
    switchLinks
  }
}

/** What the plan and the drift check need of the starting point and of the live release `id`. */
async function liveRecords(
  files: RemoteFiles,
  options: SftpInspectOptions,
  layout: Layout,
  byName: Map<string, DirEntry>,
  id: string | undefined
): Promise<Partial<SftpInspection>> {
  const cache = options.reuse === 'cache' && byName.has('cache')
  const read = (file: string, limit: number): Promise<Buffer | undefined> =>
    readOrUndefined(files, file, limit)
  const nothing = Promise.resolve(undefined)
  const [manifest, links, pending, drift] = await Promise.all([
    cache
      ? read(layout.cacheManifest, READ_LIMITS.manifest)
      : options.reuse === 'previous' && id !== undefined
        ? read(layout.manifest(id), READ_LIMITS.manifest)
        : nothing,
    id !== undefined ? read(layout.links(id), READ_LIMITS.links) : nothing,
    cache ? read(layout.cachePending, READ_LIMITS.links) : nothing,
    options.drift && id !== undefined ? driftCheck(files, layout, id) : nothing
  ])
  return {
    ...(manifest ? { manifest } : {}),
    ...(links ? { links } : {}),
    ...(pending ? { pending } : {}),
    ...(drift ?? {})
  }
}

/**
 * The live release against what its deploy recorded: its listing when verified and the marker
 * made when it became ready (a release made before these records existed: unknown).
 */
async function driftCheck(
  files: RemoteFiles,
  layout: Layout,
  id: string
): Promise<{ drift: ListingDiff | 'unknown'; hooked?: Buffer }> {
  const [listing, ready, links, hooked] = await Promise.all([
    readOrUndefined(files, layout.listing(id), READ_LIMITS.manifest),
    files.lstat(layout.ready(id)),
    readOrUndefined(files, layout.links(id), READ_LIMITS.links),
    readOrUndefined(files, layout.hook(id), READ_LIMITS.links)
  ])
  if (!listing || ready?.type !== 'file') return { drift: 'unknown' }
  const recorded = listing.toString('utf8')
  // The directories the release had, listed all at once (the walk confirms each one).
  const hints = recorded
    .split('\n')
    .filter(l => l.startsWith('d ./'))
    .map(l => l.slice(4))
  const now = await walkTree(files, layout.release(id), { hints })
  const linked = (links?.toString('utf8') ?? '')
    .split('\n')
    .filter(l => l !== '' && isPlainRelativePath(l))
  return {
    drift: driftOf(recorded, now, ready.mtime, linked),
    ...(hooked ? { hooked } : {})
  }
}

/**
 * Create what the layout lacks, then `mkdir .atomic-deploy/lock`. Returns once the lock is ours,
 * with the writing of its owner record under way.
 */
async function takeLock(
  files: RemoteFiles,
  options: SftpInspectOptions,
  layout: Layout,
  entries: DirEntry[] | undefined,
  byName: Map<string, DirEntry>,
  tried: PromiseSettledResult<void> | undefined
): Promise<{ ownerWritten: Promise<void> }> {
  const D = layout.dir
  const held = async (): Promise<never> => {
    const there = await files.lstat(layout.lock).catch(() => undefined)
    if (!there) refused(options, `permission user ${options.user} cannot write to ${D}`, [], D)
    throw new LockHeldError(
      `${options.label}: ${lockHeldMessage(await lockOwner(files, layout), D)}`
    )
  }
  if (tried?.status === 'fulfilled') return ownLock(files, options, layout)
  // The layout was there, and still the mkdir failed: the lock is held (or cannot be made).
  if (tried && byName.has('.atomic-deploy')) {
    const error: unknown = tried.reason
    if (!(error instanceof SftpError) || error.code === undefined) throw error
    return held()
  }
  const missing: string[] = []
  if (!entries) {
    // The deploy directory itself, and any missing parents, shallowest first.
    const ancestors: string[] = []
    for (let at = D; at !== '/' && at !== ''; at = path.posix.dirname(at)) ancestors.unshift(at)
    const found = await Promise.all(ancestors.map(a => files.lstat(a).catch(() => undefined)))
    ancestors.forEach((a, i) => {
      if (!found[i]) missing.push(a)
    })
  }
  for (const name of ['releases', 'shared', '.atomic-deploy'])
    if (!byName.has(name)) missing.push(`${D}/${name}`)
  try {
    // mkdir -p: another deploy starting at the same moment may make them first.
    if (missing.length > 0) await ensureDirectories(files, missing, DIRECTORY_MODE)
  } catch (error) {
    refused(
      options,
      `permission user ${options.user} cannot create directories in ${D} (${messageOf(error)})`,
      [],
      D
    )
  }
  try {
    await files.mkdir(layout.lock, DIRECTORY_MODE)
  } catch (error) {
    if (!(error instanceof SftpError) || error.code === undefined) throw error
    return held()
  }
  return ownLock(files, options, layout)
}

/** The lock is ours: say so, and write its owner record. */
function ownLock(
  files: RemoteFiles,
  options: SftpInspectOptions,
  layout: Layout
): { ownerWritten: Promise<void> } {
  lockedHere.add(options)
  options.onLocked?.(layout.dir)
  const ownerWritten = files.writeFile(layout.owner, Buffer.from(`${options.lock?.json ?? ''}\n`), {
    mode: 0o644,
    temporaryDir: layout.lock
  })
  return { ownerWritten }
}
