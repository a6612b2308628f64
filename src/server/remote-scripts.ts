/**
 * The shell scripts that run on the servers, one per phase, so each phase costs one round trip
 * however many paths it touches. The scripts themselves are files, src/server/scripts/*.sh,
 * read by ShellCheck and carried into the bundle as text by scripts.generated.ts; they use only
 * POSIX sh and tools that GNU systems and BusyBox both have (find -exec +, stat -c, sha256sum,
 * awk, cp -a, readlink, dd); nothing GNU-only.
 *
 * The functions here turn a phase's parameters into the text sent to the server: a prelude that
 * assigns every value through `quote()` (script-values.ts), then the script's constant text. No
 * value is ever part of a script's text. Results come back on stdout as lines `!key value`;
 * tool errors and hook output go to stderr, which is streamed to the log.
 */
import { SERVER_LIMITS } from './server-data.js'
import { withValues } from './script-values.js'
import type { ScriptParts } from '../ssh/script-frame.js'
import {
  ABORT_SH,
  FINISH_SH,
  HOOK_SH,
  INSPECT_SH,
  LISTING_SH,
  RELEASE_SH,
  SWITCH_SH,
  SHARED_LISTING_SH,
  UNLOCK_SH,
  type ReleaseValues
} from './scripts.generated.js'

/** inspect.sh's exit status when the lock is held by another run. */
export const LOCK_EXIT = 75
/** inspect.sh's exit status when the deploy path is refused. */
export const REFUSED_EXIT = 3

export interface InspectParams {
  /** The `path` input (absolute, or relative to the login directory). */
  path: string
  /** Create the layout and take the lock (false for dry-run: read only). */
  lock: boolean
  /** One-line JSON recorded in the lock. */
  lockOwner: string
  /** Which starting point's manifest to return. */
  reuse: 'previous' | 'cache' | 'none'
  systemExact: string[]
  systemTrees: string[]
  /**
   * Start copying the live release for the next one as soon as the lock is ours (deploys with
   * reuse: previous), so that the copy runs while the runner plans and the release script is
   * on its way. The release script takes it over, or drops it.
   */
  prefetch?: { copyMethod: 'copy' | 'hardlink' }
  /** Bytes of each record the runner accepts (default SERVER_LIMITS): a larger one is not sent. */
  limits?: { log: number; manifest: number; links: number }
  /**
   * With `lock`: what a deploy needs from the server's PATH, checked before anything is written:
   * `tools` and tar (refused as `tools <missing...>`), or tar unless SFTP carries the files
   * (`need-sftp`, which the runner answers by probing SFTP and asking again).
   */
  require?: { tools: string[]; tar: boolean; tarOrSftp: boolean }
  /** Compare the live release with what it was when it became ready (drift lines). */
  drift?: boolean
  /**
   * Read the digest of the source's manifest from stdin (a line) once everything else is said,
   * and report the starting point's manifest against it: `same`, its view, or an older
   * version's manifest. The runner writes the line as soon as it has hashed the source.
   */
  wantDigest?: boolean
}

/**
 * Phase 1-3 on the server: resolve the deploy path, refuse foreign or system directories, create
 * the layout, take the lock, and report what the planner needs (inspect.sh).
 */
export function inspectScript(p: InspectParams): ScriptParts {
  return withValues(INSPECT_SH, {
    PATH_INPUT: p.path,
    LOCK: p.lock,
    LOCK_OWNER: p.lockOwner,
    REUSE: p.reuse,
    SYSTEM_EXACT: p.systemExact,
    SYSTEM_TREES: p.systemTrees,
    LOG_LIMIT: String(p.limits?.log ?? SERVER_LIMITS.logBytes),
    MANIFEST_LIMIT: String(p.limits?.manifest ?? SERVER_LIMITS.manifestBytes),
    LINKS_LIMIT: String(p.limits?.links ?? SERVER_LIMITS.linksBytes),
    REQUIRE_TOOLS: p.require?.tools ?? [],
    REQUIRE_TAR: p.require?.tar ?? false,
    REQUIRE_TAR_OR_SFTP: p.require?.tarOrSftp ?? false,
    PREFETCH: p.prefetch?.copyMethod ?? 'none',
    DRIFT: p.drift ?? false,
    WANT_DIGEST: p.wantDigest ?? false,
    GUARD_KEEP: []
  })
}

export interface ReleaseParams {
  /** Resolved absolute deploy directory (from the inspect phase). */
  deployDir: string
  releaseId: string
  /** Server umask to create directories with, already including o-w. */
  umask: string
  /** Releases never removed, whatever else asks: the one live when the run began. */
  keep?: string[]
  /** This run's lock token: after a long step, the script goes on only while it holds the lock. */
  lockToken?: string
  /** The lock's owner record (JSON holding lockToken): the lock is taken again with it if cleared. */
  lockOwner?: string
  /** The copy of the live release this run's inspect started (`base.<pid>`), if any. */
  prefetched?: string
  /** The shared-paths input: a seed record is acted on only for these. */
  sharedPaths?: string[]
}

/** The permission bits of a release's directories under `umask`, as three octal digits. */
export function directoryMode(umask: string): string {
  return (0o777 & ~parseInt(umask, 8)).toString(8).padStart(3, '0')
}

/**
 * `mode` (three octal digits) as chmod's symbolic + and -, e.g. `u+rwx,g+rx,g-w,o+rx,o-w`: the
 * = operator clears a directory's set-group-ID bit on BusyBox, + and - never do.
 */
export function symbolicMode(mode: string): string {
  return ['u', 'g', 'o']
    .map((who, i) => {
      const bits = parseInt(mode[i] ?? '0', 8)
      const add = ['r', 'w', 'x'].filter((_, b) => bits & (4 >> b)).join('')
      const remove = ['r', 'w', 'x'].filter((_, b) => !(bits & (4 >> b))).join('')
      return [add && `${who}+${add}`, remove && `${who}-${remove}`].filter(Boolean).join(',')
    })
    .join(',')
}

function releaseCommon(common: ReleaseParams, prefetched: string) {
  return {
    DEPLOY_DIR: common.deployDir,
    RELEASE_ID: common.releaseId,
    UMASK: common.umask,
    GUARD_KEEP: common.keep ?? [],
    LOCK_TOKEN: common.lockToken ?? '',
    PREFETCHED: common.prefetched ?? prefetched,
    SHARED_PATHS: common.sharedPaths ?? []
  }
}

export interface PrepareParams {
  /** Incomplete releases from earlier runs, to remove first. */
  staleReleases: string[]
  /** What the new release starts from. */
  base:
    | { kind: 'none' }
    | {
        kind: 'release'
        id: string
        sharedLinks: string[]
        /** The copy of this release started at lock time (`base.<pid>` under .atomic-deploy). */
        prefetched?: string
      }
    | {
        kind: 'cache'
        exists: boolean
        /**
         * Paths this sync removes or writes in cache/: recorded in cache.pending before they
         * change, so an interrupted sync leaves the old manifest and the list of what is no longer
         * as it says (the next deploy re-sends only those).
         */
        touched?: string[]
      }
  copyMethod: 'copy' | 'hardlink'
  /** Paths to remove from the starting copy (relative to it). */
  remove: string[]
  /** How the changed files arrive: a tar stream on stdin, or later over SFTP. */
  transfer: { kind: 'tar'; gzip: boolean } | { kind: 'sftp' }
  /** Directories of the starting copy the plan writes into or removes from (writtenDirectories). */
  writeDirs?: string[]
}

export interface FinalizeParams {
  /** With reuse cache: copy the synced cache into the release first. */
  fromCache?: { copyMethod: 'copy' | 'hardlink' }
  /** The digest of the source's manifest: the one the server puts together must have it. */
  manifestDigest: string
  /**
   * The manifest the release starts from, under .atomic-deploy without `.m2` (`manifests/<id>`
   * or `cache`), or undefined when the runner sends the whole manifest.
   */
  manifestBase?: string
  /** Check the sha256 of every file (verify: full), not only of those sent. */
  verifyAll: boolean
  /** Files whose names cannot go in a sha256sum -c list (newline or backslash): path and hash. */
  oddSums: { path: string; sha256: string }[]
  /** Symlinks whose target is read back and compared. */
  links: { path: string; target: string }[]
  shared: { kind: 'auto' } | { kind: 'explicit'; paths: string[] }
  sharedConflict: 'fail' | 'replace'
  /** before-switch, run in the verified release with these variables. */
  hook?: { name: string; script: string; env: Record<string, string> }
  /** Write cache.manifest after verification (reuse cache). */
  updatesCache: boolean
  /**
   * Once the release is ready, switch `current` to it and finish in the same script, with these
   * values (a single server with nothing to run or check after the switch): the runner saves
   * the round trips of the switch and of the finish.
   */
  switchAfter?: Omit<FinishParams, 'deployDir'>
}

/** A variable name the hook may receive: the shell's `export` takes nothing else. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The hook's environment as the `NAME=value` words run_hook exports. */
function hookEnv(env: Record<string, string>): string[] {
  return Object.entries(env).map(([name, value]) => {
    if (!ENV_NAME.test(name)) throw new Error(`'${name}' cannot be a hook's variable name`)
    return `${name}=${value}`
  })
}

/**
 * The hook as it is written to its file on the server, which adds the one final newline:
 * the file then holds the script exactly, ending in a newline.
 */
function hookText(script: string): string {
  return script.endsWith('\n') ? script.slice(0, -1) : script
}

/**
 * One script for the release phases on a server (release.sh). With a tar transfer, prepare and
 * finalize run in one channel (the tar stream between them on stdin): one round trip for phases
 * 4 to 6.
 */
export function releaseScript(
  common: ReleaseParams,
  prepare?: PrepareParams,
  finalize?: FinalizeParams
): ScriptParts {
  const base = prepare?.base ?? { kind: 'none' }
  const mode = directoryMode(common.umask)
  const values: ReleaseValues = {
    ...releaseCommon(common, (base.kind === 'release' && base.prefetched) || ''),
    PREPARE: prepare !== undefined,
    STALE_RELEASES: prepare?.staleReleases ?? [],
    BASE: base.kind,
    BASE_ID: base.kind === 'release' ? base.id : '',
    BASE_SHARED_LINKS: base.kind === 'release' ? base.sharedLinks : [],
    CACHE_EXISTS: base.kind === 'cache' && base.exists,
    // One JSON string per line of cache.pending: a name may hold a newline.
    CACHE_TOUCHED: base.kind === 'cache' ? (base.touched ?? []).map(p => JSON.stringify(p)) : [],
    COPY_METHOD: prepare?.copyMethod ?? 'copy',
    REMOVE: prepare?.remove ?? [],
    WRITE_DIRS: prepare?.writeDirs ?? [],
    DIR_MODE: mode,
    DIR_CHMOD: symbolicMode(mode),
    TRANSFER:
      prepare?.transfer.kind === 'tar' ? (prepare.transfer.gzip ? 'tar-gzip' : 'tar') : 'sftp',
    FINALIZE: finalize !== undefined,
    FROM_CACHE: finalize?.fromCache?.copyMethod ?? 'none',
    MANIFEST_DIGEST: finalize?.manifestDigest ?? '',
    MANIFEST_BASE: finalize?.manifestBase ?? '',
    VERIFY_ALL: finalize?.verifyAll ?? false,
    ODD_SUMS: finalize?.oddSums.flatMap(s => [s.path, s.sha256]) ?? [],
    LINKS: finalize?.links.flatMap(l => [l.path, l.target]) ?? [],
    SHARED: finalize?.shared.kind ?? 'auto',
    SHARED_PATHS:
      finalize?.shared.kind === 'explicit' ? finalize.shared.paths : (common.sharedPaths ?? []),
    SHARED_CONFLICT: finalize?.sharedConflict ?? 'fail',
    HOOK_NAME: finalize?.hook?.name ?? '',
    HOOK_SCRIPT: hookText(finalize?.hook?.script ?? ''),
    HOOK_ENV: hookEnv(finalize?.hook?.env ?? {}),
    LOCK_OWNER: common.lockOwner ?? '',
    UPDATES_CACHE: finalize?.updatesCache ?? false,
    SWITCH_AFTER: finalize?.switchAfter !== undefined,
    ...finishValues(finalize?.switchAfter)
  }
  return withValues(RELEASE_SH, values)
}

/** Abort a release that was prepared but will not go live (another server failed, a signal). */
export function abortScript(p: ReleaseParams): ScriptParts {
  return withValues(ABORT_SH, releaseCommon(p, ''))
}

export interface HookParams {
  deployDir: string
  releaseId: string
  name: string
  script: string
  env: Record<string, string>
  /** The hook's umask: the login's plus o-w (default 0022). */
  umask?: string
}

/** Run after-switch (or before-switch outside a deploy) in a release. */
export function hookScript(p: HookParams): ScriptParts {
  return withValues(HOOK_SH, {
    DEPLOY_DIR: p.deployDir,
    RELEASE_ID: p.releaseId,
    HOOK_NAME: p.name,
    HOOK_SCRIPT: hookText(p.script),
    HOOK_ENV: hookEnv(p.env),
    UMASK: p.umask ?? '0022',
    GUARD_KEEP: []
  })
}

export interface FinishParams {
  deployDir: string
  /** Events to append to the release log, e.g. ['live', id]. */
  events: [string, string][]
  /** Releases to delete (complete ones beyond keep-releases). */
  prune: string[]
  /** Ids whose lines are dropped from the log (pruned or long gone), so it stays small. */
  forget: string[]
  /** Release the lock if this token holds it; prune, compact and drop seed records only then. */
  lockToken?: string
  /** Releases never pruned, whatever `prune` says: the live one and the one it replaced. */
  keep?: string[]
  /** Releases whose seed records go (their shared paths stay in shared/). */
  seeded?: string[]
  /**
   * Copy the release just put live in the background, for the next deploy to start from (reuse
   * previous), as copy-method says: with `copy`, when the disk has room for twice its `bytes`
   * (small files take whole blocks) and 64 MB more; with `hardlink` (bytes 0: only directories
   * are new), when it has 64 MB.
   */
  spare?: { release: string; method: 'copy' | 'hardlink'; bytes: number }
}

/** Phase 9: prune, record events, compact the release log, release the lock (finish.sh). */
export function finishScript(p: FinishParams): ScriptParts {
  return withValues(FINISH_SH, {
    DEPLOY_DIR: p.deployDir,
    LOCK_TOKEN: p.lockToken ?? '',
    GUARD_KEEP: [],
    ...finishValues(p)
  })
}

/** The values of lib/finish.sh, which finish.sh and release.sh (switchAfter) both run. */
function finishValues(p: Omit<FinishParams, 'deployDir'> | undefined) {
  return {
    EVENTS: p?.events.flat() ?? [],
    PRUNE: p?.prune ?? [],
    FORGET: p?.forget ?? [],
    SEEDED: p?.seeded ?? [],
    FINISH_KEEP: p?.keep ?? [],
    SPARE_RELEASE: p?.spare?.release ?? '',
    SPARE_NEED_KB: String(p?.spare ? Math.ceil((p.spare.bytes * 2) / 1024) + 64 * 1024 : 0),
    SPARE_METHOD: p?.spare?.method ?? 'copy'
  }
}

/**
 * For a dry run: what shared/ holds, `depth` levels deep, as `!shared-entry <d|f|l> ./<path>`
 * lines, then `!shared-end` (shared-listing.sh). Reads only.
 */
export function sharedListingScript(deployDir: string, depth: number): ScriptParts {
  return withValues(SHARED_LISTING_SH, { DEPLOY_DIR: deployDir, DEPTH: String(depth) })
}

/** mode: unlock. Report who held the lock, then remove it and any copy started under it. */
export function unlockScript(path: string): ScriptParts {
  return withValues(UNLOCK_SH, { PATH_INPUT: path, GUARD_KEEP: [] })
}

/** The listing the release phase verifies against, of `dir` (see list_tree in lib/listing.sh). */
export function listingScript(dir: string): ScriptParts {
  return withValues(LISTING_SH, { LIST_DIR: dir })
}

export interface SwitchParams {
  deployDir: string
  /** The release `current` is to point to; undefined removes `current` (a first deploy undone). */
  releaseId?: string
}

/** Phase 7 where there is no SFTP posix-rename: the rename by mv in the shell (switch.sh). */
export function switchScript(p: SwitchParams): ScriptParts {
  return withValues(SWITCH_SH, {
    DEPLOY_DIR: p.deployDir,
    RELEASE_ID: p.releaseId ?? '',
    GUARD_KEEP: []
  })
}
