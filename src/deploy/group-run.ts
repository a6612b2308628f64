import { randomBytes } from 'node:crypto'
import { forEachLimited, type Failure } from './concurrency.js'
import { AbortedError, DeployRefusedError, messageOf } from '../errors.js'
import { describeHealthFailure, pollHealth } from './health-check.js'
import { formatBytes, formatCount, formatDuration, type Log } from '../logger.js'
import { describeDrift } from '../release/drift.js'
import { linksLeavingTree, type ScanResult } from '../release/manifest.js'
import { previousRelease } from '../release/release-log.js'
import { nextFreeTimestampId } from '../release/release-id.js'
import type { RemoteHost } from '../ssh/remote-host.js'
import type { RunContext } from '../settings.js'
import type { Server } from '../ssh/servers.js'
import { shown } from '../server/server-data.js'
import {
  ServerSession,
  type Phase,
  type ReleaseArchive,
  type ReleaseOptions
} from '../server/server-session.js'
import { adaptLevel, Fanout } from '../server/archive-stream.js'
import { archiveProgress, archiveStream, sourceManifest } from '../server/upload.js'
import { Inputs, type Settings } from '../settings.js'

/** Everything the deploy needs from outside, so tests can hand in fakes. */
export interface DeployDependencies {
  connect(server: Server): Promise<RemoteHost>
  serverLog(label: string): Log
  log: Log
  /** Run `work` inside a collapsible log group. */
  group<T>(name: string, work: () => Promise<T>): Promise<T>
  /** The local manifest, computed while connections are made. */
  manifest: Promise<ScanResult>
  /** Where the run comes from, read while connections are made (git may be asked). */
  context: Promise<RunContext>
  now(): Date
  /** Remember the locks we hold, for the post step of a cancelled job. */
  saveLocks(locks: { server: Server; deployDir: string; token: string }[]): void
  signal: AbortSignal
}

export interface DeployResult {
  releaseId?: string
  /** With dry-run: the id the release would have had. */
  plannedReleaseId?: string
  releasePath?: string
  previousReleaseId?: string
  rolledBack: boolean
  sessions: ServerSession[]
}

/** A failure of the whole group, with the servers that caused it. */
export class GroupError extends Error {
  override name = 'GroupError'
  constructor(
    message: string,
    readonly causes: unknown[],
    readonly result: DeployResult
  ) {
    super(message)
  }
}

/** Why the checks after a switch failed. */
interface CheckFailure {
  message: string
  causes: unknown[]
}

/** A hook to run after a switch, by its input's name. */
interface AfterHook {
  name: 'after-switch' | 'after-rollback'
  script: string
}

function describeFailures(failures: Failure<ServerSession>[], what: string): string {
  const lines = failures.map(f => `  ${messageOf(f.error)}`)
  return `${what} on ${failures.length} server${failures.length === 1 ? '' : 's'}:\n${lines.join('\n')}`
}

/**
 * The runs of one action step against a group of servers. Each phase ends with a barrier: it
 * finishes on every server before the next begins, so either every server switches, or none.
 */
export class GroupRun {
  readonly sessions: ServerSession[] = []
  private rolledBack = false
  private releaseId: string | undefined

  constructor(
    private readonly settings: Settings,
    private readonly deps: DeployDependencies
  ) {}

  /**
   * The outputs describe what is live after the step: the new release once switched, otherwise
   * (a failure, a revert, a rollback after a failed health check, a dry run) the release that
   * was live before.
   */
  private result(): DeployResult {
    const first = this.sessions[0]
    const live = first?.switchedTo ?? first?.liveRelease
    return {
      releaseId: live,
      releasePath: first && live ? `${first.deployDir}/releases/${live}` : undefined,
      previousReleaseId: first?.liveRelease,
      ...(this.settings.dryRun && this.releaseId ? { plannedReleaseId: this.releaseId } : {}),
      rolledBack: this.rolledBack,
      sessions: this.sessions
    }
  }

  private fail(message: string, causes: unknown[]): never {
    throw new GroupError(message, causes, this.result())
  }

  private checkAborted(): void {
    if (this.deps.signal.aborted) throw new AbortedError('cancelled (SIGINT/SIGTERM)')
  }

  /** Run one phase on the given sessions with the parallel limit; a barrier. */
  private async phase(
    sessions: ServerSession[],
    phase: Phase,
    work: (s: ServerSession) => Promise<void>,
    limit = this.settings.maxParallel
  ): Promise<Failure<ServerSession>[]> {
    const failures = await forEachLimited(sessions, limit, s => s.timed(phase, () => work(s)))
    for (const f of failures) {
      f.item.report.status = 'failed'
      f.item.report.error = messageOf(f.error).replace(`${f.item.label}: `, '')
    }
    return failures
  }

  private saveLocks(): void {
    this.deps.saveLocks(
      this.sessions
        .filter(s => s.lockToken !== undefined)
        .map(s => ({ server: s.server, deployDir: s.deployDir, token: s.lockToken as string }))
    )
  }

  /** Connect to every server (phase 1). Nothing is written on any server before all answered. */
  async connect(servers: Server[]): Promise<void> {
    await this.deps.group('Connect and verify host keys', async () => {
      const results = await forEachLimited(
        servers,
        Math.max(this.settings.maxParallel, 1),
        async server => {
          const started = Date.now()
          const host = await this.deps.connect(server)
          const session = new ServerSession(server, host, this.deps.serverLog(server.label))
          session.report.phases.connect = Date.now() - started
          this.sessions.push(session)
          session.log.info(`connected (${formatDuration(Date.now() - started)})`)
        },
        { stopOnError: false }
      )
      // Keep the sessions in the order the servers were given.
      this.sessions.sort((a, b) => servers.indexOf(a.server) - servers.indexOf(b.server))
      if (results.length > 0) {
        this.close()
        this.fail(
          `Cannot reach ${results.length} of ${servers.length} server${servers.length === 1 ? '' : 's'}; nothing was changed anywhere:\n${results.map(f => `  ${messageOf(f.error)}`).join('\n')}`,
          results.map(f => f.error)
        )
      }
    })
  }

  close(): void {
    for (const s of this.sessions) s.host.close()
  }

  /** Remove prepared releases and release locks: the way out of any failure before the switch. */
  async abortAll(): Promise<void> {
    await forEachLimited(
      this.sessions.filter(s => s.prepared !== undefined || s.lockToken !== undefined),
      this.settings.maxParallel,
      async s => {
        try {
          await s.abort()
          if (s.report.status === 'pending') s.report.status = 'aborted'
        } catch (error) {
          s.log.warning(
            `cleanup failed: ${messageOf(error)}. The next deploy removes the incomplete release; 'mode: unlock' clears the lock.`
          )
        }
      },
      { stopOnError: false }
    )
    this.saveLocks()
  }

  private lockOwner(context: RunContext): { token: string; json: string } {
    const token = randomBytes(16).toString('hex')
    const json = JSON.stringify({
      token,
      runUrl: context.runUrl,
      repository: context.repository,
      commit: context.commit,
      ref: context.ref,
      actor: context.actor,
      runner: context.runner,
      started: this.deps.now().toISOString()
    })
    return { token, json }
  }

  /** Inputs that are set and need a shell on the server, for this mode. */
  private needsShell(): string[] {
    const { settings } = this
    const needs: string[] = []
    if (settings.mode === 'deploy' && settings.beforeSwitch) needs.push(Inputs.BeforeSwitch)
    if (settings.afterSwitch) needs.push(Inputs.AfterSwitch)
    if (settings.afterRollback) needs.push(Inputs.AfterRollback)
    if (settings.mode === 'deploy' && settings.transfer === 'tar') needs.push(Inputs.Transfer)
    return needs
  }

  /** Phase 2 and the server half of phase 3: lock and learn the state. */
  async inspect(lock: boolean, prefetch = false, drift = false): Promise<void> {
    const context = await this.deps.context
    const access = { shell: this.settings.shell, needsShell: this.needsShell() }
    await this.deps.group(lock ? 'Lock and inspect' : 'Inspect (read only)', async () => {
      const failures = await this.phase(this.sessions, 'inspect', async s => {
        await s.inspect(
          this.settings.path,
          lock ? this.lockOwner(context) : undefined,
          this.settings.reuse,
          // A deploy starts copying the live release as soon as it holds the lock.
          lock && prefetch ? { copyMethod: this.settings.copyMethod } : undefined,
          this.settings.mode === 'deploy' ? { transfer: this.settings.transfer } : undefined,
          drift && this.settings.onDrift !== 'ignore',
          access,
          // A deploy (or its dry run) compares the source's manifest with the one it starts
          // from by their digests: the server sends its manifest only when they differ.
          this.settings.mode === 'deploy' && this.settings.reuse !== 'none'
            ? this.deps.manifest.then(scan => sourceManifest(scan.entries)).then(m => m.digest)
            : undefined
        )
        s.log.info(`${s.deployDir}: live release ${s.liveRelease ?? '(none: first deploy)'}`)
        this.saveLocks()
      })
      if (failures.length > 0) {
        await this.abortAll()
        this.fail(
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
  private async reportDrift(): Promise<void> {
    const { onDrift } = this.settings
    if (onDrift === 'ignore') return
    const drifted = this.sessions.filter(
      s => s.drift !== undefined && (s.drift.paths.length > 0 || !s.drift.complete)
    )
    if (drifted.length === 0) return
    const lines = drifted.map(s => {
      const d = s.drift as NonNullable<typeof s.drift>
      return `${s.label}: release ${s.liveRelease ?? ''} was changed on the server since it was deployed: ${describeDrift(d, 20, shown)}${d.complete ? '' : ' (more than could be listed)'}`
    })
    const where = `Paths the app writes belong in shared/ (see shared-paths); anything else belongs in the source.`
    if (onDrift === 'fail') {
      await this.abortAll()
      this.fail(
        `Refused (on-drift: fail); nothing was changed:\n  ${lines.join('\n  ')}\nThe next release would hold exactly the source, without these changes. ${where} Or set on-drift: warn to deploy anyway.`,
        lines.map(l => new DeployRefusedError(l))
      )
    }
    for (const line of lines)
      this.deps.log.warning(
        `${line}. The new release holds exactly the source, without these changes (they stay in the old release until it is pruned). ${where} on-drift: fail stops such a deploy; on-drift: ignore silences this.`
      )
  }

  /** The same release id on every server: the custom one, or the first free UTC second. */
  private chooseReleaseId(): string {
    if (this.settings.releaseId) {
      const taken = this.sessions.filter(s => s.releaseDirs.has(this.settings.releaseId as string))
      if (taken.length > 0) {
        throw new DeployRefusedError(
          `release-id '${this.settings.releaseId}' already exists on ${taken.map(s => s.label).join(', ')}. Release ids are never reused; choose a new one.`
        )
      }
      return this.settings.releaseId
    }
    const taken = new Set<string>()
    for (const s of this.sessions) for (const id of s.releaseDirs) taken.add(id)
    for (const s of this.sessions) for (const e of s.events) taken.add(e.id)
    return nextFreeTimestampId(this.deps.now(), taken)
  }

  /** A whole deploy. */
  async deploy(): Promise<DeployResult> {
    const started = Date.now()
    const { settings } = this
    try {
      await this.connect(settings.servers)
      this.checkAborted()
      await this.inspect(!settings.dryRun, true, true)
      this.checkAborted()
      await this.reportDrift()
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
        this.releaseId = this.chooseReleaseId()
      } catch (error) {
        await this.abortAll()
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
        this.printDryRun()
        for (const s of this.sessions) s.report.status = 'planned'
        await this.checkSharedDryRun(scan)
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
      // With copy-method copy, the next deploy starts from a copy of this release made now, in
      // the background, rather than copying the live release then (reuse previous).
      const spare =
        settings.copyMethod === 'copy' && settings.reuse === 'previous'
          ? { release: releaseId, bytes: scan.entries.reduce((n, e) => n + e.size, 0) }
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
        const failures = await this.upload(
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
          const reverted = uncertain.length > 0 ? await this.revert(uncertain) : []
          await this.abortAll()
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
        await this.switchAll(() => releaseId, `Switch to ${releaseId}`)
        await this.afterSwitchAndHealth(releaseId)
        await this.finishAll(s => ({ ...finishing(s), spare }))
      }
      for (const s of this.sessions) s.report.status = 'deployed'
      this.deps.log.info(
        `release ${releaseId} is live on ${this.sessions.length} server${this.sessions.length === 1 ? '' : 's'} (${formatDuration(Date.now() - started)})`
      )
      return this.result()
    } catch (error) {
      if (error instanceof GroupError) throw error
      await this.abortAll().catch(() => undefined)
      throw new GroupError(messageOf(error), [error], this.result())
    } finally {
      this.close()
    }
  }

  /**
   * Phases 4 to 6 on every server. Servers that need the same archive (the usual case: the same
   * plan, umask and tools) get one archive, made and compressed once and copied to each of
   * them at the pace of the slowest; the others get their own. An archive's servers run
   * together (they must, to share it), within max-parallel.
   */
  private async upload(
    options: ReleaseOptions,
    switchAfter?: (s: ServerSession) => ReturnType<ServerSession['finishParams']>
  ): Promise<Failure<ServerSession>[]> {
    const failures: Failure<ServerSession>[] = []
    const limit = Math.max(1, this.settings.maxParallel)
    const archives = new Map<ServerSession, ReleaseArchive | undefined>()
    for (const s of this.sessions) {
      try {
        archives.set(s, await s.releaseArchive(options))
      } catch (error) {
        failures.push({ item: s, error })
      }
    }
    if (failures.length > 0) return this.markFailed(failures)
    // Streams: servers with the same archive key, at most max-parallel to a stream.
    const streams: { archive?: ReleaseArchive; sessions: ServerSession[] }[] = []
    const open = new Map<string, (typeof streams)[number]>()
    for (const s of this.sessions) {
      const archive = archives.get(s)
      const shared = archive ? open.get(archive.key) : undefined
      if (archive && shared && shared.sessions.length < limit) {
        shared.sessions.push(s)
        continue
      }
      const stream = { archive, sessions: [s] }
      streams.push(stream)
      if (archive) open.set(archive.key, stream)
    }
    // Run the streams as max-parallel allows, each with all of its servers at once.
    let running = 0
    let wake: (() => void) | undefined
    const runStream = async (stream: (typeof streams)[number]): Promise<void> => {
      const { archive, sessions } = stream
      if (!archive) {
        const session = sessions[0] as ServerSession
        await session
          .timed('upload', () => session.prepareRelease(options, undefined, switchAfter?.(session)))
          .catch(error => {
            failures.push({ item: session, error })
          })
        return
      }
      const many = sessions.length > 1
      const log = many ? this.deps.log : (sessions[0] as ServerSession).log
      if (many)
        log.info(
          `one archive for ${sessions.length} servers with the same plan: ${sessions.map(s => s.label).join(', ')}`
        )
      const progress = archiveProgress(
        many ? withSuffix(log, ` to ${sessions.length} servers`) : log,
        archive.entries,
        archive.fileCount
      ).start()
      // The plan's files the archive carried, for the reports of every server it goes to.
      const sent = { files: 0, bytes: 0 }
      const { stream: source, gzip } = archiveStream(
        archive.entries,
        archive.compression,
        progress,
        options.signal,
        entry => {
          if (entry.path.startsWith('.atomic-deploy/')) return
          sent.files++
          sent.bytes += entry.size ?? 0
        }
      )
      const fanout = new Fanout(source, sessions.length)
      let changes = 0
      const stopAdapting =
        gzip && archive.compression === 'adaptive'
          ? adaptLevel(
              gzip,
              () => fanout.stats(),
              // A link at the edge between the levels may switch often: the first changes
              // are worth a line, the rest only go to the debug log.
              (level, why) =>
                (changes++ < 3 ? log.info : log.debug)(`compression: gzip level ${level} (${why})`)
            )
          : () => undefined
      try {
        await Promise.all(
          sessions.map((session, i) =>
            session
              .timed('upload', () =>
                session.prepareRelease(
                  options,
                  {
                    stream: fanout.output(i),
                    onMeter: meter => fanout.attach(i, meter),
                    done: () => fanout.drop(i),
                    sent
                  },
                  switchAfter?.(session)
                )
              )
              .catch(error => {
                failures.push({ item: session, error })
              })
          )
        )
      } finally {
        stopAdapting()
        progress.stop()
        source.destroy()
      }
    }
    const pending: Promise<void>[] = []
    for (const stream of streams) {
      if (failures.length > 0) break
      const weight = stream.sessions.length
      while (running > 0 && running + weight > limit) {
        await new Promise<void>(resolve => (wake = resolve))
      }
      if (failures.length > 0) break
      running += weight
      pending.push(
        runStream(stream).finally(() => {
          running -= weight
          wake?.()
        })
      )
    }
    await Promise.all(pending)
    return this.markFailed(failures)
  }

  /** Record failures in the servers' reports, as phase() does. */
  private markFailed(failures: Failure<ServerSession>[]): Failure<ServerSession>[] {
    for (const f of failures) {
      f.item.report.status = 'failed'
      f.item.report.error = messageOf(f.error).replace(`${f.item.label}: `, '')
    }
    return failures
  }

  /** A dry run finds the shared-path problems the deploy would fail on, and fails with them. */
  private async checkSharedDryRun(scan: ScanResult): Promise<void> {
    const { settings } = this
    const failures = await this.phase(this.sessions, 'inspect', async s => {
      const problems = await s.sharedProblems(
        scan.entries,
        settings.sharedPaths,
        settings.sharedConflict
      )
      if (problems.length > 0) throw new DeployRefusedError(`${s.label}: ${problems.join('; ')}`)
    })
    if (failures.length > 0)
      this.fail(
        `${describeFailures(failures, 'The deploy would fail before the switch')}\nDry run: nothing was written.`,
        failures.map(f => f.error)
      )
  }

  private printDryRun(): void {
    for (const s of this.sessions) {
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

  /**
   * Phase 7: switch every server at once. If any switch fails, the ones that switched go back to
   * what they had, and the new releases are removed.
   */
  private async switchAll(target: (s: ServerSession) => string, title: string): Promise<void> {
    await this.deps.group(title, async () => {
      this.checkAborted()
      const failures = await this.phase(
        this.sessions,
        'switch',
        async s => {
          await s.switchTo(target(s))
          s.log.info(`current -> releases/${target(s)}`)
        },
        this.sessions.length
      )
      if (failures.length > 0) {
        // Servers that switched, and those whose answer was lost and may have, go back.
        const reverted = await this.revert(
          this.sessions.filter(s => s.switchedTo !== undefined || s.switchUncertain !== undefined)
        )
        await this.abortAll()
        this.fail(
          `${describeFailures(failures, 'Switch failed')}\n${reverted.length > 0 ? `Switched back: ${reverted.join(', ')}.` : 'No server had switched.'}`,
          failures.map(f => f.error)
        )
      }
    })
  }

  /** Point switched servers back to the release they had before. Returns the labels reverted. */
  private async revert(sessions: ServerSession[]): Promise<string[]> {
    const reverted: string[] = []
    await forEachLimited(
      sessions,
      sessions.length,
      async s => {
        if (!s.host.connected) {
          // The connection dropped mid-switch: a new one finds out, and puts current back.
          s.host.close()
          s.host = await this.deps.connect(s.server)
        }
        if (s.liveRelease !== undefined) {
          // Safe whether or not the failed switch happened: it points current at the old release.
          await s.switchTo(s.liveRelease)
        } else {
          // First deploy: there was no current link, and there is none again.
          await s.removeCurrent()
        }
        s.switchedTo = undefined
        s.switchUncertain = undefined
        reverted.push(s.label)
        s.log.info(`switched back to ${s.liveRelease ?? '(no release)'}`)
      },
      { stopOnError: false }
    ).then(failures => {
      for (const f of failures) {
        const id = f.item.switchedTo ?? f.item.switchUncertain
        f.item.log.warning(
          `could not switch back: ${messageOf(f.error)}. current may still point to releases/${id}; check it, and use 'mode: rollback' once the server is reachable.`
        )
      }
    })
    return reverted
  }

  /**
   * The checks a release gets once it is live, whether a deploy or a rollback put it there: the
   * hook on every server (with RELEASE_ID set to the release now live there), then the health
   * check. Undefined when everything passed.
   */
  private async checkLive(
    sessions: ServerSession[],
    hook: AfterHook | undefined,
    live: (s: ServerSession) => string,
    previous: (s: ServerSession) => string | undefined,
    restoring: boolean
  ): Promise<CheckFailure | undefined> {
    const { settings } = this
    if (sessions.length === 0) return undefined
    const what = [...new Set(sessions.map(live))].join(', ')
    let failure: CheckFailure | undefined
    if (hook) {
      const title = restoring ? `After rollback: ${hook.name} in ${what}` : 'After switch'
      await this.deps.group(title, async () => {
        const failures = await this.phase(sessions, 'after-switch', s =>
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
      await this.deps.group(restoring ? `Health check of ${what}` : 'Health check', async () => {
        const started = Date.now()
        const health = await pollHealth(url, settings.healthCheckTimeout, this.deps.log, {
          signal: this.deps.signal,
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
  private rollbackHook(): AfterHook | undefined {
    const { afterRollback, afterSwitch } = this.settings
    if (afterRollback) return { name: 'after-rollback', script: afterRollback }
    if (afterSwitch) return { name: 'after-switch', script: afterSwitch }
    return undefined
  }

  /**
   * A release that was live and failed its checks: switch every server back to the release it
   * had before this step, give that release the same checks, and record the failed one so it is
   * never a rollback target. Always ends in a GroupError that says what is live now.
   */
  private async switchBack(
    failed: (s: ServerSession) => string,
    failure: CheckFailure
  ): Promise<never> {
    const { settings } = this
    const switched = this.sessions.filter(s => s.switchedTo !== undefined)
    const reverted = await this.deps.group('Roll back', () => this.revert(switched))
    this.rolledBack = reverted.length > 0
    const restored = switched.filter(s => s.switchedTo === undefined && s.liveRelease !== undefined)
    const restoredIds = [...new Set(restored.map(s => s.liveRelease as string))].join(', ')
    const restoreFailure = await this.checkLive(
      restored,
      this.rollbackHook(),
      s => s.liveRelease as string,
      failed,
      true
    )
    const deploying = settings.mode === 'deploy'
    await this.finishAll(s => {
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
    for (const s of this.sessions) {
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
      ...(this.rollbackHook() ? [this.rollbackHook()?.name] : []),
      ...(settings.healthCheckUrl ? ['the health check'] : [])
    ].join(' and ')
    const after = restoreFailure
      ? `\nRelease ${restoredIds} fails its checks too after the rollback: ${restoreFailure.message}\nThe site may be down: check the servers, then deploy a fix or pick a release with 'mode: rollback' and 'rollback-to'.`
      : restored.length > 0 && checks !== ''
        ? `; ${restoredIds} passed ${checks}.`
        : '.'
    const retry = deploying
      ? ''
      : `\n${[...new Set(this.sessions.map(failed))].join(', ')} stays a rollback target (it passed its checks when it was live before): once what it depends on is back, run mode: rollback again, or choose another release with rollback-to.`
    this.fail(`${failure.message}\n${back}${after}${retry}`, [
      ...failure.causes,
      ...(restoreFailure?.causes ?? [])
    ])
  }

  /** Phase 8: after-switch everywhere, then the health check; roll back on failure. */
  private async afterSwitchAndHealth(releaseId: string): Promise<void> {
    const { settings } = this
    const hook: AfterHook | undefined = settings.afterSwitch
      ? { name: 'after-switch', script: settings.afterSwitch }
      : undefined
    const failure = await this.checkLive(
      this.sessions,
      hook,
      () => releaseId,
      s => s.liveRelease,
      false
    )
    if (failure === undefined) return
    if (!settings.rollbackOnFailure) {
      await this.finishAll(() => ({ events: [['live', releaseId]], prune: [] }))
      for (const s of this.sessions) {
        s.report.status = 'failed'
        s.report.error ??= failure.message
      }
      this.fail(
        `${failure.message}\nrollback-on-failure is false: release ${releaseId} stays live.`,
        failure.causes
      )
    }
    await this.switchBack(() => releaseId, failure)
  }

  /** Phase 9 everywhere; a failure here is reported but changes nothing live. */
  private async finishAll(
    plan: (s: ServerSession) => {
      events: [string, string][]
      prune: string[]
      spare?: { release: string; bytes: number }
    }
  ): Promise<void> {
    await this.deps.group('Prune and unlock', async () => {
      const failures = await this.phase(this.sessions, 'finish', s => {
        const { events, prune, spare } = plan(s)
        return s.finish(events, prune, spare)
      })
      this.saveLocks()
      for (const f of failures) {
        f.item.log.warning(
          `finishing failed: ${messageOf(f.error)}. The release is live; the lock may still be held: the post step tries to release it, or run 'mode: unlock'.`
        )
      }
    })
  }

  /**
   * The release `mode: rollback` switches a server to: `rollback-to`, or the good release live
   * before the current one. A problem is a sentence for the refusal.
   */
  private rollbackTarget(s: ServerSession): { target: string } | { problem: string } {
    const complete = s.completeReleases()
    const { rollbackTo } = this.settings
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

  /**
   * mode: rollback. The target gets the same checks as a deploy: after-rollback (or after-switch)
   * and the health check; if they fail, every server goes back to what it had.
   */
  async rollback(): Promise<DeployResult> {
    const { settings } = this
    try {
      await this.connect(settings.servers)
      await this.inspect(true)
      const targets = new Map<ServerSession, string>()
      const problems: string[] = []
      for (const s of this.sessions) {
        const choice = this.rollbackTarget(s)
        if ('problem' in choice) problems.push(choice.problem)
        else targets.set(s, choice.target)
      }
      if (problems.length > 0) {
        await this.abortAll()
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
      await this.switchAll(target, `Roll back to ${this.releaseId}`)
      for (const s of this.sessions) s.report.release = target(s)
      const failure = await this.checkLive(
        this.sessions,
        this.rollbackHook(),
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
        await this.finishAll(s => ({ events: events(s), prune: [] }))
        for (const s of this.sessions) s.report.status = 'deployed'
        this.deps.log.info(`rolled back to ${this.releaseId}`)
        return this.result()
      }
      if (!settings.rollbackOnFailure) {
        await this.finishAll(s => ({ events: events(s), prune: [] }))
        for (const s of this.sessions) {
          s.report.status = 'failed'
          s.report.error ??= failure.message
        }
        this.fail(
          `Rollback to ${this.releaseId} failed its checks: ${failure.message}\nrollback-on-failure is false: release ${this.releaseId} stays live.`,
          failure.causes
        )
      }
      return await this.switchBack(target, {
        message: `Rollback to ${this.releaseId} failed its checks: ${failure.message}`,
        causes: failure.causes
      })
    } catch (error) {
      if (error instanceof GroupError) throw error
      await this.abortAll().catch(() => undefined)
      throw new GroupError(messageOf(error), [error], this.result())
    } finally {
      this.close()
    }
  }
}

/** A log whose lines end with `suffix`. */
function withSuffix(log: Log, suffix: string): Log {
  return {
    info: message => log.info(message + suffix),
    warning: message => log.warning(message + suffix),
    debug: message => log.debug(message + suffix)
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
