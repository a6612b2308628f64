/**
 * Phases 4 and 5 over SFTP alone: build `releases/<id>` from the manifest (unchanged files made
 * on the server with hardlink@openssh.com or copy-data from the release it starts from, the rest
 * uploaded), verify it (every path's type, size and mode, nothing extra, every link's target;
 * with verify: full, every file read back and hashed here), link shared paths, and record the
 * manifest, the revision and the release log, with the same files the shell scripts write.
 */
import { DeployRefusedError, messageOf } from '../errors.js'
import { formatBytes, formatCount, type Log } from '../logger.js'
import type { ManifestEntry } from '../release/manifest.js'
import type { Plan } from '../release/plan.js'
import { UploadProgress } from '../progress.js'
import type { RemoteFiles } from '../sftp/remote-files.js'
import { forEachPipelined } from '../sftp/sftp-batch.js'
import { isMissing } from '../sftp/sftp-engine.js'
import { makeDirectories, uploadEntries } from '../sftp/sftp-transfer.js'
import { removeTree, walkTree } from '../sftp/sftp-tree.js'
import type { CopyMethod, SharedConflict, VerifyLevel } from '../settings.js'
import { removalGuard, RemovalRefusedError, type RemovalGuard } from './removal-guard.js'
import type { Base } from './server-session.js'
import { layoutOf, logLine, type Layout } from './sftp-layout.js'
import { listingLine } from './upload.js'

const DIRECTORY_MODE = 0o775

export interface SftpReleaseOptions {
  files: RemoteFiles
  label: string
  log: Log
  deployDir: string
  releaseId: string
  sourceRoot: string
  entries: ManifestEntry[]
  plan: Plan
  base: Base
  copyMethod: CopyMethod
  verify: VerifyLevel
  sharedPaths?: string[]
  sharedConflict: SharedConflict
  /** One-line JSON revision record. */
  revision: string
  /** The gzipped manifest of `entries`. */
  manifest: Buffer
  /** Incomplete releases of earlier runs, to remove first. */
  staleReleases: string[]
  /** Leftovers the inspect phase found. */
  leftovers: { switchLinks: string[]; metaNames: string[] }
  /** Releases no removal may touch: current's target, the release it replaced. */
  protectedReleases: string[]
  /** Called once `releases/<id>` exists and is this run's to remove on failure. */
  onCreated: () => void
  signal?: AbortSignal
}

/** What the release phases found wrong, in the shell scripts' terms. */
export class SftpVerifyFailure extends Error {
  override name = 'SftpVerifyFailure'
  constructor(
    readonly unexpected: string[],
    readonly missing: string[],
    readonly badsum: string[]
  ) {
    super('the release does not match the manifest')
  }
}

export interface SftpReleaseResult {
  /** Files whose content crossed the wire. */
  uploadedFiles: number
  uploadedBytes: number
  shared: { linked: string[]; seeded: string[]; replaced: string[]; created: string[] }
}

/** How unchanged files get into the new release. */
type Copier = 'hardlink' | 'copy-data' | 'upload'

function chooseCopier(files: RemoteFiles, method: CopyMethod, log: Log): Copier {
  const { hardlink, copyData } = files.abilities
  if (method === 'hardlink' && hardlink) return 'hardlink'
  if (copyData) {
    if (method === 'hardlink')
      log.info(
        `the server's SFTP has no hardlink@openssh.com: unchanged files are copied on the server (copy-data)`
      )
    return 'copy-data'
  }
  if (method === 'copy' && hardlink)
    log.info(
      `the server's SFTP has no copy-data (OpenSSH before 9.0): unchanged files are sent again; 'copy-method: hardlink' would link them instead`
    )
  else log.info(`the server's SFTP can neither hard-link nor copy: every file is sent`)
  return 'upload'
}

export async function prepareOverSftp(o: SftpReleaseOptions): Promise<SftpReleaseResult> {
  const { files, signal, log } = o
  const L = layoutOf(o.deployDir)
  const id = o.releaseId
  const R = L.release(id)
  const guard = removalGuard({ deployDir: o.deployDir, protectedReleases: o.protectedReleases })
  const copier = o.base.kind === 'none' ? 'upload' : chooseCopier(files, o.copyMethod, log)

  const free = files.freeBytes(o.deployDir, signal).catch(() => undefined)
  const aborted = await removeLeftovers(o, L, guard)
  const needed = bytesNeeded(o, copier)
  const available = await free
  if (available !== undefined && available < needed) {
    throw new DeployRefusedError(
      `${o.label}: not enough free space in ${o.deployDir}: ${formatBytes(available)} free, ${formatBytes(needed)} needed for release ${id}. Free some space (keep-releases prunes old releases), then deploy again. Nothing was changed.`
    )
  }

  // Creating the release directory is the first write of this release, and it must not fail
  // into cleanup: a release that exists already is someone else's and stays as it is.
  try {
    await files.mkdir(R, DIRECTORY_MODE, signal)
  } catch (error) {
    if (await files.lstat(R).catch(() => undefined)) {
      throw new DeployRefusedError(
        `${o.label}: cannot create ${R} (does release ${id} exist already?)`
      )
    }
    throw error
  }
  o.onCreated()
  const logged = files.appendFile(
    L.log,
    Buffer.from(aborted.map(a => logLine('abort', a)).join('') + logLine('start', id)),
    0o644,
    signal
  )
  logged.catch(() => undefined)
  const metaDirs = makeDirectories(
    files,
    [
      L.tmp,
      ...[L.manifests, L.revisions].filter(
        d => !o.leftovers.metaNames.includes(d.slice(L.meta.length + 1))
      )
    ],
    DIRECTORY_MODE,
    signal
  )
  metaDirs.catch(() => undefined)

  const progress = new UploadProgress(log, o.plan.uploadFiles, o.plan.uploadBytes).start()
  const sent = { files: 0, bytes: 0, missing: 0 }
  const onFile = (bytes: number): void => {
    sent.files++
    sent.bytes += bytes
    progress.files++
    progress.bytes += bytes
  }
  try {
    await build(o, L, guard, copier, onFile, sent)
  } finally {
    progress.stop()
  }
  if (sent.missing > 0)
    log.info(
      `${formatCount(sent.missing)} unchanged files were missing on the server and were sent again`
    )
  await Promise.all([logged, metaDirs])

  await verifyRelease(o, R)
  const shared = await linkShared(o, L, guard)
  await record(o, L, shared.linked.concat(shared.parents))
  return {
    uploadedFiles: sent.files,
    uploadedBytes: sent.bytes,
    shared: {
      linked: shared.linked,
      seeded: shared.seeded,
      replaced: shared.replaced,
      created: shared.created
    }
  }
}

/** Bytes the new release adds on the server's disk (hard links add none). */
function bytesNeeded(o: SftpReleaseOptions, copier: Copier): number {
  const sent = new Set(o.plan.upload.map(e => e.path))
  let bytes = 0
  for (const e of o.entries) {
    if (e.type !== 'file') continue
    if (sent.has(e.path) || copier === 'upload' || copier === 'copy-data') bytes += e.size
  }
  return bytes
}

/**
 * What earlier runs left: incomplete releases (each logged as aborted once removed), temporary
 * switch links, the metadata scratch directory, and copies a shell deploy started at lock time.
 * Returns the ids of the releases removed.
 */
async function removeLeftovers(
  o: SftpReleaseOptions,
  L: Layout,
  guard: RemovalGuard
): Promise<string[]> {
  const { files, signal } = o
  const removed: string[] = []
  const stale = o.staleReleases.filter(r => r !== o.releaseId)
  await Promise.all([
    ...stale.map(async stale => {
      try {
        await removeTree(files, L.release(stale), { guard, signal })
        removed.push(stale)
      } catch (error) {
        // A log that calls the live release incomplete is wrong, not a reason to remove it.
        if (!(error instanceof RemovalRefusedError)) throw error
        o.log.warning(`left release ${stale} in place: ${error.message}`)
      }
    }),
    ...o.leftovers.switchLinks.map(name =>
      files.unlink(`${L.dir}/${name}`, signal).catch(error => {
        if (!isMissing(error)) throw error
      })
    ),
    ...o.leftovers.metaNames
      .filter(name => name === 'tmp' || /^base\.[0-9]+(\.[a-z.]+)?$/.test(name))
      .map(name => removeTree(files, `${L.meta}/${name}`, { guard, signal }))
  ])
  return removed
}

async function build(
  o: SftpReleaseOptions,
  L: Layout,
  guard: RemovalGuard,
  copier: Copier,
  onFile: (bytes: number) => void,
  sent: { missing: number }
): Promise<void> {
  const { files, signal, base, plan } = o
  const R = L.release(o.releaseId)
  const upload = { sourceRoot: o.sourceRoot, directoryMode: DIRECTORY_MODE, onFile, signal }
  if (base.kind === 'none') {
    await uploadEntries(files, o.entries, { ...upload, root: R })
    return
  }
  let from: string
  let changed: Set<string>
  if (base.kind === 'release') {
    from = L.release(base.id)
    changed = new Set(plan.upload.map(e => e.path))
  } else {
    // cache/: brought up to date first (its manifest goes until it is again true), then
    // copied whole into the release.
    await files.unlink(L.cacheManifest, signal).catch(error => {
      if (!isMissing(error)) throw error
    })
    if (!base.exists) {
      await removeTree(files, L.cache, { guard, signal })
      await files.mkdir(L.cache, DIRECTORY_MODE, signal)
    } else {
      await Promise.all(
        plan.remove.map(p => removeTree(files, `${L.cache}/${p}`, { guard, signal }))
      )
    }
    await uploadEntries(files, plan.upload, { ...upload, root: L.cache })
    from = L.cache
    changed = new Set()
  }
  await makeDirectories(
    files,
    o.entries.filter(e => e.type === 'dir').map(e => `${R}/${e.path}`),
    DIRECTORY_MODE,
    signal
  )
  await forEachPipelined(
    o.entries.filter(e => e.type !== 'dir'),
    async (e, batchSignal) => {
      const target = `${R}/${e.path}`
      if (e.type === 'symlink') {
        await files.symlink(e.target ?? '', target, batchSignal)
        return
      }
      if (!changed.has(e.path) && copier !== 'upload') {
        try {
          if (copier === 'hardlink') await files.hardlink(`${from}/${e.path}`, target, batchSignal)
          else
            await files.copyFile(`${from}/${e.path}`, target, {
              mode: e.mode,
              mtime: e.mtime,
              signal: batchSignal
            })
          return
        } catch (error) {
          // The starting copy lost a file (changed by hand): this side has it.
          if (!isMissing(error)) throw error
          sent.missing++
        }
      }
      await files.writeFile(
        target,
        { local: `${o.sourceRoot}/${e.path}`, size: e.size, sha256: e.sha256 },
        { mode: e.mode, mtime: e.mtime, signal: batchSignal }
      )
      onFile(e.size)
    },
    { signal }
  )
}

/** The listing line of what is on the server, in the form listingLine gives the manifest. */
function actualLine(path: string, attrs: { type: string; mode: number; size: number }): string {
  switch (attrs.type) {
    case 'file':
      return `f ${attrs.mode.toString(8)} ${attrs.size} ./${path}\n`
    case 'dir':
      return `d ./${path}\n`
    case 'symlink':
      return `l ${attrs.size} ./${path}\n`
    default:
      return `o ./${path}\n`
  }
}

/**
 * Every path's type, size and mode as sftp-server's lstat gives them, against the manifest, as a
 * multiset (nothing missing, nothing extra); every link's target read back; with verify: full,
 * every file read back and hashed here.
 */
async function verifyRelease(o: SftpReleaseOptions, R: string): Promise<void> {
  const { files, signal } = o
  const dirs = o.entries.filter(e => e.type === 'dir').map(e => e.path)
  const actual = await walkTree(files, R, { hints: dirs, signal })
  const expected = new Map<string, number>()
  for (const e of o.entries) {
    const line = listingLine(e)
    expected.set(line, (expected.get(line) ?? 0) + 1)
  }
  const unexpected: string[] = []
  for (const a of actual) {
    const line = actualLine(a.path, a.attrs)
    const count = expected.get(line) ?? 0
    if (count > 0) expected.set(line, count - 1)
    else unexpected.push(line.slice(0, -1))
  }
  const missing = [...expected].filter(([, n]) => n > 0).map(([line]) => line.slice(0, -1))
  const badsum: string[] = []
  const links = o.entries.filter(e => e.type === 'symlink')
  const contents = o.verify === 'full' ? o.entries.filter(e => e.type === 'file') : []
  if (unexpected.length === 0 && missing.length === 0) {
    await forEachPipelined(
      [...links, ...contents],
      async (e, batchSignal) => {
        if (e.type === 'symlink') {
          const target = await files.readlink(`${R}/${e.path}`, batchSignal)
          if (target !== e.target) badsum.push(`${e.path}: FAILED (link target)`)
        } else {
          const { sha256 } = await files.sha256(`${R}/${e.path}`, batchSignal)
          if (sha256 !== e.sha256) badsum.push(`${e.path}: FAILED`)
        }
      },
      { signal }
    )
  }
  if (unexpected.length + missing.length + badsum.length > 0)
    throw new SftpVerifyFailure(unexpected.slice(0, 50), missing.slice(0, 50), badsum.slice(0, 50))
}

interface SharedResult {
  linked: string[]
  /** Parents of shared links made in the release, recorded with the links (see createParent). */
  parents: string[]
  seeded: string[]
  replaced: string[]
  created: string[]
}

function sharedTarget(rel: string): string {
  return `${'../'.repeat(rel.split('/').length + 1)}shared/${rel}`
}

/** Link shared paths, by the rules of the shell scripts' autoShared and explicitShared. */
async function linkShared(
  o: SftpReleaseOptions,
  L: Layout,
  guard: RemovalGuard
): Promise<SharedResult> {
  const { files, signal } = o
  const R = L.release(o.releaseId)
  const inRelease = new Map(o.entries.map(e => [e.path, e]))
  const result: SharedResult = { linked: [], parents: [], seeded: [], replaced: [], created: [] }
  const conflict = (rel: string, hint: string): DeployRefusedError =>
    new DeployRefusedError(
      `${o.label}: ${rel} is both in shared/ and in the release; ${hint}, or set shared-conflict: replace`
    )
  const link = async (rel: string): Promise<void> => {
    await files.symlink(sharedTarget(rel), `${R}/${rel}`, signal)
    result.linked.push(rel)
  }
  const replace = async (rel: string): Promise<void> => {
    await removeTree(files, `${R}/${rel}`, { guard, signal })
    result.replaced.push(rel)
  }

  if (!o.sharedPaths) {
    // Every entry of shared/ at the first level the release does not have; where both have a
    // directory of that name, one level down.
    const walk = async (prefix: string): Promise<void> => {
      let listed
      try {
        listed = await files.list(prefix === '' ? L.shared : `${L.shared}/${prefix}`, signal)
      } catch (error) {
        if (isMissing(error)) return
        throw error
      }
      await Promise.all(
        listed.map(async entry => {
          const rel = `${prefix}${entry.name}`
          const there = inRelease.get(rel)
          if (there?.type === 'dir' && entry.attrs.type === 'dir') return walk(`${rel}/`)
          if (there) {
            if (o.sharedConflict !== 'replace') throw conflict(rel, 'remove it from the source')
            await replace(rel)
          }
          await link(rel)
        })
      )
    }
    await walk('')
    return result
  }

  // Explicit paths: every one checked before anything changes, so a refusal leaves shared/ as
  // it was; what is seeded or created is recorded first, so an abort puts it back.
  const entries = o.sharedPaths.map(p => ({ rel: p.replace(/\/$/, ''), dir: p.endsWith('/') }))
  const inShared = await Promise.all(entries.map(e => files.lstat(`${L.shared}/${e.rel}`, signal)))
  const record: string[] = []
  entries.forEach((e, i) => {
    const s = inShared[i] !== undefined
    const d = inRelease.has(e.rel)
    if (s && d && o.sharedConflict === 'fail')
      throw conflict(e.rel, 'remove it from the source or exclude it')
    if (!s && !d && !e.dir)
      throw new DeployRefusedError(
        `${o.label}: ${e.rel} is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory`
      )
    if (!s) record.push(`${d ? 'seeded' : 'created'} ${e.rel}\n`)
  })
  if (record.length > 0)
    await o.files.writeFile(L.seeded(o.releaseId), Buffer.from(record.join('')), {
      mode: 0o644,
      temporaryDir: L.tmp,
      signal
    })
  for (const [i, e] of entries.entries()) {
    const s = inShared[i] !== undefined
    const d = inRelease.has(e.rel)
    const parent = e.rel.includes('/') ? e.rel.slice(0, e.rel.lastIndexOf('/')) : ''
    if (s && d) await replace(e.rel)
    else if (d) {
      if (parent) await ensureDirectories(files, L.shared, parent, signal)
      await files.rename(`${R}/${e.rel}`, `${L.shared}/${e.rel}`, signal)
      result.seeded.push(e.rel)
    } else if (!s) {
      await ensureDirectories(files, L.shared, e.rel, signal)
      result.created.push(e.rel)
    }
    if (parent) {
      // The parent in the release, when the source lacks it: its topmost new directory is
      // recorded with the links, so the next release's copy drops it with them.
      const top = topMissing(parent, inRelease)
      await ensureDirectories(files, R, parent, signal)
      if (top !== undefined && !result.parents.includes(top)) result.parents.push(top)
    }
    await link(e.rel)
  }
  return result
}

function topMissing(parent: string, inRelease: Map<string, ManifestEntry>): string | undefined {
  const parts = parent.split('/')
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/')
    if (!inRelease.has(prefix)) return prefix
  }
  return undefined
}

/** `mkdir -p base/rel`: every missing component, keeping what is there. */
async function ensureDirectories(
  files: RemoteFiles,
  base: string,
  rel: string,
  signal?: AbortSignal
): Promise<void> {
  const parts = rel.split('/')
  const paths = parts.map((_, i) => `${base}/${parts.slice(0, i + 1).join('/')}`)
  const made = await Promise.allSettled(paths.map(p => files.mkdir(p, DIRECTORY_MODE, signal)))
  for (const [i, m] of made.entries()) {
    if (m.status === 'fulfilled') continue
    const there = await files.lstat(paths[i] as string, signal)
    if (there?.type !== 'dir') throw new Error(`cannot create ${paths[i]}: ${messageOf(m.reason)}`)
  }
}

/** The manifest, the shared links and the revision record, then `ready` in the release log. */
async function record(o: SftpReleaseOptions, L: Layout, links: string[]): Promise<void> {
  const { files, signal } = o
  const id = o.releaseId
  const write = (path: string, data: Buffer, mode: number): Promise<void> =>
    files.writeFile(path, data, { mode, temporaryDir: L.tmp, signal })
  await Promise.all([
    write(L.manifest(id), o.manifest, 0o600),
    write(L.links(id), Buffer.from(links.map(l => `${l}\n`).join('')), 0o644),
    write(L.revision(id), Buffer.from(`${o.revision}\n`), 0o600),
    ...(o.base.kind === 'cache' ? [write(L.cacheManifest, o.manifest, 0o600)] : [])
  ])
  await files.appendFile(L.log, Buffer.from(logLine('ready', id)), 0o644, signal)
  await files.rmdir(L.tmp, signal).catch(() => undefined)
}
