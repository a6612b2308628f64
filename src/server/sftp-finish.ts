/**
 * The ends of a deploy over SFTP alone: removing a release that will not go live (abort),
 * pruning, recording the switch in the release log, releasing the lock, and `mode: unlock`.
 * Every removal passes the removal guard.
 */
import type { Log } from '../logger.js'
import type { RemoteFiles } from '../sftp/remote-files.js'
import { isMissing } from '../sftp/sftp-engine.js'
import { removeTree } from '../sftp/sftp-tree.js'
import { removalGuard, RemovalRefusedError } from './removal-guard.js'
import {
  isPlainRelativePath,
  layoutOf,
  logLine,
  READ_LIMITS,
  releaseOfTarget,
  type Layout
} from './sftp-layout.js'

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

/** Remove the lock if its owner record holds `token`. True when it was ours and is gone. */
export async function releaseLockOverSftp(
  files: RemoteFiles,
  deployDir: string,
  token: string
): Promise<boolean> {
  const L = layoutOf(deployDir)
  const owner = await readOrUndefined(files, L.owner, READ_LIMITS.owner).catch(() => undefined)
  if (!owner?.toString('utf8').includes(token)) return false
  await removeTree(files, L.lock, { guard: removalGuard({ deployDir, protectedReleases: [] }) })
  return true
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
}

/**
 * Remove a release that will not go live (never the one `current` points to), put back the
 * shared paths it seeded or created, and release the lock.
 */
export async function abortOverSftp(
  o: SftpAbortOptions
): Promise<{ aborted: boolean; unlocked: boolean }> {
  const { files } = o
  const L = layoutOf(o.deployDir)
  let aborted = false
  const id = o.releaseId
  if (id !== undefined) {
    const live = await liveNow(files, L)
    if (live === id) {
      o.log.warning(`release ${id} is live; it was not removed`)
    } else {
      const guard = removalGuard({
        deployDir: o.deployDir,
        protectedReleases: [live, ...o.protectedReleases]
      })
      const seeded = await readOrUndefined(files, L.seeded(id), READ_LIMITS.seeded)
      await Promise.all([
        removeTree(files, L.release(id), { guard }),
        removeTree(files, L.tmp, { guard }),
        ...[L.manifest(id), L.links(id), L.revision(id)].map(f =>
          files.unlink(f).catch(ignoreMissing)
        )
      ])
      // Shared paths this release seeded or created go back to how they were: absent.
      for (const line of seeded?.toString('utf8').split('\n') ?? []) {
        const [kind, ...rest] = line.split(' ')
        const rel = rest.join(' ')
        if (!isPlainRelativePath(rel)) continue
        if (kind === 'seeded') await removeTree(files, `${L.shared}/${rel}`, { guard })
        else if (kind === 'created') await files.rmdir(`${L.shared}/${rel}`).catch(() => undefined)
      }
      if (seeded) await files.unlink(L.seeded(id)).catch(ignoreMissing)
      await files.appendFile(L.log, Buffer.from(logLine('abort', id)), 0o644)
    }
    aborted = true
  }
  const unlocked =
    o.lockToken !== undefined ? await releaseLockOverSftp(files, o.deployDir, o.lockToken) : false
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
}

/** Phase 9: prune, record events, compact the release log, release the lock. */
export async function finishOverSftp(
  o: SftpFinishOptions
): Promise<{ pruned: string[]; unlocked: boolean }> {
  const { files } = o
  const L = layoutOf(o.deployDir)
  const live = await liveNow(files, L)
  const guard = removalGuard({
    deployDir: o.deployDir,
    protectedReleases: [live, ...o.protectedReleases]
  })
  const pruned: string[] = []
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
        [L.manifest(id), L.links(id), L.revision(id)].map(f => files.unlink(f).catch(ignoreMissing))
      )
      pruned.push(id)
    })
  )
  const added = o.events.map(([event, id]) => logLine(event, id)).join('')
  if (o.forget.length > 0) {
    const forget = new Set(o.forget)
    const old = (await readOrUndefined(files, L.log, READ_LIMITS.log))?.toString('utf8') ?? ''
    const kept = old
      .split('\n')
      .filter(line => line !== '' && !forget.has(line.split('\t')[1] ?? ''))
      .map(line => `${line}\n`)
      .join('')
    await files.writeFile(L.log, Buffer.from(kept + added), { mode: 0o644, temporaryDir: L.meta })
  } else if (added !== '') {
    await files.appendFile(L.log, Buffer.from(added), 0o644)
  }
  await Promise.all(
    o.seedRecords
      .filter(name => /^seeded\.[A-Za-z0-9._-]+$/.test(name))
      .map(name => files.unlink(`${L.meta}/${name}`).catch(ignoreMissing))
  )
  const unlocked =
    o.lockToken !== undefined ? await releaseLockOverSftp(files, o.deployDir, o.lockToken) : false
  return { pruned, unlocked }
}

/** mode: unlock over SFTP. Reports the owner record of the lock it removed. */
export async function unlockOverSftp(
  files: RemoteFiles,
  path: string
): Promise<{ locked: boolean; owner?: string }> {
  let deployDir: string
  try {
    deployDir = await files.realpath(path)
  } catch (error) {
    ignoreMissing(error)
    return { locked: false }
  }
  const L = layoutOf(deployDir)
  if ((await files.lstat(L.lock))?.type !== 'dir') return { locked: false }
  const owner = await readOrUndefined(files, L.owner, READ_LIMITS.owner).catch(() => undefined)
  const guard = removalGuard({ deployDir, protectedReleases: [] })
  await removeTree(files, L.lock, { guard })
  return { locked: true, owner: owner?.toString('utf8').trim() }
}
