/**
 * One server's session: its state, shared by the phase modules beside this file (inspect, plan,
 * archive, prepare, switch, after-switch, finish), and the types the group run hands them.
 */
import type { Readable } from 'node:stream'
import { ConnectionError, RemoteCommandError, ScriptUnreadError } from '../../errors.js'
import type { Log } from '../../logger.js'
import type { ManifestEntry } from '../../release/manifest.js'
import type { Plan } from '../../release/plan.js'
import type { Drift } from '../../release/drift.js'
import {
  completeReleases,
  releaseStates,
  releasesToPrune,
  type LogEvent,
  type ReleaseState
} from '../../release/release-log.js'
import type { RemoteHost, RunResult } from '../../ssh/remote-host.js'
import type { Script } from '../../ssh/script-frame.js'
import type { Appender } from '../../sftp/remote-files.js'
import { SftpError } from '../../sftp/sftp-engine.js'
import type { ReleaseParams } from '../remote-scripts.js'
import type { SftpBase } from '../sftp-inspect.js'
import { parseScriptOutput, values, type ScriptOutput } from '../script-output.js'
import type { Server } from '../../ssh/servers.js'
import type { ServerCapabilities } from '../capabilities.js'
import type {
  Compression,
  CopyMethod,
  Reuse,
  SharedConflict,
  ShellAccess,
  Transfer,
  VerifyLevel
} from '../../settings.js'
import type { TarEntry } from '../../release/tar-writer.js'
import type { ReleaseMetadata } from '../upload.js'

export type Phase =
  'connect' | 'inspect' | 'upload' | 'switch' | 'after-switch' | 'health-check' | 'finish'

/** Where the new release starts from, as decided by the plan phase. */
export type Base =
  | { kind: 'none'; reason: string }
  | {
      kind: 'release'
      id: string
      entries: ManifestEntry[]
      sharedLinks: string[]
      /** Paths to remove from the copy whatever the plan says (they differ from the manifest). */
      remove: string[]
      /** The server's manifest to put the new one together from (see FinalizeParams). */
      manifest?: string
    }
  | {
      kind: 'cache'
      exists: boolean
      entries: ManifestEntry[]
      reason?: string
      /** Paths to remove from cache/ whatever the plan says. */
      remove: string[]
      /** The server's manifest to put the new one together from (see FinalizeParams). */
      manifest?: string
    }

export interface ReleaseOptions {
  releaseId: string
  sourceRoot: string
  entries: ManifestEntry[]
  reuse: Reuse
  copyMethod: CopyMethod
  compression: Compression
  transfer: Transfer
  verify: VerifyLevel
  sharedPaths?: string[]
  sharedConflict: SharedConflict
  beforeSwitch?: string
  /** One-line JSON: commit, ref, actor, run URL, time. */
  revision: string
  /** Modification time of the metadata files sent (seconds): the same for every server. */
  mtime: number
  signal?: AbortSignal
}

/**
 * What a release sends as a tar stream. Servers whose archives have the same key receive the
 * same bytes, so one archive, made once, can go to all of them.
 */
export interface ReleaseArchive {
  key: string
  /** Re-iterable (sized first, then streamed), made lazily. */
  entries: Iterable<TarEntry>
  /** Files in the archive, metadata included. */
  fileCount: number
  /** gzip at a level that follows the link, at gzip's default level, or not at all. */
  compression: 'adaptive' | 'dense' | 'none'
}

/** The archive as it reaches one server (see src/deploy/group/group-prepare.ts: one archive may feed many). */
export interface ArchiveFeed {
  stream: Readable
  /** Receives the meter of what the server took of the stream. */
  onMeter?: (taken: () => number | undefined) => void
  /** The server no longer reads the stream (finished or failed). */
  done?: () => void
  /** The plan's files (and their bytes) the archive has carried so far, for its servers' reports. */
  sent: { files: number; bytes: number }
}

/** How the server is reached: which inputs need a shell, and whether one may be used. */
export interface AccessOptions {
  /** `shell: none` never runs a command; `auto` uses the shell when the account has one. */
  shell: ShellAccess
  /** Inputs that are set and need a shell on the server (before-switch, after-switch, ...). */
  needsShell: string[]
}

/** What happened on one server, for the `servers` output and the job summary. */
export interface ServerReport {
  status:
    | 'pending'
    | 'deployed'
    | 'failed'
    | 'rolled-back'
    | 'aborted'
    | 'planned'
    | 'unlocked'
    | 'skipped'
  release?: string
  previousRelease?: string
  filesUploaded: number
  filesDeleted: number
  bytesUploaded: number
  phases: Partial<Record<Phase, number>>
  error?: string
}

/**
 * What one server's session learns on the way through the phases, and the helpers every phase
 * uses (running a script, SFTP errors as the deploy reports them, the release's parameters).
 * Each phase's logic is in its own module beside this one, over this state; ServerSession is
 * their facade.
 */
export class SessionState {
  readonly report: ServerReport = {
    status: 'pending',
    filesUploaded: 0,
    filesDeleted: 0,
    bytesUploaded: 0,
    phases: {}
  }
  /** Resolved absolute deploy directory. */
  deployDir = ''
  /** Release `current` pointed to when we arrived. */
  liveRelease: string | undefined
  releaseDirs = new Set<string>()
  events: LogEvent[] = []
  tools = new Set<string>()
  /** What the server offers, known once the inspect phase ran. */
  capabilities: ServerCapabilities | undefined
  /**
   * SFTP's start, when the inspect phase did not wait for it (files go by tar): settles once
   * `capabilities.sftp` holds what it found. Whatever chooses by SFTP waits for it first.
   */
  sftpSettling: Promise<void> | undefined
  umask = 0o022
  lockToken: string | undefined
  /** The lock's owner record, as written at lock time. */
  lockOwnerJson = ''
  /** The new release exists on the server (prepared, maybe ready) and is not live. */
  prepared: string | undefined
  switchedTo: string | undefined
  /** A switch to this release failed without an answer: `current` may or may not point to it. */
  switchUncertain: string | undefined
  plan: Plan | undefined
  base: Base | undefined
  /** The starting point's manifest as an older version of atomic-deploy wrote it. */
  manifestBlob: Buffer | undefined
  /** The starting point's manifest view (see compact-manifest.ts), gzipped or not. */
  viewBlob: { data: Buffer; gzipped: boolean } | undefined
  /** The starting point's manifest has the source's digest: nothing changed. */
  same = false
  /**
   * SFTP-only: the starting point's compact manifest records (less their suffixes), its digest
   * and, when the source's digest was known in time, its view, as read at inspect; what was
   * not read then is read when the plan is made (readBaseOverSftp).
   */
  sftpBase: SftpBase | undefined
  /** The copy of the live release the inspect script started (`base.<pid>`), if any. */
  prefetched: { name: string; from: string; spare: boolean } | undefined
  linksBlob: Buffer | undefined
  warnedNoGzip = false
  /** The release's metadata, once worked out (releaseArchive and prepareRelease share it). */
  metadata: Promise<ReleaseMetadata> | undefined
  /** `shell`: every phase is a script; `sftp`: the account runs no commands, SFTP does it all. */
  access: 'shell' | 'sftp' = 'shell'
  /** What an SFTP-only inspect found left over by earlier runs. */
  leftovers: {
    switchLinks: string[]
    metaNames: string[]
    tmpNames?: string[]
    setAside?: string[]
  } = {
    switchLinks: [],
    metaNames: []
  }
  /** Directories of the release being deployed, listed ahead of need when pruning. */
  releaseDirsHint: string[] = []
  /** The release log, held open for appending by an SFTP-only deploy from its prepare phase on. */
  logFile: Appender | undefined
  /** The lock's owner record, read as the verified release is recorded, for the finish phase. */
  lockOwnerRead: Promise<string | undefined> | undefined
  /** Records the server did not send, being past their limits: name -> size. */
  tooLarge = new Map<string, number>()
  /** This run's shared-paths input, for the cleanup of what it seeded. */
  sharedPaths: string[] = []
  /** With reuse cache: the paths an interrupted sync of cache/ left unlike its manifest. */
  pendingBlob: Buffer | undefined
  /**
   * How the live release differs from what it was when it became ready (changes made on the
   * server since), when the drift check ran and the release has a record to compare with.
   */
  drift: Drift | undefined
  /** Whether the drift check was asked for (not with on-drift: ignore). */
  driftChecked = false
  /** What before-switch changed in the live release when it was made, as recorded then. */
  hooked: Drift | undefined

  constructor(
    readonly server: Server,
    public host: RemoteHost,
    readonly log: Log
  ) {}

  get label(): string {
    return this.server.label
  }

  /** Time a phase and record it in the report. */
  async timed<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    const started = Date.now()
    try {
      return await work()
    } finally {
      this.report.phases[phase] = (this.report.phases[phase] ?? 0) + (Date.now() - started)
    }
  }

  /**
   * Run a script. `again` gives the options for a second run when the first was not read (a
   * server without gzip, on the connection's first script): a script with stdin needs it afresh.
   */
  async script(
    text: Script,
    options: Parameters<RemoteHost['run']>[1] = {},
    again?: () => Parameters<RemoteHost['run']>[1]
  ): Promise<{ result: RunResult; output: ScriptOutput }> {
    const run = (o: Parameters<RemoteHost['run']>[1]) =>
      this.host.run(text, { onStderrLine: line => this.log.info(line), ...o })
    let result: RunResult
    try {
      result = await run(options)
    } catch (error) {
      if (!(error instanceof ScriptUnreadError) || !again) throw error
      result = await run(again())
    }
    const output = parseScriptOutput(result.stdout)
    // What a script left alone and why (a release kept, a record not acted on).
    for (const line of values(output, 'warning')) this.log.warning(line)
    return { result, output }
  }

  /** An SFTP failure as the deploy reports it: with the server's label, and lost or not. */
  sftpFailure(error: unknown, what: string): unknown {
    if (!(error instanceof SftpError)) return error
    const message = error.message.startsWith(`${this.label}: `)
      ? error.message.slice(this.label.length + 2)
      : error.message
    // No answer: the connection went, and whether the request took effect is unknown.
    if (error.code === undefined)
      return new ConnectionError(
        `${this.label}: ${what}: ${/connection lost/.test(message) ? message : `connection lost (${message})`}`
      )
    return new RemoteCommandError(`${this.label}: ${what} failed: ${message}`, null, '')
  }

  /** Complete releases (the rollback targets), the most recently live last. */
  completeReleases(): string[] {
    return completeReleases(this.events, this.releaseDirs)
  }

  /** What the log says of a release: undefined when it never mentions it. */
  releaseState(id: string): ReleaseState | undefined {
    return releaseStates(this.events).get(id)
  }

  /**
   * The releases to prune once `events` are appended to the log. `made` is a release this run
   * created (its start and ready are on the server, not yet in the log read at inspect).
   */
  pruneAfter(
    events: [string, string][],
    keep: number,
    live: string,
    replaced: string | undefined,
    made?: string
  ): string[] {
    const appended = [
      ...(made === undefined ? [] : [['start', made] as const, ['ready', made] as const]),
      ...events
    ].map(([event, id]) => ({ event, id, time: '' }))
    const existing = new Set(this.releaseDirs)
    if (made !== undefined) existing.add(made)
    return releasesToPrune([...this.events, ...appended], existing, keep, live, replaced)
  }

  releaseParams(releaseId: string): ReleaseParams {
    return {
      deployDir: this.deployDir,
      releaseId,
      umask: this.contentUmask,
      // Whatever a record on the server says, the guard never removes these.
      keep: [this.liveRelease, this.switchedTo].filter((id): id is string => id !== undefined),
      lockToken: this.lockToken ?? '',
      lockOwner: this.lockOwnerJson,
      prefetched: this.prefetched?.name ?? '',
      sharedPaths: this.sharedPaths
    }
  }

  /** The login's umask plus o-w, as the scripts take it: what releases and hooks get. */
  get contentUmask(): string {
    return (this.umask | 0o002).toString(8).padStart(4, '0')
  }

  /** Directories we create get the server's umask, and never world-write. */
  get directoryMode(): number {
    return 0o777 & ~(this.umask | 0o002)
  }

  hookEnv(id: string): Record<string, string> {
    const previous = this.liveRelease
    return {
      RELEASE_ID: id,
      RELEASE_PATH: `${this.deployDir}/releases/${id}`,
      DEPLOY_PATH: this.deployDir,
      SHARED_PATH: `${this.deployDir}/shared`,
      PREVIOUS_RELEASE_ID: previous ?? '',
      PREVIOUS_RELEASE_PATH: previous ? `${this.deployDir}/releases/${previous}` : ''
    }
  }
}
