/**
 * The release log, .atomic-deploy/log: one line per event, `event<TAB>id<TAB>time`, appended by
 * the server scripts. It is the only source of release order (names are never sorted, so custom
 * ids work) and of completeness: a release is complete once `ready` was logged and nothing
 * later removed it.
 */

export type LogEventName = 'start' | 'ready' | 'abort' | 'live' | 'rollback' | 'prune'

export interface LogEvent {
  event: string
  id: string
  time: string
}

export function parseLog(text: string): LogEvent[] {
  const events: LogEvent[] = []
  for (const line of text.split('\n')) {
    const [event, id, time] = line.split('\t')
    if (event && id) events.push({ event, id, time: time ?? '' })
  }
  return events
}

export function formatLog(events: LogEvent[]): string {
  return events.map(e => `${e.event}\t${e.id}\t${e.time}\n`).join('')
}

export type ReleaseState = 'incomplete' | 'complete' | 'gone'

/** The state of every id the log mentions: the last event decides. */
export function releaseStates(events: LogEvent[]): Map<string, ReleaseState> {
  const states = new Map<string, ReleaseState>()
  for (const { event, id } of events) {
    if (event === 'start') states.set(id, 'incomplete')
    else if (event === 'ready' || event === 'live' || event === 'rollback') {
      if (states.get(id) !== 'gone' || event === 'ready') states.set(id, 'complete')
    } else if (event === 'abort' || event === 'prune') states.set(id, 'gone')
  }
  return states
}

/** Complete releases that still exist, oldest first (the order their `ready` was logged). */
export function completeReleases(events: LogEvent[], existing: ReadonlySet<string>): string[] {
  const states = releaseStates(events)
  const order: string[] = []
  for (const { event, id } of events) {
    if (event !== 'ready') continue
    const at = order.indexOf(id)
    if (at >= 0) order.splice(at, 1)
    order.push(id)
  }
  return order.filter(id => states.get(id) === 'complete' && existing.has(id))
}

/** Releases a crashed or disconnected run left half-made: to remove before anything else. */
export function incompleteReleases(events: LogEvent[], existing: ReadonlySet<string>): string[] {
  return [...releaseStates(events)]
    .filter(([id, state]) => state === 'incomplete' && existing.has(id))
    .map(([id]) => id)
}

/** The release `mode: rollback` goes back to from `current`: the complete one before it. */
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
 * Which complete releases to delete: all but the newest `keep`, and never the live release or
 * the one it replaced.
 */
export function releasesToPrune(
  complete: string[],
  keep: number,
  live: string,
  replaced: string | undefined
): string[] {
  const kept = new Set(complete.slice(-keep))
  kept.add(live)
  if (replaced !== undefined) kept.add(replaced)
  return complete.filter(id => !kept.has(id))
}

/** The log after a prune: events of releases that are gone are dropped, so it stays small. */
export function compactLog(events: LogEvent[], removed: ReadonlySet<string>): LogEvent[] {
  const states = releaseStates(events)
  return events.filter(e => !removed.has(e.id) && states.get(e.id) !== 'gone')
}
