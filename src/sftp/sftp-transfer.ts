/**
 * Sending a release's entries over SFTP: directories first, then every file and symlink at
 * once, bounded by the engine.
 */
import * as path from 'node:path'
import type { ManifestEntry } from '../release/manifest.js'
import type { RemoteFiles } from './remote-files.js'
import { forEachPipelined } from './sftp-batch.js'

/**
 * Create directories, given parents before children (absolute paths), each with exactly `mode`
 * (mkdirExact: only inside a tree this run makes). All requests leave at once: sftp-server
 * handles them in order, so each parent exists when its child's mkdir arrives. A server that
 * does not keep the order gets the refused ones again, shallowest first.
 */
export async function makeDirectories(
  files: RemoteFiles,
  dirs: string[],
  mode: number,
  signal?: AbortSignal,
  /** The server's umask is known to leave `mode` whole (umaskSpares): no setstat follows. */
  modeAtMkdir = false
): Promise<void> {
  const make = (d: string): Promise<void> =>
    modeAtMkdir ? files.mkdir(d, mode, signal) : files.mkdirExact(d, mode, signal)
  const results = await Promise.allSettled(dirs.map(make))
  const refused = dirs.filter((_, i) => results[i]?.status === 'rejected')
  if (refused.length === 0) return
  if (signal?.aborted)
    throw (results.find(r => r.status === 'rejected') as PromiseRejectedResult).reason
  const depth = (p: string): number => p.split('/').length
  const levels = [...new Set(refused.map(depth))].sort((a, b) => a - b)
  for (const level of levels) {
    await Promise.all(refused.filter(d => depth(d) === level).map(make))
  }
}

/**
 * Which modes the server's umask leaves whole, learned from a directory this run just made:
 * asked for with `asked`, it came out with `got` (lstat right after the mkdir). sftp-server
 * creates with the mode it is given less its process umask (mkdir(2) and open(2) alike, OpenSSH
 * sftp-server.c process_mkdir and process_open), so the umask's bits within `asked` are
 * `asked & ~got`; a mode with no bit outside `asked` and none of those is created exactly as
 * asked, and the setstat that would follow its mkdir or open changes nothing. Anything else
 * (another bit, an unknown result) keeps the setstat. Verification reads every mode back either
 * way.
 */
export function umaskSpares(asked: number, got: number | undefined): (mode: number) => boolean {
  if (got === undefined) return () => false
  const kept = got & asked & 0o777
  return mode => (mode & ~kept & 0o7777) === 0
}

/**
 * `mkdir -p` for directories given parents first (absolute paths): each one missing is made;
 * one already there as a directory is fine (SFTP version 3 has no code for "exists": sftp-server
 * answers FAILURE, so an lstat tells).
 */
export async function ensureDirectories(
  files: RemoteFiles,
  dirs: string[],
  mode: number,
  signal?: AbortSignal
): Promise<void> {
  const made = await Promise.allSettled(dirs.map(d => files.mkdir(d, mode, signal)))
  await Promise.all(
    made.map(async (m, i) => {
      if (m.status === 'fulfilled') return
      const there = await files.lstat(dirs[i] as string, signal)
      if (there?.type !== 'dir') throw m.reason
    })
  )
}

export interface UploadOptions {
  /** Absolute remote directory the entries' paths are relative to. */
  root: string
  /** Local directory the entries' paths are relative to. */
  sourceRoot: string
  /** Mode new directories get, exactly. */
  directoryMode: number
  /** Where temporary files are written before the rename (default: beside each file). */
  temporaryDir?: string
  /** Called after each file is written. */
  onFile?: (entry: ManifestEntry) => void
  /** Modes the server's umask leaves whole (umaskSpares): given at open, no setstat after. */
  modeAtOpen?: (mode: number) => boolean
  signal?: AbortSignal
}

/** Send `entries` (parents before children) under `options.root`. */
export async function uploadEntries(
  files: RemoteFiles,
  entries: readonly ManifestEntry[],
  options: UploadOptions
): Promise<void> {
  const { root, signal } = options
  // The mkdirs leave first and the files right behind them: the server answers as if each
  // request waited for the one before (draft-ietf-secsh-filexfer-02, section 6.1).
  const dirs = makeDirectories(
    files,
    entries.filter(e => e.type === 'dir').map(e => `${root}/${e.path}`),
    options.directoryMode,
    signal,
    options.modeAtOpen?.(options.directoryMode) ?? false
  )
  dirs.catch(() => undefined)
  const sent = forEachPipelined(
    entries.filter(e => e.type !== 'dir'),
    async (e, batchSignal) => {
      const remote = `${root}/${e.path}`
      if (e.type === 'symlink') {
        await files.symlink(e.target ?? '', remote, batchSignal)
        return
      }
      await files.writeFile(
        remote,
        { local: path.join(options.sourceRoot, e.path), size: e.size, sha256: e.sha256 },
        {
          mode: e.mode,
          modeAtOpen: options.modeAtOpen?.(e.mode) ?? false,
          signal: batchSignal,
          ...(options.temporaryDir ? { temporaryDir: options.temporaryDir } : {})
        }
      )
      options.onFile?.(e)
    },
    { signal }
  )
  // A failed mkdir is the cause to report, rather than the files it left without a directory.
  const [dirsResult, sentResult] = await Promise.allSettled([dirs, sent])
  if (dirsResult.status === 'rejected') throw dirsResult.reason
  if (sentResult.status === 'rejected') throw sentResult.reason
}
