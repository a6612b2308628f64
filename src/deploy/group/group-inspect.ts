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
import { firstInspectScript, type InspectOptions } from '../../server/session/session-inspect.js'
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

/** What inspect asks: whether to lock, start the copy of the live release, check drift. */
export interface InspectAsk {
  lock: boolean
  prefetch?: boolean
  drift?: boolean
}

/** What one server's inspect is asked (a lock owner of its own, when it locks). */
function inspectOptions(
  run: GroupState,
  context: RunContext,
  ask: InspectAsk,
  sourceDirs: Promise<string[]> | undefined
): InspectOptions {
  const { settings } = run
  return {
    path: settings.path,
    ...(ask.lock ? { lockOwner: lockOwner(run, context) } : {}),
    reuse: settings.reuse,
    // A deploy starts copying the live release as soon as it holds the lock.
    ...(ask.lock && ask.prefetch ? { prefetch: { copyMethod: settings.copyMethod } } : {}),
    ...(settings.mode === 'deploy' ? { deploy: { transfer: settings.transfer } } : {}),
    drift: ask.drift === true && settings.onDrift !== 'ignore',
    access: { shell: settings.shell, needsShell: needsShell(run) },
    // A deploy (or its dry run) compares the source's manifest with the one it starts
    // from by their digests: the server sends its manifest only when they differ.
    ...(settings.mode === 'deploy' && settings.reuse !== 'none'
      ? {
          digest: run.deps.manifest.then(scan => sourceManifest(scan.entries)).then(m => m.digest)
        }
      : {}),
    ...(sourceDirs ? { sourceDirs } : {})
  }
}

/**
 * The new release's directories, mostly the live one's: an SFTP-only drift check lists them
 * ahead of need. (A failed scan fails the deploy where it is awaited, not here.)
 */
function sourceDirsOf(run: GroupState): Promise<string[]> | undefined {
  if (run.settings.mode !== 'deploy') return undefined
  const dirs = run.deps.manifest.then(scan =>
    scan.entries.filter(e => e.type === 'dir').map(e => e.path)
  )
  dirs.catch(() => undefined)
  return dirs
}

/**
 * With one server, nothing waits for other servers between connecting and inspecting: the
 * inspect script is made ready while the connection is made (once the run's context is read),
 * and goes out during authentication as the connection's first script (see connect and
 * ssh2-internals.ts, execBehindOpen), a round trip sooner. The inspect phase then runs that
 * same script. With more servers, none is locked before every one has answered.
 */
export function prepareInspectAhead(run: GroupState, ask: InspectAsk): void {
  if (run.settings.servers.length !== 1) return
  run.inspectAhead = run.deps.context.then(
    context => {
      const options = inspectOptions(run, context, ask, sourceDirsOf(run))
      return { options, script: firstInspectScript(options) }
    },
    // The inspect phase reports the context's failure.
    () => undefined
  )
}

/** Phase 2 and the server half of phase 3: lock and learn the state. */
export async function inspect(
  run: GroupState,
  lock: boolean,
  prefetch = false,
  drift = false
): Promise<void> {
  const context = await run.deps.context
  const ask = { lock, prefetch, drift }
  const sourceDirs = sourceDirsOf(run)
  await run.deps.group(lock ? 'Lock and inspect' : 'Inspect (read only)', async () => {
    const failures = await run.phase(run.sessions, 'inspect', async s => {
      // The options of the script that may have gone out during authentication already.
      const ahead = run.sessions.length === 1 ? (await run.inspectAhead)?.options : undefined
      await s.inspect(ahead ?? inspectOptions(run, context, ask, sourceDirs))
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
