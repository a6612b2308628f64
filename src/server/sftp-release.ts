/**
 * Phases 4 and 5 over SFTP alone: build `releases/<id>` from the manifest (unchanged files made
 * on the server with hardlink@openssh.com or copy-data from the release it starts from, the rest
 * uploaded), verify it (every path's type, size and mode, nothing extra, every link's target;
 * with verify: full, every file read back and hashed here), link shared paths, and record the
 * manifest, the revision and the release log, with the same files the shell scripts write.
 */
import { gzipSync } from 'node:zlib'
import { DeployRefusedError, messageOf } from '../errors.js'
import { formatBytes, formatCount, type Log } from '../logger.js'
import { manifestView } from '../release/compact-manifest.js'
import type { ManifestEntry } from '../release/manifest.js'
import type { Plan } from '../release/plan.js'
import { UploadProgress } from '../progress.js'
import type { Appender, DirEntry, FileAttributes, RemoteFiles } from '../sftp/remote-files.js'
import { forEachPipelined } from '../sftp/sftp-batch.js'
import { isMissing, TooLargeError } from '../sftp/sftp-engine.js'
import {
  ensureDirectories,
  makeDirectories,
  umaskSpares,
  uploadEntries
} from '../sftp/sftp-transfer.js'
import { removeTree, removeTrees, walkTree } from '../sftp/sftp-tree.js'
import type { CopyMethod, SharedConflict, VerifyLevel } from '../settings.js'
import { shown } from './server-data.js'
import { removalGuard, RemovalRefusedError, type RemovalGuard } from './removal-guard.js'
import type { Base } from './session/session-state.js'
import {
  COMPACT_SUFFIXES,
  layoutOf,
  linkListText,
  logLine,
  MODES,
  type Layout
} from './sftp-layout.js'
import { listingLine as actualListingLine } from './sftp-listing.js'
import { listingLine } from './upload.js'

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
  /** The compact manifest of `entries` and its digest (see compact-manifest.ts). */
  manifest: { text: Buffer; digest: string }
  /** Incomplete releases of earlier runs, to remove first. */
  staleReleases: string[]
  /** Leftovers the inspect phase found. */
  leftovers: {
    switchLinks: string[]
    metaNames: string[]
    tmpNames?: string[]
    /** Trees in releases/ that cut runs set aside to remove (SftpInspection.setAside). */
    setAside?: string[]
  }
  /** Releases no removal may touch: current's target, the release it replaced. */
  protectedReleases: string[]
  /**
   * The starting release was walked by the drift check, and the base planned without whatever
   * differed: its directories and files are what the manifest says. Otherwise (cache/, or no
   * drift check) it is walked before anything is read from it or written into it.
   */
  baseChecked?: boolean
  /** Directories of the starting copy the plan writes into or removes from (writtenDirectories). */
  writeDirs?: string[]
  /** Called once `releases/<id>` exists and is this run's to remove on failure. */
  onCreated: () => void
  /** Given the release log, opened for appending, for the phases after this one. */
  keepLog?: (appender: Appender) => void
  /**
   * Called as the release's last records leave, once it is verified: what the next phases read
   * (the lock's owner record) goes out with them rather than a round trip later.
   */
  onVerified?: () => void
  signal?: AbortSignal
}

/** What the release phases found wrong, in the shell scripts' terms. */
export class SftpVerifyFailure extends Error {
  override name = 'SftpVerifyFailure'
  constructor(
    readonly unexpected: string[],
    readonly missing: string[],
    /** Content and link targets that differ, described ('content differs: <path>'). */
    readonly differs: string[]
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

/**
 * Requests that do not depend on each other leave together: sftp-server handles a session's
 * requests one after another, and the SFTP draft requires every server to answer as if it did
 * ("the results in the responses will be the same as if it had sent the requests one at a time
 * and waited for the response in each case", draft-ietf-secsh-filexfer-02, section 6.1). So a
 * directory's mkdir and the files made in it leave back to back; what only reads (shared/) or
 * writes elsewhere (the manifest, the log) goes beside the build.
 */
export async function prepareOverSftp(o: SftpReleaseOptions): Promise<SftpReleaseResult> {
  const { files, signal, log } = o
  // How long each step took, for ACTIONS_STEP_DEBUG: where an SFTP-only deploy spends its time.
  let last = performance.now()
  const took = (step: string): void => {
    const now = performance.now()
    log.debug(`sftp: ${step} in ${Math.round(now - last)} ms`)
    last = now
  }
  const L = layoutOf(o.deployDir)
  const id = o.releaseId
  const R = L.release(id)
  const guard = removalGuard({ deployDir: o.deployDir, protectedReleases: o.protectedReleases })
  const copier = o.base.kind === 'none' ? 'upload' : chooseCopier(files, o.copyMethod, log)
  const quiet = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => undefined)
    return p
  }

  // Creating the release directory is the first write of this release, and it must not fail
  // into cleanup: a release that exists already is someone else's and stays as it is. The free
  // space is asked for beside it, and the release log opened (it stays open until the release
  // is recorded).
  const free = quiet(files.freeBytes(o.deployDir, signal).catch(() => undefined))
  const logFile = quiet(files.appender(L.log, MODES.privateFile, signal))
  const closeLog = (): Promise<void> => logFile.then(a => a.close()).catch(() => undefined)
  // The release directory is made with the server's umask (sftp-server's: an SFTP account's own),
  // less o-w, as a shell deploy makes it with the login's: what it gets is the mode of every
  // directory of the release (set explicitly, and verified). A seed record for this new id can
  // only have been planted: this run's record starts empty.

  const planted = quiet(
    removeTree(files, L.seeded(id), { guard, signal }).then(
      () => undefined,
      (error: unknown) => error
    )
  )
  let dirMode: number
  let modeAtOpen: (mode: number) => boolean
  const creating = files.mkdir(R, MODES.layoutDir, signal)
  // Right behind the mkdir: sftp-server answers it first.
  const made = quiet(files.lstat(R, signal))
  try {
    await creating
    // (Asked again where a server did not keep the order and answered the lstat first.)
    const attrs = (await made) ?? (await files.lstat(R, signal))
    dirMode = (attrs?.mode ?? MODES.layoutDir) & 0o777 & ~0o002
    // What the server's umask leaves whole, from this mkdir: files and directories created with
    // such a mode need no setstat after (one request fewer each).
    modeAtOpen = umaskSpares(MODES.layoutDir, attrs?.mode)
  } catch (error) {
    await closeLog()
    if (await files.lstat(R).catch(() => undefined)) {
      throw new DeployRefusedError(
        `${o.label}: cannot create ${R} (does release ${id} exist already?)`
      )
    }
    throw error
  }
  const needed = bytesNeeded(o, copier)
  const available = await free
  if (available !== undefined && available < needed) {
    await Promise.all([files.rmdir(R).catch(() => undefined), closeLog()])
    throw new DeployRefusedError(
      `${o.label}: not enough free space in ${o.deployDir}: ${formatBytes(available)} free, ${formatBytes(needed)} needed for release ${id}. Free some space (keep-releases prunes old releases), then deploy again. Nothing was changed.`
    )
  }
  o.onCreated()
  const plantedFailure = await planted
  if (plantedFailure !== undefined) throw plantedFailure
  const appender = await logFile
  o.keepLog?.(appender)
  // Logged as begun before anything is written into it, and never cancelled: a release the log
  // does not know of would never be cleaned up.
  const started = quiet(appender.append(Buffer.from(logLine('start', id))))
  took(`${R} created`)

  // Beside the build: what earlier runs left, the metadata directories and files, and what
  // shared/ holds.
  const leftovers = quiet(
    removeLeftovers(o, L, guard).then(async aborted => {
      if (aborted.length > 0)
        await appender.append(Buffer.from(aborted.map(a => logLine('abort', a)).join('')), signal)
    })
  )
  // tmp/ as the inspect found it (a real directory of the deploy user's, checked under the lock)
  // is written into at once: every temporary name is new and opened exclusively, so what a cut
  // run left there (listed at inspect, before this run wrote anything there) is in nobody's way,
  // and is removed beside the build (removeLeftovers).
  const scratch = quiet(
    makeDirectories(
      files,
      [L.tmp, L.manifests, L.revisions].filter(
        d => !o.leftovers.metaNames.includes(d.slice(L.meta.length + 1))
      ),
      MODES.privateDir,
      signal
    )
  )
  const write = (path: string, data: Buffer, mode: number): Promise<void> =>
    files.writeFile(path, data, { mode, temporaryDir: L.tmp, signal })
  // The manifest as lib/manifest.sh's install_manifest leaves it, so that a shell deploy that
  // follows puts its next manifest together from it, or finds nothing changed by its digest.
  const view = gzipSync(manifestView(o.manifest.text), { level: 6 })
  const writeManifest = (stem: string): Promise<unknown> =>
    Promise.all([
      write(`${stem}.view.gz`, view, MODES.privateFile),
      write(`${stem}.m2`, o.manifest.text, MODES.privateFile),
      write(`${stem}.digest`, Buffer.from(`${o.manifest.digest}\n`), MODES.privateFile)
    ])
  const metadata = quiet(
    scratch.then(() =>
      Promise.all([
        writeManifest(L.manifestStem(id)),
        write(L.revision(id), Buffer.from(`${o.revision}\n`), MODES.privateFile)
      ])
    )
  )
  // Shared paths are decided from what shared/ holds (read beside the build), and recorded
  // (the links, the seed record) before the release is verified; they are made after it.
  const plan = quiet(readShared(o, L).then(read => planShared(o, L, read)))
  const planned = quiet(
    Promise.all([plan, scratch]).then(([p]) =>
      Promise.all([
        write(
          L.links(id),
          Buffer.from(linkListText([...p.linked, ...p.parents])),
          MODES.privateFile
        ),
        ...(p.record.length > 0
          ? [write(L.seeded(id), Buffer.from(p.record.join('')), MODES.privateFile)]
          : [])
      ])
    )
  )

  // What goes on beside the build: waited for before the release is used, and settled before a
  // failure is reported, as the caller's abort removes the release's records and a write still
  // under way (a record renamed into manifests/, a line appended to the log) would otherwise
  // land after it.
  const besideBuild = [started, leftovers, metadata, planned]
  const settled = (): Promise<unknown> => Promise.allSettled(besideBuild)

  const progress = new UploadProgress(log, o.plan.uploadFiles, o.plan.uploadBytes).start()
  const sent = { files: 0, bytes: 0, missing: 0 }
  const onFile = (entry: ManifestEntry): void => {
    sent.files++
    sent.bytes += entry.size
    progress.files++
    progress.bytes += entry.size
  }
  // A shared path refused (a conflict) stops the build at once: the release will not be used.
  const building = new AbortController()
  const stop = (): void => building.abort(signal?.reason)
  signal?.addEventListener('abort', stop, { once: true })
  if (signal?.aborted) stop()
  plan.catch(error => building.abort(error))
  try {
    await build({ ...o, signal: building.signal }, L, guard, copier, onFile, sent, {
      dirMode,
      modeAtOpen
    })
  } catch (error) {
    const refusal = await plan.then(
      () => undefined,
      (failure: unknown) => failure
    )
    await settled()
    throw refusal ?? error
  } finally {
    signal?.removeEventListener('abort', stop)
    progress.stop()
  }
  took(`release built (${copier} for unchanged files, ${sent.files} uploaded)`)
  if (sent.missing > 0)
    log.info(
      `${formatCount(sent.missing)} unchanged files were missing on the server and were sent again`
    )

  // The records of what the release is when verified (its listing) and of when it became
  // ready (an empty marker, made now, after every file of the build): the next deploy's drift
  // check compares the live release with both, as with a release.sh deploy. Opened while the
  // release is verified, written right after.
  const records = quiet(
    scratch.then(() =>
      Promise.all([
        files.openForWrite(L.listing(id), {
          mode: MODES.privateFile,
          temporaryDir: L.tmp,
          signal
        }),
        files.openForWrite(L.ready(id), { mode: MODES.privateFile, temporaryDir: L.tmp, signal })
      ])
    )
  )
  let listing: string
  try {
    listing = await verifyRelease(o, R, dirMode)
  } catch (error) {
    await Promise.all([
      records.then(
        opened => Promise.all(opened.map(f => f.discard())),
        () => undefined
      ),
      settled()
    ])
    throw error
  }
  const [listingFile, readyFile] = await records
  took('release verified')
  const shared = await plan
  await Promise.all(besideBuild)
  // Verified: cache/ holds exactly the manifest, whatever happens to this release from here.
  if (o.base.kind === 'cache') {
    await writeManifest(L.cacheStem)
    // What an older version wrote, a view without gzip, the paths pending: all superseded.
    await removeTrees(files, [L.cacheManifest, `${L.cacheStem}.view`, L.cachePending], {
      guard,
      signal
    })
  }
  o.onVerified?.()
  const recorded = Promise.all([
    listingFile.commit(Buffer.from(listing)),
    readyFile.commit(Buffer.alloc(0))
  ])
  recorded.catch(() => undefined)
  const ready = (): Promise<void> => appender.append(Buffer.from(logLine('ready', id)), signal)
  if (shared.actions.every(a => a.kind === 'link' && !a.replace && !a.parent)) {
    // Links alone: the records written and the links made, and the release logged as ready
    // right behind them, in one round trip.
    await Promise.all([recorded, applyShared(o, L, guard, shared), ready()])
  } else {
    await Promise.all([recorded, applyShared(o, L, guard, shared)])
    await ready()
  }
  // Empty by now; its answer is not waited for (whatever is left there goes with the next
  // deploy).
  quiet(files.rmdir(L.tmp))
  took('release logged as ready')
  return {
    uploadedFiles: sent.files,
    uploadedBytes: sent.bytes,
    shared: {
      linked: shared.linked,
      seeded: shared.actions.filter(a => a.kind === 'seed').map(a => a.rel),
      replaced: shared.actions.filter(a => a.replace).map(a => a.rel),
      created: shared.actions.filter(a => a.kind === 'create').map(a => a.rel)
    }
  }
}

/**
 * A starting copy is server data too: a directory of it that is a symlink now (a release changed
 * by hand, or planted), or a file that is no longer a regular file, would be read through
 * (copy-data opens what a link points to) or written through (a sync of cache/). `root` is
 * walked (one listing per directory, all at once; links are never entered), and any such path
 * refuses the deploy before anything is read from it or written into it, as release.sh's
 * check_copy refuses the copy.
 */
async function checkBase(
  files: RemoteFiles,
  label: string,
  root: string,
  what: string,
  copied: readonly ManifestEntry[],
  writeDirs: readonly string[],
  signal: AbortSignal | undefined
): Promise<void> {
  const parents = new Set<string>(writeDirs)
  for (const e of copied)
    for (let i = e.path.indexOf('/'); i > 0; i = e.path.indexOf('/', i + 1))
      parents.add(e.path.slice(0, i))
  const found = new Map(
    (await walkTree(files, root, { hints: parents, signal })).map(e => [e.path, e.attrs.type])
  )
  const refuse = (p: string, expected: string): never => {
    throw new DeployRefusedError(
      `${label}: ${shown(p)} is ${found.get(p) === 'symlink' ? 'a symlink' : `not a ${expected}`} in ${what}, where the manifest has a ${expected}; nothing was read or written through it. ${what === 'cache/' ? 'cache/ was changed on the server: remove it, and the next deploy with reuse: cache rebuilds it' : "The live release was changed on the server: deploy once with 'reuse: none' (or use 'reuse: cache')"}.`
    )
  }
  for (const dir of [...parents].sort()) {
    const type = found.get(dir)
    if (type !== undefined && type !== 'dir') refuse(dir, 'directory')
  }
  // Symlinks are made anew from the manifest, never copied: only files are read.
  for (const e of copied) {
    const type = found.get(e.path)
    if (e.type === 'file' && type !== undefined && type !== 'file') refuse(e.path, 'file')
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
 * switch links, copies a shell deploy started at lock time, what cut runs left in tmp/, and the
 * trees a cut abort or prune set aside in releases/. Returns the ids of the releases removed.
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
      removeTree(files, `${L.dir}/${name}`, { guard, signal })
    ),
    ...o.leftovers.metaNames
      .filter(name => /^base\.[0-9]+(\.[a-z.]+)?$/.test(name))
      .map(name => removeTree(files, `${L.meta}/${name}`, { guard, signal })),
    // What cut runs left in tmp/, by the names listed at inspect: never this run's own files.
    ...(o.leftovers.tmpNames ?? []).map(name =>
      removeTree(files, `${L.tmp}/${name}`, { guard, signal })
    ),
    // As release.sh's prepare removes them. The run that set one aside may still be removing
    // it (a shell run's prune goes on in the background after its unlock): what this removal
    // cannot finish is said, and left to the next deploy.
    ...(o.leftovers.setAside ?? []).map(name =>
      removeTree(files, `${L.releases}/${name}`, { guard, signal }).catch((error: unknown) => {
        if (signal?.aborted) throw error
        o.log.warning(`releases/${shown(name)} was not removed: ${messageOf(error)}`)
      })
    )
  ])
  return removed
}

async function build(
  o: SftpReleaseOptions,
  L: Layout,
  guard: RemovalGuard,
  copier: Copier,
  onFile: (entry: ManifestEntry) => void,
  sent: { missing: number },
  modes: { dirMode: number; modeAtOpen: (mode: number) => boolean }
): Promise<void> {
  const { files, signal, base, plan } = o
  const { dirMode, modeAtOpen } = modes
  const R = L.release(o.releaseId)
  const upload = { sourceRoot: o.sourceRoot, directoryMode: dirMode, onFile, modeAtOpen, signal }
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
    // cache/: brought up to date first, then copied whole into the release. Its manifest is
    // rewritten once the release is verified; until then cache.pending names the paths this
    // sync touches, so an interrupted sync costs the next deploy only those (as release.sh).
    if (!base.exists) {
      await removeTrees(
        files,
        [
          ...COMPACT_SUFFIXES.map(s => `${L.cacheStem}.${s}`),
          L.cacheManifest,
          L.cachePending,
          L.cache
        ],
        { guard, signal }
      )
      await files.mkdir(L.cache, MODES.layoutDir, signal)
    } else {
      // What the sync writes into, and what is copied from cache/, checked first.
      await checkBase(files, o.label, L.cache, 'cache/', o.entries, o.writeDirs ?? [], signal)
      const touched = [...plan.remove, ...plan.upload.map(e => e.path)]
      if (touched.length > 0)
        await files.appendFile(
          L.cachePending,
          Buffer.from(touched.map(p => `${JSON.stringify(p)}\n`).join('')),
          MODES.privateFile,
          signal
        )
      await Promise.all(
        plan.remove.map(p => removeTree(files, `${L.cache}/${p}`, { guard, signal }))
      )
    }
    await uploadEntries(files, plan.upload, { ...upload, root: L.cache })
    from = L.cache
    changed = new Set()
  }
  // The directories' mkdirs leave first, the files right behind them (see prepareOverSftp).
  const dirs = makeDirectories(
    files,
    o.entries.filter(e => e.type === 'dir').map(e => `${R}/${e.path}`),
    dirMode,
    signal,
    modeAtOpen(dirMode)
  )
  dirs.catch(() => undefined)
  // What crosses the wire first, so that its transfer overlaps with the copies made on the
  // server; then the rest.
  const items = o.entries.filter(e => e.type !== 'dir')
  const sentFirst = copier === 'upload' ? items : items.filter(e => changed.has(e.path))
  const madeThere = copier === 'upload' ? [] : items.filter(e => !changed.has(e.path))
  // The release copied from is read through: unless the drift check walked it already, it is
  // walked beside the uploads, and the copies wait for it.
  const baseOk =
    base.kind === 'release' && !o.baseChecked && madeThere.length > 0
      ? checkBase(files, o.label, from, `release ${base.id}`, madeThere, [], signal)
      : Promise.resolve()
  baseOk.catch(() => undefined)
  const made = forEachPipelined(
    [...sentFirst, ...madeThere],
    async (e, batchSignal) => {
      const target = `${R}/${e.path}`
      if (e.type === 'symlink') {
        await files.symlink(e.target ?? '', target, batchSignal)
        return
      }
      if (!changed.has(e.path) && copier !== 'upload') {
        await baseOk
        try {
          if (copier === 'hardlink') await files.hardlink(`${from}/${e.path}`, target, batchSignal)
          else
            await files.copyFile(`${from}/${e.path}`, target, {
              mode: e.mode,
              modeAtOpen: modeAtOpen(e.mode),
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
        { mode: e.mode, modeAtOpen: modeAtOpen(e.mode), signal: batchSignal }
      )
      onFile(e)
    },
    { signal }
  )
  // A failed mkdir is the cause to report, rather than the files it left without a directory.
  const [dirsResult, madeResult] = await Promise.allSettled([dirs, made])
  if (dirsResult.status === 'rejected') throw dirsResult.reason
  if (madeResult.status === 'rejected') throw madeResult.reason
}

/**
 * Every path's type, size and mode as sftp-server's lstat gives them, against the manifest, as a
 * multiset (nothing missing, nothing extra); every link's target read back; with verify: full,
 * every file read back and hashed here.
 */
async function verifyRelease(o: SftpReleaseOptions, R: string, dirMode: number): Promise<string> {
  const { files, signal } = o
  const dirs = o.entries.filter(e => e.type === 'dir').map(e => e.path)
  // Links read back (and, with verify: full, files read back) beside the listing: a path the
  // listing finds missing or of another type is reported by it, whatever these find there.
  const differs: string[] = []
  const links = o.entries.filter(e => e.type === 'symlink')
  const contents = o.verify === 'full' ? o.entries.filter(e => e.type === 'file') : []
  const checked = forEachPipelined(
    [...links, ...contents],
    async (e, batchSignal) => {
      try {
        if (e.type === 'symlink') {
          const target = await files.readlink(`${R}/${e.path}`, batchSignal)
          if (target !== e.target) differs.push(`symlink target differs: ${shown(e.path)}`)
        } else {
          // Read no further than the file the manifest describes (and one byte more).
          const { sha256 } = await files
            .sha256(`${R}/${e.path}`, e.size + 1, batchSignal)
            .catch(error => {
              if (error instanceof TooLargeError) return { sha256: '' }
              throw error
            })
          if (sha256 !== e.sha256) differs.push(`content differs: ${shown(e.path)}`)
        }
      } catch (error) {
        if (!isMissing(error)) throw error
      }
    },
    { signal }
  )
  checked.catch(() => undefined)
  const actual = await walkTree(files, R, { hints: dirs, signal })
  const expected = new Map<string, number>()
  for (const e of o.entries) {
    const line = listingLine(e)
    expected.set(line, (expected.get(line) ?? 0) + 1)
  }
  const unexpected: string[] = []
  const lines: string[] = []
  for (const a of actual) {
    // What list_tree would print (an 'o' line for what it would not list: never expected).
    const line = `${actualListingLine(a) ?? `o ./${a.path}`}\n`
    lines.push(line)
    // Every directory has the release's mode (set-id and sticky bits are the server's), as
    // release.sh checks it: one with another mode is unexpected, whatever its path.
    if (a.attrs.type === 'dir' && (a.attrs.mode & 0o777) !== dirMode) {
      unexpected.push(line.slice(0, -1))
      continue
    }
    const compared = a.attrs.type === 'dir' ? `d ./${a.path}\n` : line
    const count = expected.get(compared) ?? 0
    if (count > 0) expected.set(compared, count - 1)
    else unexpected.push(line.slice(0, -1))
  }
  const missing = [...expected].filter(([, n]) => n > 0).map(([line]) => line.slice(0, -1))
  await checked
  if (unexpected.length + missing.length + differs.length > 0)
    throw new SftpVerifyFailure(unexpected.slice(0, 50), missing.slice(0, 50), differs.slice(0, 50))
  return lines.join('')
}

function sharedTarget(rel: string): string {
  return `${'../'.repeat(rel.split('/').length + 1)}shared/${rel}`
}

/** One shared path, by the rules of the shell scripts' autoShared and explicitShared. */
interface SharedAction {
  rel: string
  /** link: shared/ has it; seed: the release's own moves into shared/; create: made empty. */
  kind: 'link' | 'seed' | 'create'
  /** The release's own copy is removed first (shared-conflict: replace). */
  replace: boolean
  /** The link's parent directory, when the release lacks it (listed paths only). */
  parent?: string
}

interface SharedPlan {
  actions: SharedAction[]
  linked: string[]
  /** Topmost parents made in the release for links, recorded with the links (createParent). */
  parents: string[]
  /** Lines of the seed record: what an abort puts back. */
  record: string[]
}

/** What shared/ holds: its top level (every entry linked), or each listed path. */
async function readShared(
  o: SftpReleaseOptions,
  L: Layout
): Promise<{ top?: DirEntry[]; listed?: (FileAttributes | undefined)[] }> {
  const { files, signal } = o
  if (o.sharedPaths) {
    const listed = o.sharedPaths.map(p => p.replace(/\/$/, ''))
    return {
      listed: await Promise.all(listed.map(rel => files.lstat(`${L.shared}/${rel}`, signal)))
    }
  }
  try {
    return { top: await files.list(L.shared, signal) }
  } catch (error) {
    if (isMissing(error)) return { top: [] }
    throw error
  }
}

/** Decide every shared path before anything changes, so a refusal leaves shared/ as it was. */
async function planShared(
  o: SftpReleaseOptions,
  L: Layout,
  read: { top?: DirEntry[]; listed?: (FileAttributes | undefined)[] }
): Promise<SharedPlan> {
  const inRelease = new Map(o.entries.map(e => [e.path, e]))
  const plan: SharedPlan = { actions: [], linked: [], parents: [], record: [] }
  const conflict = (rel: string, hint: string): DeployRefusedError =>
    new DeployRefusedError(
      `${o.label}: ${rel} is both in shared/ and in the release; ${hint}, or set shared-conflict: replace`
    )
  if (!o.sharedPaths) {
    // Every entry of shared/ at the first level the release does not have; where both have a
    // directory of that name, one level down.
    const walk = async (prefix: string, entries: DirEntry[]): Promise<void> => {
      for (const entry of entries) {
        const rel = `${prefix}${entry.name}`
        const there = inRelease.get(rel)
        if (there?.type === 'dir' && entry.attrs.type === 'dir') {
          await walk(`${rel}/`, await o.files.list(`${L.shared}/${rel}`, o.signal))
          continue
        }
        if (there && o.sharedConflict !== 'replace')
          throw conflict(rel, 'remove it from the source')
        plan.actions.push({ rel, kind: 'link', replace: there !== undefined })
      }
    }
    await walk('', read.top ?? [])
  } else {
    o.sharedPaths.forEach((p, i) => {
      const rel = p.replace(/\/$/, '')
      const s = read.listed?.[i] !== undefined
      const d = inRelease.has(rel)
      if (s && d && o.sharedConflict === 'fail')
        throw conflict(rel, 'remove it from the source or exclude it')
      if (!s && !d && !p.endsWith('/'))
        throw new DeployRefusedError(
          `${o.label}: ${rel} is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory`
        )
      const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : undefined
      const kind = s ? 'link' : d ? 'seed' : 'create'
      if (kind !== 'link') plan.record.push(`${kind === 'seed' ? 'seeded' : 'created'} ${rel}\n`)
      plan.actions.push({ rel, kind, replace: s && d, ...(parent ? { parent } : {}) })
      const top = parent === undefined ? undefined : topMissing(parent, inRelease)
      if (top !== undefined && !plan.parents.includes(top)) plan.parents.push(top)
    })
  }
  plan.linked = plan.actions.map(a => a.rel)
  return plan
}

/** Carry the plan out (its record is written already): every shared path at once. */
async function applyShared(
  o: SftpReleaseOptions,
  L: Layout,
  guard: RemovalGuard,
  plan: SharedPlan
): Promise<void> {
  const { files, signal } = o
  const R = L.release(o.releaseId)
  await Promise.all(
    plan.actions.map(async a => {
      if (a.replace) await removeTree(files, `${R}/${a.rel}`, { guard, signal })
      if (a.kind === 'seed') {
        const parent = a.rel.includes('/') ? a.rel.slice(0, a.rel.lastIndexOf('/')) : ''
        if (parent) await ensureUnder(files, L.shared, parent, signal)
        await files.rename(`${R}/${a.rel}`, `${L.shared}/${a.rel}`, signal)
      } else if (a.kind === 'create') {
        await ensureUnder(files, L.shared, a.rel, signal)
      }
      if (a.parent) await ensureUnder(files, R, a.parent, signal)
      await files.symlink(sharedTarget(a.rel), `${R}/${a.rel}`, signal)
    })
  )
}

function topMissing(parent: string, inRelease: Map<string, ManifestEntry>): string | undefined {
  const parts = parent.split('/')
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/')
    if (!inRelease.has(prefix)) return prefix
  }
  return undefined
}

/** `mkdir -p base/rel`. */
function ensureUnder(
  files: RemoteFiles,
  base: string,
  rel: string,
  signal?: AbortSignal
): Promise<void> {
  const parts = rel.split('/')
  return ensureDirectories(
    files,
    parts.map((_, i) => `${base}/${parts.slice(0, i + 1).join('/')}`),
    MODES.layoutDir,
    signal
  )
}
