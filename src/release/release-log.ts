import { releaseIdProblem } from './release-id.js'

/**
 * The release log, .atomic-deploy/log: one line per event, `event<TAB>id<TAB>time`, appended by
 * the server scripts. It is the only source of release order (names are never sorted, so custom
 * ids work) and of what each release is:
 *
 * - `start`: the release directory was created; until `ready`, it is incomplete.
 * - `ready`: verified and linked; a complete release.
 * - `live`: `current` was switched to it (a deploy, or a rollback to it).
 * - `fail`: it went live, its after-switch or health check failed, and `current` was switched
 *   away from it. Kept for inspection; never a rollback target.
 * - `rollback`: `mode: rollback` switched away from it. Kept, but not a target of the next
 *   rollback (which steps further back); `rollback-to` may still name it.
 * - `abort`, `prune`: removed.
 *
 * Logs written before `fail` existed recorded automatic rollbacks as `rollback` too: both mean
 * "not a target", so they read correctly.
 */

/** Every event the server scripts write. A line with any other event is not ours. */
export const LOG_EVENTS = ['start', 'ready', 'abort', 'live', 'fail', 'rollback', 'prune'] as const

export type LogEventName = (typeof LOG_EVENTS)[number]

export interface LogEvent {
  event: string
  id: string
  time: string
}

/** A line of the release log that atomic-deploy did not write: its 1-based number and why. */
export class LogFormatError extends Error {
  override name = 'LogFormatError'
  constructor(
    readonly line: number,
    readonly reason: string
  ) {
    super(`line ${line} ${reason}`)
  }
}

const KNOWN_EVENTS: ReadonlySet<string> = new Set(LOG_EVENTS)
// `date -u +%Y-%m-%dT%H:%M:%SZ`, as the scripts write it (fractions of a second allowed).
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/

/**
 * Parse the release log. The log is read back from the server, so every line is checked: a
 * known event, a valid release id, the time as the scripts write it (further fields, if a later
 * version adds some, are ignored). Blank lines are skipped, and so is a last line that was cut
 * off before its end (an append interrupted by a lost connection). Anything else throws a
 * LogFormatError naming the line: the log decides what is pruned and what is rolled back to,
 * so it is never read past a line that is not ours.
 */
export function parseLog(text: string): LogEvent[] {
  const events: LogEvent[] = []
  const lines = text.split('\n')
  lines.forEach((line, index) => {
    if (line === '') return
    const unterminated = index === lines.length - 1
    const [event = '', id = '', time] = line.split('\t')
    if (unterminated && (time === undefined || !TIME.test(time))) {
      // An append cut short: whole only up to the tab after the id, so a cut id is never read.
      if (time !== undefined && KNOWN_EVENTS.has(event) && releaseIdProblem(id) === undefined)
        events.push({ event, id, time: '' })
      return
    }
    const problem = !KNOWN_EVENTS.has(event)
      ? `has an unknown event ${JSON.stringify(event.slice(0, 40))}`
      : releaseIdProblem(id) !== undefined
        ? `names ${JSON.stringify(id.slice(0, 140))}, which is not a release id`
        : time === undefined || !TIME.test(time)
          ? 'has no time of the form YYYY-MM-DDTHH:MM:SSZ'
          : undefined
    if (problem !== undefined) throw new LogFormatError(index + 1, problem)
    events.push({ event, id, time })
  })
  return events
}

export function formatLog(events: LogEvent[]): string {
  return events.map(e => `${e.event}\t${e.id}\t${e.time}\n`).join('')
}

/**
 * - `incomplete`: started, never made ready (a crashed run's leftover, removed by the next deploy).
 * - `complete`: ready, and not switched away from: a rollback target, counted by keep-releases.
 * - `failed`: rolled back after a failed after-switch or health check.
 * - `rolled-back`: switched away from by `mode: rollback`.
 * - `gone`: aborted or pruned.
 */
export type ReleaseState = 'incomplete' | 'complete' | 'failed' | 'rolled-back' | 'gone'

/** The state of every id the log mentions: the last event decides. */
export function releaseStates(events: LogEvent[]): Map<string, ReleaseState> {
  const states = new Map<string, ReleaseState>()
  for (const { event, id } of events) {
    const state = states.get(id)
    if (event === 'start') states.set(id, 'incomplete')
    else if (event === 'ready') states.set(id, 'complete')
    else if (event === 'abort' || event === 'prune') states.set(id, 'gone')
    // A stray event about a release that is gone (or was never started) changes nothing.
    else if (state === undefined || state === 'gone') continue
    else if (event === 'live') states.set(id, 'complete')
    else if (event === 'fail') states.set(id, 'failed')
    else if (event === 'rollback') states.set(id, 'rolled-back')
  }
  return states
}

/**
 * Ids in the order they last went live (or became ready, for one whose `live` was never logged):
 * the most recently live last. This is the order in which a site went back in time, so the
 * release `mode: rollback` returns to is the one that was live before the current one.
 */
function byLastLive(events: LogEvent[]): string[] {
  const order: string[] = []
  for (const { event, id } of events) {
    if (event !== 'ready' && event !== 'live') continue
    const at = order.indexOf(id)
    if (at >= 0) order.splice(at, 1)
    order.push(id)
  }
  return order
}

/**
 * Complete releases that still exist, the most recently live last: the rollback targets, and
 * what keep-releases counts. Failed and rolled-back releases are not among them.
 */
export function completeReleases(events: LogEvent[], existing: ReadonlySet<string>): string[] {
  const states = releaseStates(events)
  return byLastLive(events).filter(id => states.get(id) === 'complete' && existing.has(id))
}

/** Failed and rolled-back releases that still exist, the most recently switched away from last. */
export function setAsideReleases(events: LogEvent[], existing: ReadonlySet<string>): string[] {
  const states = releaseStates(events)
  const order: string[] = []
  for (const { event, id } of events) {
    if (event !== 'fail' && event !== 'rollback') continue
    const at = order.indexOf(id)
    if (at >= 0) order.splice(at, 1)
    order.push(id)
  }
  return order.filter(id => {
    const state = states.get(id)
    return (state === 'failed' || state === 'rolled-back') && existing.has(id)
  })
}

/** Releases a crashed or disconnected run left half-made: to remove before anything else. */
export function incompleteReleases(events: LogEvent[], existing: ReadonlySet<string>): string[] {
  return [...releaseStates(events)]
    .filter(([id, state]) => state === 'incomplete' && existing.has(id))
    .map(([id]) => id)
}

/**
 * The release `mode: rollback` goes back to from `current`: the complete one live before it.
 * `complete` is in the order of completeReleases.
 */
export function previousRelease(
  complete: string[],
  current: string | undefined
): string | undefined {
  const at = current === undefined ? -1 : complete.indexOf(current)
  if (at > 0) return complete[at - 1]
  if (at === -1) return complete.filter(id => id !== current).at(-1)
  return undefined
}

/**
 * Which releases to delete after `events` (the log, with what this run is about to append): all
 * complete releases but the newest `keep`, and every failed or rolled-back release but the most
 * recent one, which is kept for inspection (without taking one of the `keep` places) while it
 * was set aside after the oldest good release kept was made. Never the live release or the one it replaced.
 * Set-aside releases come first: they go before good ones.
 */
export function releasesToPrune(
  events: LogEvent[],
  existing: ReadonlySet<string>,
  keep: number,
  live: string,
  replaced: string | undefined
): string[] {
  const complete = completeReleases(events, existing)
  const setAside = setAsideReleases(events, existing)
  const keptGood = complete.slice(-keep)
  const lastAt = (id: string, names: string[]): number =>
    events.findLastIndex(e => e.id === id && names.includes(e.event))
  const newest = setAside.at(-1)
  const oldestKept = keptGood[0]
  const inspect =
    newest !== undefined &&
    (oldestKept === undefined ||
      lastAt(newest, ['fail', 'rollback']) > lastAt(oldestKept, ['ready']))
  const kept = new Set([...keptGood, ...(inspect ? [newest] : []), live])
  if (replaced !== undefined) kept.add(replaced)
  return [...setAside, ...complete].filter(id => !kept.has(id))
}

/** The log after a prune: events of releases that are gone are dropped, so it stays small. */
export function compactLog(events: LogEvent[], removed: ReadonlySet<string>): LogEvent[] {
  const states = releaseStates(events)
  return events.filter(e => !removed.has(e.id) && states.get(e.id) !== 'gone')
}
