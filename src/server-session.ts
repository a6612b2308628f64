import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import * as path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { createGzip } from 'node:zlib'
import {
  DeployRefusedError,
  LockHeldError,
  RemoteCommandError,
  VerifyError,
  messageOf
} from './errors.js'
import { SYSTEM_DIRECTORIES } from './input-helper.js'
import { formatBytes, formatCount, type Log } from './logger.js'
import { UploadProgress } from './progress.js'
import { parseManifest, serializeManifest, type ManifestEntry } from './manifest.js'
import { makePlan, type Plan } from './plan.js'
import {
  completeReleases,
  incompleteReleases,
  parseLog,
  releaseStates,
  type LogEvent
} from './release-log.js'
import type { RemoteHost, RunResult } from './remote-host.js'
import {
  LOCK_EXIT,
  REFUSED_EXIT,
  abortScript,
  finishScript,
  hookScript,
  inspectScript,
  releaseScript,
  type FinalizeParams,
  type PrepareParams,
  type ReleaseParams
} from './remote-scripts.js'
import type { Server } from './servers.js'
import type {
  Compression,
  CopyMethod,
  Reuse,
  SharedConflict,
  Transfer,
  VerifyLevel
} from './settings.js'
import { createTarStream, tarSize, type TarEntry } from './tar-writer.js'

export type Phase =
  'connect' | 'inspect' | 'upload' | 'switch' | 'after-switch' | 'health-check' | 'finish'

/** What one script printed: `!key value` lines and `!blob name length` sections. */
export interface ScriptOutput {
  lines: string[]
  blobs: Map<string, Buffer>
}

export function parseScriptOutput(stdout: Buffer): ScriptOutput {
  const lines: string[] = []
  const blobs = new Map<string, Buffer>()
  let pos = 0
  while (pos < stdout.length) {
    let nl = stdout.indexOf(0x0a, pos)
    if (nl < 0) nl = stdout.length
    const line = stdout.subarray(pos, nl).toString('utf8')
    pos = nl + 1
    const blob = /^!blob (\S+) (\d+)$/.exec(line)
    if (blob) {
      const length = Number(blob[2])
      blobs.set(blob[1], stdout.subarray(pos, pos + length))
      pos += length
    } else if (line.startsWith('!')) {
      lines.push(line.slice(1))
    }
  }
  return { lines, blobs }
}

/** Values of `!key value` lines for one key. */
function values(output: ScriptOutput, key: string): string[] {
  const prefix = `${key} `
  return output.lines.filter(l => l.startsWith(prefix)).map(l => l.slice(prefix.length))
}

function value(output: ScriptOutput, key: string): string | undefined {
  return values(output, key)[0]
}

/** An `error <kind> <message>` line, if the script printed one. */
function scriptError(output: ScriptOutput): { kind: string; message: string } | undefined {
  const line = value(output, 'error')
  if (line === undefined) return undefined
  const space = line.indexOf(' ')
  return space < 0
    ? { kind: line, message: line }
    : { kind: line.slice(0, space), message: line.slice(space + 1) }
}

/** Where the new release starts from, as decided by the plan phase. */
export type Base =
  | { kind: 'none'; reason: string }
  | { kind: 'release'; id: string; entries: ManifestEntry[]; sharedLinks: string[] }
  | { kind: 'cache'; exists: boolean; entries: ManifestEntry[]; reason?: string }

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
  signal?: AbortSignal
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
  umask = 0o022
  lockToken: string | undefined
  /** The new release exists on the server (prepared, maybe ready) and is not live. */
  prepared: string | undefined
  switchedTo: string | undefined
  plan: Plan | undefined
  base: Base | undefined
  private manifestBlob: Buffer | undefined
  private linksBlob: Buffer | undefined

  constructor(
    readonly server: Server,
    readonly host: RemoteHost,
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

  private async script(
    text: string,
    options: Parameters<RemoteHost['run']>[1] = {}
  ): Promise<{ result: RunResult; output: ScriptOutput }> {
    const result = await this.host.run(text, {
      onStderrLine: line => this.log.info(line),
      ...options
    })
    return { result, output: parseScriptOutput(result.stdout) }
  }

  /**
   * Resolve the deploy path, refuse what must be refused, take the lock (unless `lock` is false),
   * and learn the server's state. Nothing is created when anything is refused.
   */
  async inspect(
    pathInput: string,
    lockOwner: { token: string; json: string } | undefined,
    reuse: Reuse
  ): Promise<void> {
    const { result, output } = await this.script(
      inspectScript({
        path: pathInput,
        lock: lockOwner !== undefined,
        lockOwner: lockOwner?.json ?? '',
        reuse,
        systemExact: SYSTEM_DIRECTORIES.exact,
        systemTrees: SYSTEM_DIRECTORIES.trees
      }),
      // The first script of a connection: no channel is open yet, and it holds only the path and
      // the lock record, so it goes as the command itself and saves a round trip.
      { inline: true }
    )
    const refused = value(output, 'refused')
    if (result.code === REFUSED_EXIT || refused !== undefined) {
      throw new DeployRefusedError(
        `${this.label}: ${refusalMessage(refused ?? 'unknown', values(output, 'foreign'), this.server.user)}`
      )
    }
    if (result.code === LOCK_EXIT) {
      throw new LockHeldError(
        `${this.label}: ${lockHeldMessage(value(output, 'owner'), value(output, 'path') ?? pathInput)}`
      )
    }
    if (result.code !== 0 || !output.lines.includes('end')) {
      throw new RemoteCommandError(
        `${this.label}: inspecting ${pathInput} failed (exit ${result.code}): ${result.stderrTail.trim()}`,
        result.code,
        result.stderrTail
      )
    }
    if (lockOwner) this.lockToken = lockOwner.token
    this.deployDir = value(output, 'path') ?? pathInput
    this.umask = parseInt(value(output, 'umask') ?? '022', 8) & 0o777
    this.tools = new Set(values(output, 'tool'))
    this.releaseDirs = new Set(values(output, 'release'))
    this.events = parseLog(output.blobs.get('log')?.toString('utf8') ?? '')
    const current = value(output, 'current')
    this.liveRelease = current === undefined ? undefined : releaseIdOfLink(current)
    this.manifestBlob = output.blobs.get('manifest')
    this.linksBlob = output.blobs.get('links')
    this.report.previousRelease = this.liveRelease
    for (const tool of ['sha256sum', 'stat', 'find', 'awk']) {
      if (lockOwner && !this.tools.has(tool)) {
        throw new DeployRefusedError(
          `${this.label}: the server has no '${tool}' in PATH; atomic-deploy needs sh, find, stat, sha256sum and awk (GNU coreutils or BusyBox).`
        )
      }
    }
  }

  /** Complete releases in log order. */
  completeReleases(): string[] {
    return completeReleases(this.events, this.releaseDirs)
  }

  /** Decide the starting point and diff against it. */
  async makePlan(entries: ManifestEntry[], reuse: Reuse): Promise<Plan> {
    this.base = await this.chooseBase(reuse)
    const baseEntries = this.base.kind === 'none' ? [] : this.base.entries
    if (this.base.kind === 'none') this.log.info(`full upload: ${this.base.reason}`)
    else if (this.base.kind === 'cache' && this.base.reason)
      this.log.info(`full upload: ${this.base.reason}`)
    this.plan = makePlan(entries, baseEntries)
    return this.plan
  }

  private async chooseBase(reuse: Reuse): Promise<Base> {
    if (reuse === 'none') return { kind: 'none', reason: 'reuse is none' }
    if (reuse === 'cache') {
      if (!this.manifestBlob)
        return { kind: 'cache', exists: false, entries: [], reason: 'cache/ has no manifest yet' }
      try {
        return {
          kind: 'cache',
          exists: true,
          entries: (await parseManifest(this.manifestBlob)).entries
        }
      } catch (error) {
        return {
          kind: 'cache',
          exists: false,
          entries: [],
          reason: `the manifest of cache/ is unreadable (${messageOf(error)})`
        }
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
    if (!this.manifestBlob)
      return { kind: 'none', reason: `the live release ${this.liveRelease} has no manifest` }
    try {
      const manifest = await parseManifest(this.manifestBlob)
      const sharedLinks = (this.linksBlob?.toString('utf8') ?? '').split('\n').filter(l => l !== '')
      // The copy loses its shared links (they are removed and linked again), and with them
      // whatever the release had at those paths: plan those paths as absent, so they are sent
      // again and the shared rules (conflict, replace) apply to them as on a first deploy.
      const linked = new Set(sharedLinks)
      const underLink = (p: string): boolean => {
        for (let i = p.length; i > 0; i = p.lastIndexOf('/', i - 1))
          if (linked.has(p.slice(0, i))) return true
        return false
      }
      const entries = manifest.entries.filter(e => !underLink(e.path))
      return { kind: 'release', id: this.liveRelease, entries, sharedLinks }
    } catch (error) {
      return {
        kind: 'none',
        reason: `the manifest of ${this.liveRelease} is unreadable (${messageOf(error)})`
      }
    }
  }

  /** One line that says what the upload will do. */
  planLine(): string {
    const plan = this.plan
    if (!plan) return 'no plan'
    return `uploading ${formatCount(plan.uploadFiles)} files (${formatBytes(plan.uploadBytes)}), deleting ${formatCount(plan.deleted.length)}, keeping ${formatCount(plan.unchanged)}`
  }

  private releaseParams(releaseId: string): ReleaseParams {
    return {
      deployDir: this.deployDir,
      releaseId,
      umask: (this.umask | 0o002).toString(8).padStart(4, '0')
    }
  }

  /** Directories we create get the server's umask, and never world-write. */
  private get directoryMode(): number {
    return 0o777 & ~(this.umask | 0o002)
  }

  /**
   * Phases 4-6: build the release from its starting point, transfer the changed files, verify,
   * link shared paths, record metadata, run before-switch. On failure the server script has
   * already removed the release; the error says why.
   */
  async prepareRelease(options: ReleaseOptions): Promise<void> {
    const plan = this.plan
    const base = this.base
    if (!plan || !base) throw new Error('prepareRelease before makePlan')
    const id = options.releaseId
    const common = this.releaseParams(id)
    const useTar = this.useTar(options.transfer)
    const gzip = useTar && this.useGzip(options.compression, plan)
    const stale = incompleteReleases(this.events, this.releaseDirs).filter(r => r !== id)
    const metadata = await this.metadataFiles(options, plan)
    const relativeTarget = base.kind === 'cache' ? 'cache' : `releases/${id}`

    const prepare: PrepareParams = {
      staleReleases: stale,
      base:
        base.kind === 'release'
          ? { kind: 'release', id: base.id, sharedLinks: base.sharedLinks }
          : base.kind === 'cache'
            ? { kind: 'cache', exists: base.exists }
            : { kind: 'none' },
      copyMethod: options.copyMethod,
      remove: plan.remove,
      transfer: useTar ? { kind: 'tar', gzip } : { kind: 'sftp' }
    }
    const finalize: FinalizeParams = {
      fromCache: base.kind === 'cache' ? { copyMethod: options.copyMethod } : undefined,
      hasSums: metadata.hasSums,
      oddSums: metadata.oddSums,
      links: metadata.links,
      shared: options.sharedPaths
        ? { kind: 'explicit', paths: options.sharedPaths }
        : { kind: 'auto' },
      sharedConflict: options.sharedConflict,
      hook: options.beforeSwitch
        ? { name: 'before-switch', script: options.beforeSwitch, env: this.hookEnv(id) }
        : undefined,
      updatesCache: base.kind === 'cache'
    }
    this.prepared = id
    let final: ScriptOutput
    if (useTar) {
      const entries: TarEntry[] = [
        ...metadata.files.map(f => ({
          path: `.atomic-deploy/tmp/${id}/${f.name}`,
          type: 'file' as const,
          mode: 0o600,
          mtime: Math.floor(Date.now() / 1000),
          size: f.data.length,
          data: f.data
        })),
        ...plan.upload.map(e => this.tarEntry(e, relativeTarget, options.sourceRoot))
      ]
      const stream = this.uploadStream(entries, gzip, options.signal)
      const { result, output } = await this.script(releaseScript(common, prepare, finalize), {
        stdin: stream,
        signal: options.signal
      })
      this.checkRelease(result, output, id)
      final = output
    } else {
      const first = await this.script(releaseScript(common, prepare), { signal: options.signal })
      this.checkRelease(first.result, first.output, id, 'prepared')
      await this.uploadOverSftp(id, relativeTarget, options.sourceRoot, metadata.files, plan)
      const second = await this.script(releaseScript(common, undefined, finalize), {
        signal: options.signal
      })
      this.checkRelease(second.result, second.output, id)
      final = second.output
    }
    this.report.filesUploaded = plan.uploadFiles
    this.report.bytesUploaded = plan.uploadBytes
    this.report.filesDeleted = plan.deleted.length
    this.report.release = id
    const linked = values(final, 'shared')
    if (linked.length > 0)
      this.log.info(
        `linked from shared/: ${linked.slice(0, 10).join(', ')}${linked.length > 10 ? `, and ${linked.length - 10} more` : ''}`
      )
    for (const p of values(final, 'shared-seeded'))
      this.log.info(`moved ${p} into shared/ (first deploy of a shared path)`)
    for (const p of values(final, 'shared-replaced'))
      this.log.info(`replaced ${p} with the link to shared/${p} (shared-conflict: replace)`)
  }

  private checkRelease(
    result: RunResult,
    output: ScriptOutput,
    id: string,
    expect = 'ready'
  ): void {
    if (result.code === 0 && output.lines.includes(expect)) return
    const error = scriptError(output)
    if (error?.kind === 'verify') {
      const paths = [
        ...values(output, 'unexpected').map(
          l => `unexpected or different: ${describeListingLine(l)}`
        ),
        ...values(output, 'missing').map(l => `missing or different: ${describeListingLine(l)}`),
        ...values(output, 'badsum').map(l => `content differs: ${l}`)
      ]
      const drift =
        this.base?.kind === 'release'
          ? ` The release started as a copy of ${this.base.id}; if files there were changed after it was deployed (by hand, or by a hook such as 'php artisan config:cache'), deploy with 'reuse: cache' or once with 'reuse: none'.`
          : ''
      throw new VerifyError(
        `${this.label}: release ${id} does not match the manifest; nothing was switched.${drift}\n  ${paths.slice(0, 20).join('\n  ')}`,
        paths
      )
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
      throw new RemoteCommandError(
        `${this.label}: ${error.message}: ${lastLines(result.stderrTail)}`,
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

  private useGzip(compression: Compression, plan: Plan): boolean {
    if (compression === 'none') return false
    // GNU tar runs gzip for -z; BusyBox tar has it built in but the applet is there too.
    if (!this.tools.has('gzip')) {
      if (compression === 'gzip')
        this.log.warning('compression is gzip but the server has no gzip: sending uncompressed')
      return false
    }
    if (compression === 'gzip') return true
    return plan.uploadBytes >= 64 * 1024
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

  private async metadataFiles(
    options: ReleaseOptions,
    plan: Plan
  ): Promise<{
    files: { name: string; data: Buffer }[]
    hasSums: boolean
    oddSums: { path: string; sha256: string }[]
    links: { path: string; target: string }[]
  }> {
    const expected = options.entries.map(listingLine).join('')
    const hashed = options.verify === 'full' ? options.entries : plan.upload
    const sums: string[] = []
    const oddSums: { path: string; sha256: string }[] = []
    // The listing only shows a link target's length; uploaded links (all of them with verify:
    // full) are read back.
    const links = hashed
      .filter(e => e.type === 'symlink')
      .map(e => ({ path: e.path, target: e.target ?? '' }))
    for (const e of hashed) {
      if (e.type !== 'file' || !e.sha256) continue
      // sha256sum -c cannot express these names the same way in GNU and BusyBox: checked one by one.
      if (/[\n\r\\]/.test(e.path)) oddSums.push({ path: e.path, sha256: e.sha256 })
      else sums.push(`${e.sha256}  ./${e.path}\n`)
    }
    const manifest = await serializeManifest({
      version: 1,
      entries: options.entries,
      sharedLinks: []
    })
    const files = [
      { name: 'expected', data: Buffer.from(expected) },
      { name: 'sums', data: Buffer.from(sums.join('')) },
      { name: 'manifest.json.gz', data: manifest },
      { name: 'revision.json', data: Buffer.from(`${options.revision}\n`) }
    ]
    return { files, hasSums: sums.length > 0, oddSums, links }
  }

  private tarEntry(entry: ManifestEntry, prefix: string, sourceRoot: string): TarEntry {
    const p = `${prefix}/${entry.path}`
    if (entry.type === 'dir')
      return { path: p, type: 'dir', mode: this.directoryMode, mtime: entry.mtime }
    if (entry.type === 'symlink')
      return { path: p, type: 'symlink', mode: 0o777, mtime: entry.mtime, target: entry.target }
    return {
      path: p,
      type: 'file',
      mode: entry.mode,
      mtime: entry.mtime,
      size: entry.size,
      source: path.join(sourceRoot, entry.path)
    }
  }

  private uploadStream(entries: TarEntry[], gzip: boolean, signal?: AbortSignal): Readable {
    // Progress counts archive bytes as they leave the tar writer, against the archive's size.
    const progress = new UploadProgress(
      this.log,
      entries.filter(e => e.type === 'file').length,
      tarSize(entries)
    ).start()
    const tar = createTarStream(entries, {
      signal,
      onEntry: ({ files }) => {
        if (entries[files - 1]?.type === 'file') progress.files++
      }
    })
    const counted = countBytes(tar, n => (progress.bytes += n))
    const stop = (): void => progress.stop()
    counted.on('end', stop).on('close', stop).on('error', stop)
    if (!gzip) return counted
    // Level 1: on these workloads it gives most of gzip's reduction at a fraction of level 6's
    // CPU time, and the runner's CPU, not the wire, is what a deploy waits on (see bench/).
    const zipped = createGzip({ level: 1, chunkSize: 64 * 1024 })
    counted.on('error', error => zipped.destroy(error))
    return counted.pipe(zipped)
  }

  private async uploadOverSftp(
    id: string,
    relativeTarget: string,
    sourceRoot: string,
    metadata: { name: string; data: Buffer }[],
    plan: Plan
  ): Promise<void> {
    const files = await this.host.files()
    const tmp = `${this.deployDir}/.atomic-deploy/tmp/${id}`
    const root = `${this.deployDir}/${relativeTarget}`
    for (const m of metadata) {
      await files.writeFileAtomic(`${tmp}/${m.name}`, Readable.from([m.data]), 0o600, m.data.length)
    }
    // Requests are handled in order by sftp-server, so parents are made before children even
    // though all mkdirs are in flight at once.
    await Promise.all(
      plan.upload
        .filter(e => e.type === 'dir')
        .map(e => files.mkdir(`${root}/${e.path}`, this.directoryMode))
    )
    const uploads = plan.upload.filter(e => e.type === 'file')
    const progress = new UploadProgress(this.log, uploads.length, plan.uploadBytes).start()
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < uploads.length) {
        const e = uploads[next++]
        const content = createReadStream(path.join(sourceRoot, e.path), {
          highWaterMark: 64 * 1024
        })
        await files.writeFileAtomic(
          `${root}/${e.path}`,
          countBytes(content, n => (progress.bytes += n)),
          e.mode,
          e.size
        )
        progress.files++
      }
    }
    try {
      // Sixteen files in flight: per-file SFTP costs several round trips, so they overlap.
      await Promise.all(Array.from({ length: Math.min(16, uploads.length) }, worker))
    } finally {
      progress.stop()
    }
    await Promise.all(
      plan.upload
        .filter(e => e.type === 'symlink')
        .map(e => files.symlink(e.target ?? '', `${root}/${e.path}`))
    )
  }

  /** Point `current` at `releases/<id>` atomically, and check it. */
  async switchTo(id: string): Promise<void> {
    const files = await this.host.files()
    const target = `releases/${id}`
    const now = await files.swapSymlink(
      `${this.deployDir}/current`,
      target,
      `.current.tmp-${randomBytes(6).toString('hex')}`
    )
    if (now.replace(/\/$/, '') !== target) {
      throw new Error(`${this.label}: current reads back as '${now}', expected '${target}'`)
    }
    this.switchedTo = id
  }

  /** Run after-switch in the live release. */
  async afterSwitch(script: string, id: string, previous: string | undefined): Promise<void> {
    const env = this.hookEnv(id)
    env.PREVIOUS_RELEASE_ID = previous ?? ''
    env.PREVIOUS_RELEASE_PATH = previous ? `${this.deployDir}/releases/${previous}` : ''
    const { result, output } = await this.script(
      hookScript({ deployDir: this.deployDir, releaseId: id, name: 'after-switch', script, env })
    )
    const exit = value(output, 'hook-exit')
    if (result.code !== 0) {
      throw new RemoteCommandError(
        `${this.label}: after-switch failed with ${exit ? `status ${exit.split(' ')[1]}` : `exit ${result.code}`}`,
        result.code,
        result.stderrTail
      )
    }
  }

  /** Remove a prepared release that will not go live, and release the lock. */
  async abort(): Promise<void> {
    const id = this.prepared
    const token = this.lockToken
    if (id === undefined && token === undefined) return
    const script =
      id !== undefined
        ? abortScript({ ...this.releaseParams(id), lockToken: token })
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

  /** Phase 9: record the switch, prune, compact the log, unlock. */
  async finish(events: [string, string][], prune: string[]): Promise<void> {
    const gone = [...releaseStates(this.events)]
      .filter(([, state]) => state === 'gone')
      .map(([id]) => id)
    const { result, output } = await this.script(
      finishScript({
        deployDir: this.deployDir,
        events,
        prune,
        forget: [...prune, ...gone],
        lockToken: this.lockToken
      })
    )
    if (result.code !== 0 || !output.lines.includes('finished')) {
      throw new RemoteCommandError(
        `${this.label}: finishing failed (exit ${result.code}): ${lastLines(result.stderrTail)}`,
        result.code,
        result.stderrTail
      )
    }
    for (const line of values(output, 'pruned')) this.log.info(`pruned release ${line}`)
    if (output.lines.includes('unlocked')) this.lockToken = undefined
    this.prepared = undefined
  }
}

/** Pass a stream through, counting its bytes; errors travel along. */
function countBytes(source: Readable, count: (bytes: number) => void): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      count(chunk.length)
      callback(null, chunk)
    }
  })
  source.on('error', error => counter.destroy(error))
  return source.pipe(counter)
}

/** `releases/<id>` (or an absolute path to it) -> `<id>`. */
export function releaseIdOfLink(target: string): string | undefined {
  const clean = target.replace(/\/+$/, '')
  const match = /(?:^|\/)releases\/([^/]+)$/.exec(clean)
  return match ? match[1] : clean.split('/').pop()
}

/** The line `stat -c` prints for an entry in the verification listing. */
export function listingLine(entry: ManifestEntry): string {
  switch (entry.type) {
    case 'file':
      return `f ${entry.mode.toString(8)} ${entry.size} ./${entry.path}\n`
    case 'dir':
      return `d ./${entry.path}\n`
    case 'symlink':
      return `l ${entry.size} ./${entry.path}\n`
  }
}

function describeListingLine(line: string): string {
  const m = /^([fdl]) (?:(\d+) )?(?:(\d+) )?\.\/(.*)$/.exec(line)
  if (!m) return line
  const [, type, a, b, p] = m
  if (type === 'f') return `${p} (file, mode ${a}, ${b} bytes)`
  if (type === 'l') return `${p} (symlink)`
  return `${p} (directory)`
}

function lastLines(text: string, n = 5): string {
  return text.trim().split('\n').slice(-n).join(' | ')
}

function refusalMessage(refused: string, foreign: string[], user: string): string {
  const [kind, ...rest] = refused.split(' ')
  const detail = rest.join(' ')
  switch (kind) {
    case 'foreign':
      return `refusing to deploy: ${detail} (${foreign.slice(0, 10).join(', ')}${foreign.length > 10 ? ', ...' : ''}). Nothing was changed. Deploy to a new, empty path, or back up that directory and empty it (a shared/ directory prepared by hand may stay).`
    case 'permission':
      return `permission denied: ${detail}. Create the directory as root and give it to the deploy user, e.g. 'sudo mkdir -p <path> && sudo chown ${user}: <path>'. Nothing was changed.`
    case 'system':
      return `refusing to deploy into ${detail}. Choose a directory of its own, e.g. /var/www/app.`
    case 'notdir':
    case 'layout':
      return `refusing to deploy: ${detail}. Nothing was changed.`
    default:
      return `refusing to deploy: ${refused}`
  }
}

function lockHeldMessage(ownerJson: string | undefined, deployDir: string): string {
  let holder = 'an unknown holder (the lock has no owner record)'
  if (ownerJson) {
    try {
      const owner = JSON.parse(ownerJson) as {
        runUrl?: string
        commit?: string
        started?: string
        actor?: string
      }
      const age = owner.started
        ? Math.max(0, Math.round((Date.now() - Date.parse(owner.started)) / 1000))
        : undefined
      holder = `${owner.runUrl ?? 'an unknown run'} (commit ${owner.commit?.slice(0, 12) || 'unknown'}${owner.actor ? `, by ${owner.actor}` : ''}, started ${owner.started ?? '?'}${age !== undefined ? `, ${formatAge(age)} ago` : ''})`
    } catch {
      holder = `an unreadable owner record: ${ownerJson.slice(0, 200)}`
    }
  }
  return `another deploy holds the lock on ${deployDir}: ${holder}. Wait for it to finish; if it is gone (a cancelled or crashed run), clear the lock with 'mode: unlock'. A 'concurrency:' group in the workflow prevents this.`
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`
  return `${Math.round(seconds / 3600)}h`
}
