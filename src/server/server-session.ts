import { randomBytes } from 'node:crypto'
import {
  AbortedError,
  ConnectionError,
  DeployRefusedError,
  ExecRefusedError,
  LockHeldError,
  RemoteCommandError,
  ScriptUnreadError,
  ServerDataError,
  SwitchRefusedError,
  VerifyError,
  messageOf
} from '../errors.js'
import { SYSTEM_DIRECTORIES } from './system-directories.js'
import { formatBytes, formatCount, type Log } from '../logger.js'
import { parseManifest, type ManifestEntry } from '../release/manifest.js'
import { makePlan, writtenDirectories, type Plan } from '../release/plan.js'
import {
  parseSharedListing,
  sharedDepth,
  sharedProblems,
  type EntryType
} from '../release/shared-check.js'
import {
  describeDrift,
  isReleasePath,
  notUnderLinks,
  parseListingDiff,
  summarizeDiff,
  topMost,
  type Drift
} from '../release/drift.js'
import {
  completeReleases,
  incompleteReleases,
  LogFormatError,
  parseLog,
  releaseStates,
  releasesToPrune,
  type LogEvent,
  type ReleaseState
} from '../release/release-log.js'
import type { RemoteHost, RunResult, SftpProbe } from '../ssh/remote-host.js'
import type { Appender } from '../sftp/remote-files.js'
import { SftpError } from '../sftp/sftp-engine.js'
import { walkTree } from '../sftp/sftp-tree.js'
import { abortOverSftp, finishOverSftp, readLockOwner } from './sftp-finish.js'
import { firstReads, inspectOverSftp, recordReader, type FirstReads } from './sftp-inspect.js'
import { prepareOverSftp, SftpVerifyFailure } from './sftp-release.js'
import {
  LOCK_EXIT,
  REFUSED_EXIT,
  abortScript,
  finishScript,
  hookScript,
  inspectScript,
  releaseScript,
  switchScript,
  sharedListingScript,
  type FinalizeParams,
  type FinishParams,
  type InspectParams,
  type PrepareParams,
  type ReleaseParams
} from './remote-scripts.js'
import {
  parseScriptOutput,
  scriptError,
  value,
  values,
  type ScriptOutput
} from './script-output.js'
import {
  describeListingLine,
  lastLines,
  lockHeldMessage,
  noShellMessage,
  noShellReason,
  refusalMessage
} from './server-messages.js'
import { printable, type Server } from '../ssh/servers.js'
import {
  REQUIRED_TOOLS,
  describeCapabilities,
  deployProblem,
  missingToolsProblem,
  sendFilesProblem,
  sftpCanUpload,
  switchesOverSftp,
  type ServerCapabilities
} from './capabilities.js'
import {
  SERVER_LIMITS,
  liveReleaseOf,
  parseLinkList,
  parsePrefetch,
  parseUmask,
  releaseDirectories,
  resolvedDeployDir,
  shown
} from './server-data.js'
import type {
  Compression,
  CopyMethod,
  Reuse,
  SharedConflict,
  ShellAccess,
  Transfer,
  VerifyLevel
} from '../settings.js'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import type { TarEntry } from '../release/tar-writer.js'
import {
  releaseMetadata,
  sftpUpload,
  sourceManifest,
  tarEntryFor,
  type ReleaseMetadata
} from './upload.js'
import { parseView } from '../release/compact-manifest.js'

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

/** The archive as it reaches one server (see GroupRun: one archive may feed many). */
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
 * One server's side of a deploy: the phases as methods, the state they learn on the way, and a
 * report. The group runner decides when each phase runs; this class decides what it does.
 */
export class ServerSession {
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
  umask = 0o022
  lockToken: string | undefined
  /** The lock's owner record, as written at lock time. */
  private lockOwnerJson = ''
  /** The new release exists on the server (prepared, maybe ready) and is not live. */
  prepared: string | undefined
  switchedTo: string | undefined
  /** A switch to this release failed without an answer: `current` may or may not point to it. */
  switchUncertain: string | undefined
  plan: Plan | undefined
  base: Base | undefined
  /** The starting point's manifest as an older version of atomic-deploy wrote it. */
  private manifestBlob: Buffer | undefined
  /** The starting point's manifest view (see compact-manifest.ts), gzipped or not. */
  private viewBlob: { data: Buffer; gzipped: boolean } | undefined
  /** The starting point's manifest has the source's digest: nothing changed. */
  private same = false
  /**
   * SFTP-only: the starting point's compact manifest records (less their suffixes) and its
   * digest as read at inspect; the rest is read when the plan is made (readBaseOverSftp).
   */
  private sftpBase: { stem: string; old: string; digest?: Buffer } | undefined
  /** The copy of the live release the inspect script started (`base.<pid>`), if any. */
  private prefetched: { name: string; from: string; spare: boolean } | undefined
  private linksBlob: Buffer | undefined
  private warnedNoGzip = false
  /** The release's metadata, once worked out (releaseArchive and prepareRelease share it). */
  private metadata: Promise<ReleaseMetadata> | undefined
  /** `shell`: every phase is a script; `sftp`: the account runs no commands, SFTP does it all. */
  access: 'shell' | 'sftp' = 'shell'
  /** What an SFTP-only inspect found left over by earlier runs. */
  private leftovers: { switchLinks: string[]; metaNames: string[] } = {
    switchLinks: [],
    metaNames: []
  }
  /** Directories of the release being deployed, listed ahead of need when pruning. */
  private releaseDirsHint: string[] = []
  /** The release log, held open for appending by an SFTP-only deploy from its prepare phase on. */
  private logFile: Appender | undefined
  /** The lock's owner record, read once the release is ready, for the finish phase. */
  private lockOwnerRead: Promise<string | undefined> | undefined
  /** Records the server did not send, being past their limits: name -> size. */
  private tooLarge = new Map<string, number>()
  /** This run's shared-paths input, for the cleanup of what it seeded. */
  private sharedPaths: string[] = []
  /** With reuse cache: the paths an interrupted sync of cache/ left unlike its manifest. */
  private pendingBlob: Buffer | undefined
  /**
   * How the live release differs from what it was when it became ready (changes made on the
   * server since), when the drift check ran and the release has a record to compare with.
   */
  drift: Drift | undefined
  /** Whether the drift check was asked for (not with on-drift: ignore). */
  private driftChecked = false
  /** What before-switch changed in the live release when it was made, as recorded then. */
  private hooked: Drift | undefined

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
  private async script(
    text: string,
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

  /**
   * Resolve the deploy path, refuse what must be refused, take the lock (unless `lock` is false),
   * and learn the server's state and what it offers. Nothing is created when anything is refused:
   * what a deploy needs from the server is checked before the first write.
   */
  async inspect(
    pathInput: string,
    lockOwner: { token: string; json: string } | undefined,
    reuse: Reuse,
    prefetch?: { copyMethod: CopyMethod },
    /** For a deploy: how files will be sent, to refuse here what cannot complete. */
    deploy?: { transfer: Transfer },
    drift = false,
    access: AccessOptions = { shell: 'auto', needsShell: [] },
    /**
     * The digest of the source's manifest, for the server to compare with the starting point's
     * (a deploy or a dry run that starts from something): sent on the script's stdin once known.
     */
    digest?: Promise<string>
  ): Promise<void> {
    if (access.shell === 'none' || !this.host.exec)
      return this.inspectOverSftp(
        pathInput,
        lockOwner,
        reuse,
        access,
        drift,
        'shell is none',
        digest
      )
    // Whether the account runs commands is known only from the script's answer; the reads an
    // SFTP-only inspect starts with go out beside it (they only read), a round trip saved when
    // it runs none.
    const early = this.host
      .files()
      .then(files => firstReads(files, pathInput))
      .catch(() => undefined)
    const params: InspectParams = {
      path: pathInput,
      lock: lockOwner !== undefined,
      lockOwner: lockOwner?.json ?? '',
      reuse,
      systemExact: SYSTEM_DIRECTORIES.exact,
      systemTrees: SYSTEM_DIRECTORIES.trees,
      ...(prefetch ? { prefetch } : {}),
      drift,
      wantDigest: digest !== undefined
    }
    if (deploy && lockOwner) {
      // With transfer: sftp, SFTP must be there before anything is written.
      if (deploy.transfer === 'sftp') await this.refuseUnlessSftpUploads(deploy.transfer, true)
      params.require = {
        tools: [...REQUIRED_TOOLS],
        tar: deploy.transfer === 'tar',
        tarOrSftp: deploy.transfer === 'auto'
      }
    }
    // The digest follows the script on its stdin, with it when the source is hashed by then,
    // else as soon as it is: the script reads it last, so it costs no round trip of its own.
    const follow = digest ? digestLine(digest) : undefined
    const withDigest = (): { follow?: Promise<Buffer> } => (follow ? { follow } : {})
    let ran: { result: RunResult; output: ScriptOutput }
    try {
      ran = await this.script(inspectScript(params), withDigest(), withDigest)
    } catch (error) {
      if (!(error instanceof ExecRefusedError)) throw error
      const why = 'the server refuses to run commands for this account'
      if (await this.sftpOnlyPossible(why))
        return this.inspectOverSftp(pathInput, lockOwner, reuse, access, drift, why, digest, early)
      throw new DeployRefusedError(
        `${this.label}: ${noShellMessage(this.server.user, why, this.capabilities?.sftp)}`
      )
    }
    let { result, output } = ran
    if (output.lines.length === 0 && result.code !== 0) {
      // Not a word from the script: the account ran something else (ForceCommand internal-sftp,
      // nologin, a restricted shell). Any sh prints a line of ours before it writes anything.
      const why = noShellReason(
        lastLines(`${result.stdout.toString('utf8')}\n${result.stderrTail}`),
        result.code
      )
      if (await this.sftpOnlyPossible(why))
        return this.inspectOverSftp(pathInput, lockOwner, reuse, access, drift, why, digest, early)
    }
    if (params.require && value(output, 'refused') === 'need-sftp') {
      // No tar: the files go over SFTP if it is there, which the script cannot know. It stopped
      // before writing anything; ask again once SFTP is known to be there.
      await this.refuseUnlessSftpUploads(deploy?.transfer ?? 'auto', false)
      ;({ result, output } = await this.script(
        inspectScript({ ...params, require: { ...params.require, tarOrSftp: false } }),
        withDigest(),
        withDigest
      ))
    }
    await this.checkInspected(result, output, pathInput)
    if (lockOwner) {
      this.lockToken = lockOwner.token
      this.lockOwnerJson = lockOwner.json
    }
    // From here on, everything comes from the server: each value is checked before it is kept.
    try {
      this.readState(output, pathInput)
    } catch (error) {
      if (error instanceof ServerDataError)
        throw new ServerDataError(`${this.label}: ${error.message}`)
      throw error
    }
    this.pendingBlob = output.blobs.get('pending')
    this.driftChecked = drift
    if (drift && this.liveRelease !== undefined && !output.lines.includes('drift unknown'))
      this.drift = summarizeDiff(parseListingDiff('drift', output.lines))
    const hooked = output.blobs.get('hooked')
    this.hooked = hooked ? hookedDiff(hooked) : undefined
    if (this.prefetched?.spare)
      this.log.info(
        `the new release starts from the copy of ${this.prefetched.from} made after the deploy that put it live`
      )
    this.report.previousRelease = this.liveRelease
    const toolset = value(output, 'toolset')
    this.capabilities = {
      software: this.host.software,
      pipelined: this.host.pipelined,
      exec: { available: true },
      sftp: await this.sftpProbe(deploy !== undefined && !this.tools.has('tar')),
      loginShell: value(output, 'shell'),
      tools: this.tools,
      toolset: toolset === 'gnu' || toolset === 'busybox' ? toolset : 'other'
    }
    this.log.info(`server: ${describeCapabilities(this.capabilities)}`)
    const problem = deploy ? deployProblem(this.capabilities, deploy.transfer) : undefined
    if (problem) throw new DeployRefusedError(`${this.label}: ${problem}`)
  }

  /**
   * What SFTP is here. `needed`: files will go over it, so a probe that sshd's MaxSessions
   * refused (while the script's channel was open) is made again, with room made for it.
   */
  private async sftpProbe(needed: boolean): Promise<SftpProbe> {
    const probe = await this.host.probeSftp()
    if (!needed || probe.state !== 'unknown') return probe
    return this.host
      .files()
      .then(() => this.host.probeSftp())
      .catch(() => probe)
  }

  /** Refuse, before anything is written, a deploy whose files can go over SFTP only, without it. */
  private async refuseUnlessSftpUploads(transfer: Transfer, tar: boolean): Promise<void> {
    const problem = sendFilesProblem(transfer, tar, await this.sftpProbe(true))
    if (problem) throw new DeployRefusedError(`${this.label}: ${problem} Nothing was changed.`)
  }

  /** Turn what the inspect script said into the error a user reads, when it is one. */
  private async checkInspected(
    result: RunResult,
    output: ScriptOutput,
    pathInput: string
  ): Promise<void> {
    if (output.lines.length === 0 && result.code !== 0) {
      // Not a word from the script: the account ran something else (nologin, a ForceCommand).
      const reason = noShellReason(
        lastLines(`${result.stdout.toString('utf8')}\n${result.stderrTail}`),
        result.code
      )
      throw new DeployRefusedError(
        `${this.label}: ${noShellMessage(this.server.user, reason, this.capabilities?.sftp)}`
      )
    }
    const refused = value(output, 'refused')
    if (refused?.startsWith('tools ')) {
      throw new DeployRefusedError(
        `${this.label}: ${missingToolsProblem(refused.slice(6).split(' '))} Nothing was changed.`
      )
    }
    if (result.code === REFUSED_EXIT || refused !== undefined) {
      throw new DeployRefusedError(
        `${this.label}: ${refusalMessage(refused ?? 'unknown', values(output, 'foreign'), this.server.user, value(output, 'path') ?? pathInput)}`
      )
    }
    if (result.code === LOCK_EXIT) {
      throw new LockHeldError(
        `${this.label}: ${lockHeldMessage(output.blobs.get('owner')?.toString('utf8'), value(output, 'path') ?? pathInput)}`
      )
    }
    if (result.code !== 0 || !output.lines.includes('end')) {
      throw new RemoteCommandError(
        `${this.label}: inspecting ${pathInput} failed (exit ${result.code}): ${result.stderrTail.trim()}`,
        result.code,
        result.stderrTail
      )
    }
  }

  /**
   * The account runs no commands: resolve, refuse, lock and read the state over SFTP alone.
   * Whatever needs a shell is refused first, before anything is written.
   */
  private async inspectOverSftp(
    pathInput: string,
    lockOwner: { token: string; json: string } | undefined,
    reuse: Reuse,
    access: AccessOptions,
    drift: boolean,
    why: string,
    /** The source manifest's digest: a deploy, which plans against the starting point's. */
    digest?: Promise<string>,
    early?: Promise<FirstReads | undefined>
  ): Promise<void> {
    this.access = 'sftp'
    const [needs] = access.needsShell
    if (needs !== undefined) {
      throw new DeployRefusedError(
        `${this.label}: '${needs}' needs a shell on the server, and ${why}. Remove '${needs}' (a health-check-url still runs from the runner), or deploy as a user with a shell. Nothing was changed.`
      )
    }
    // Known already when the script found no shell; with shell: none, probed here.
    const possible = this.capabilities
      ? sftpCanUpload(this.capabilities.sftp)
      : await this.sftpOnlyPossible(why)
    if (!possible) {
      throw new DeployRefusedError(
        `${this.label}: ${noShellMessage(this.server.user, why, this.capabilities?.sftp)}`
      )
    }
    const files = await this.host.files()
    this.log.info(
      `server: ${printable(this.host.software ?? 'unknown SSH server')}; ${why}; SFTP with ${[
        'posix-rename',
        ...(files.abilities.hardlink ? ['hardlink'] : []),
        ...(files.abilities.copyData ? ['copy-data'] : [])
      ].join(', ')}: deploying over SFTP alone`
    )
    const reads = await early
    const state = await inspectOverSftp(files, {
      path: pathInput,
      lock: lockOwner,
      reuse,
      user: this.server.user,
      label: this.label,
      ...(reads ? { firstReads: Promise.resolve(reads) } : {}),
      drift,
      plans: digest !== undefined,
      onLocked: dir => {
        this.deployDir = dir
        if (lockOwner) this.lockToken = lockOwner.token
      }
    }).catch(error => {
      throw this.sftpFailure(error, `inspecting ${pathInput}`)
    })
    this.deployDir = state.deployDir
    this.releaseDirs = state.releaseDirs
    // Records past their limit were not read: the same names and rules as the inspect script's.
    this.tooLarge = state.tooLarge
    try {
      this.events = this.acceptLog(state.log ?? Buffer.alloc(0))
    } catch (error) {
      if (error instanceof ServerDataError)
        throw new ServerDataError(`${this.label}: ${error.message}`)
      throw error
    }
    const listing = state.tooLarge.get('listing')
    if (listing !== undefined && state.liveRelease !== undefined)
      this.log.warning(
        `${this.deployDir}/.atomic-deploy/manifests/${state.liveRelease}.listing is ${formatBytes(listing)}, over the limit of ${formatBytes(SERVER_LIMITS.listingBytes)}: changes made on the server since that release was deployed were not looked for`
      )
    this.liveRelease = state.liveRelease
    this.sftpBase = state.base
    this.linksBlob = state.links
    this.pendingBlob = state.pending
    this.driftChecked = drift
    if (state.drift !== undefined && state.drift !== 'unknown')
      this.drift = summarizeDiff(state.drift)
    this.hooked = state.hooked ? hookedDiff(state.hooked) : undefined
    this.leftovers = { switchLinks: state.switchLinks, metaNames: state.metaNames }
    this.report.previousRelease = this.liveRelease
  }

  /**
   * The account runs no commands: whether its SFTP can carry the whole deploy (a session with
   * posix-rename@openssh.com, for the atomic switch). Records what the server offers either way.
   */
  private async sftpOnlyPossible(why: string): Promise<boolean> {
    const sftp = await this.host
      .probeSftp()
      .catch(error => ({ state: 'unknown' as const, reason: messageOf(error) }))
    this.capabilities = {
      software: this.host.software,
      pipelined: this.host.pipelined,
      exec: { available: false, reason: why },
      sftp,
      loginShell: undefined,
      tools: new Set(),
      toolset: 'other'
    }
    return sftpCanUpload(sftp)
  }

  /** The open release log, handed over once (whoever takes it closes it). */
  private takeLogFile(): Appender | undefined {
    const file = this.logFile
    this.logFile = undefined
    return file
  }

  /** An SFTP failure as the deploy reports it: with the server's label, and lost or not. */
  private sftpFailure(error: unknown, what: string): unknown {
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

  /** What the inspect script reported, validated (see server-data.ts). */
  private readState(output: ScriptOutput, pathInput: string): void {
    this.deployDir = resolvedDeployDir(value(output, 'path'), pathInput)
    // Records past their limit are reported by size only (`toolarge <name> <bytes>`).
    this.tooLarge = new Map(
      values(output, 'toolarge').map(line => {
        const [name = '', size = ''] = line.split(' ')
        return [name, /^[0-9]{1,20}$/.test(size) ? Number(size) : Infinity] as const
      })
    )
    this.umask = parseUmask(value(output, 'umask'))
    this.tools = new Set(values(output, 'tool'))
    this.releaseDirs = releaseDirectories(values(output, 'release'))
    this.events = this.acceptLog(output.blobs.get('log') ?? Buffer.alloc(0))
    const current = output.blobs.get('current')?.toString('utf8')
    this.liveRelease = current === undefined ? undefined : liveReleaseOf(current, this.deployDir)
    this.manifestBlob = output.blobs.get('manifest')
    const view = output.blobs.get('view')
    const viewText = output.blobs.get('view-text')
    this.viewBlob = view
      ? { data: view, gzipped: true }
      : viewText
        ? { data: viewText, gzipped: false }
        : undefined
    this.same = output.lines.includes('same')
    this.linksBlob = output.blobs.get('links')
    this.prefetched = parsePrefetch(value(output, 'prefetch'))
  }

  /**
   * The release log as read (or its size in tooLarge, when it was not sent), parsed and checked:
   * it decides what is pruned and rolled back to, so a log past its limit or with a line that is
   * not ours is an error that names the file and the fix, whichever way it was read.
   */
  private acceptLog(log: Buffer): LogEvent[] {
    const logFile = `${this.deployDir}/.atomic-deploy/log`
    const logSize = this.tooLarge.get('log') ?? log.length
    if (logSize > SERVER_LIMITS.logBytes) {
      throw new ServerDataError(
        `${logFile} is ${formatBytes(logSize)}, over the limit of ${formatBytes(SERVER_LIMITS.logBytes)}; every deploy compacts it, so it was not written by atomic-deploy alone. Nothing was changed. Keep only its lines for the releases in releases/, then deploy again.`
      )
    }
    try {
      return parseLog(log.toString('utf8'))
    } catch (error) {
      if (!(error instanceof LogFormatError)) throw error
      throw new ServerDataError(
        `${logFile} ${error.message}: the release log is written only by atomic-deploy, one 'event<TAB>release-id<TAB>time' line per event. Nothing was changed. Remove or correct that line, then deploy again.`
      )
    }
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

  /** Decide the starting point and diff against it. */
  async makePlan(entries: ManifestEntry[], reuse: Reuse): Promise<Plan> {
    this.base = await this.chooseBase(reuse, entries)
    const baseEntries = this.base.kind === 'none' ? NO_ENTRIES : this.base.entries
    if (this.base.kind === 'none') this.log.info(`full upload: ${this.base.reason}`)
    else if (this.base.kind === 'cache' && this.base.reason)
      this.log.info(`full upload: ${this.base.reason}`)
    // Servers that start from the same entries (the same view, or the source's own) share one
    // plan: a group of ten with identical plans computes it once.
    this.plan = { ...sharedPlan(entries, baseEntries) }
    const extra = this.base.kind === 'none' ? [] : this.base.remove
    if (extra.length > 0) {
      const planned = new Set(this.plan.remove)
      this.plan.remove = [...extra.filter(p => !planned.has(p)), ...this.plan.remove]
    }
    return this.plan
  }

  /**
   * The starting point's entries, from what the inspect script reported: the source's own when
   * the server said `same` (its manifest has the source's digest), else its view, else the
   * manifest an older version wrote (the new one is then sent whole). `stem` is the manifest's
   * path under .atomic-deploy without its suffix (`cache`, `manifests/<id>`); `manifest` in the
   * result names the server's manifest to put the new one together from, undefined when there
   * is none to use. A record past its limit or not valid throws, naming it.
   */
  private async baseManifest(
    local: ManifestEntry[],
    stem: string
  ): Promise<{ entries: ManifestEntry[]; manifest?: string } | undefined> {
    if (this.access === 'sftp') await this.readBaseOverSftp(local)
    const file = `${this.deployDir}/.atomic-deploy/${stem}`
    const old = stem === 'cache' ? `${file}.manifest.json.gz` : `${file}.json.gz`
    for (const [name, path] of [
      ['view', `${file}.view.gz`],
      ['view-text', `${file}.view`],
      ['manifest', old]
    ] as const) {
      const size = this.tooLarge.get(name)
      if (size !== undefined)
        throw new Error(
          `${path} is ${formatBytes(size)}, over the limit of ${formatBytes(SERVER_LIMITS.manifestBytes)}`
        )
    }
    if (this.same) return { entries: local, manifest: stem }
    if (this.viewBlob) {
      const { data, gzipped } = this.viewBlob
      try {
        return { entries: await viewEntries(data, gzipped), manifest: stem }
      } catch (error) {
        throw new Error(
          `${file}${gzipped ? '.view.gz' : '.view'} is not a valid manifest view (${messageOf(error)})`,
          { cause: error }
        )
      }
    }
    if (this.manifestBlob) {
      try {
        const limits = {
          compressed: SERVER_LIMITS.manifestBytes,
          json: SERVER_LIMITS.manifestJsonBytes
        }
        return { entries: (await parseManifest(this.manifestBlob, limits)).entries }
      } catch (error) {
        throw new Error(`${old} is not a valid manifest (${messageOf(error)})`, {
          cause: error
        })
      }
    }
    return undefined
  }

  /**
   * SFTP-only: what the inspect script would report of the starting point's manifest, read now
   * that the source's digest is known. The digest read at inspect is the source's: `same`, and
   * nothing more is read. Otherwise the view (only beside a digest, as inspect.sh sends it) or
   * the manifest an older version wrote, whichever is there in that order; one past its limit
   * is noted by the inspect script's name for it, unread. One more round trip, for a deploy
   * that changes something.
   */
  private async readBaseOverSftp(local: ManifestEntry[]): Promise<void> {
    const base = this.sftpBase
    this.sftpBase = undefined
    if (!base) return
    const text = base.digest?.toString('latin1')
    const have = text !== undefined && /^[0-9a-f]{64}\n$/.test(text) ? text.slice(0, 64) : undefined
    if (have !== undefined && have === (await sourceManifest(local)).digest) {
      this.same = true
      return
    }
    const files = await this.host.files()
    const over = new Map<string, number>()
    const read = recordReader(files, over)
    const limit = SERVER_LIMITS.manifestBytes
    const candidates = [
      ...(have !== undefined
        ? [
            { name: 'view', file: `${base.stem}.view.gz` },
            { name: 'view-text', file: `${base.stem}.view` }
          ]
        : []),
      { name: 'manifest', file: base.old }
    ]
    const found = await Promise.all(candidates.map(c => read(c.name, c.file, limit))).catch(
      error => {
        throw this.sftpFailure(error, 'reading the manifest')
      }
    )
    const i = candidates.findIndex((c, n) => found[n] !== undefined || over.has(c.name))
    const chosen = candidates[i]
    if (!chosen) return
    const data = found[i]
    if (!data) this.tooLarge.set(chosen.name, over.get(chosen.name) as number)
    else if (chosen.name === 'manifest') this.manifestBlob = data
    else this.viewBlob = { data, gzipped: chosen.name === 'view' }
  }

  private async chooseBase(reuse: Reuse, local: ManifestEntry[]): Promise<Base> {
    if (reuse === 'none') return { kind: 'none', reason: 'reuse is none' }
    const metadata = `${this.deployDir}/.atomic-deploy`
    if (reuse === 'cache') {
      // Every record of cache/ is checked: one that fails means cache/ is rebuilt from nothing.
      const rebuild = (reason: string): Base => {
        this.log.warning(reason)
        return { kind: 'cache', exists: false, entries: [], remove: [], reason }
      }
      if (this.tooLarge.has('pending'))
        return rebuild(
          `${metadata}/cache.pending is over the limit of ${formatBytes(SERVER_LIMITS.manifestBytes)}; cache/ is rebuilt from scratch and the manifest written anew`
        )
      let found: Awaited<ReturnType<ServerSession['baseManifest']>>
      try {
        found = await this.baseManifest(local, 'cache')
      } catch (error) {
        return rebuild(
          `${messageOf(error)}; cache/ is rebuilt from scratch and the manifest written anew`
        )
      }
      if (!found)
        return {
          kind: 'cache',
          exists: false,
          entries: [],
          remove: [],
          reason: 'cache/ has no manifest yet'
        }
      const pending = parsePending(this.pendingBlob)
      if (pending === undefined)
        return rebuild(
          `${metadata}/cache.pending, the record of an interrupted update of cache/, is not one path a line; cache/ is rebuilt from scratch`
        )
      if (pending.length > 0)
        this.log.info(
          `an earlier deploy was interrupted while updating cache/: ${pending.length} path${pending.length === 1 ? '' : 's'} there are sent again`
        )
      // With copy-method: hardlink the live release shares its files with cache/, so what was
      // changed in it in place since it was deployed (drift), or by its before-switch, may have
      // changed in cache/ too. Those paths are sent again like pending ones (with cp -a they
      // cost one upload each and change nothing else), so the new release holds the source.
      if (
        this.tooLarge.has('hooked') ||
        (this.drift !== undefined && !this.drift.complete) ||
        (this.hooked !== undefined && !this.hooked.complete)
      )
        return rebuild(
          `the live release ${this.liveRelease ?? ''} differs from its manifest in more paths than were listed; cache/, whose files it may share, is rebuilt from scratch`
        )
      const changed = [...(this.drift?.paths ?? []), ...(this.hooked?.paths ?? [])]
      return {
        kind: 'cache',
        exists: true,
        ...withoutPaths(found.entries, [...pending, ...changed]),
        ...(found.manifest ? { manifest: found.manifest } : {})
      }
    }
    if (this.liveRelease === undefined)
      return { kind: 'none', reason: 'first deploy (no current release)' }
    if (!this.releaseDirs.has(this.liveRelease)) {
      return {
        kind: 'none',
        reason: `current points to ${this.liveRelease}, which is not a directory in releases/`
      }
    }
    const file = `${metadata}/manifests/${this.liveRelease}`
    for (const [name, suffix, limit] of [
      ['links', '.links', SERVER_LIMITS.linksBytes],
      ['hooked', '.hook', SERVER_LIMITS.linksBytes]
    ] as const) {
      const size = this.tooLarge.get(name)
      if (size !== undefined)
        return this.notReused(
          `${file}${suffix} is ${formatBytes(size)}, over the limit of ${formatBytes(limit)}`
        )
    }
    // The live release's records steer what is removed from its copy: if either fails
    // validation, the copy is not used at all, and this release is uploaded whole.
    let found: Awaited<ReturnType<ServerSession['baseManifest']>>
    try {
      found = await this.baseManifest(local, `manifests/${this.liveRelease}`)
    } catch (error) {
      return this.notReused(messageOf(error))
    }
    if (!found)
      return { kind: 'none', reason: `the live release ${this.liveRelease} has no manifest` }
    let sharedLinks: string[]
    try {
      sharedLinks = parseLinkList(this.linksBlob ?? Buffer.alloc(0), `${file}.links`)
    } catch (error) {
      return this.notReused(messageOf(error))
    }
    // The copy loses its shared links (they are removed and linked again), and with them
    // whatever the release had at those paths: plan those paths as absent, so they are sent
    // again and the shared rules (conflict, replace) apply to them as on a first deploy.
    const entries = withoutLinked(found.entries, sharedLinks)
    // Paths changed in the live release since it was deployed (drift), or by its before-switch,
    // are not what its manifest says: the copy loses them, and the plan sends them again.
    const untrusted = [...(this.drift?.paths ?? []), ...(this.hooked?.paths ?? [])]
    if (
      (this.drift !== undefined && !this.drift.complete) ||
      (this.hooked !== undefined && !this.hooked.complete)
    )
      return {
        kind: 'none',
        reason: `the live release ${this.liveRelease} differs from its manifest in more paths than were listed`
      }
    return {
      kind: 'release',
      id: this.liveRelease,
      sharedLinks,
      ...withoutPaths(entries, untrusted),
      ...(found.manifest ? { manifest: found.manifest } : {})
    }
  }

  private notReused(problem: string): Base {
    this.log.warning(
      `${problem}. Release ${this.liveRelease} is not used as the starting point: this deploy uploads everything and writes new records.`
    )
    return { kind: 'none', reason: `the records of ${this.liveRelease} are not valid` }
  }

  /** One line that says what the upload will do. */
  planLine(): string {
    const plan = this.plan
    if (!plan) return 'no plan'
    // Every count is of files, so the three add up to what the two trees hold.
    return `uploading ${files(plan.uploadFiles)} (${formatBytes(plan.uploadBytes)}), deleting ${files(plan.deletedFiles)}, keeping ${files(plan.unchangedFiles)}`
  }

  private releaseParams(releaseId: string): ReleaseParams {
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
  private get contentUmask(): string {
    return (this.umask | 0o002).toString(8).padStart(4, '0')
  }

  /** Directories we create get the server's umask, and never world-write. */
  private get directoryMode(): number {
    return 0o777 & ~(this.umask | 0o002)
  }

  private releaseMetadata(options: ReleaseOptions): Promise<ReleaseMetadata> {
    const plan = this.plan
    if (!plan) throw new Error('release metadata before makePlan')
    const base = this.base
    // The server puts the new manifest together from its own, less what the plan removes (and
    // the shared links, which the copy loses), plus the lines of what is sent; without a
    // manifest there to start from, it gets the whole one.
    const manifest = base?.kind === 'none' ? undefined : base?.manifest
    this.metadata ??= releaseMetadata({
      entries: options.entries,
      delta: manifest ? plan.upload : undefined,
      removed: [...plan.remove, ...(base?.kind === 'release' ? base.sharedLinks : [])],
      checked: options.verify === 'full' ? options.entries : plan.upload,
      revision: options.revision
    })
    return this.metadata
  }

  /** Where the plan's entries land, relative to the deploy directory. */
  private relativeTarget(id: string): string {
    return this.base?.kind === 'cache' ? 'cache' : `releases/${id}`
  }

  /**
   * The tar stream this server's release needs, or undefined when files go over SFTP. Its key
   * covers everything that makes up its bytes: the entries and their content, where they land,
   * the directories' mode (the server's umask), the metadata and the compression.
   */
  async releaseArchive(options: ReleaseOptions): Promise<ReleaseArchive | undefined> {
    const plan = this.plan
    if (!plan || !this.base) throw new Error('releaseArchive before makePlan')
    if (!this.useTar(options.transfer)) return undefined
    const id = options.releaseId
    const metadata = await this.releaseMetadata(options)
    const compression = this.compression(options.compression)
    const { mtime } = options
    const metadataEntries: TarEntry[] = metadata.files.map(f => ({
      path: `.atomic-deploy/tmp/${id}/${f.name}`,
      type: 'file' as const,
      mode: 0o600,
      mtime,
      size: f.data.length,
      data: f.data
    }))
    const relativeTarget = this.relativeTarget(id)
    const { sourceRoot } = options
    const { directoryMode } = this
    const key = createHash('sha256')
    key.update(`${relativeTarget}\0${directoryMode}\0${compression}\0${sourceRoot}\0${mtime}\0`)
    for (const f of metadata.files) key.update(`${f.name}\0`).update(f.data)
    for (const e of plan.upload)
      key.update(`${e.path}\0${e.type}\0${e.mode}\0${e.size}\0${e.sha256 ?? e.target ?? ''}\n`)
    return {
      key: key.digest('hex'),
      entries: {
        *[Symbol.iterator]() {
          yield* metadataEntries
          for (const e of plan.upload)
            yield tarEntryFor(e, relativeTarget, sourceRoot, directoryMode)
        }
      },
      fileCount: metadataEntries.length + plan.uploadFiles,
      compression
    }
  }

  /**
   * Phases 4-6: build the release from its starting point, transfer the changed files, verify,
   * link shared paths, record metadata, run before-switch. On failure the server script has
   * already removed the release; the error says why. With a tar transfer, `feed` carries the
   * archive (see releaseArchive); without one, files go over SFTP.
   */
  async prepareRelease(
    options: ReleaseOptions,
    feed?: ArchiveFeed,
    /**
     * Switch and finish in the same script once the release is ready (see FinalizeParams):
     * phases 7 and 9 with it, for a single server with nothing to run or check after the switch.
     */
    switchAfter?: Omit<FinishParams, 'deployDir'>
  ): Promise<void> {
    const plan = this.plan
    const base = this.base
    if (!plan || !base) throw new Error('prepareRelease before makePlan')
    if (this.access === 'sftp') return this.prepareOverSftp(options, plan, base)
    const id = options.releaseId
    this.sharedPaths = options.sharedPaths ?? []
    const common = this.releaseParams(id)
    const stale = this.staleReleases(id)
    const metadata = await this.releaseMetadata(options)
    const relativeTarget = this.relativeTarget(id)

    const prepare: PrepareParams = {
      staleReleases: stale,
      base:
        base.kind === 'release'
          ? {
              kind: 'release',
              id: base.id,
              sharedLinks: base.sharedLinks,
              ...(this.prefetched?.from === base.id ? { prefetched: this.prefetched.name } : {})
            }
          : base.kind === 'cache'
            ? {
                kind: 'cache',
                exists: base.exists,
                touched: [...plan.remove, ...plan.upload.map(e => e.path)]
              }
            : { kind: 'none' },
      copyMethod: options.copyMethod,
      remove: plan.remove,
      transfer: feed
        ? { kind: 'tar', gzip: this.compression(options.compression) !== 'none' }
        : { kind: 'sftp' },
      // A fresh, empty release has nothing a symlink could have been planted in.
      writeDirs: base.kind === 'none' ? [] : writtenDirectories(plan)
    }
    const finalize: FinalizeParams = {
      fromCache: base.kind === 'cache' ? { copyMethod: options.copyMethod } : undefined,
      manifestDigest: (await sourceManifest(options.entries)).digest,
      ...(base.kind !== 'none' && base.manifest ? { manifestBase: base.manifest } : {}),
      verifyAll: options.verify === 'full',
      oddSums: metadata.oddSums,
      links: metadata.links,
      shared: options.sharedPaths
        ? { kind: 'explicit', paths: options.sharedPaths }
        : { kind: 'auto' },
      sharedConflict: options.sharedConflict,
      hook: options.beforeSwitch
        ? { name: 'before-switch', script: options.beforeSwitch, env: this.hookEnv(id) }
        : undefined,
      updatesCache: base.kind === 'cache',
      ...(switchAfter ? { switchAfter } : {})
    }
    this.prepared = id
    // What was sent, counted as it goes: a deploy that fails after the upload still sent it.
    // An archive counts for all the servers it goes to.
    const sent = feed?.sent ?? { files: 0, bytes: 0 }
    const count = (size: number): void => {
      sent.files++
      sent.bytes += size
    }
    try {
      let final: ScriptOutput
      try {
        final = await this.transferAndFinalize(
          options,
          { plan, metadata, relativeTarget, common, prepare, finalize },
          count,
          feed
        )
      } catch (error) {
        // No answer from a script that switches: current may or may not point to the release.
        if (switchAfter && error instanceof ConnectionError) this.switchUncertain = id
        throw error
      }
      sent.files = plan.uploadFiles
      sent.bytes = plan.uploadBytes
      this.reportPrepared(id, plan, final)
      if (switchAfter) this.switchedAndFinished(id, final)
    } finally {
      this.report.filesUploaded = sent.files
      this.report.bytesUploaded = sent.bytes
    }
  }

  /** Incomplete releases of earlier runs, to remove before `id` is made. */
  private staleReleases(id: string): string[] {
    const stale = incompleteReleases(this.events, this.releaseDirs).filter(r => r !== id)
    // The log is the server's word: a release it calls incomplete may be the live one.
    if (this.liveRelease !== undefined && stale.includes(this.liveRelease)) {
      this.log.warning(
        `the release log calls the live release ${this.liveRelease} incomplete; it is live, so it is kept`
      )
      stale.splice(stale.indexOf(this.liveRelease), 1)
    }
    return stale
  }

  /** The upload and the release scripts around it; the output of the last one. */
  private async transferAndFinalize(
    options: ReleaseOptions,
    p: {
      plan: Plan
      metadata: ReleaseMetadata
      relativeTarget: string
      common: ReleaseParams
      prepare: PrepareParams
      finalize: FinalizeParams
    },
    count: (size: number) => void,
    feed: ArchiveFeed | undefined
  ): Promise<ScriptOutput> {
    const { plan, metadata, relativeTarget, common, prepare, finalize } = p
    const id = options.releaseId
    let final: ScriptOutput
    if (feed) {
      // A local read error truncates the stream; the server then reports a broken archive, but
      // the cause to report is the local one.
      let readError: Error | undefined
      feed.stream.on('error', error => (readError ??= error))
      try {
        const { result, output } = await this.script(releaseScript(common, prepare, finalize), {
          stdin: feed.stream,
          signal: options.signal,
          ...(feed.onMeter ? { onStdinMeter: feed.onMeter } : {})
        })
        // A cancelled run cuts the stream itself: that is the cause to report, not the read.
        if (options.signal?.aborted) throw new AbortedError('cancelled (SIGINT/SIGTERM)')
        if (readError && result.code !== 0) {
          throw new Error(`${this.label}: reading the source failed: ${readError.message}`)
        }
        this.checkRelease(result, output, id, metadata)
        final = output
      } finally {
        feed.done?.()
      }
    } else {
      const first = await this.script(releaseScript(common, prepare), { signal: options.signal })
      this.checkRelease(first.result, first.output, id, metadata, 'prepared')
      await sftpUpload(await this.host.files(), {
        metadataDir: `${this.deployDir}/.atomic-deploy/tmp/${id}`,
        root: `${this.deployDir}/${relativeTarget}`,
        sourceRoot: options.sourceRoot,
        metadata: metadata.files,
        plan,
        directoryMode: this.directoryMode,
        log: this.log,
        signal: options.signal,
        onFile: entry => count(entry.size)
      })
      const second = await this.script(releaseScript(common, undefined, finalize), {
        signal: options.signal
      })
      this.checkRelease(second.result, second.output, id, metadata)
      final = second.output
    }
    return final
  }

  /** What a release script that switched and finished reported after `ready`. */
  private switchedAndFinished(id: string, final: ScriptOutput): void {
    const now = value(final, 'current')
    if (!final.lines.includes('switched') || now?.replace(/\/$/, '') !== `releases/${id}`) {
      this.switchUncertain = id
      throw new Error(
        `${this.label}: current reads back as '${printable(now ?? '(nothing)')}', expected 'releases/${id}'`
      )
    }
    this.switchedTo = id
    this.log.info(`current -> releases/${id}`)
    for (const line of values(final, 'pruned')) this.log.info(`pruned release ${line}`)
    if (final.lines.includes('unlocked')) this.lockToken = undefined
    this.prepared = undefined
    if (!final.lines.includes('finished'))
      this.log.warning(
        `finishing failed after the switch. The release is live; the lock may still be held: the post step tries to release it, or run 'mode: unlock'.`
      )
  }

  /** What the release script reported once the release is ready. */
  private reportPrepared(id: string, plan: Plan, final: ScriptOutput): void {
    const hookExit = value(final, 'hook-exit')
    if (hookExit) this.log.info(`before-switch exited with status ${hookExit.split(' ')[1]}`)
    const hookDiff = parseListingDiff('hook', final.lines)
    if (hookDiff.counts !== undefined) {
      const changes = summarizeDiff(hookDiff)
      const total = hookDiff.counts.reduce((a, b) => a + b, 0)
      this.log.info(
        `before-switch changed release ${id} after verification: ${describeDrift(changes, 20, shown)}${changes.complete ? '' : ` (${total} differences in all)`}. Recorded: the next deploy's copy of this release leaves these out, and its before-switch makes them again.`
      )
    }
    this.report.filesDeleted = plan.deleted.length
    this.report.release = id
    this.logShared(
      values(final, 'shared'),
      values(final, 'shared-seeded'),
      values(final, 'shared-replaced')
    )
  }

  /** Phases 4 and 5 over SFTP alone (before-switch was refused at inspect). */
  private async prepareOverSftp(options: ReleaseOptions, plan: Plan, base: Base): Promise<void> {
    const id = options.releaseId
    this.sharedPaths = options.sharedPaths ?? []
    const files = await this.host.files()
    const manifest = await sourceManifest(options.entries)
    this.releaseDirsHint = options.entries.filter(e => e.type === 'dir').map(e => e.path)
    let result
    try {
      result = await prepareOverSftp({
        files,
        label: this.label,
        log: this.log,
        deployDir: this.deployDir,
        releaseId: id,
        sourceRoot: options.sourceRoot,
        entries: options.entries,
        plan,
        base,
        copyMethod: options.copyMethod,
        verify: options.verify,
        sharedPaths: options.sharedPaths,
        sharedConflict: options.sharedConflict,
        revision: options.revision,
        manifest,
        staleReleases: this.staleReleases(id),
        leftovers: this.leftovers,
        protectedReleases: this.liveRelease === undefined ? [] : [this.liveRelease],
        // The drift check walked the live release, and the base was planned without what
        // differed: nothing of it is read through a link.
        baseChecked: base.kind === 'release' && this.drift !== undefined,
        writeDirs: base.kind === 'none' ? [] : writtenDirectories(plan),
        onCreated: () => {
          this.prepared = id
        },
        keepLog: appender => {
          this.logFile = appender
        },
        signal: options.signal
      })
    } catch (error) {
      if (error instanceof SftpVerifyFailure)
        throw this.verifyError(id, error.unexpected, error.missing, error.differs)
      throw this.sftpFailure(error, `preparing release ${id}`)
    }
    // Read while the switch is made: finishing needs it before it removes the lock.
    this.lockOwnerRead = readLockOwner(files, this.deployDir).catch(() => undefined)
    this.report.filesUploaded = result.uploadedFiles
    this.report.bytesUploaded = result.uploadedBytes
    this.report.filesDeleted = plan.deleted.length
    this.report.release = id
    this.logShared(result.shared.linked, result.shared.seeded, result.shared.replaced)
  }

  private logShared(linked: string[], seeded: string[], replaced: string[]): void {
    if (linked.length > 0)
      this.log.info(
        `linked from shared/: ${linked.slice(0, 10).join(', ')}${linked.length > 10 ? `, and ${linked.length - 10} more` : ''}`
      )
    for (const p of seeded) this.log.info(`moved ${p} into shared/ (first deploy of a shared path)`)
    for (const p of replaced)
      this.log.info(`replaced ${p} with the link to shared/${p} (shared-conflict: replace)`)
  }

  /** The release does not match its manifest: what differs, and what may have caused it. */
  private verifyError(
    id: string,
    unexpected: string[],
    missing: string[],
    /** Further differences, each described already ('content differs: <path>'). */
    differs: string[]
  ): VerifyError {
    const paths = [
      ...unexpected.map(l => `unexpected or different: ${describeListingLine(l)}`),
      ...missing.map(l => `missing or different: ${describeListingLine(l)}`),
      ...differs
    ]
    // What before-switch wrote is recorded and left out of the copy whatever on-drift says;
    // what was changed by hand (or by the app) is found only by the drift check.
    const drift =
      this.base?.kind === 'release'
        ? ` The release started as a copy of ${this.base.id}: if files there were changed on the server after it was deployed (by hand, or by the app writing into its release)${this.driftChecked ? '' : ', on-drift: ignore let them through (on-drift: warn, the default, names such changes and leaves them out of the copy)'}, deploy once with 'reuse: none' to start from nothing.`
        : ''
    return new VerifyError(
      `${this.label}: release ${id} does not match the manifest; nothing was switched.${drift}\n  ${paths.slice(0, 20).join('\n  ')}`,
      paths
    )
  }

  private checkRelease(
    result: RunResult,
    output: ScriptOutput,
    id: string,
    metadata: { oddSums: { path: string }[]; links: { path: string }[] },
    expect = 'ready'
  ): void {
    if (result.code === 0 && output.lines.includes(expect)) return
    const error = scriptError(output)
    if (error?.kind === 'verify') {
      throw this.verifyError(id, values(output, 'unexpected'), values(output, 'missing'), [
        ...values(output, 'badsum').map(l => `content differs: ${l}`),
        // Reported by number: these names may hold a line break.
        ...values(output, 'badodd').map(
          n => `content differs: ${shown(metadata.oddSums[Number(n)]?.path ?? `#${n}`)}`
        ),
        ...values(output, 'badlink').map(
          n => `symlink target differs: ${shown(metadata.links[Number(n)]?.path ?? `#${n}`)}`
        )
      ])
    }
    if (
      error?.kind === 'shared-conflict' ||
      error?.kind === 'shared-missing' ||
      error?.kind === 'exists'
    ) {
      throw new DeployRefusedError(`${this.label}: ${error.message}`)
    }
    if (error?.kind === 'hook') {
      throw new RemoteCommandError(
        `${this.label}: before-switch failed: ${error.message}; release ${id} was removed and current is untouched.`,
        result.code,
        result.stderrTail
      )
    }
    if (error) {
      const tail = lastLines(result.stderrTail)
      throw new RemoteCommandError(
        `${this.label}: ${error.message}${tail ? `: ${tail}` : ''}`,
        result.code,
        result.stderrTail
      )
    }
    throw new RemoteCommandError(
      `${this.label}: preparing release ${id} failed (exit ${result.code}): ${lastLines(result.stderrTail)}`,
      result.code,
      result.stderrTail
    )
  }

  private useTar(transfer: Transfer): boolean {
    if (transfer === 'sftp') return false
    if (this.tools.has('tar')) return true
    if (transfer === 'tar')
      throw new DeployRefusedError(
        `${this.label}: transfer is tar but the server has no 'tar' in PATH; use transfer: auto or sftp.`
      )
    this.log.info('the server has no tar: sending files over SFTP')
    return false
  }

  /**
   * How the archive is compressed: `auto` follows the link (see adaptLevel), `gzip` is gzip's
   * default level throughout, `none` sends it as it is.
   */
  private compression(compression: Compression): ReleaseArchive['compression'] {
    if (compression === 'none') return 'none'
    // GNU tar runs gzip for -z; BusyBox tar has it built in but the applet is there too.
    if (!this.tools.has('gzip')) {
      if (compression === 'gzip' && !this.warnedNoGzip) {
        this.warnedNoGzip = true
        this.log.warning('compression is gzip but the server has no gzip: sending uncompressed')
      }
      return 'none'
    }
    return compression === 'gzip' ? 'dense' : 'adaptive'
  }

  private hookEnv(id: string): Record<string, string> {
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

  /**
   * For a dry run: the shared-path conflicts and missing paths the release phase would fail on,
   * as its messages say them.
   */
  async sharedProblems(
    entries: ManifestEntry[],
    sharedPaths: string[] | undefined,
    conflict: SharedConflict
  ): Promise<string[]> {
    const describe = (shared: Map<string, EntryType>): string[] =>
      sharedProblems(shared, entries, sharedPaths, conflict).map(p =>
        p.kind === 'conflict'
          ? `${p.path} is both in shared/ and in the release; remove it from the source or exclude it, or set shared-conflict: replace`
          : `${p.path} is listed in shared-paths but is neither in shared/ nor in the release; create it in shared/, or end it with / to have it created as a directory`
      )
    if (this.access === 'sftp')
      return describe(
        await this.sharedOverSftp(entries, sharedPaths).catch(error => {
          throw this.sftpFailure(error, 'listing shared/')
        })
      )
    const { result, output } = await this.script(
      sharedListingScript(this.deployDir, Math.min(sharedDepth(entries, sharedPaths), 32))
    )
    if (result.code !== 0 || !output.lines.includes('shared-end')) {
      throw new RemoteCommandError(
        `${this.label}: listing shared/ failed (exit ${result.code}): ${lastLines(result.stderrTail)}`,
        result.code,
        result.stderrTail
      )
    }
    return describe(parseSharedListing(values(output, 'shared-entry')))
  }

  /** What shared/ holds, as deep as deciding the shared paths needs, read over SFTP. */
  private async sharedOverSftp(
    entries: ManifestEntry[],
    sharedPaths: string[] | undefined
  ): Promise<Map<string, EntryType>> {
    const files = await this.host.files()
    const root = `${this.deployDir}/shared`
    const typeOf = (t: string): EntryType =>
      t === 'dir' ? 'dir' : t === 'symlink' ? 'symlink' : 'file'
    const shared = new Map<string, EntryType>()
    if (sharedPaths) {
      const rels = sharedPaths.map(p => p.replace(/\/$/, ''))
      const found = await Promise.all(rels.map(rel => files.lstat(`${root}/${rel}`)))
      rels.forEach((rel, i) => {
        const attrs = found[i]
        if (attrs) shared.set(rel, typeOf(attrs.type))
      })
      return shared
    }
    if ((await files.lstat(root))?.type !== 'dir') return shared
    const depth = Math.min(sharedDepth(entries, sharedPaths), 32)
    for (const e of await walkTree(files, root, { maxDepth: depth }))
      shared.set(e.path, typeOf(e.attrs.type))
    return shared
  }

  /** Whether `current` is switched over SFTP; by a rename in the shell otherwise. */
  private get sftpSwitch(): boolean {
    return this.capabilities !== undefined && switchesOverSftp(this.capabilities)
  }

  /**
   * Point `current` at `releases/<id>` atomically, and check it: SFTP's posix-rename where the
   * server has it, a rename by mv in the shell elsewhere.
   */
  async switchTo(id: string): Promise<void> {
    const target = `releases/${id}`
    let now: string | undefined
    try {
      if (this.sftpSwitch) {
        const files = await this.host.files()
        now = await files.swapSymlink(
          `${this.deployDir}/current`,
          target,
          `.current.tmp-${randomBytes(6).toString('hex')}`
        )
      } else {
        now = await this.shellSwitch(id)
      }
    } catch (error) {
      if (!(error instanceof SwitchRefusedError)) this.switchUncertain = id
      throw error
    }
    this.switchUncertain = undefined
    if (now?.replace(/\/$/, '') !== target) {
      throw new Error(
        `${this.label}: current reads back as '${printable(now ?? '(nothing)')}', expected '${target}'`
      )
    }
    this.switchedTo = id
  }

  /** Remove `current` (undoing a first deploy's switch). */
  async removeCurrent(): Promise<void> {
    if (this.sftpSwitch) {
      const files = await this.host.files()
      await files.unlink(`${this.deployDir}/current`).catch(() => undefined)
      return
    }
    await this.shellSwitch(undefined)
  }

  /**
   * The switch by the shell (switchScript): what `current` reads back as. An answer without
   * `switched` means the rename did not happen; no answer at all (a lost connection) means it
   * may have, which the caller finds out.
   */
  private async shellSwitch(id: string | undefined): Promise<string | undefined> {
    const { result, output } = await this.script(
      switchScript({ deployDir: this.deployDir, ...(id !== undefined ? { releaseId: id } : {}) })
    )
    if (!output.lines.includes('switched')) {
      const error = scriptError(output)
      throw new SwitchRefusedError(
        `${this.label}: switch failed: ${error?.message ?? `exit ${result.code}`}: ${lastLines(result.stderrTail)}`
      )
    }
    return value(output, 'current')
  }

  /**
   * Run a hook (after-switch, after-rollback) in the release that is now live, `id`, with
   * `previous` as the release that was live before it.
   */
  async afterSwitch(
    script: string,
    id: string,
    previous: string | undefined,
    name = 'after-switch'
  ): Promise<void> {
    if (this.access === 'sftp')
      throw new DeployRefusedError(`${this.label}: ${name} needs a shell on the server`)
    const env = this.hookEnv(id)
    env.PREVIOUS_RELEASE_ID = previous ?? ''
    env.PREVIOUS_RELEASE_PATH = previous ? `${this.deployDir}/releases/${previous}` : ''
    const { result, output } = await this.script(
      hookScript({
        deployDir: this.deployDir,
        releaseId: id,
        name,
        script,
        env,
        umask: this.contentUmask
      })
    )
    const exit = value(output, 'hook-exit')
    if (result.code !== 0) {
      throw new RemoteCommandError(
        `${this.label}: ${name} failed with ${exit ? `status ${exit.split(' ')[1]}` : `exit ${result.code}`} (release ${id})`,
        result.code,
        result.stderrTail
      )
    }
    this.log.info(`${name} exited with status ${exit?.split(' ')[1] ?? '0'} (release ${id})`)
  }

  /** Remove a prepared release that will not go live, and release the lock. */
  async abort(): Promise<void> {
    const id = this.prepared
    const token = this.lockToken
    if (id === undefined && token === undefined) return
    if (this.access === 'sftp') {
      const done = await abortOverSftp({
        files: await this.host.files(),
        log: this.log,
        deployDir: this.deployDir,
        releaseId: id,
        lockToken: token,
        protectedReleases: [this.liveRelease, this.switchedTo],
        sharedPaths: this.sharedPaths,
        logFile: this.takeLogFile()
      }).catch(error => {
        throw this.sftpFailure(error, 'cleaning up')
      })
      if (done.aborted) this.prepared = undefined
      if (done.unlocked) this.lockToken = undefined
      return
    }
    const script =
      id !== undefined
        ? abortScript(this.releaseParams(id))
        : finishScript({
            deployDir: this.deployDir,
            events: [],
            prune: [],
            forget: [],
            lockToken: token
          })
    const { output } = await this.script(script)
    if (id !== undefined && output.lines.includes('aborted')) this.prepared = undefined
    if (token !== undefined && output.lines.includes('unlocked')) this.lockToken = undefined
  }

  /**
   * Phase 9: record the switch, prune, compact the log, unlock; with `spare`, start the copy
   * the next deploy will start from (see spareCommand).
   */
  async finish(
    events: [string, string][],
    prune: string[],
    spare?: { release: string; bytes: number }
  ): Promise<void> {
    if (this.access === 'sftp') return this.finishOverSftp(events, prune)
    const { result, output } = await this.script(
      finishScript({ deployDir: this.deployDir, ...this.finishParams(events, prune, spare) })
    )
    this.finished(result, output)
  }

  /** Phase 9 over SFTP alone (no spare copy: it would take a cp on the server). */
  private async finishOverSftp(events: [string, string][], prune: string[]): Promise<void> {
    const gone = [...releaseStates(this.events)]
      .filter(([, state]) => state === 'gone')
      .map(([id]) => id)
    const done = await finishOverSftp({
      files: await this.host.files(),
      log: this.log,
      deployDir: this.deployDir,
      events,
      prune,
      forget: [...prune, ...gone],
      lockToken: this.lockToken,
      seedRecords: [
        ...this.leftovers.metaNames.filter(n => n.startsWith('seeded.')),
        ...(this.prepared !== undefined ? [`seeded.${this.prepared}`] : [])
      ],
      protectedReleases: [this.liveRelease, this.switchedTo],
      hints: this.releaseDirsHint,
      logFile: this.takeLogFile(),
      ...(this.lockOwnerRead ? { owner: this.lockOwnerRead } : {})
    }).catch(error => {
      throw this.sftpFailure(error, 'finishing')
    })
    for (const id of done.pruned) this.log.info(`pruned release ${id}`)
    if (done.unlocked) this.lockToken = undefined
    this.prepared = undefined
  }

  /**
   * What phase 9 does here, for finish.sh or for the release script's own finish. `made` is
   * the release this run is making, for a finish decided before the release script runs (the
   * release script's own): it is then the release switched to and the one seeded.
   */
  finishParams(
    events: [string, string][],
    prune: string[],
    spare?: { release: string; bytes: number },
    made?: string
  ): Omit<FinishParams, 'deployDir'> {
    const gone = [...releaseStates(this.events)]
      .filter(([, state]) => state === 'gone')
      .map(([id]) => id)
    return {
      events,
      prune,
      forget: [...prune, ...gone],
      lockToken: this.lockToken,
      // Never pruned, whatever the plan said: the release live when the run began, and the
      // one it switched to (the guard also keeps whatever current points to).
      keep: [this.liveRelease, this.switchedTo ?? made].filter(
        (id): id is string => id !== undefined
      ),
      seeded: [this.prepared ?? made].filter((id): id is string => id !== undefined),
      ...(spare ? { spare } : {})
    }
  }

  private finished(result: RunResult, output: ScriptOutput): void {
    if (result.code !== 0 || !output.lines.includes('finished')) {
      throw new RemoteCommandError(
        `${this.label}: finishing failed (exit ${result.code}): ${lastLines(result.stderrTail)}`,
        result.code,
        result.stderrTail
      )
    }
    for (const line of values(output, 'pruned')) this.log.info(`pruned release ${line}`)
    for (const line of values(output, 'kept')) this.log.warning(`not pruned: release ${line}`)
    if (output.lines.includes('unlocked')) this.lockToken = undefined
    this.prepared = undefined
  }
}

/**
 * Manifest entries minus `paths` and everything under them, and the top-most of `paths` as the
 * removals that make a copy match what is left.
 */
/** A starting point with no entries (a full upload). */
const NO_ENTRIES: ManifestEntry[] = []

/** withoutLinked's results, by the entries and the links: servers alike share them. */
const unlinked = new WeakMap<ManifestEntry[], Map<string, ManifestEntry[]>>()

/** `entries` less the shared links and whatever lies beneath them (computed once per pair). */
function withoutLinked(entries: ManifestEntry[], sharedLinks: string[]): ManifestEntry[] {
  if (sharedLinks.length === 0) return entries
  const key = sharedLinks.join('\0')
  let byLinks = unlinked.get(entries)
  if (!byLinks) unlinked.set(entries, (byLinks = new Map()))
  let kept = byLinks.get(key)
  if (!kept) {
    const linked = new Set(sharedLinks)
    const underLink = (p: string): boolean => {
      for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1))
        if (linked.has(p.slice(0, i))) return true
      return false
    }
    kept = entries.filter(e => !underLink(e.path))
    byLinks.set(key, kept)
  }
  return kept
}

/** Plans made, by the entries they compare: the same two arrays give the same plan. */
const plans = new WeakMap<ManifestEntry[], WeakMap<ManifestEntry[], Plan>>()

/** makePlan(local, base), made once for a pair of arrays (a plan is never changed in place). */
function sharedPlan(local: ManifestEntry[], base: ManifestEntry[]): Plan {
  let byBase = plans.get(local)
  if (!byBase) plans.set(local, (byBase = new WeakMap()))
  let plan = byBase.get(base)
  if (!plan) byBase.set(base, (plan = makePlan(local, base)))
  return plan
}

function withoutPaths(
  entries: ManifestEntry[],
  paths: string[]
): { entries: ManifestEntry[]; remove: string[] } {
  if (paths.length === 0) return { entries, remove: [] }
  // Read back from the server: never a path through a link of the tree.
  const remove = topMost(notUnderLinks(paths, entries))
  const gone = new Set(remove)
  const under = (p: string): boolean => {
    for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1))
      if (gone.has(p.slice(0, i))) return true
    return false
  }
  return { entries: entries.filter(e => !under(e.path)), remove }
}

/**
 * cache.pending: one JSON string per line, each a path in cache/. Undefined when a line is not
 * one (the file is read back from the server: every path is checked before it steers a removal).
 */
/** What before-switch changed in a release, from the record release.sh made of it. */
function hookedDiff(record: Buffer): Drift {
  return summarizeDiff(
    parseListingDiff(
      'hook',
      record
        .toString('utf8')
        .split('\n')
        .filter(l => l.startsWith('!'))
        .map(l => l.slice(1))
    )
  )
}

function parsePending(blob: Buffer | undefined): string[] | undefined {
  if (!blob) return []
  const paths: string[] = []
  for (const line of blob.toString('utf8').split('\n')) {
    if (line === '') continue
    let p: unknown
    try {
      p = JSON.parse(line)
    } catch {
      return undefined
    }
    if (typeof p !== 'string' || !isReleasePath(p)) return undefined
    paths.push(p)
  }
  return paths
}

/** `1 file`, `3,500 files`. */
function files(n: number): string {
  return `${formatCount(n)} file${n === 1 ? '' : 's'}`
}

/** The digest line the inspect script reads; `-` (matching nothing) when the scan failed. */
function digestLine(digest: Promise<string>): Promise<Buffer> {
  return digest.then(
    line => Buffer.from(`${line}\n`),
    // The deploy fails on the scan's error once the inspect phase is over.
    () => Buffer.from('-\n')
  )
}

/** A view is 64 MB at most once unpacked (about 800,000 entries): a gzip bomb stops there. */
const VIEW_LIMIT = SERVER_LIMITS.manifestJsonBytes

/** Views parsed, by their bytes: servers that share a starting point share the work. */
const views = new Map<string, Promise<ManifestEntry[]>>()

/** The entries of a manifest view, gzipped or not, as read back from a server (untrusted). */
function viewEntries(blob: Buffer, gzipped: boolean): Promise<ManifestEntry[]> {
  const key = `${gzipped ? 'gz' : 'text'} ${createHash('sha256').update(blob).digest('hex')}`
  let parsed = views.get(key)
  if (!parsed) {
    parsed = (async () => {
      let text = blob
      if (gzipped) {
        try {
          text = await promisify(gunzip)(blob, { maxOutputLength: VIEW_LIMIT })
        } catch (error) {
          if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
            throw new Error(`it unpacks to more than ${VIEW_LIMIT} bytes`, { cause: error })
          throw error
        }
      }
      if (text.length > VIEW_LIMIT) throw new Error(`it is over ${VIEW_LIMIT} bytes`)
      return parseView(text)
    })()
    views.set(key, parsed)
  }
  return parsed
}
