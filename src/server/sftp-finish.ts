/**
 * The ends of a deploy over SFTP alone: removing a release that will not go live (abort),
 * pruning, recording the switch in the release log, releasing the lock, and `mode: unlock`.
 * Every removal passes the removal guard; whatever is shared by every run (other releases, the
 * log, seed records) is touched only while this run's token still holds the lock, as finish.sh
 * does: a run that outlived its runner never acts on a later run's things.
 */
import type { Log } from '../logger.js'
import type { Appender, RemoteFiles } from '../sftp/remote-files.js'
import { isMissing, TooLargeError } from '../sftp/sftp-engine.js'
import { removeTree, removeTrees } from '../sftp/sftp-tree.js'
import { removalGuard, RemovalRefusedError } from './removal-guard.js'
import { relativePathProblem, resolvedDeployDir, SERVER_LIMITS, shown } from './server-data.js'
import { layoutOf, logLine, MODES, readRecord, type Layout } from './sftp-layout.js'

/** The owner record of the lock, when there is one to read. */
export function readLockOwner(files: RemoteFiles, deployDir: string): Promise<string | undefined> {
  return readOwner(files, layoutOf(deployDir))
}

async function readOwner(files: RemoteFiles, L: Layout): Promise<string | undefined> {
  const owner = await readRecord(files, L.owner, SERVER_LIMITS.ownerBytes).catch(() => undefined)
  return owner?.toString('utf8')
}

/** Whether an owner record (as read) is this run's: it holds the run's own random token. */
function holds(owner: string | undefined, token: string | undefined): boolean {
  return token !== undefined && token !== '' && owner !== undefined && owner.includes(token)
}

/**
 * Remove the lock, given its owner record as read: only when the record holds `token`. The
 * lock holds the record (and a temporary file, if its writing was cut): one burst removes
 * both, and whatever else is there is removed as a tree. True when it was ours and is gone.
 */
async function removeOwnLock(
  files: RemoteFiles,
  deployDir: string,
  owner: string | undefined,
  token: string
): Promise<boolean> {
  if (!holds(owner, token)) return false
  const L = layoutOf(deployDir)
  const guard = removalGuard({ deployDir, protectedReleases: [] })
  guard.check(L.owner)
  guard.check(L.lock)
  const [, removed] = await Promise.allSettled([files.unlink(L.owner), files.rmdir(L.lock)])
  if (removed.status === 'rejected') await removeTree(files, L.lock, { guard })
  return true
}

/** Remove the lock if its owner record holds `token`. True when it was ours and is gone. */
export async function releaseLockOverSftp(
  files: RemoteFiles,
  deployDir: string,
  token: string
): Promise<boolean> {
  const owner = await readOwner(files, layoutOf(deployDir))
  return removeOwnLock(files, deployDir, owner, token)
}

export interface SftpAbortOptions {
  files: RemoteFiles
  log: Log
  deployDir: string
  /** The release this run created, to remove. */
  releaseId?: string
  /** The lock token, to release the lock if it still holds it. */
  lockToken?: string
  /** Releases no removal may touch (the live one when we arrived, the one switched to). */
  protectedReleases: (string | undefined)[]
  /** The shared-paths input: a seed record is acted on only for these paths. */
  sharedPaths?: string[]
  /** The release log, if this run holds it open; closed here. */
  logFile?: Appender
}

/** Append to the release log: through the handle this run holds open, or opening it. */
async function appendLog(
  files: RemoteFiles,
  L: Layout,
  logFile: Appender | undefined,
  text: string
) {
  if (logFile) await logFile.append(Buffer.from(text))
  else await files.appendFile(L.log, Buffer.from(text), MODES.privateFile)
}

/**
 * Remove a release that will not go live (never the one `current` points to), put back the
 * shared paths it seeded or created (only those of this run's shared-paths), and release the
 * lock. What can go at once does.
 */
export async function abortOverSftp(
  o: SftpAbortOptions
): Promise<{ aborted: boolean; unlocked: boolean }> {
  const { files } = o
  const L = layoutOf(o.deployDir)
  const id = o.releaseId
  const [seeded, owner] = await Promise.all([
    id !== undefined
      ? readRecord(files, L.seeded(id), SERVER_LIMITS.linksBytes).catch(error => {
          if (error instanceof TooLargeError) return undefined
          throw error
        })
      : undefined,
    o.lockToken !== undefined ? readOwner(files, L) : undefined
  ])
  let aborted = false
  if (id !== undefined) {
    const guard = removalGuard({ deployDir: o.deployDir, protectedReleases: o.protectedReleases })
    const listed = new Set((o.sharedPaths ?? []).map(p => p.replace(/\/$/, '')))
    // Shared paths this release seeded or created go back to how they were: absent. The record
    // is read back from the server: only paths of this run's shared-paths are acted on (a
    // record for this id can have been planted: ids are predictable), and each passes the guard.
    const restore = async (): Promise<void> => {
      for (const line of seeded?.toString('utf8').split('\n') ?? []) {
        const space = line.indexOf(' ')
        const [kind, rel] = [line.slice(0, space), line.slice(space + 1)]
        if (space < 0 || (kind !== 'seeded' && kind !== 'created')) continue
        if (!listed.has(rel) || relativePathProblem(rel) !== undefined) {
          o.log.warning(
            `the seed record of ${id} names shared/${shown(rel)}, which is not in shared-paths; it was left alone`
          )
          continue
        }
        const shared = `${L.shared}/${rel}`
        try {
          if (kind === 'seeded') await removeTree(files, shared, { guard })
          else {
            await guard.confirm(files, [shared])
            await files.rmdir(shared).catch(() => undefined)
          }
        } catch (error) {
          if (!(error instanceof RemovalRefusedError)) throw error
          o.log.warning(`shared/${shown(rel)} was not removed: ${error.message}`)
        }
      }
      if (seeded) await removeTree(files, L.seeded(id), { guard })
    }
    // The release and its records go together, or not at all (as cleanup_release's guarded_rm).
    const removal = removeTrees(files, [L.release(id), ...L.records(id), L.revision(id)], {
      guard
    }).then(
      () => true,
      (error: unknown) => {
        if (!(error instanceof RemovalRefusedError)) throw error
        o.log.warning(`release ${id} was not removed: ${error.message}`)
        return false
      }
    )
    const [removed] = await Promise.all([removal, removeTree(files, L.tmp, { guard }), restore()])
    if (removed) {
      aborted = true
      await appendLog(files, L, o.logFile, logLine('abort', id))
    }
  }
  void o.logFile?.close()
  const unlocked =
    o.lockToken !== undefined ? await removeOwnLock(files, o.deployDir, owner, o.lockToken) : false
  return { aborted, unlocked }
}

export interface SftpFinishOptions {
  files: RemoteFiles
  log: Log
  deployDir: string
  /** Events to append to the release log, e.g. ['live', id]. */
  events: [string, string][]
  /** Releases to delete. */
  prune: string[]
  /** Ids whose lines are dropped from the log. */
  forget: string[]
  lockToken?: string
  /** Names of seed records in .atomic-deploy/ (seeded.<id>), done with once a release is live. */
  seedRecords: string[]
  /** Releases no removal may touch: the live one, the one it replaced. */
  protectedReleases: (string | undefined)[]
  /** Directories releases probably have, listed ahead of need when pruning. */
  hints?: string[]
  /** The release log, if this run holds it open; closed here. */
  logFile?: Appender
  /** The lock's owner record, read already (readLockOwner) while the switch was made. */
  owner?: Promise<string | undefined>
}

/** Phase 9: prune, record events, compact the release log, release the lock. */
export async function finishOverSftp(
  o: SftpFinishOptions
): Promise<{ pruned: string[]; unlocked: boolean }> {
  const { files } = o
  const L = layoutOf(o.deployDir)
  const owner = await (o.owner ?? (o.lockToken !== undefined ? readOwner(files, L) : undefined))
  // Other releases, the log's history and the seed records are every run's: only while the lock
  // is still this run's.
  const ours = holds(owner, o.lockToken)
  if (!ours && o.prune.length + o.forget.length + o.seedRecords.length > 0)
    o.log.warning(`the lock on ${o.deployDir} is no longer this run's: nothing was pruned`)
  const prune = ours ? o.prune : []
  const forget = ours ? o.forget : []
  const oldLog =
    forget.length > 0
      ? await readRecord(files, L.log, SERVER_LIMITS.logBytes).catch(error => {
          if (!(error instanceof TooLargeError)) throw error
          o.log.warning(
            `${L.log} is over the limit of ${SERVER_LIMITS.logBytes} bytes: it was not compacted`
          )
          return null
        })
      : undefined
  const guard = removalGuard({ deployDir: o.deployDir, protectedReleases: o.protectedReleases })
  const pruned: string[] = []
  // Seed records are done with once a release is live: removed beside the rest.
  const seeds = ours
    ? removeTrees(
        files,
        o.seedRecords
          .filter(name => /^seeded\.[A-Za-z0-9._-]+$/.test(name))
          .map(name => `${L.meta}/${name}`),
        { guard }
      )
    : Promise.resolve([])
  seeds.catch(() => undefined)
  await Promise.all(
    prune.map(async id => {
      try {
        // The release and its records by name (as finish.sh): a pattern such as "<id>.*" would
        // also match the records of a release whose id merely starts with this one and a dot.
        await removeTrees(files, [L.release(id), ...L.records(id), L.revision(id)], {
          guard,
          ...(o.hints ? { hints: o.hints } : {})
        })
      } catch (error) {
        if (!(error instanceof RemovalRefusedError)) throw error
        o.log.warning(`not pruned: release ${id}: ${error.message}`)
        return
      }
      pruned.push(id)
    })
  )
  const added = o.events.map(([event, id]) => logLine(event, id)).join('')
  let logged: Promise<void>
  if (forget.length > 0 && oldLog !== null) {
    const gone = new Set(forget)
    const kept = (oldLog?.toString('utf8') ?? '')
      .split('\n')
      .filter(line => line !== '' && !gone.has(line.split('\t')[1] ?? ''))
      .map(line => `${line}\n`)
      .join('')
    // A new file replaces the log: a handle held open on the old one is of no more use.
    await o.logFile?.close()
    await files.writeFile(L.log, Buffer.from(kept + added), {
      mode: MODES.privateFile,
      temporaryDir: L.meta
    })
    logged = Promise.resolve()
  } else {
    logged = added === '' ? Promise.resolve() : appendLog(files, L, o.logFile, added)
    logged.catch(() => undefined)
  }
  // The lock goes right behind the log's last line: the server handles them in that order
  // (draft-ietf-secsh-filexfer-02, section 6.1), as the shell script does one after the other.
  const unlocked =
    o.lockToken !== undefined
      ? removeOwnLock(files, o.deployDir, owner, o.lockToken)
      : Promise.resolve(false)
  unlocked.catch(() => undefined)
  try {
    await Promise.all([logged, seeds])
  } finally {
    // Its answer is not waited for: the handle goes with the session anyway.
    void o.logFile?.close()
  }
  return { pruned, unlocked: await unlocked }
}

/**
 * mode: unlock over SFTP. Reports the owner record of the lock it removed (its first 4,000
 * bytes, as unlock.sh sends it), the resolved deploy directory and current's target, all as
 * read: the caller checks them (server-data.ts) before any reaches an output.
 */
export async function unlockOverSftp(
  files: RemoteFiles,
  path: string
): Promise<{ locked: boolean; owner?: string; deployDir?: string; current?: string }> {
  let resolved: string
  try {
    resolved = await files.realpath(path)
  } catch (error) {
    if (!isMissing(error)) throw error
    return { locked: false }
  }
  // Nothing is removed in a directory whose resolved name is not a plain absolute path.
  const deployDir = resolvedDeployDir(resolved, path)
  const L = layoutOf(deployDir)
  const [lock, current] = await Promise.all([
    files.lstat(L.lock),
    files.readlink(L.current).catch(() => undefined)
  ])
  const found = { deployDir, ...(current !== undefined ? { current } : {}) }
  if (lock?.type !== 'dir') return { locked: false, ...found }
  const owner = await files
    .readFile(L.owner, 64 * 1024)
    .then(data => data.subarray(0, SERVER_LIMITS.ownerBytes).toString('utf8'))
    .catch(() => undefined)
  const guard = removalGuard({ deployDir, protectedReleases: [] })
  await removeTree(files, L.lock, { guard })
  return { locked: true, ...(owner !== undefined ? { owner: owner.trim() } : {}), ...found }
}
