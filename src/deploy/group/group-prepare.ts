/**
 * Phases 4 to 6 across servers: each server's release prepared by its release script, one
 * archive made once for the servers that need the same bytes, fanned out at the pace of the
 * slowest, within max-parallel.
 */
import type { Failure } from '../concurrency.js'
import type { Log } from '../../logger.js'
import type { ReleaseArchive, ReleaseOptions, ServerSession } from '../../server/server-session.js'
import { adaptLevel, Fanout } from '../../server/archive-stream.js'
import { archiveProgress, archiveStream } from '../../server/upload.js'
import type { GroupState } from './group-state.js'

/**
 * Phases 4 to 6 on every server. Servers that need the same archive (the usual case: the same
 * plan, umask and tools) get one archive, made and compressed once and copied to each of
 * them at the pace of the slowest; the others get their own. An archive's servers run
 * together (they must, to share it), within max-parallel.
 */
export async function upload(
  run: GroupState,
  options: ReleaseOptions,
  switchAfter?: (s: ServerSession) => ReturnType<ServerSession['finishParams']>
): Promise<Failure<ServerSession>[]> {
  const failures: Failure<ServerSession>[] = []
  const limit = Math.max(1, run.settings.maxParallel)
  const archives = new Map<ServerSession, ReleaseArchive | undefined>()
  for (const s of run.sessions) {
    try {
      archives.set(s, await s.releaseArchive(options))
    } catch (error) {
      failures.push({ item: s, error })
    }
  }
  if (failures.length > 0) return run.markFailed(failures)
  // Streams: servers with the same archive key, at most max-parallel to a stream.
  const streams: { archive?: ReleaseArchive; sessions: ServerSession[] }[] = []
  const open = new Map<string, (typeof streams)[number]>()
  for (const s of run.sessions) {
    const archive = archives.get(s)
    const shared = archive ? open.get(archive.key) : undefined
    if (archive && shared && shared.sessions.length < limit) {
      shared.sessions.push(s)
      continue
    }
    const stream = { archive, sessions: [s] }
    streams.push(stream)
    if (archive) open.set(archive.key, stream)
  }
  // Run the streams as max-parallel allows, each with all of its servers at once.
  let running = 0
  let wake: (() => void) | undefined
  const runStream = async (stream: (typeof streams)[number]): Promise<void> => {
    const { archive, sessions } = stream
    if (!archive) {
      const session = sessions[0] as ServerSession
      await session
        .timed('upload', () => session.prepareRelease(options, undefined, switchAfter?.(session)))
        .catch(error => {
          failures.push({ item: session, error })
        })
      return
    }
    const many = sessions.length > 1
    const log = many ? run.deps.log : (sessions[0] as ServerSession).log
    if (many)
      log.info(
        `one archive for ${sessions.length} servers with the same plan: ${sessions.map(s => s.label).join(', ')}`
      )
    const progress = archiveProgress(
      many ? withSuffix(log, ` to ${sessions.length} servers`) : log,
      archive.entries,
      archive.fileCount
    ).start()
    // The plan's files the archive carried, for the reports of every server it goes to.
    const sent = { files: 0, bytes: 0 }
    const { stream: source, gzip } = archiveStream(
      archive.entries,
      archive.compression,
      progress,
      options.signal,
      entry => {
        if (entry.path.startsWith('.atomic-deploy/')) return
        sent.files++
        sent.bytes += entry.size ?? 0
      }
    )
    const fanout = new Fanout(source, sessions.length)
    let changes = 0
    const stopAdapting =
      gzip && archive.compression === 'adaptive'
        ? adaptLevel(
            gzip,
            () => fanout.stats(),
            // A link at the edge between the levels may switch often: the first changes
            // are worth a line, the rest only go to the debug log.
            (level, why) =>
              (changes++ < 3 ? log.info : log.debug)(`compression: gzip level ${level} (${why})`)
          )
        : () => undefined
    try {
      await Promise.all(
        sessions.map((session, i) =>
          session
            .timed('upload', () =>
              session.prepareRelease(
                options,
                {
                  stream: fanout.output(i),
                  onMeter: meter => fanout.attach(i, meter),
                  done: () => fanout.drop(i),
                  sent
                },
                switchAfter?.(session)
              )
            )
            .catch(error => {
              failures.push({ item: session, error })
            })
        )
      )
    } finally {
      stopAdapting()
      progress.stop()
      source.destroy()
    }
  }
  const pending: Promise<void>[] = []
  for (const stream of streams) {
    if (failures.length > 0) break
    const weight = stream.sessions.length
    while (running > 0 && running + weight > limit) {
      await new Promise<void>(resolve => (wake = resolve))
    }
    if (failures.length > 0) break
    running += weight
    pending.push(
      runStream(stream).finally(() => {
        running -= weight
        wake?.()
      })
    )
  }
  await Promise.all(pending)
  return run.markFailed(failures)
}

/** A log whose lines end with `suffix`. */
function withSuffix(log: Log, suffix: string): Log {
  return {
    info: message => log.info(message + suffix),
    warning: message => log.warning(message + suffix),
    debug: message => log.debug(message + suffix)
  }
}
