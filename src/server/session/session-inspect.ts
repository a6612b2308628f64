/**
 * Phases 2 and 3 on one server, its inspect half: resolve the deploy path, refuse what must be
 * refused, take the lock, and learn the server's state and what it offers, by the inspect script
 * or, for an account that runs no commands, over SFTP alone (sftp-inspect.ts). Everything read
 * back is checked (server-data.ts) before it is kept in the session's state.
 */
import {
  DeployRefusedError,
  ExecRefusedError,
  LockHeldError,
  RemoteCommandError,
  ServerDataError,
  messageOf
} from '../../errors.js'
import { SYSTEM_DIRECTORIES } from '../system-directories.js'
import { formatBytes } from '../../logger.js'
import { parseListingDiff, summarizeDiff, type Drift } from '../../release/drift.js'
import { LogFormatError, parseLog, type LogEvent } from '../../release/release-log.js'
import type { RunResult, SftpProbe } from '../../ssh/remote-host.js'
import { firstReads, inspectOverSftp as sftpInspect, type FirstReads } from '../sftp-inspect.js'
import { LOCK_EXIT, REFUSED_EXIT, inspectScript, type InspectParams } from '../remote-scripts.js'
import { value, values, type ScriptOutput } from '../script-output.js'
import {
  lastLines,
  lockHeldMessage,
  noShellMessage,
  noShellReason,
  refusalMessage
} from '../server-messages.js'
import { framed, type FirstScript } from '../../ssh/script-frame.js'
import { printable } from '../../ssh/servers.js'
import {
  REQUIRED_TOOLS,
  type ServerCapabilities,
  describeCapabilities,
  deployProblem,
  missingToolsProblem,
  sendFilesProblem,
  sftpCanUpload
} from '../capabilities.js'
import {
  SERVER_LIMITS,
  liveReleaseOf,
  parsePrefetch,
  parseUmask,
  releaseDirectories,
  resolvedDeployDir
} from '../server-data.js'
import type { CopyMethod, Reuse, Transfer } from '../../settings.js'
import type { AccessOptions, SessionState } from './session-state.js'

/** What the inspect phase is asked to do on one server (see inspect). */
export interface InspectOptions {
  /** The `path` input (absolute, or relative to the login directory). */
  path: string
  /** Take the lock with this owner record; absent, a read-only look (a dry run). */
  lockOwner?: { token: string; json: string }
  reuse: Reuse
  /** Start copying the live release for the new one as soon as the lock is held. */
  prefetch?: { copyMethod: CopyMethod }
  /** For a deploy: how files will be sent, to refuse here what cannot complete. */
  deploy?: { transfer: Transfer }
  /** Name what changed in the live release since its deploy. */
  drift: boolean
  access: AccessOptions
  /**
   * The digest of the source's manifest, for the server to compare with the starting point's
   * (a deploy or a dry run that starts from something): sent on the script's stdin once known.
   */
  digest?: Promise<string>
  /** The source's directories, for an SFTP-only drift check's walk (SftpInspectOptions). */
  sourceDirs?: Promise<string[]>
}

/** With transfer: sftp, a deploy checks that SFTP is there before anything is written. */
function checksSftpFirst(options: InspectOptions): boolean {
  return options.deploy?.transfer === 'sftp' && options.lockOwner !== undefined
}

/** The inspect script's values for `options`. */
export function inspectParams(options: InspectOptions): InspectParams {
  const { lockOwner, deploy } = options
  return {
    path: options.path,
    lock: lockOwner !== undefined,
    lockOwner: lockOwner?.json ?? '',
    reuse: options.reuse,
    systemExact: SYSTEM_DIRECTORIES.exact,
    systemTrees: SYSTEM_DIRECTORIES.trees,
    ...(options.prefetch ? { prefetch: options.prefetch } : {}),
    drift: options.drift,
    wantDigest: options.digest !== undefined,
    ...(deploy && lockOwner
      ? {
          require: {
            tools: [...REQUIRED_TOOLS],
            tar: deploy.transfer === 'tar',
            tarOrSftp: deploy.transfer === 'auto'
          }
        }
      : {})
  }
}

/**
 * The inspect script for `options` as the connection's first script, framed as it is sent, where
 * it is the first thing the inspect phase runs: not for an account that runs no commands
 * (shell: none), nor where SFTP is checked first (transfer: sftp).
 */
export function firstInspectScript(options: InspectOptions): FirstScript | undefined {
  if (options.access.shell === 'none' || checksSftpFirst(options)) return undefined
  return {
    script: framed(inspectScript(inspectParams(options)), true),
    ...(options.digest ? { follow: digestLine(options.digest) } : {})
  }
}

/**
 * Resolve the deploy path, refuse what must be refused, take the lock (when given an owner for
 * it), and learn the server's state and what it offers. Nothing is created when anything is
 * refused: what a deploy needs from the server is checked before the first write.
 */
export async function inspect(s: SessionState, options: InspectOptions): Promise<void> {
  const { path: pathInput, lockOwner, deploy, drift, access, digest } = options
  const overSftp = (why: string, early?: Promise<FirstReads | undefined>): Promise<void> =>
    inspectOverSftp(s, options, why, early)
  if (access.shell === 'none' || !s.host.exec) return overSftp('shell is none')
  // Whether the account runs commands is known only from the script's answer; the reads an
  // SFTP-only inspect starts with go out beside it (they only read), a round trip saved when
  // it runs none. The layout's lstats (the lock a round trip earlier) only for a deploy: a
  // rollback or an unlock on a server that runs commands, the usual case, does without their
  // bytes (about 1 kB), and on an SFTP-only one waits for the listing instead.
  const early = s.host
    .files()
    .then(files => firstReads(files, pathInput, deploy !== undefined))
    .catch(() => undefined)
  const params = inspectParams(options)
  if (checksSftpFirst(options)) await refuseUnlessSftpUploads(s, 'sftp', true)
  // The digest follows the script on its stdin, with it when the source is hashed by then,
  // else as soon as it is: the script reads it last, so it costs no round trip of its own.
  const follow = digest ? digestLine(digest) : undefined
  const withDigest = (): { follow?: Promise<Buffer> } => (follow ? { follow } : {})
  let ran: { result: RunResult; output: ScriptOutput }
  try {
    ran = await s.script(inspectScript(params), withDigest(), withDigest)
  } catch (error) {
    if (!(error instanceof ExecRefusedError)) throw error
    const why = 'the server refuses to run commands for this account'
    if (await sftpOnlyPossible(s, why)) return overSftp(why, early)
    throw new DeployRefusedError(
      `${s.label}: ${noShellMessage(s.server.user, why, s.capabilities?.sftp)}`
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
    if (await sftpOnlyPossible(s, why)) return overSftp(why, early)
  }
  if (params.require && value(output, 'refused') === 'need-sftp') {
    // No tar: the files go over SFTP if it is there, which the script cannot know. It stopped
    // before writing anything; ask again once SFTP is known to be there.
    await refuseUnlessSftpUploads(s, deploy?.transfer ?? 'auto', false)
    ;({ result, output } = await s.script(
      inspectScript({ ...params, require: { ...params.require, tarOrSftp: false } }),
      withDigest(),
      withDigest
    ))
  }
  await checkInspected(s, result, output, pathInput)
  if (lockOwner) {
    s.lockToken = lockOwner.token
    s.lockOwnerJson = lockOwner.json
  }
  // From here on, everything comes from the server: each value is checked before it is kept.
  try {
    readState(s, output, pathInput)
  } catch (error) {
    if (error instanceof ServerDataError) throw new ServerDataError(`${s.label}: ${error.message}`)
    throw error
  }
  s.pendingBlob = output.blobs.get('pending')
  s.driftChecked = drift
  if (drift && s.liveRelease !== undefined && !output.lines.includes('drift unknown'))
    s.drift = summarizeDiff(parseListingDiff('drift', output.lines))
  const hooked = output.blobs.get('hooked')
  s.hooked = hooked ? hookedDiff(hooked) : undefined
  if (s.prefetched?.spare)
    s.log.info(
      `the new release starts from the copy of ${s.prefetched.from} made after the deploy that put it live`
    )
  s.report.previousRelease = s.liveRelease
  const toolset = value(output, 'toolset')
  // SFTP starts beside the script, and its start can end after the script's answer (ssh2
  // reports it ready only once limits@openssh.com is answered: asked for after the server's
  // VERSION, or right behind INIT on the channel opened during authentication, see
  // limitsBehindInit in ssh2-internals.ts). Where the files go by tar, nothing this phase
  // decides depends on it: what it found is taken if it is in, and otherwise waited for by
  // whatever chooses by it (the switch, through sftpSettling).
  const needed = deploy !== undefined && (deploy.transfer === 'sftp' || !s.tools.has('tar'))
  const probe = sftpProbe(s, needed)
  const found = needed ? await probe : await settledNow(probe)
  const capabilities: ServerCapabilities = {
    software: s.host.software,
    pipelined: s.host.pipelined,
    exec: { available: true },
    sftp: found ?? { state: 'unknown', reason: 'still starting' },
    loginShell: value(output, 'shell'),
    tools: s.tools,
    toolset: toolset === 'gnu' || toolset === 'busybox' ? toolset : 'other'
  }
  s.capabilities = capabilities
  if (found === undefined)
    s.sftpSettling = probe.then(
      sftp => {
        capabilities.sftp = sftp
      },
      (error: unknown) => {
        capabilities.sftp = { state: 'unknown', reason: messageOf(error) }
      }
    )
  s.log.info(`server: ${describeCapabilities(capabilities, found === undefined)}`)
  const problem = deploy ? deployProblem(capabilities, deploy.transfer) : undefined
  if (problem) throw new DeployRefusedError(`${s.label}: ${problem}`)
}

/** The value of `promise` if it has settled by the end of this turn of the event loop. */
async function settledNow<T>(promise: Promise<T>): Promise<T | undefined> {
  const later = new Promise<undefined>(resolve => setImmediate(resolve, undefined))
  return Promise.race([promise, later]).catch(() => undefined)
}

/**
 * What SFTP is here. `needed`: files will go over it, so a probe that sshd's MaxSessions
 * refused (while the script's channel was open) is made again, with room made for it.
 */
async function sftpProbe(s: SessionState, needed: boolean): Promise<SftpProbe> {
  const probe = await s.host.probeSftp()
  if (!needed || probe.state !== 'unknown') return probe
  return s.host
    .files()
    .then(() => s.host.probeSftp())
    .catch(() => probe)
}

/** Refuse, before anything is written, a deploy whose files can go over SFTP only, without it. */
async function refuseUnlessSftpUploads(
  s: SessionState,
  transfer: Transfer,
  tar: boolean
): Promise<void> {
  const problem = sendFilesProblem(transfer, tar, await sftpProbe(s, true))
  if (problem) throw new DeployRefusedError(`${s.label}: ${problem} Nothing was changed.`)
}

/** Turn what the inspect script said into the error a user reads, when it is one. */
async function checkInspected(
  s: SessionState,
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
      `${s.label}: ${noShellMessage(s.server.user, reason, s.capabilities?.sftp)}`
    )
  }
  const refused = value(output, 'refused')
  if (refused?.startsWith('tools ')) {
    throw new DeployRefusedError(
      `${s.label}: ${missingToolsProblem(refused.slice(6).split(' '))} Nothing was changed.`
    )
  }
  if (result.code === REFUSED_EXIT || refused !== undefined) {
    throw new DeployRefusedError(
      `${s.label}: ${refusalMessage(refused ?? 'unknown', values(output, 'foreign'), s.server.user, value(output, 'path') ?? pathInput)}`
    )
  }
  if (result.code === LOCK_EXIT) {
    throw new LockHeldError(
      `${s.label}: ${lockHeldMessage(output.blobs.get('owner')?.toString('utf8'), value(output, 'path') ?? pathInput)}`
    )
  }
  if (result.code !== 0 || !output.lines.includes('end')) {
    throw new RemoteCommandError(
      `${s.label}: inspecting ${pathInput} failed (exit ${result.code}): ${result.stderrTail.trim()}`,
      result.code,
      result.stderrTail
    )
  }
}

/**
 * The account runs no commands: resolve, refuse, lock and read the state over SFTP alone.
 * Whatever needs a shell is refused first, before anything is written.
 */
async function inspectOverSftp(
  s: SessionState,
  options: InspectOptions,
  why: string,
  /** The reads started beside the inspect script, when there was one. */
  early?: Promise<FirstReads | undefined>
): Promise<void> {
  const { path: pathInput, lockOwner, reuse, access, drift, digest, sourceDirs } = options
  s.access = 'sftp'
  const [needs] = access.needsShell
  if (needs !== undefined) {
    throw new DeployRefusedError(
      `${s.label}: '${needs}' needs a shell on the server, and ${why}. Remove '${needs}' (a health-check-url still runs from the runner), or deploy as a user with a shell. Nothing was changed.`
    )
  }
  // Known already when the script found no shell; with shell: none, probed here.
  const possible = s.capabilities
    ? sftpCanUpload(s.capabilities.sftp)
    : await sftpOnlyPossible(s, why)
  if (!possible) {
    throw new DeployRefusedError(
      `${s.label}: ${noShellMessage(s.server.user, why, s.capabilities?.sftp)}`
    )
  }
  const files = await s.host.files()
  s.log.info(
    `server: ${printable(s.host.software ?? 'unknown SSH server')}; ${why}; SFTP with ${[
      'posix-rename',
      ...(files.abilities.hardlink ? ['hardlink'] : []),
      ...(files.abilities.copyData ? ['copy-data'] : [])
    ].join(', ')}: deploying over SFTP alone`
  )
  const reads = await early
  const state = await sftpInspect(files, {
    path: pathInput,
    lock: lockOwner,
    reuse,
    user: s.server.user,
    label: s.label,
    ...(reads ? { firstReads: Promise.resolve(reads) } : {}),
    drift,
    plans: digest !== undefined,
    ...(digest ? { sourceDigest: digest } : {}),
    ...(sourceDirs ? { sourceDirs } : {}),
    onLocked: dir => {
      s.deployDir = dir
      if (lockOwner) s.lockToken = lockOwner.token
    }
  }).catch(error => {
    throw s.sftpFailure(error, `inspecting ${pathInput}`)
  })
  s.deployDir = state.deployDir
  s.releaseDirs = state.releaseDirs
  // Records past their limit were not read: the same names and rules as the inspect script's.
  s.tooLarge = state.tooLarge
  try {
    s.events = acceptLog(s, state.log ?? Buffer.alloc(0))
  } catch (error) {
    if (error instanceof ServerDataError) throw new ServerDataError(`${s.label}: ${error.message}`)
    throw error
  }
  const listing = state.tooLarge.get('listing')
  if (listing !== undefined && state.liveRelease !== undefined)
    s.log.warning(
      `${s.deployDir}/.atomic-deploy/manifests/${state.liveRelease}.listing is ${formatBytes(listing)}, over the limit of ${formatBytes(SERVER_LIMITS.listingBytes)}: changes made on the server since that release was deployed were not looked for`
    )
  s.liveRelease = state.liveRelease
  s.sftpBase = state.base
  s.linksBlob = state.links
  s.pendingBlob = state.pending
  s.driftChecked = drift
  if (state.drift !== undefined && state.drift !== 'unknown') s.drift = summarizeDiff(state.drift)
  s.hooked = state.hooked ? hookedDiff(state.hooked) : undefined
  s.leftovers = {
    switchLinks: state.switchLinks,
    metaNames: state.metaNames,
    tmpNames: state.tmpNames,
    setAside: state.setAside
  }
  s.report.previousRelease = s.liveRelease
}

/**
 * The account runs no commands: whether its SFTP can carry the whole deploy (a session with
 * posix-rename@openssh.com, for the atomic switch). Records what the server offers either way.
 */
async function sftpOnlyPossible(s: SessionState, why: string): Promise<boolean> {
  const sftp = await s.host
    .probeSftp()
    .catch(error => ({ state: 'unknown' as const, reason: messageOf(error) }))
  s.capabilities = {
    software: s.host.software,
    pipelined: s.host.pipelined,
    exec: { available: false, reason: why },
    sftp,
    loginShell: undefined,
    tools: new Set(),
    toolset: 'other'
  }
  return sftpCanUpload(sftp)
}

/** What the inspect script reported, validated (see server-data.ts). */
function readState(s: SessionState, output: ScriptOutput, pathInput: string): void {
  s.deployDir = resolvedDeployDir(value(output, 'path'), pathInput)
  // Records past their limit are reported by size only (`toolarge <name> <bytes>`).
  s.tooLarge = new Map(
    values(output, 'toolarge').map(line => {
      const [name = '', size = ''] = line.split(' ')
      return [name, /^[0-9]{1,20}$/.test(size) ? Number(size) : Infinity] as const
    })
  )
  s.umask = parseUmask(value(output, 'umask'))
  s.tools = new Set(values(output, 'tool'))
  s.releaseDirs = releaseDirectories(values(output, 'release'))
  s.events = acceptLog(s, output.blobs.get('log') ?? Buffer.alloc(0))
  const current = output.blobs.get('current')?.toString('utf8')
  s.liveRelease = current === undefined ? undefined : liveReleaseOf(current, s.deployDir)
  s.manifestBlob = output.blobs.get('manifest')
  const view = output.blobs.get('view')
  const viewText = output.blobs.get('view-text')
  s.viewBlob = view
    ? { data: view, gzipped: true }
    : viewText
      ? { data: viewText, gzipped: false }
      : undefined
  s.same = output.lines.includes('same')
  s.linksBlob = output.blobs.get('links')
  s.prefetched = parsePrefetch(value(output, 'prefetch'))
}

/**
 * The release log as read (or its size in tooLarge, when it was not sent), parsed and checked:
 * it decides what is pruned and rolled back to, so a log past its limit or with a line that is
 * not ours is an error that names the file and the fix, whichever way it was read.
 */
function acceptLog(s: SessionState, log: Buffer): LogEvent[] {
  const logFile = `${s.deployDir}/.atomic-deploy/log`
  const logSize = s.tooLarge.get('log') ?? log.length
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

/** The digest line the inspect script reads; `-` (matching nothing) when the scan failed. */
function digestLine(digest: Promise<string>): Promise<Buffer> {
  return digest.then(
    line => Buffer.from(`${line}\n`),
    // The deploy fails on the scan's error once the inspect phase is over.
    () => Buffer.from('-\n')
  )
}
