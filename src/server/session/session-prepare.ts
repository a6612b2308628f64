/**
 * Phases 4 to 6 on one server: the release script builds the release from its starting point,
 * takes the files (a tar stream, or SFTP between its two halves), verifies them, links the
 * shared paths, records the metadata and runs before-switch; for a single server it may also
 * switch and finish (see switchedAndFinished). Over SFTP alone, sftp-release.ts does the same.
 */
import {
  AbortedError,
  ConnectionError,
  DeployRefusedError,
  RemoteCommandError,
  VerifyError
} from '../../errors.js'
import { writtenDirectories, type Plan } from '../../release/plan.js'
import { describeDrift, parseListingDiff, summarizeDiff } from '../../release/drift.js'
import { incompleteReleases } from '../../release/release-log.js'
import type { RunResult } from '../../ssh/remote-host.js'
import { readLockOwner } from '../sftp-finish.js'
import { prepareOverSftp as sftpPrepare, SftpVerifyFailure } from '../sftp-release.js'
import {
  releaseScript,
  type FinalizeParams,
  type FinishParams,
  type PrepareParams,
  type ReleaseParams
} from '../remote-scripts.js'
import { scriptError, value, values, type ScriptOutput } from '../script-output.js'
import { describeListingLine, lastLines } from '../server-messages.js'
import { shown } from '../server-data.js'
import { sftpUpload, sourceManifest, type ReleaseMetadata } from '../upload.js'
import { archiveCompression, releaseMetadata, releaseTarget } from './session-archive.js'
import { switchedAndFinished } from './session-switch.js'
import type { ArchiveFeed, Base, ReleaseOptions, SessionState } from './session-state.js'

/**
 * Phases 4-6: build the release from its starting point, transfer the changed files, verify,
 * link shared paths, record metadata, run before-switch. On failure the server script has
 * already removed the release; the error says why. With a tar transfer, `feed` carries the
 * archive (see releaseArchive); without one, files go over SFTP.
 */
export async function prepareRelease(
  s: SessionState,
  options: ReleaseOptions,
  feed?: ArchiveFeed,
  /**
   * Switch and finish in the same script once the release is ready (see FinalizeParams):
   * phases 7 and 9 with it, for a single server with nothing to run or check after the switch.
   */
  switchAfter?: Omit<FinishParams, 'deployDir'>
): Promise<void> {
  const plan = s.plan
  const base = s.base
  if (!plan || !base) throw new Error('prepareRelease before makePlan')
  if (s.access === 'sftp') return prepareOverSftp(s, options, plan, base)
  const id = options.releaseId
  s.sharedPaths = options.sharedPaths ?? []
  const common = s.releaseParams(id)
  const stale = staleReleases(s, id)
  const metadata = await releaseMetadata(s, options)
  const relativeTarget = releaseTarget(s, id)

  const prepare: PrepareParams = {
    staleReleases: stale,
    base:
      base.kind === 'release'
        ? {
            kind: 'release',
            id: base.id,
            sharedLinks: base.sharedLinks,
            ...(s.prefetched?.from === base.id ? { prefetched: s.prefetched.name } : {})
          }
        : base.kind === 'cache'
          ? {
              kind: 'cache',
              exists: base.exists,
              touched: [...plan.remove, ...plan.upload.map(e => e.path)]
            }
          : { kind: 'none' },
    copyMethod: options.copyMethod,
    remove: plan.remove,
    transfer: feed
      ? { kind: 'tar', gzip: archiveCompression(s, options.compression) !== 'none' }
      : { kind: 'sftp' },
    // A fresh, empty release has nothing a symlink could have been planted in.
    writeDirs: base.kind === 'none' ? [] : writtenDirectories(plan)
  }
  const finalize: FinalizeParams = {
    fromCache: base.kind === 'cache' ? { copyMethod: options.copyMethod } : undefined,
    manifestDigest: (await sourceManifest(options.entries)).digest,
    ...(base.kind !== 'none' && base.manifest ? { manifestBase: base.manifest } : {}),
    verifyAll: options.verify === 'full',
    oddSums: metadata.oddSums,
    links: metadata.links,
    shared: options.sharedPaths
      ? { kind: 'explicit', paths: options.sharedPaths }
      : { kind: 'auto' },
    sharedConflict: options.sharedConflict,
    hook: options.beforeSwitch
      ? { name: 'before-switch', script: options.beforeSwitch, env: s.hookEnv(id) }
      : undefined,
    updatesCache: base.kind === 'cache',
    ...(switchAfter ? { switchAfter } : {})
  }
  s.prepared = id
  // What was sent, counted as it goes: a deploy that fails after the upload still sent it.
  // An archive counts for all the servers it goes to.
  const sent = feed?.sent ?? { files: 0, bytes: 0 }
  const count = (size: number): void => {
    sent.files++
    sent.bytes += size
  }
  try {
    let final: ScriptOutput
    try {
      final = await transferAndFinalize(
        s,
        options,
        { plan, metadata, relativeTarget, common, prepare, finalize },
        count,
        feed
      )
    } catch (error) {
      // No answer from a script that switches: current may or may not point to the release.
      if (switchAfter && error instanceof ConnectionError) s.switchUncertain = id
      throw error
    }
    sent.files = plan.uploadFiles
    sent.bytes = plan.uploadBytes
    reportPrepared(s, id, plan, final)
    if (switchAfter) switchedAndFinished(s, id, final)
  } finally {
    s.report.filesUploaded = sent.files
    s.report.bytesUploaded = sent.bytes
  }
}

/** Incomplete releases of earlier runs, to remove before `id` is made. */
function staleReleases(s: SessionState, id: string): string[] {
  const stale = incompleteReleases(s.events, s.releaseDirs).filter(r => r !== id)
  // The log is the server's word: a release it calls incomplete may be the live one.
  if (s.liveRelease !== undefined && stale.includes(s.liveRelease)) {
    s.log.warning(
      `the release log calls the live release ${s.liveRelease} incomplete; it is live, so it is kept`
    )
    stale.splice(stale.indexOf(s.liveRelease), 1)
  }
  return stale
}

/** The upload and the release scripts around it; the output of the last one. */
async function transferAndFinalize(
  s: SessionState,
  options: ReleaseOptions,
  p: {
    plan: Plan
    metadata: ReleaseMetadata
    relativeTarget: string
    common: ReleaseParams
    prepare: PrepareParams
    finalize: FinalizeParams
  },
  count: (size: number) => void,
  feed: ArchiveFeed | undefined
): Promise<ScriptOutput> {
  const { plan, metadata, relativeTarget, common, prepare, finalize } = p
  const id = options.releaseId
  let final: ScriptOutput
  if (feed) {
    // A local read error truncates the stream; the server then reports a broken archive, but
    // the cause to report is the local one.
    let readError: Error | undefined
    feed.stream.on('error', error => (readError ??= error))
    try {
      const { result, output } = await s.script(releaseScript(common, prepare, finalize), {
        stdin: feed.stream,
        signal: options.signal,
        // Switched and finished by this script: nothing runs after it on success.
        last: finalize.switchAfter !== undefined,
        ...(feed.onMeter ? { onStdinMeter: feed.onMeter } : {})
      })
      // A cancelled run cuts the stream itself: that is the cause to report, not the read.
      if (options.signal?.aborted) throw new AbortedError('cancelled (SIGINT/SIGTERM)')
      if (readError && result.code !== 0) {
        throw new Error(`${s.label}: reading the source failed: ${readError.message}`)
      }
      checkRelease(s, result, output, id, metadata)
      final = output
    } finally {
      feed.done?.()
    }
  } else {
    const first = await s.script(releaseScript(common, prepare), { signal: options.signal })
    checkRelease(s, first.result, first.output, id, metadata, 'prepared')
    await sftpUpload(await s.host.files(), {
      metadataDir: `${s.deployDir}/.atomic-deploy/tmp/${id}`,
      root: `${s.deployDir}/${relativeTarget}`,
      sourceRoot: options.sourceRoot,
      metadata: metadata.files,
      plan,
      directoryMode: s.directoryMode,
      log: s.log,
      signal: options.signal,
      onFile: entry => count(entry.size)
    })
    const second = await s.script(releaseScript(common, undefined, finalize), {
      signal: options.signal
    })
    checkRelease(s, second.result, second.output, id, metadata)
    final = second.output
  }
  return final
}

/** What the release script reported once the release is ready. */
function reportPrepared(s: SessionState, id: string, plan: Plan, final: ScriptOutput): void {
  const hookExit = value(final, 'hook-exit')
  if (hookExit) s.log.info(`before-switch exited with status ${hookExit.split(' ')[1]}`)
  const hookDiff = parseListingDiff('hook', final.lines)
  if (hookDiff.counts !== undefined) {
    const changes = summarizeDiff(hookDiff)
    const total = hookDiff.counts.reduce((a, b) => a + b, 0)
    s.log.info(
      `before-switch changed release ${id} after verification: ${describeDrift(changes, 20, shown)}${changes.complete ? '' : ` (${total} differences in all)`}. Recorded: the next deploy's copy of this release leaves these out, and its before-switch makes them again.`
    )
  }
  s.report.filesDeleted = plan.deleted.length
  s.report.release = id
  logShared(
    s,
    values(final, 'shared'),
    values(final, 'shared-seeded'),
    values(final, 'shared-replaced')
  )
}

/** Phases 4 and 5 over SFTP alone (before-switch was refused at inspect). */
async function prepareOverSftp(
  s: SessionState,
  options: ReleaseOptions,
  plan: Plan,
  base: Base
): Promise<void> {
  const id = options.releaseId
  s.sharedPaths = options.sharedPaths ?? []
  const files = await s.host.files()
  const manifest = await sourceManifest(options.entries)
  s.releaseDirsHint = options.entries.filter(e => e.type === 'dir').map(e => e.path)
  let result
  try {
    result = await sftpPrepare({
      files,
      label: s.label,
      log: s.log,
      deployDir: s.deployDir,
      releaseId: id,
      sourceRoot: options.sourceRoot,
      entries: options.entries,
      plan,
      base,
      copyMethod: options.copyMethod,
      verify: options.verify,
      sharedPaths: options.sharedPaths,
      sharedConflict: options.sharedConflict,
      revision: options.revision,
      manifest,
      staleReleases: staleReleases(s, id),
      leftovers: s.leftovers,
      protectedReleases: s.liveRelease === undefined ? [] : [s.liveRelease],
      // The drift check walked the live release, and the base was planned without what
      // differed: nothing of it is read through a link.
      baseChecked: base.kind === 'release' && s.drift !== undefined,
      writeDirs: base.kind === 'none' ? [] : writtenDirectories(plan),
      onCreated: () => {
        s.prepared = id
      },
      keepLog: appender => {
        s.logFile = appender
      },
      // Read while the release is recorded and the switch is made: finishing needs it before
      // it removes the lock.
      onVerified: () => {
        s.lockOwnerRead = readLockOwner(files, s.deployDir).catch(() => undefined)
      },
      signal: options.signal
    })
  } catch (error) {
    if (error instanceof SftpVerifyFailure)
      throw verifyError(s, id, error.unexpected, error.missing, error.differs)
    throw s.sftpFailure(error, `preparing release ${id}`)
  }
  s.report.filesUploaded = result.uploadedFiles
  s.report.bytesUploaded = result.uploadedBytes
  s.report.filesDeleted = plan.deleted.length
  s.report.release = id
  logShared(s, result.shared.linked, result.shared.seeded, result.shared.replaced)
}

function logShared(s: SessionState, linked: string[], seeded: string[], replaced: string[]): void {
  if (linked.length > 0)
    s.log.info(
      `linked from shared/: ${linked.slice(0, 10).join(', ')}${linked.length > 10 ? `, and ${linked.length - 10} more` : ''}`
    )
  for (const p of seeded) s.log.info(`moved ${p} into shared/ (first deploy of a shared path)`)
  for (const p of replaced)
    s.log.info(`replaced ${p} with the link to shared/${p} (shared-conflict: replace)`)
}

/** The release does not match its manifest: what differs, and what may have caused it. */
function verifyError(
  s: SessionState,
  id: string,
  unexpected: string[],
  missing: string[],
  /** Further differences, each described already ('content differs: <path>'). */
  differs: string[]
): VerifyError {
  const paths = [
    ...unexpected.map(l => `unexpected or different: ${describeListingLine(l)}`),
    ...missing.map(l => `missing or different: ${describeListingLine(l)}`),
    ...differs
  ]
  // What before-switch wrote is recorded and left out of the copy whatever on-drift says;
  // what was changed by hand (or by the app) is found only by the drift check.
  const drift =
    s.base?.kind === 'release'
      ? ` The release started as a copy of ${s.base.id}: if files there were changed on the server after it was deployed (by hand, or by the app writing into its release)${s.driftChecked ? '' : ', on-drift: ignore let them through (on-drift: warn, the default, names such changes and leaves them out of the copy)'}, deploy once with 'reuse: none' to start from nothing.`
      : ''
  return new VerifyError(
    `${s.label}: release ${id} does not match the manifest; nothing was switched.${drift}\n  ${paths.slice(0, 20).join('\n  ')}`,
    paths
  )
}

function checkRelease(
  s: SessionState,
  result: RunResult,
  output: ScriptOutput,
  id: string,
  metadata: { oddSums: { path: string }[]; links: { path: string }[] },
  expect = 'ready'
): void {
  if (result.code === 0 && output.lines.includes(expect)) return
  const error = scriptError(output)
  if (error?.kind === 'verify') {
    throw verifyError(s, id, values(output, 'unexpected'), values(output, 'missing'), [
      ...values(output, 'badsum').map(l => `content differs: ${l}`),
      // Reported by number: these names may hold a line break.
      ...values(output, 'badodd').map(
        n => `content differs: ${shown(metadata.oddSums[Number(n)]?.path ?? `#${n}`)}`
      ),
      ...values(output, 'badlink').map(
        n => `symlink target differs: ${shown(metadata.links[Number(n)]?.path ?? `#${n}`)}`
      )
    ])
  }
  if (
    error?.kind === 'shared-conflict' ||
    error?.kind === 'shared-missing' ||
    error?.kind === 'exists'
  ) {
    throw new DeployRefusedError(`${s.label}: ${error.message}`)
  }
  if (error?.kind === 'hook') {
    throw new RemoteCommandError(
      `${s.label}: before-switch failed: ${error.message}; release ${id} was removed and current is untouched.`,
      result.code,
      result.stderrTail
    )
  }
  if (error) {
    const tail = lastLines(result.stderrTail)
    throw new RemoteCommandError(
      `${s.label}: ${error.message}${tail ? `: ${tail}` : ''}`,
      result.code,
      result.stderrTail
    )
  }
  throw new RemoteCommandError(
    `${s.label}: preparing release ${id} failed (exit ${result.code}): ${lastLines(result.stderrTail)}`,
    result.code,
    result.stderrTail
  )
}
