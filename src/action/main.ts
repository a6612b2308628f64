import * as core from '@actions/core'
import {
  GroupRun,
  GroupError,
  type DeployDependencies,
  type DeployResult
} from '../deploy/group-run.js'
import { InputError, messageOf } from '../errors.js'
import { getSettings } from './input-helper.js'
import { actionLog, formatDuration, serverLog } from '../logger.js'
import { buildManifest, type ScanResult } from '../release/manifest.js'
import { sourceManifest } from '../server/upload.js'
import { readRunContext } from './run-context.js'
import { UnlockRun } from '../deploy/unlock.js'
import { Outputs, type Settings } from '../settings.js'
import { JumpChain } from '../ssh/jump-hosts.js'
import { connectSsh } from '../ssh/ssh-remote-host.js'
import { markMainStarted, saveHeldLocks } from './state-helper.js'
import { serversOutput, writeSummary } from './summary.js'

/** The main step: read the inputs, run the mode, set outputs and the summary, fail once. */
export async function run(): Promise<void> {
  markMainStarted()
  const started = Date.now()
  let settings: Settings
  try {
    settings = getSettings()
  } catch (error) {
    // One line that names the input: no stack trace, nothing touched.
    core.setFailed(messageOf(error))
    return
  }

  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) return
    core.warning(`${signal} received: aborting; the new release is removed and the lock released.`)
    controller.abort(new Error(signal))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let result: DeployResult | undefined
  let failure: string | undefined
  try {
    result = await runMode(settings, controller.signal)
  } catch (error) {
    failure = messageOf(error)
    if (error instanceof GroupError) result = error.result
    if (
      !(error instanceof GroupError) &&
      !(error instanceof InputError) &&
      error instanceof Error &&
      error.stack
    ) {
      core.debug(error.stack)
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  setOutputs(result)
  const title = summaryTitle(settings, result, failure)
  try {
    await writeSummary(title, result, failure)
  } catch (error) {
    core.warning(`could not write the job summary: ${messageOf(error)}`)
  }
  if (failure !== undefined) {
    core.setFailed(failure)
    return
  }
  const took = formatDuration(Date.now() - started)
  if (settings.mode === 'unlock') core.info(`Done: unlock finished (${took}).`)
  else if (settings.dryRun)
    core.info(`Done: dry run planned release ${result?.plannedReleaseId ?? '(none)'} (${took}).`)
  else if (settings.mode === 'rollback')
    core.info(`Done: rolled back; release ${result?.releaseId} is live (${took}).`)
  else core.info(`Done: release ${result?.releaseId} is live (${took}).`)
}

async function runMode(settings: Settings, signal: AbortSignal): Promise<DeployResult> {
  const manifest: Promise<ScanResult> =
    settings.mode === 'deploy'
      ? buildManifest(settings.source, settings.exclude)
      : Promise.resolve({ entries: [], skipped: [] })
  // Scanning runs while the connections are made; a failure surfaces when the plan needs it.
  manifest.catch(() => undefined)
  // So is the source's compact manifest and its digest, which the inspect script waits for,
  // and the source's view, which the servers' views are read against.
  manifest.then(scan => sourceManifest(scan.entries)).catch(() => undefined)
  const warn = (message: string): void => core.warning(message)
  // One connection through the jump hosts, shared by every server of the run.
  const jumps =
    settings.jumpHosts.length > 0
      ? new JumpChain(settings.jumpHosts, {
          hostKeys: settings.hostKeys,
          timeoutSeconds: settings.connectTimeout,
          warn
        })
      : undefined
  if (jumps)
    core.info(
      `Connecting through jump host${settings.jumpHosts.length === 1 ? '' : 's'} ${settings.jumpHosts.map(h => h.server.label).join(' -> ')}`
    )
  const deps: DeployDependencies = {
    connect: (server, firstScript) =>
      connectSsh({
        server,
        hostKeys: settings.hostKeys,
        privateKey: settings.privateKey,
        passphrase: settings.passphrase,
        password: settings.password,
        timeoutSeconds: settings.connectTimeout,
        commandTimeoutSeconds: settings.commandTimeout,
        ...(jumps ? { tunnel: jumps.tunnel } : {}),
        warn,
        exec: settings.shell !== 'none',
        ...(firstScript ? { firstScript } : {})
      }).then(host => {
        host.warmUp()
        return host
      }),
    serverLog,
    log: actionLog,
    group: (name, work) => core.group(name, work),
    manifest,
    context: readRunContext(settings.source),
    now: () => new Date(),
    saveLocks: saveHeldLocks,
    signal
  }
  try {
    if (settings.mode === 'unlock') return await new UnlockRun(settings, deps).unlock()
    if (settings.strategy === 'sequential' && settings.servers.length > 1)
      return await runSequential(settings, deps)
    const group = new GroupRun(settings, deps)
    return settings.mode === 'rollback' ? await group.rollback() : await group.deploy()
  } finally {
    jumps?.close()
  }
}

/**
 * strategy: sequential — a rolling deploy: each server goes through every phase before the next
 * one starts. The first failure stops the rollout; servers already done stay on the new release.
 */
async function runSequential(settings: Settings, deps: DeployDependencies): Promise<DeployResult> {
  const sessions: DeployResult['sessions'] = []
  let releaseId = settings.releaseId
  let last: DeployResult | undefined
  for (const [index, server] of settings.servers.entries()) {
    core.info(`Server ${index + 1} of ${settings.servers.length}: ${server.label}`)
    const group = new GroupRun({ ...settings, servers: [server], releaseId }, deps)
    try {
      last = settings.mode === 'rollback' ? await group.rollback() : await group.deploy()
    } catch (error) {
      if (error instanceof GroupError) {
        const rest = settings.servers.slice(index + 1).map(s => s.label)
        throw new GroupError(
          `${error.message}${rest.length > 0 ? `\nNot deployed (sequential strategy stops at the first failure): ${rest.join(', ')}` : ''}`,
          error.causes,
          { ...error.result, sessions: [...sessions, ...error.result.sessions] }
        )
      }
      throw error
    }
    sessions.push(...last.sessions)
    // The next server gets the same id: the one put live, or, in a dry run (whose releaseId is
    // the live release, as its outputs say), the one planned.
    if (settings.mode === 'deploy')
      releaseId = settings.dryRun ? (last.plannedReleaseId ?? releaseId) : last.releaseId
  }
  return { ...(last as DeployResult), previousReleaseId: sessions[0]?.liveRelease, sessions }
}

/** `atomic-deploy: deploy, 20261122140000 live`; no id where none is known. */
function summaryTitle(
  settings: Settings,
  result: DeployResult | undefined,
  failure: string | undefined
): string {
  const what = `atomic-deploy: ${settings.mode}${settings.dryRun ? ' (dry run)' : ''}`
  if (failure !== undefined) return `${what} failed`
  if (settings.dryRun && result?.plannedReleaseId)
    return `${what}, release ${result.plannedReleaseId} planned`
  return result?.releaseId ? `${what}, ${result.releaseId} live` : what
}

function setOutputs(result: DeployResult | undefined): void {
  const sessions = result?.sessions ?? []
  const sum = (key: 'filesUploaded' | 'filesDeleted' | 'bytesUploaded'): string =>
    String(sessions.reduce((n, s) => n + s.report[key], 0))
  core.setOutput(Outputs.ReleaseId, result?.releaseId ?? '')
  core.setOutput(Outputs.ReleasePath, result?.releasePath ?? '')
  core.setOutput(Outputs.PreviousReleaseId, result?.previousReleaseId ?? '')
  core.setOutput(Outputs.FilesUploaded, sum('filesUploaded'))
  core.setOutput(Outputs.FilesDeleted, sum('filesDeleted'))
  core.setOutput(Outputs.BytesUploaded, sum('bytesUploaded'))
  core.setOutput(Outputs.RolledBack, String(result?.rolledBack ?? false))
  core.setOutput(Outputs.Servers, serversOutput(result))
}
