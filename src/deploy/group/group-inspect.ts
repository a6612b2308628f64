/**
 * Phases 2 and 3 across servers, their inspect half: take every server's lock and read its
 * state, with a barrier: one refusal anywhere releases every lock and changes nothing. Then
 * what was changed on the servers since their deploy (drift), named or refused as on-drift says.
 */
import { randomBytes } from 'node:crypto'
import { DeployRefusedError } from '../../errors.js'
import { describeDrift } from '../../release/drift.js'
import { shown } from '../../server/server-data.js'
import { sourceManifest } from '../../server/upload.js'
import { Inputs, type RunContext } from '../../settings.js'
import { abortAll } from './group-finish.js'
import { type GroupState, describeFailures } from './group-state.js'

function lockOwner(run: GroupState, context: RunContext): { token: string; json: string } {
  const token = randomBytes(16).toString('hex')
  const json = JSON.stringify({
    token,
    runUrl: context.runUrl,
    repository: context.repository,
    commit: context.commit,
    ref: context.ref,
    actor: context.actor,
    runner: context.runner,
    started: run.deps.now().toISOString()
  })
  return { token, json }
}

/** Inputs that are set and need a shell on the server, for this mode. */
function needsShell(run: GroupState): string[] {
  const { settings } = run
  const needs: string[] = []
  if (settings.mode === 'deploy' && settings.beforeSwitch) needs.push(Inputs.BeforeSwitch)
  if (settings.afterSwitch) needs.push(Inputs.AfterSwitch)
  if (settings.afterRollback) needs.push(Inputs.AfterRollback)
  if (settings.mode === 'deploy' && settings.transfer === 'tar') needs.push(Inputs.Transfer)
  return needs
}

/** Phase 2 and the server half of phase 3: lock and learn the state. */
export async function inspect(
  run: GroupState,
  lock: boolean,
  prefetch = false,
  drift = false
): Promise<void> {
  const context = await run.deps.context
  const access = { shell: run.settings.shell, needsShell: needsShell(run) }
  // The new release's directories, mostly the live one's: an SFTP-only drift check lists them
  // ahead of need. (A failed scan fails the deploy where it is awaited, not here.)
  const sourceDirs =
    run.settings.mode === 'deploy'
      ? run.deps.manifest.then(scan => scan.entries.filter(e => e.type === 'dir').map(e => e.path))
      : undefined
  sourceDirs?.catch(() => undefined)
  await run.deps.group(lock ? 'Lock and inspect' : 'Inspect (read only)', async () => {
    const failures = await run.phase(run.sessions, 'inspect', async s => {
      await s.inspect({
        path: run.settings.path,
        ...(lock ? { lockOwner: lockOwner(run, context) } : {}),
        reuse: run.settings.reuse,
        // A deploy starts copying the live release as soon as it holds the lock.
        ...(lock && prefetch ? { prefetch: { copyMethod: run.settings.copyMethod } } : {}),
        ...(run.settings.mode === 'deploy' ? { deploy: { transfer: run.settings.transfer } } : {}),
        drift: drift && run.settings.onDrift !== 'ignore',
        access,
        // A deploy (or its dry run) compares the source's manifest with the one it starts
        // from by their digests: the server sends its manifest only when they differ.
        ...(run.settings.mode === 'deploy' && run.settings.reuse !== 'none'
          ? {
              digest: run.deps.manifest
                .then(scan => sourceManifest(scan.entries))
                .then(m => m.digest)
            }
          : {}),
        ...(sourceDirs ? { sourceDirs } : {})
      })
      s.log.info(`${s.deployDir}: live release ${s.liveRelease ?? '(none: first deploy)'}`)
      run.saveLocks()
    })
    if (failures.length > 0) {
      await abortAll(run)
      run.fail(
        describeFailures(failures, 'Refused'),
        failures.map(f => f.error)
      )
    }
  })
}

/**
 * Name what was changed in each live release on the server since it was deployed: it is not in
 * the new release (which holds exactly the source), so with on-drift: fail nothing goes ahead.
 */
export async function reportDrift(run: GroupState): Promise<void> {
  const { onDrift } = run.settings
  if (onDrift === 'ignore') return
  const drifted = run.sessions.filter(
    s => s.drift !== undefined && (s.drift.paths.length > 0 || !s.drift.complete)
  )
  if (drifted.length === 0) return
  const lines = drifted.map(s => {
    const d = s.drift as NonNullable<typeof s.drift>
    return `${s.label}: release ${s.liveRelease ?? ''} was changed on the server since it was deployed: ${describeDrift(d, 20, shown)}${d.complete ? '' : ' (more than could be listed)'}`
  })
  const where = `Paths the app writes belong in shared/ (see shared-paths); anything else belongs in the source.`
  if (onDrift === 'fail') {
    await abortAll(run)
    run.fail(
      `Refused (on-drift: fail); nothing was changed:\n  ${lines.join('\n  ')}\nThe next release would hold exactly the source, without these changes. ${where} Or set on-drift: warn to deploy anyway.`,
      lines.map(l => new DeployRefusedError(l))
    )
  }
  for (const line of lines)
    run.deps.log.warning(
      `${line}. The new release holds exactly the source, without these changes (they stay in the old release until it is pruned). ${where} on-drift: fail stops such a deploy; on-drift: ignore silences run.`
    )
}
