/**
 * The ends of a deploy over SFTP alone: removing a release that will not go live (abort),
 * pruning, recording the switch in the release log, releasing the lock, and `mode: unlock`.
 * Every removal passes the removal guard.
 */
import type { Log } from '../logger.js'
import type { Appender, RemoteFiles } from '../sftp/remote-files.js'
import { isMissing } from '../sftp/sftp-engine.js'
import { removeTree } from '../sftp/sftp-tree.js'
import { removalGuard, RemovalRefusedError } from './removal-guard.js'
import { layoutOf, logLine, READ_LIMITS, releaseOfTarget, type Layout } from './sftp-layout.js'

const ignoreMissing = (error: unknown): void => {
  if (!isMissing(error)) throw error
}

async function readOrUndefined(
  files: RemoteFiles,
  file: string,
  limit: number
): Promise<Buffer | undefined> {
  try {
    return await files.readFile(file, limit)
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

/** The release `current` points to now (read again: the runner's belief may be stale). */
async function liveNow(files: RemoteFiles, L: Layout): Promise<string | undefined> {
  try {
    return releaseOfTarget(await files.readlink(L.current))
  } catch (error) {
    ignoreMissing(error)
    return undefined
  }
}

/** The owner record of the lock, when there is one to read. */
export function readLockOwner(files: RemoteFiles, deployDir: string): Promise<string | undefined> {
  return readOwner(files, layoutOf(deployDir))
}

async function readOwner(files: RemoteFiles, L: Layout): Promise<string | undefined> {
  const owner = await readOrUndefined(files, L.owner, READ_LIMITS.owner).catch(() => undefined)
  return owner?.toString('utf8')
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
  if (owner === undefined || !owner.includes(token)) return false
  const L = layoutOf(deployDir)
  const guard = removalGuard({ deployDir, protectedReleases: [] })
  guard(L.owner)
  guard(L.lock)
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
  /** Releases no removal may touch (the live one when we arrived). */
  protectedReleases: string[]
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
  else await files.appendFile(L.log, Buffer.from(text), 0o644)
}

/**
 * Remove a release that will not go live (never the one `current` points to), put back the
 * shared paths it seeded or created, and release the lock. What can go at once does.
 */
export async function abortOverSftp(
  o: SftpAbortOptions
): Promise<{ aborted: boolean; unlocked: boolean }> {
  const { files } = o
  const L = layoutOf(o.deployDir)
  const id = o.releaseId
  const [live, seeded, owner] = await Promise.all([
    id !== undefined ? liveNow(files, L) : undefined,
    id !== undefined ? readOrUndefined(files, L.seeded(id), READ_LIMITS.seeded) : undefined,
    o.lockToken !== undefined ? readOwner(files, L) : undefined
  ])
  if (id !== undefined && live === id) {
    o.log.warning(`release ${id} is live; it was not removed`)
  } else if (id !== undefined) {
    const guard = removalGuard({
      deployDir: o.deployDir,
      protectedReleases: [live, ...o.protectedReleases]
    })
    // Shared paths this release seeded or created go back to how they were: absent. The record
    // is read back from the server, so each path passes the guard; one it refuses is left.
    const restore = async (): Promise<void> => {
      for (const line of seeded?.toString('utf8').split('\n') ?? []) {
        const space = line.indexOf(' ')
        const [kind, rel] = [line.slice(0, space), line.slice(space + 1)]
        if (space < 0 || (kind !== 'seeded' && kind !== 'created')) continue
        const shared = `${L.shared}/${rel}`
        try {
          guard(shared)
          if (kind === 'seeded') await removeTree(files, shared, { guard })
          else await files.rmdir(shared).catch(() => undefined)
        } catch (error) {
          if (!(error instanceof RemovalRefusedError)) throw error
          o.log.warning(`left shared/${rel} as it is: ${error.message}`)
        }
      }
      if (seeded) await files.unlink(L.seeded(id)).catch(ignoreMissing)
    }
    await Promise.all([
      removeTree(files, L.release(id), { guard }),
      removeTree(files, L.tmp, { guard }),
      ...[...L.records(id), L.revision(id)].map(f => files.unlink(f).catch(ignoreMissing)),
      restore()
    ])
    await files.appendFile(L.log, Buffer.from(logLine('abort', id)), 0o644)
  }
  const unlocked =
    o.lockToken !== undefined ? await removeOwnLock(files, o.deployDir, owner, o.lockToken) : false
  return { aborted: id !== undefined, unlocked }
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
  // What current points to now matters only to pruning (which never removes it).
  const [live, owner, oldLog] = await Promise.all([
    o.prune.length > 0 ? liveNow(files, L) : undefined,
    o.lockToken !== undefined ? (o.owner ?? readOwner(files, L)) : undefined,
    o.forget.length > 0 ? readOrUndefined(files, L.log, READ_LIMITS.log) : undefined
  ])
  const guard = removalGuard({
    deployDir: o.deployDir,
    protectedReleases: [live, ...o.protectedReleases]
  })
  const pruned: string[] = []
  // Seed records are done with once a release is live: removed beside the rest.
  const seeds = Promise.all(
    o.seedRecords
      .filter(name => /^seeded\.[A-Za-z0-9._-]+$/.test(name))
      .map(name => files.unlink(`${L.meta}/${name}`).catch(ignoreMissing))
  )
  seeds.catch(() => undefined)
  await Promise.all(
    o.prune.map(async id => {
      try {
        await removeTree(files, L.release(id), { guard, hints: o.hints })
      } catch (error) {
        if (!(error instanceof RemovalRefusedError)) throw error
        o.log.warning(`did not prune ${id}: ${error.message}`)
        return
      }
      await Promise.all(
        [...L.records(id), L.revision(id)].map(f => files.unlink(f).catch(ignoreMissing))
      )
      pruned.push(id)
    })
  )
  const added = o.events.map(([event, id]) => logLine(event, id)).join('')
  let logged: Promise<void>
  if (o.forget.length > 0) {
    const forget = new Set(o.forget)
    const kept = (oldLog?.toString('utf8') ?? '')
      .split('\n')
      .filter(line => line !== '' && !forget.has(line.split('\t')[1] ?? ''))
      .map(line => `${line}\n`)
      .join('')
    // A new file replaces the log: a handle held open on the old one is of no more use.
    await o.logFile?.close()
    await files.writeFile(L.log, Buffer.from(kept + added), { mode: 0o644, temporaryDir: L.meta })
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

/** mode: unlock over SFTP. Reports the owner record of the lock it removed, and the layout. */
export async function unlockOverSftp(
  files: RemoteFiles,
  path: string
): Promise<{ locked: boolean; owner?: string; deployDir?: string; current?: string }> {
  let deployDir: string
  try {
    deployDir = await files.realpath(path)
  } catch (error) {
    ignoreMissing(error)
    return { locked: false }
  }
  const L = layoutOf(deployDir)
  const [lock, current] = await Promise.all([
    files.lstat(L.lock),
    files.readlink(L.current).catch(() => undefined)
  ])
  const found = { deployDir, ...(current !== undefined ? { current } : {}) }
  if (lock?.type !== 'dir') return { locked: false, ...found }
  const owner = await readOrUndefined(files, L.owner, READ_LIMITS.owner).catch(() => undefined)
  const guard = removalGuard({ deployDir, protectedReleases: [] })
  await removeTree(files, L.lock, { guard })
  return { locked: true, owner: owner?.toString('utf8').trim(), ...found }
}
