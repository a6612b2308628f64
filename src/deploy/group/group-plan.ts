/**
 * Phase 3 across servers, its plan half: the one release id for every server, the dry run's
 * report and its check of shared/, and the release mode: rollback switches each server to.
 */
import { DeployRefusedError } from '../../errors.js'
import type { ScanResult } from '../../release/manifest.js'
import { previousRelease } from '../../release/release-log.js'
import { nextFreeTimestampId } from '../../release/release-id.js'
import type { ServerSession } from '../../server/server-session.js'
import { type GroupState, describeFailures } from './group-state.js'

/** The same release id on every server: the custom one, or the first free UTC second. */
export function chooseReleaseId(run: GroupState): string {
  if (run.settings.releaseId) {
    const taken = run.sessions.filter(s => s.releaseDirs.has(run.settings.releaseId as string))
    if (taken.length > 0) {
      throw new DeployRefusedError(
        `release-id '${run.settings.releaseId}' already exists on ${taken.map(s => s.label).join(', ')}. Release ids are never reused; choose a new one.`
      )
    }
    return run.settings.releaseId
  }
  const taken = new Set<string>()
  for (const s of run.sessions) for (const id of s.releaseDirs) taken.add(id)
  for (const s of run.sessions) for (const e of s.events) taken.add(e.id)
  return nextFreeTimestampId(run.deps.now(), taken)
}

export function printDryRun(run: GroupState): void {
  for (const s of run.sessions) {
    const plan = s.plan
    if (!plan) continue
    // The counts outputs of a dry run say what a deploy would transfer.
    s.report.filesUploaded = plan.uploadFiles
    s.report.bytesUploaded = plan.uploadBytes
    s.report.filesDeleted = plan.deleted.length
    const show = (title: string, paths: string[]): void => {
      if (paths.length === 0) return
      s.log.info(`${title} (${paths.length}):`)
      for (const p of paths.slice(0, 20)) s.log.info(`  ${p}`)
      if (paths.length > 20) s.log.info(`  ... and ${paths.length - 20} more`)
    }
    s.log.info(`dry run: ${s.planLine()}; nothing was written`)
    // A changed path is removed from the starting copy before it is written again.
    const replaced = new Set(plan.remove)
    const sent = plan.upload.filter(e => e.type !== 'dir')
    show(
      'would add',
      sent.filter(e => !replaced.has(e.path)).map(e => e.path)
    )
    show(
      'would change',
      sent.filter(e => replaced.has(e.path)).map(e => e.path)
    )
    show('would delete', plan.deleted)
  }
}

/** A dry run finds the shared-path problems the deploy would fail on, and fails with them. */
export async function checkSharedDryRun(run: GroupState, scan: ScanResult): Promise<void> {
  const { settings } = run
  const failures = await run.phase(run.sessions, 'inspect', async s => {
    const problems = await s.sharedProblems(
      scan.entries,
      settings.sharedPaths,
      settings.sharedConflict
    )
    if (problems.length > 0) throw new DeployRefusedError(`${s.label}: ${problems.join('; ')}`)
  })
  if (failures.length > 0)
    run.fail(
      `${describeFailures(failures, 'The deploy would fail before the switch')}\nDry run: nothing was written.`,
      failures.map(f => f.error)
    )
}

/**
 * The release `mode: rollback` switches a server to: `rollback-to`, or the good release live
 * before the current one. A problem is a sentence for the refusal.
 */
export function rollbackTarget(
  run: GroupState,
  s: ServerSession
): { target: string } | { problem: string } {
  const complete = s.completeReleases()
  const { rollbackTo } = run.settings
  const targets = `rollback targets here: ${complete.filter(id => id !== s.liveRelease).join(', ') || 'none'}`
  if (rollbackTo === undefined) {
    const target = previousRelease(complete, s.liveRelease)
    if (target === undefined)
      return {
        problem: `${s.label}: no good release before ${s.liveRelease ?? '(none)'} to roll back to (releases that failed after going live are kept for inspection, never rolled back to)`
      }
    return { target }
  }
  const state = s.releaseState(rollbackTo)
  if (
    !s.releaseDirs.has(rollbackTo) ||
    state === 'incomplete' ||
    state === 'gone' ||
    state === undefined
  )
    return {
      problem: `${s.label}: release '${rollbackTo}' is not a complete release here (${targets})`
    }
  if (state === 'failed')
    return {
      problem: `${s.label}: release '${rollbackTo}' failed its checks after it went live and was switched away from; it is kept for inspection, not as a rollback target (${targets}). Deploy a fixed version instead.`
    }
  if (rollbackTo === s.liveRelease)
    return { problem: `${s.label}: release '${rollbackTo}' is already live` }
  return { target: rollbackTo }
}
