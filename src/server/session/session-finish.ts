/**
 * Phase 9 on one server, and the way out before it: finish records the switch in the release
 * log, prunes, compacts the log and releases the lock (with a copy of the release started for
 * the next deploy); abort removes a release that will not go live and releases the lock. Over
 * SFTP alone, sftp-finish.ts does both.
 */
import { RemoteCommandError } from '../../errors.js'
import { releaseStates } from '../../release/release-log.js'
import type { RunResult } from '../../ssh/remote-host.js'
import type { Appender } from '../../sftp/remote-files.js'
import { abortOverSftp, finishOverSftp as sftpFinish } from '../sftp-finish.js'
import { abortScript, finishScript, type FinishParams } from '../remote-scripts.js'
import { values, type ScriptOutput } from '../script-output.js'
import { lastLines } from '../server-messages.js'
import type { SessionState } from './session-state.js'

/** The open release log, handed over once (whoever takes it closes it). */
function takeLogFile(s: SessionState): Appender | undefined {
  const file = s.logFile
  s.logFile = undefined
  return file
}

/** Remove a prepared release that will not go live, and release the lock. */
export async function abort(s: SessionState): Promise<void> {
  const id = s.prepared
  const token = s.lockToken
  if (id === undefined && token === undefined) return
  if (s.access === 'sftp') {
    const done = await abortOverSftp({
      files: await s.host.files(),
      log: s.log,
      deployDir: s.deployDir,
      releaseId: id,
      lockToken: token,
      protectedReleases: [s.liveRelease, s.switchedTo],
      sharedPaths: s.sharedPaths,
      logFile: takeLogFile(s)
    }).catch(error => {
      throw s.sftpFailure(error, 'cleaning up')
    })
    if (done.aborted) s.prepared = undefined
    if (done.unlocked) s.lockToken = undefined
    return
  }
  const script =
    id !== undefined
      ? abortScript(s.releaseParams(id))
      : finishScript({
          deployDir: s.deployDir,
          events: [],
          prune: [],
          forget: [],
          lockToken: token
        })
  const { output } = await s.script(script)
  if (id !== undefined && output.lines.includes('aborted')) s.prepared = undefined
  if (token !== undefined && output.lines.includes('unlocked')) s.lockToken = undefined
}

/**
 * Phase 9: record the switch, prune, compact the log, unlock; with `spare`, start the copy
 * the next deploy will start from (the spare: see src/server/scripts/lib/finish.sh).
 */
export async function finish(
  s: SessionState,
  events: [string, string][],
  prune: string[],
  spare?: FinishParams['spare']
): Promise<void> {
  if (s.access === 'sftp') return finishOverSftp(s, events, prune)
  const { result, output } = await s.script(
    finishScript({ deployDir: s.deployDir, ...finishParams(s, events, prune, spare) }),
    // Nothing runs after phase 9, whatever its outcome: no channel is opened ahead for a
    // script that never comes (an open, an exec request and a close on every server).
    { last: true }
  )
  finished(s, result, output)
}

/** Phase 9 over SFTP alone (no spare copy: it would take a cp on the server). */
async function finishOverSftp(
  s: SessionState,
  events: [string, string][],
  prune: string[]
): Promise<void> {
  const gone = [...releaseStates(s.events)]
    .filter(([, state]) => state === 'gone')
    .map(([id]) => id)
  const done = await sftpFinish({
    files: await s.host.files(),
    log: s.log,
    deployDir: s.deployDir,
    events,
    prune,
    forget: [...prune, ...gone],
    lockToken: s.lockToken,
    seedRecords: [
      ...s.leftovers.metaNames.filter(n => n.startsWith('seeded.')),
      ...(s.prepared !== undefined ? [`seeded.${s.prepared}`] : [])
    ],
    protectedReleases: [s.liveRelease, s.switchedTo],
    hints: s.releaseDirsHint,
    logFile: takeLogFile(s),
    ...(s.lockOwnerRead ? { owner: s.lockOwnerRead } : {})
  }).catch(error => {
    throw s.sftpFailure(error, 'finishing')
  })
  for (const id of done.pruned) s.log.info(`pruned release ${id}`)
  if (done.unlocked) s.lockToken = undefined
  s.prepared = undefined
}

/**
 * What phase 9 does here, for finish.sh or for the release script's own finish. `made` is
 * the release this run is making, for a finish decided before the release script runs (the
 * release script's own): it is then the release switched to and the one seeded.
 */
export function finishParams(
  s: SessionState,
  events: [string, string][],
  prune: string[],
  spare?: FinishParams['spare'],
  made?: string
): Omit<FinishParams, 'deployDir'> {
  const gone = [...releaseStates(s.events)]
    .filter(([, state]) => state === 'gone')
    .map(([id]) => id)
  return {
    events,
    prune,
    forget: [...prune, ...gone],
    lockToken: s.lockToken,
    // Never pruned, whatever the plan said: the release live when the run began, and the
    // one it switched to (the guard also keeps whatever current points to).
    keep: [s.liveRelease, s.switchedTo ?? made].filter((id): id is string => id !== undefined),
    seeded: [s.prepared ?? made].filter((id): id is string => id !== undefined),
    ...(spare ? { spare } : {})
  }
}

function finished(s: SessionState, result: RunResult, output: ScriptOutput): void {
  if (result.code !== 0 || !output.lines.includes('finished')) {
    throw new RemoteCommandError(
      `${s.label}: finishing failed (exit ${result.code}): ${lastLines(result.stderrTail)}`,
      result.code,
      result.stderrTail
    )
  }
  for (const line of values(output, 'pruned')) s.log.info(`pruned release ${line}`)
  for (const line of values(output, 'kept')) s.log.warning(`not pruned: release ${line}`)
  if (output.lines.includes('unlocked')) s.lockToken = undefined
  s.prepared = undefined
}
