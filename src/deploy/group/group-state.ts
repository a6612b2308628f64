/**
 * The state of a group run and the types its phases share: what the deploy needs from outside,
 * what it returns, and how a failure of the whole group is reported.
 */
import { forEachLimited, type Failure } from '../concurrency.js'
import { AbortedError, messageOf } from '../../errors.js'
import type { Log } from '../../logger.js'
import type { ScanResult } from '../../release/manifest.js'
import type { RemoteHost } from '../../ssh/remote-host.js'
import type { Server } from '../../ssh/servers.js'
import type { FirstScript } from '../../ssh/script-frame.js'
import type { Phase, ServerSession } from '../../server/server-session.js'
import type { InspectOptions } from '../../server/session/session-inspect.js'
import type { RunContext, Settings } from '../../settings.js'

/** Everything the deploy needs from outside, so tests can hand in fakes. */
export interface DeployDependencies {
  /**
   * Connect to `server`. `firstScript`, when given, is the connection's first script (framed),
   * sent during authentication if ready by then (see ssh-connect.ts, ConnectOptions.firstScript).
   */
  connect(server: Server, firstScript?: Promise<FirstScript | undefined>): Promise<RemoteHost>
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
export interface CheckFailure {
  message: string
  causes: unknown[]
}

/** A hook to run after a switch, by its input's name. */
export interface AfterHook {
  name: 'after-switch' | 'after-rollback'
  script: string
}

export function describeFailures(failures: Failure<ServerSession>[], what: string): string {
  const lines = failures.map(f => `  ${messageOf(f.error)}`)
  return `${what} on ${failures.length} server${failures.length === 1 ? '' : 's'}:\n${lines.join('\n')}`
}

/**
 * What the run of one action step against a group of servers learns on the way, and the helpers
 * every phase across servers uses (a phase with its barrier, failing the group, the locks held).
 * Each phase's logic is in its own module beside this one; GroupRun sequences them.
 */
export class GroupState {
  readonly sessions: ServerSession[] = []
  rolledBack = false
  releaseId: string | undefined
  /**
   * With one server: the inspect phase's options, and its script as the connection's first,
   * made ready while the connection is made (prepareInspectAhead in group-inspect.ts); undefined
   * inside when the run's context could not be read.
   */
  inspectAhead:
    Promise<{ options: InspectOptions; script: FirstScript | undefined } | undefined> | undefined

  constructor(
    readonly settings: Settings,
    readonly deps: DeployDependencies
  ) {}

  /**
   * The outputs describe what is live after the step: the new release once switched, otherwise
   * (a failure, a revert, a rollback after a failed health check, a dry run) the release that
   * was live before.
   */
  result(): DeployResult {
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

  fail(message: string, causes: unknown[]): never {
    throw new GroupError(message, causes, this.result())
  }

  checkAborted(): void {
    if (this.deps.signal.aborted) throw new AbortedError('cancelled (SIGINT/SIGTERM)')
  }

  /** Run one phase on the given sessions with the parallel limit; a barrier. */
  async phase(
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

  /** Record failures in the servers' reports, as phase() does. */
  markFailed(failures: Failure<ServerSession>[]): Failure<ServerSession>[] {
    for (const f of failures) {
      f.item.report.status = 'failed'
      f.item.report.error = messageOf(f.error).replace(`${f.item.label}: `, '')
    }
    return failures
  }

  saveLocks(): void {
    this.deps.saveLocks(
      this.sessions
        .filter(s => s.lockToken !== undefined)
        .map(s => ({ server: s.server, deployDir: s.deployDir, token: s.lockToken as string }))
    )
  }

  close(): void {
    for (const s of this.sessions) s.host.close()
  }
}
