/**
 * Phase 8 across servers: after-switch on every server, then the health check; when they fail,
 * the automatic rollback to what was live before (switchBack), which gets the same checks.
 */
import { describeHealthFailure, pollHealth } from '../health-check.js'
import type { ServerSession } from '../../server/server-session.js'
import { finishAll } from './group-finish.js'
import { revert } from './group-switch.js'
import {
  type AfterHook,
  type CheckFailure,
  type GroupState,
  describeFailures
} from './group-state.js'

/**
 * The checks a release gets once it is live, whether a deploy or a rollback put it there: the
 * hook on every server (with RELEASE_ID set to the release now live there), then the health
 * check. Undefined when everything passed.
 */
export async function checkLive(
  run: GroupState,
  sessions: ServerSession[],
  hook: AfterHook | undefined,
  live: (s: ServerSession) => string,
  previous: (s: ServerSession) => string | undefined,
  restoring: boolean
): Promise<CheckFailure | undefined> {
  const { settings } = run
  if (sessions.length === 0) return undefined
  const what = [...new Set(sessions.map(live))].join(', ')
  let failure: CheckFailure | undefined
  if (hook) {
    const title = restoring ? `After rollback: ${hook.name} in ${what}` : 'After switch'
    await run.deps.group(title, async () => {
      const failures = await run.phase(sessions, 'after-switch', s =>
        s.afterSwitch(hook.script, live(s), previous(s), hook.name)
      )
      if (failures.length > 0)
        failure = {
          message: describeFailures(failures, `${hook.name} failed`),
          causes: failures.map(f => f.error)
        }
    })
  }
  if (failure === undefined && settings.healthCheckUrl) {
    const url = settings.healthCheckUrl
    await run.deps.group(restoring ? `Health check of ${what}` : 'Health check', async () => {
      const started = Date.now()
      const health = await pollHealth(url, settings.healthCheckTimeout, run.deps.log, {
        signal: run.deps.signal,
        expect: settings.healthCheckExpect
      })
      for (const s of sessions)
        s.report.phases['health-check'] =
          (s.report.phases['health-check'] ?? 0) + Date.now() - started
      if (!health.ok) {
        const message = `Health check failed: ${describeHealthFailure(url, settings.healthCheckTimeout, health, settings.healthCheckExpect)}.`
        failure = { message, causes: [new Error(message)] }
      }
    })
  }
  return failure
}

/** The hook a release restored by a rollback gets: after-rollback, or else after-switch. */
export function rollbackHook(run: GroupState): AfterHook | undefined {
  const { afterRollback, afterSwitch } = run.settings
  if (afterRollback) return { name: 'after-rollback', script: afterRollback }
  if (afterSwitch) return { name: 'after-switch', script: afterSwitch }
  return undefined
}

/**
 * A release that was live and failed its checks: switch every server back to the release it
 * had before this step, give that release the same checks, and record the failed one so it is
 * never a rollback target. Always ends in a GroupError that says what is live now.
 */
export async function switchBack(
  run: GroupState,
  failed: (s: ServerSession) => string,
  failure: CheckFailure
): Promise<never> {
  const { settings } = run
  const switched = run.sessions.filter(s => s.switchedTo !== undefined)
  const reverted = await run.deps.group('Roll back', () => revert(run, switched))
  run.rolledBack = reverted.length > 0
  const restored = switched.filter(s => s.switchedTo === undefined && s.liveRelease !== undefined)
  const restoredIds = [...new Set(restored.map(s => s.liveRelease as string))].join(', ')
  const restoreFailure = await checkLive(
    run,
    restored,
    rollbackHook(run),
    s => s.liveRelease as string,
    failed,
    true
  )
  const deploying = settings.mode === 'deploy'
  await finishAll(run, s => {
    const id = failed(s)
    // Where switching back failed, the failed release is still live.
    if (s.switchedTo !== undefined) return { events: [['live', id]], prune: [] }
    // A release that mode: rollback went back to passed its checks when it was live before:
    // failing them now is more likely something it depends on (a database, a cache warming
    // up) than its code. It keeps its state and its place, so running mode: rollback again
    // retries it; and, as after any rollback, nothing is pruned.
    if (!deploying) return { events: [], prune: [] }
    const events: [string, string][] = [
      ['live', id],
      ['fail', id]
    ]
    if (s.liveRelease === undefined) return { events, prune: [] }
    events.push(['live', s.liveRelease])
    // Older failed and rolled-back releases go, so failures in a row do not fill the disk;
    // good releases are left for the next successful deploy to prune. The failed release is
    // this run's: its start and ready are on the server, not in the log read at inspect.
    return {
      events,
      prune: s.pruneAfter(events, settings.keepReleases, s.liveRelease, id, id).filter(old => {
        const state = s.releaseState(old)
        return state === 'failed' || state === 'rolled-back'
      })
    }
  })
  for (const s of run.sessions) {
    s.report.status = s.switchedTo === undefined ? 'rolled-back' : 'failed'
    s.report.error ??= failure.message
  }
  const back =
    restored.length > 0
      ? `Rolled back to ${restoredIds} on ${reverted.length} server${reverted.length === 1 ? '' : 's'}`
      : reverted.length > 0
        ? `Switched back on ${reverted.length} server${reverted.length === 1 ? '' : 's'}: there was no release before, so current was removed`
        : 'Could not switch back on any server'
  const checks = [
    ...(rollbackHook(run) ? [rollbackHook(run)?.name] : []),
    ...(settings.healthCheckUrl ? ['the health check'] : [])
  ].join(' and ')
  const after = restoreFailure
    ? `\nRelease ${restoredIds} fails its checks too after the rollback: ${restoreFailure.message}\nThe site may be down: check the servers, then deploy a fix or pick a release with 'mode: rollback' and 'rollback-to'.`
    : restored.length > 0 && checks !== ''
      ? `; ${restoredIds} passed ${checks}.`
      : '.'
  const retry = deploying
    ? ''
    : `\n${[...new Set(run.sessions.map(failed))].join(', ')} stays a rollback target (it passed its checks when it was live before): once what it depends on is back, run mode: rollback again, or choose another release with rollback-to.`
  run.fail(`${failure.message}\n${back}${after}${retry}`, [
    ...failure.causes,
    ...(restoreFailure?.causes ?? [])
  ])
}

/** Phase 8: after-switch everywhere, then the health check; roll back on failure. */
export async function afterSwitchAndHealth(run: GroupState, releaseId: string): Promise<void> {
  const { settings } = run
  const hook: AfterHook | undefined = settings.afterSwitch
    ? { name: 'after-switch', script: settings.afterSwitch }
    : undefined
  const failure = await checkLive(
    run,
    run.sessions,
    hook,
    () => releaseId,
    s => s.liveRelease,
    false
  )
  if (failure === undefined) return
  if (!settings.rollbackOnFailure) {
    await finishAll(run, () => ({ events: [['live', releaseId]], prune: [] }))
    for (const s of run.sessions) {
      s.report.status = 'failed'
      s.report.error ??= failure.message
    }
    run.fail(
      `${failure.message}\nrollback-on-failure is false: release ${releaseId} stays live.`,
      failure.causes
    )
  }
  await switchBack(run, () => releaseId, failure)
}
