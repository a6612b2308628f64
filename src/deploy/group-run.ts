import { DeployRefusedError, messageOf } from '../errors.js'
import { formatBytes, formatCount, formatDuration } from '../logger.js'
import { linksLeavingTree, type ScanResult } from '../release/manifest.js'
import type { ServerSession } from '../server/server-session.js'
import {
  afterSwitchAndHealth,
  checkLive,
  rollbackHook,
  switchBack
} from './group/group-after-switch.js'
import { connect } from './group/group-connect.js'
import { abortAll, finishAll } from './group/group-finish.js'
import { inspect, prepareInspectAhead, reportDrift } from './group/group-inspect.js'
import {
  checkSharedDryRun,
  chooseReleaseId,
  printDryRun,
  rollbackTarget
} from './group/group-plan.js'
import { upload } from './group/group-prepare.js'
import { revert, switchAll } from './group/group-switch.js'
import { type DeployResult, GroupError, GroupState, describeFailures } from './group/group-state.js'

export { GroupError, type DeployDependencies, type DeployResult } from './group/group-state.js'

/**
 * The runs of one action step against a group of servers. Each phase ends with a barrier: it
 * finishes on every server before the next begins, so either every server switches, or none.
 * Each phase across servers is a module under group/ (connect, inspect, plan, prepare, switch,
 * after-switch, finish); this class puts them in order for a deploy and for mode: rollback.
 */
export class GroupRun extends GroupState {
  /** A whole deploy. */
  async deploy(): Promise<DeployResult> {
    const started = Date.now()
    const { settings } = this
    try {
      prepareInspectAhead(this, { lock: !settings.dryRun, prefetch: true, drift: true })
      await connect(this, settings.servers)
      // A lock taken by a script sent during authentication is known only from its answer:
      // the inspect phase reads it, and a cancellation is acted on once it has.
      if (!this.sessions.some(s => s.host.firstScriptSent?.() === true)) this.checkAborted()
      await inspect(this, !settings.dryRun, true, true)
      this.checkAborted()
      await reportDrift(this)
      const scan = await this.deps.manifest
      this.deps.log.info(describeSource(settings.source, scan))
      for (const skipped of scan.skipped)
        this.deps.log.warning(`not deployed: ${skipped} is not a file, directory or symlink`)
      const leaving = linksLeavingTree(scan.entries)
      if (leaving.length > 0) {
        const shown = leaving.slice(0, 10).map(e => `${e.path} -> ${e.target ?? ''}`)
        this.deps.log.warning(
          `${formatCount(leaving.length)} symlink${leaving.length === 1 ? '' : 's'} in source point${leaving.length === 1 ? 's' : ''} outside it and ${leaving.length === 1 ? 'is' : 'are'} deployed as ${leaving.length === 1 ? 'a link' : 'links'}, which resolve${leaving.length === 1 ? 's' : ''} to whatever the server has there: ${shown.join(', ')}${leaving.length > 10 ? `, and ${formatCount(leaving.length - 10)} more` : ''}. Copy the files into source, or exclude the links, if the server should not provide them.`
        )
      }
      try {
        if (scan.entries.length === 0) {
          // An empty source is a mistake (a build that wrote nowhere, an exclude of '**'), and
          // putting an empty release live would take the site down.
          throw new DeployRefusedError(
            `source ${settings.source} has nothing to deploy${settings.exclude.length > 0 ? ' after exclude' : ''}: refusing to put an empty release live. Check that the build wrote its output there.`
          )
        }
        this.releaseId = chooseReleaseId(this)
      } catch (error) {
        await abortAll(this)
        throw error
      }
      const releaseId = this.releaseId

      await this.deps.group('Plan', async () => {
        for (const s of this.sessions) {
          await s.makePlan(scan.entries, settings.reuse)
          s.log.info(`plan for release ${releaseId}: ${s.planLine()}`)
        }
      })
      if (settings.dryRun) {
        printDryRun(this)
        for (const s of this.sessions) s.report.status = 'planned'
        await checkSharedDryRun(this, scan)
        return this.result()
      }

      const context = await this.deps.context
      const revision = JSON.stringify({
        release: releaseId,
        commit: context.commit,
        ref: context.ref,
        actor: context.actor,
        repository: context.repository,
        runUrl: context.runUrl,
        workflow: context.workflow,
        time: this.deps.now().toISOString()
      })
      // Phases 4 to 6 are one script per server (one round trip), so before-switch's output
      // is in this group, named for it.
      // The next deploy starts from a copy of this release made now, in the background, rather
      // than copying the live release then (reuse previous), made as copy-method says: a whole
      // copy needs room for the files' bytes, a hard-linked one only for its directories.
      const spare =
        settings.reuse === 'previous'
          ? {
              release: releaseId,
              method: settings.copyMethod,
              bytes:
                settings.copyMethod === 'copy' ? scan.entries.reduce((n, e) => n + e.size, 0) : 0
            }
          : undefined
      const finishing = (s: ServerSession): { events: [string, string][]; prune: string[] } => {
        const events: [string, string][] = [['live', releaseId]]
        return {
          events,
          prune: s.pruneAfter(events, settings.keepReleases, releaseId, s.liveRelease, releaseId)
        }
      }
      // One server, and nothing to run or check after the switch: no other server to switch
      // with, nothing that could call for a rollback. The release script switches and finishes
      // once the release is ready, which saves the round trips of phases 7 and 9 (an SFTP-only
      // server has no script: its phases are requests, pipelined already).
      const switchAfter =
        this.sessions.length === 1 &&
        this.sessions.every(s => s.access === 'shell') &&
        !settings.afterSwitch &&
        !settings.healthCheckUrl
          ? (s: ServerSession) => {
              const { events, prune } = finishing(s)
              return s.finishParams(events, prune, spare, releaseId)
            }
          : undefined
      const prepareTitle = `Prepare release ${releaseId}${settings.beforeSwitch ? ' and run before-switch' : ''}${switchAfter ? `, switch to it and finish` : ''}`
      await this.deps.group(prepareTitle, async () => {
        const failures = await upload(
          this,
          {
            releaseId,
            sourceRoot: settings.source,
            entries: scan.entries,
            reuse: settings.reuse,
            copyMethod: settings.copyMethod,
            compression: settings.compression,
            transfer: settings.transfer,
            verify: settings.verify,
            sharedPaths: settings.sharedPaths,
            sharedConflict: settings.sharedConflict,
            beforeSwitch: settings.beforeSwitch,
            revision,
            mtime: Math.floor(this.deps.now().getTime() / 1000),
            signal: this.deps.signal
          },
          switchAfter
        )
        if (failures.length > 0 || this.deps.signal.aborted) {
          // A script that switches and lost its connection may have switched: put current back.
          const uncertain = this.sessions.filter(s => s.switchUncertain !== undefined)
          const reverted = uncertain.length > 0 ? await revert(this, uncertain) : []
          await abortAll(this)
          this.checkAborted()
          this.fail(
            `${describeFailures(failures, 'Deploy failed before the switch')}\n${reverted.length > 0 ? `Switched back: ${reverted.join(', ')}.` : 'Nothing was switched; current is unchanged everywhere.'}`,
            failures.map(f => f.error)
          )
        }
      })

      if (switchAfter) {
        // The release script released the lock, or said it could not: the post step knows.
        this.saveLocks()
      } else {
        await switchAll(this, () => releaseId, `Switch to ${releaseId}`)
        await afterSwitchAndHealth(this, releaseId)
        await finishAll(this, s => ({ ...finishing(s), spare }))
      }
      for (const s of this.sessions) s.report.status = 'deployed'
      this.deps.log.info(
        `release ${releaseId} is live on ${this.sessions.length} server${this.sessions.length === 1 ? '' : 's'} (${formatDuration(Date.now() - started)})`
      )
      return this.result()
    } catch (error) {
      if (error instanceof GroupError) throw error
      await abortAll(this).catch(() => undefined)
      throw new GroupError(messageOf(error), [error], this.result())
    } finally {
      this.close()
    }
  }

  /**
   * mode: rollback. The target gets the same checks as a deploy: after-rollback (or after-switch)
   * and the health check; if they fail, every server goes back to what it had.
   */
  async rollback(): Promise<DeployResult> {
    const { settings } = this
    try {
      prepareInspectAhead(this, { lock: true })
      await connect(this, settings.servers)
      await inspect(this, true)
      const targets = new Map<ServerSession, string>()
      const problems: string[] = []
      for (const s of this.sessions) {
        const choice = rollbackTarget(this, s)
        if ('problem' in choice) problems.push(choice.problem)
        else targets.set(s, choice.target)
      }
      if (problems.length > 0) {
        await abortAll(this)
        this.fail(
          `Rollback refused; nothing was changed:\n  ${problems.join('\n  ')}`,
          problems.map(p => new DeployRefusedError(p))
        )
      }
      const target = (s: ServerSession): string => targets.get(s) as string
      const distinct = new Set(targets.values())
      if (distinct.size > 1)
        this.deps.log.warning(
          `servers roll back to different releases: ${[...targets].map(([s, t]) => `${s.label} -> ${t}`).join(', ')}`
        )
      this.releaseId = [...targets.values()][0]
      await switchAll(this, target, `Roll back to ${this.releaseId}`)
      for (const s of this.sessions) s.report.release = target(s)
      const failure = await checkLive(
        this,
        this.sessions,
        rollbackHook(this),
        target,
        s => s.liveRelease,
        false
      )
      const events = (s: ServerSession): [string, string][] => [
        ...(s.liveRelease === undefined ? [] : [['rollback', s.liveRelease] as [string, string]]),
        ['live', target(s)]
      ]
      if (failure === undefined) {
        // Nothing is pruned by a rollback: every release stays where it was for the next step.
        await finishAll(this, s => ({ events: events(s), prune: [] }))
        for (const s of this.sessions) s.report.status = 'deployed'
        this.deps.log.info(`rolled back to ${this.releaseId}`)
        return this.result()
      }
      if (!settings.rollbackOnFailure) {
        await finishAll(this, s => ({ events: events(s), prune: [] }))
        for (const s of this.sessions) {
          s.report.status = 'failed'
          s.report.error ??= failure.message
        }
        this.fail(
          `Rollback to ${this.releaseId} failed its checks: ${failure.message}\nrollback-on-failure is false: release ${this.releaseId} stays live.`,
          failure.causes
        )
      }
      return await switchBack(this, target, {
        message: `Rollback to ${this.releaseId} failed its checks: ${failure.message}`,
        causes: failure.causes
      })
    } catch (error) {
      if (error instanceof GroupError) throw error
      await abortAll(this).catch(() => undefined)
      throw new GroupError(messageOf(error), [error], this.result())
    } finally {
      this.close()
    }
  }
}

/** What is being deployed, in one line: `source: 3,505 files, 12 directories, 30.0 MB; ...`. */
function describeSource(source: string, scan: ScanResult): string {
  let files = 0
  let dirs = 0
  let links = 0
  let bytes = 0
  for (const e of scan.entries) {
    if (e.type === 'file') {
      files++
      bytes += e.size
    } else if (e.type === 'dir') dirs++
    else links++
  }
  const parts = [
    `${formatCount(files)} files`,
    `${formatCount(dirs)} directories`,
    ...(links > 0 ? [`${formatCount(links)} symlinks`] : []),
    formatBytes(bytes)
  ]
  const threads = scan.threads ? ` on ${scan.threads} thread${scan.threads === 1 ? '' : 's'}` : ''
  const took =
    scan.elapsedMs === undefined ? '' : `; scanned and hashed in ${scan.elapsedMs} ms${threads}`
  return `source ${source}: ${parts.join(', ')}${took}`
}
