/**
 * Phase 3 on one server, its plan half: choose where the new release starts from (the live
 * release's copy, cache/, or nothing) from the records the inspect phase read, and diff the
 * source against it. Also the dry run's check of shared/.
 */
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { RemoteCommandError, messageOf } from '../../errors.js'
import { formatBytes, formatCount } from '../../logger.js'
import { parseManifest, type ManifestEntry } from '../../release/manifest.js'
import { makePlan as planDiff, onceForPair, type Plan } from '../../release/plan.js'
import {
  parseSharedListing,
  sharedDepth,
  sharedProblems as sharedPathProblems,
  type EntryType
} from '../../release/shared-check.js'
import { isReleasePath, notUnderLinks, topMost } from '../../release/drift.js'
import { walkTree } from '../../sftp/sftp-tree.js'
import { readBaseRecords } from '../sftp-inspect.js'
import { sharedListingScript } from '../remote-scripts.js'
import { values } from '../script-output.js'
import { lastLines } from '../server-messages.js'
import { SERVER_LIMITS, parseLinkList } from '../server-data.js'
import type { Reuse, SharedConflict } from '../../settings.js'
import { sourceManifest } from '../upload.js'
import { localView, parseViewAgainst } from '../../release/compact-manifest.js'
import type { Base, SessionState } from './session-state.js'

/** Decide the starting point and diff against it. */
export async function makePlan(
  s: SessionState,
  entries: ManifestEntry[],
  reuse: Reuse
): Promise<Plan> {
  s.base = await chooseBase(s, reuse, entries)
  const baseEntries = s.base.kind === 'none' ? NO_ENTRIES : s.base.entries
  if (s.base.kind === 'none') s.log.info(`full upload: ${s.base.reason}`)
  else if (s.base.kind === 'cache' && s.base.reason) s.log.info(`full upload: ${s.base.reason}`)
  // Servers that start from the same entries (the same view, or the source's own) share one
  // plan: a group of ten with identical plans computes it once.
  s.plan = { ...sharedPlan(entries, baseEntries) }
  const extra = s.base.kind === 'none' ? [] : s.base.remove
  if (extra.length > 0) {
    const planned = new Set(s.plan.remove)
    s.plan.remove = [...extra.filter(p => !planned.has(p)), ...s.plan.remove]
  }
  return s.plan
}

/**
 * The starting point's entries, from what the inspect script reported: the source's own when
 * the server said `same` (its manifest has the source's digest), else its view, else the
 * manifest an older version wrote (the new one is then sent whole). `stem` is the manifest's
 * path under .atomic-deploy without its suffix (`cache`, `manifests/<id>`); `manifest` in the
 * result names the server's manifest to put the new one together from, undefined when there
 * is none to use. A record past its limit or not valid throws, naming it.
 */
async function baseManifest(
  s: SessionState,
  local: ManifestEntry[],
  stem: string
): Promise<{ entries: ManifestEntry[]; manifest?: string } | undefined> {
  if (s.access === 'sftp') await readBaseOverSftp(s, local)
  const file = `${s.deployDir}/.atomic-deploy/${stem}`
  const old = stem === 'cache' ? `${file}.manifest.json.gz` : `${file}.json.gz`
  for (const [name, path] of [
    ['view', `${file}.view.gz`],
    ['view-text', `${file}.view`],
    ['manifest', old]
  ] as const) {
    const size = s.tooLarge.get(name)
    if (size !== undefined)
      throw new Error(
        `${path} is ${formatBytes(size)}, over the limit of ${formatBytes(SERVER_LIMITS.manifestBytes)}`
      )
  }
  if (s.same) return { entries: local, manifest: stem }
  if (s.viewBlob) {
    const { data, gzipped } = s.viewBlob
    try {
      return { entries: await viewEntries(data, gzipped, local), manifest: stem }
    } catch (error) {
      throw new Error(
        `${file}${gzipped ? '.view.gz' : '.view'} is not a valid manifest view (${messageOf(error)})`,
        { cause: error }
      )
    }
  }
  if (s.manifestBlob) {
    try {
      const limits = {
        compressed: SERVER_LIMITS.manifestBytes,
        json: SERVER_LIMITS.manifestJsonBytes
      }
      return { entries: (await parseManifest(s.manifestBlob, limits)).entries }
    } catch (error) {
      throw new Error(`${old} is not a valid manifest (${messageOf(error)})`, {
        cause: error
      })
    }
  }
  return undefined
}

/**
 * SFTP-only: what the inspect script would report of the starting point's manifest (see
 * readBaseRecords), read at inspect when the source's digest was known by then, or now. The
 * digest read is the source's: `same`, and nothing more is read.
 */
async function readBaseOverSftp(s: SessionState, local: ManifestEntry[]): Promise<void> {
  const base = s.sftpBase
  s.sftpBase = undefined
  if (!base) return
  const digest = (await sourceManifest(local)).digest
  const records =
    base.records?.sourceDigest === digest
      ? base.records
      : await readBaseRecords(await s.host.files(), base, digest).catch(error => {
          throw s.sftpFailure(error, 'reading the manifest')
        })
  if (records.same) {
    s.same = true
    return
  }
  const chosen = records.chosen
  if (!chosen) return
  if (!chosen.data) s.tooLarge.set(chosen.name, chosen.size as number)
  else if (chosen.name === 'manifest') s.manifestBlob = chosen.data
  else s.viewBlob = { data: chosen.data, gzipped: chosen.name === 'view' }
}

async function chooseBase(s: SessionState, reuse: Reuse, local: ManifestEntry[]): Promise<Base> {
  if (reuse === 'none') return { kind: 'none', reason: 'reuse is none' }
  const metadata = `${s.deployDir}/.atomic-deploy`
  if (reuse === 'cache') {
    // Every record of cache/ is checked: one that fails means cache/ is rebuilt from nothing.
    const rebuild = (reason: string): Base => {
      s.log.warning(reason)
      return { kind: 'cache', exists: false, entries: [], remove: [], reason }
    }
    if (s.tooLarge.has('pending'))
      return rebuild(
        `${metadata}/cache.pending is over the limit of ${formatBytes(SERVER_LIMITS.manifestBytes)}; cache/ is rebuilt from scratch and the manifest written anew`
      )
    let found: Awaited<ReturnType<typeof baseManifest>>
    try {
      found = await baseManifest(s, local, 'cache')
    } catch (error) {
      return rebuild(
        `${messageOf(error)}; cache/ is rebuilt from scratch and the manifest written anew`
      )
    }
    if (!found)
      return {
        kind: 'cache',
        exists: false,
        entries: [],
        remove: [],
        reason: 'cache/ has no manifest yet'
      }
    const pending = parsePending(s.pendingBlob)
    if (pending === undefined)
      return rebuild(
        `${metadata}/cache.pending, the record of an interrupted update of cache/, is not one path a line; cache/ is rebuilt from scratch`
      )
    if (pending.length > 0)
      s.log.info(
        `an earlier deploy was interrupted while updating cache/: ${pending.length} path${pending.length === 1 ? '' : 's'} there are sent again`
      )
    // With copy-method: hardlink the live release shares its files with cache/, so what was
    // changed in it in place since it was deployed (drift), or by its before-switch, may have
    // changed in cache/ too. Those paths are sent again like pending ones (with cp -a they
    // cost one upload each and change nothing else), so the new release holds the source.
    if (
      s.tooLarge.has('hooked') ||
      (s.drift !== undefined && !s.drift.complete) ||
      (s.hooked !== undefined && !s.hooked.complete)
    )
      return rebuild(
        `the live release ${s.liveRelease ?? ''} differs from its manifest in more paths than were listed; cache/, whose files it may share, is rebuilt from scratch`
      )
    const changed = [...(s.drift?.paths ?? []), ...(s.hooked?.paths ?? [])]
    return {
      kind: 'cache',
      exists: true,
      ...withoutPaths(found.entries, [...pending, ...changed]),
      ...(found.manifest ? { manifest: found.manifest } : {})
    }
  }
  if (s.liveRelease === undefined)
    return { kind: 'none', reason: 'first deploy (no current release)' }
  if (!s.releaseDirs.has(s.liveRelease)) {
    return {
      kind: 'none',
      reason: `current points to ${s.liveRelease}, which is not a directory in releases/`
    }
  }
  const file = `${metadata}/manifests/${s.liveRelease}`
  for (const [name, suffix, limit] of [
    ['links', '.links', SERVER_LIMITS.linksBytes],
    ['hooked', '.hook', SERVER_LIMITS.linksBytes]
  ] as const) {
    const size = s.tooLarge.get(name)
    if (size !== undefined)
      return notReused(
        s,
        `${file}${suffix} is ${formatBytes(size)}, over the limit of ${formatBytes(limit)}`
      )
  }
  // The live release's records steer what is removed from its copy: if either fails
  // validation, the copy is not used at all, and this release is uploaded whole.
  let found: Awaited<ReturnType<typeof baseManifest>>
  try {
    found = await baseManifest(s, local, `manifests/${s.liveRelease}`)
  } catch (error) {
    return notReused(s, messageOf(error))
  }
  if (!found) return { kind: 'none', reason: `the live release ${s.liveRelease} has no manifest` }
  let sharedLinks: string[]
  try {
    sharedLinks = parseLinkList(s.linksBlob ?? Buffer.alloc(0), `${file}.links`)
  } catch (error) {
    return notReused(s, messageOf(error))
  }
  // The copy loses its shared links (they are removed and linked again), and with them
  // whatever the release had at those paths: plan those paths as absent, so they are sent
  // again and the shared rules (conflict, replace) apply to them as on a first deploy.
  const entries = withoutLinked(found.entries, sharedLinks)
  // Paths changed in the live release since it was deployed (drift), or by its before-switch,
  // are not what its manifest says: the copy loses them, and the plan sends them again.
  const untrusted = [...(s.drift?.paths ?? []), ...(s.hooked?.paths ?? [])]
  if (
    (s.drift !== undefined && !s.drift.complete) ||
    (s.hooked !== undefined && !s.hooked.complete)
  )
    return {
      kind: 'none',
      reason: `the live release ${s.liveRelease} differs from its manifest in more paths than were listed`
    }
  return {
    kind: 'release',
    id: s.liveRelease,
    sharedLinks,
    ...withoutPaths(entries, untrusted),
    ...(found.manifest ? { manifest: found.manifest } : {})
  }
}

function notReused(s: SessionState, problem: string): Base {
  s.log.warning(
    `${problem}. Release ${s.liveRelease} is not used as the starting point: this deploy uploads everything and writes new records.`
  )
  return { kind: 'none', reason: `the records of ${s.liveRelease} are not valid` }
}

/** One line that says what the upload will do. */
export function planLine(s: SessionState): string {
  const plan = s.plan
  if (!plan) return 'no plan'
  // Every count is of files, so the three add up to what the two trees hold.
  return `uploading ${files(plan.uploadFiles)} (${formatBytes(plan.uploadBytes)}), deleting ${files(plan.deletedFiles)}, keeping ${files(plan.unchangedFiles)}`
}

/**
 * For a dry run: the shared-path conflicts and missing paths the release phase would fail on,
 * as its messages say them.
 */
export async function sharedProblems(
  s: SessionState,
  entries: ManifestEntry[],
  sharedPaths: string[] | undefined,
  conflict: SharedConflict
): Promise<string[]> {
  const describe = (shared: Map<string, EntryType>): string[] =>
    sharedPathProblems(shared, entries, sharedPaths, conflict).map(p =>
      p.kind === 'conflict'
        ? `${p.path} is both in shared/ and in the release; remove it from the source or exclude it, or set shared-conflict: replace`
        : `${p.path} is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory`
    )
  if (s.access === 'sftp')
    return describe(
      await sharedOverSftp(s, entries, sharedPaths).catch(error => {
        throw s.sftpFailure(error, 'listing shared/')
      })
    )
  const { result, output } = await s.script(
    sharedListingScript(s.deployDir, Math.min(sharedDepth(entries, sharedPaths), 32))
  )
  if (result.code !== 0 || !output.lines.includes('shared-end')) {
    throw new RemoteCommandError(
      `${s.label}: listing shared/ failed (exit ${result.code}): ${lastLines(result.stderrTail)}`,
      result.code,
      result.stderrTail
    )
  }
  return describe(parseSharedListing(values(output, 'shared-entry')))
}

/** What shared/ holds, as deep as deciding the shared paths needs, read over SFTP. */
async function sharedOverSftp(
  s: SessionState,
  entries: ManifestEntry[],
  sharedPaths: string[] | undefined
): Promise<Map<string, EntryType>> {
  const files = await s.host.files()
  const root = `${s.deployDir}/shared`
  const typeOf = (t: string): EntryType =>
    t === 'dir' ? 'dir' : t === 'symlink' ? 'symlink' : 'file'
  const shared = new Map<string, EntryType>()
  if (sharedPaths) {
    const rels = sharedPaths.map(p => p.replace(/\/$/, ''))
    const found = await Promise.all(rels.map(rel => files.lstat(`${root}/${rel}`)))
    rels.forEach((rel, i) => {
      const attrs = found[i]
      if (attrs) shared.set(rel, typeOf(attrs.type))
    })
    return shared
  }
  if ((await files.lstat(root))?.type !== 'dir') return shared
  const depth = Math.min(sharedDepth(entries, sharedPaths), 32)
  for (const e of await walkTree(files, root, { maxDepth: depth }))
    shared.set(e.path, typeOf(e.attrs.type))
  return shared
}

/** A starting point with no entries (a full upload). */
const NO_ENTRIES: ManifestEntry[] = []

/** withoutLinked's results, by the entries and the links: servers alike share them. */
const unlinked = new WeakMap<ManifestEntry[], Map<string, ManifestEntry[]>>()

/** `entries` less the shared links and whatever lies beneath them (computed once per pair). */
function withoutLinked(entries: ManifestEntry[], sharedLinks: string[]): ManifestEntry[] {
  if (sharedLinks.length === 0) return entries
  const key = sharedLinks.join('\0')
  let byLinks = unlinked.get(entries)
  if (!byLinks) unlinked.set(entries, (byLinks = new Map()))
  let kept = byLinks.get(key)
  if (!kept) {
    const linked = new Set(sharedLinks)
    const underLink = (p: string): boolean => {
      for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1))
        if (linked.has(p.slice(0, i))) return true
      return false
    }
    kept = entries.filter(e => !underLink(e.path))
    byLinks.set(key, kept)
  }
  return kept
}

/** makePlan(local, base), made once for a pair of arrays (a plan is never changed in place). */
const sharedPlan = onceForPair((local: ManifestEntry[], base: ManifestEntry[]): Plan =>
  planDiff(local, base)
)

/**
 * Manifest entries minus `paths` and everything under them, and the top-most of `paths` as the
 * removals that make a copy match what is left.
 */
function withoutPaths(
  entries: ManifestEntry[],
  paths: string[]
): { entries: ManifestEntry[]; remove: string[] } {
  if (paths.length === 0) return { entries, remove: [] }
  // Read back from the server: never a path through a link of the tree.
  const remove = topMost(notUnderLinks(paths, entries))
  const gone = new Set(remove)
  const under = (p: string): boolean => {
    for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1))
      if (gone.has(p.slice(0, i))) return true
    return false
  }
  return { entries: entries.filter(e => !under(e.path)), remove }
}

/**
 * cache.pending: one JSON string per line, each a path in cache/. Undefined when a line is not
 * one (the file is read back from the server: every path is checked before it steers a removal).
 */
function parsePending(blob: Buffer | undefined): string[] | undefined {
  if (!blob) return []
  const paths: string[] = []
  for (const line of blob.toString('utf8').split('\n')) {
    if (line === '') continue
    let p: unknown
    try {
      p = JSON.parse(line)
    } catch {
      return undefined
    }
    if (typeof p !== 'string' || !isReleasePath(p)) return undefined
    paths.push(p)
  }
  return paths
}

/** `1 file`, `3,500 files`. */
function files(n: number): string {
  return `${formatCount(n)} file${n === 1 ? '' : 's'}`
}

/** A view is 64 MB at most once unpacked (about 800,000 entries): a gzip bomb stops there. */
const VIEW_LIMIT = SERVER_LIMITS.manifestJsonBytes

/**
 * Views parsed, by the source they were read against and their bytes: servers that share a
 * starting point share the work.
 */
const views = new WeakMap<ManifestEntry[], Map<string, Promise<ManifestEntry[]>>>()

/**
 * The entries of a manifest view, gzipped or not, as read back from a server (untrusted), read
 * against the source's own view (see parseViewAgainst).
 */
function viewEntries(
  blob: Buffer,
  gzipped: boolean,
  local: ManifestEntry[]
): Promise<ManifestEntry[]> {
  const key = `${gzipped ? 'gz' : 'text'} ${createHash('sha256').update(blob).digest('hex')}`
  let byBlob = views.get(local)
  if (!byBlob) views.set(local, (byBlob = new Map()))
  let parsed = byBlob.get(key)
  if (!parsed) {
    parsed = (async () => {
      let text = blob
      if (gzipped) {
        try {
          text = await promisify(gunzip)(blob, { maxOutputLength: VIEW_LIMIT })
        } catch (error) {
          if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
            throw new Error(`it unpacks to more than ${VIEW_LIMIT} bytes`, { cause: error })
          throw error
        }
      }
      if (text.length > VIEW_LIMIT) throw new Error(`it is over ${VIEW_LIMIT} bytes`)
      return parseViewAgainst(text, localView(local))
    })()
    byBlob.set(key, parsed)
  }
  return parsed
}
