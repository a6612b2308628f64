/**
 * release-log.ts: the order and completeness of releases come from the log, never from sorting
 * names (DESIGN.md), so custom ids that do not sort by time must work.
 */
import { describe, expect, it } from 'vitest'
import {
  compactLog,
  completeReleases,
  formatLog,
  incompleteReleases,
  LOG_EVENTS,
  LogFormatError,
  parseLog,
  previousRelease,
  releaseStates,
  releasesToPrune,
  setAsideReleases,
  type LogEvent,
  type ReleaseState
} from '../../src/release/release-log.js'

let clock = 0
/** One log event; times increase so a mix-up of order would show. */
function ev(event: string, id: string): LogEvent {
  clock++
  return {
    event,
    id,
    time: `2026-11-22T10:${String(Math.floor(clock / 60) % 60).padStart(2, '0')}:${String(clock % 60).padStart(2, '0')}Z`
  }
}

/** A release that was started and then made ready. */
const made = (id: string): LogEvent[] => [ev('start', id), ev('ready', id)]

describe('parseLog and formatLog', () => {
  it('round-trip the events in order', () => {
    const events = [ev('start', 'v2'), ev('ready', 'v2'), ev('live', 'v2'), ev('prune', 'v1')]
    const text = formatLog(events)
    expect(text.split('\n')).toHaveLength(events.length + 1)
    expect(parseLog(text)).toEqual(events)
  })

  it('reads the exact format the server writes (event TAB id TAB time)', () => {
    const text = 'start\tv1\t2026-11-22T10:15:00Z\nready\tv1\t2026-11-22T10:15:09Z\n'
    expect(parseLog(text)).toEqual([
      { event: 'start', id: 'v1', time: '2026-11-22T10:15:00Z' },
      { event: 'ready', id: 'v1', time: '2026-11-22T10:15:09Z' }
    ])
  })

  it('skips blank lines and a last line cut off before its id (a lost connection)', () => {
    const text = '\nstart\tv1\t2026-11-22T10:15:00Z\n\nready\tv1\t2026-11-22T10:15:09Z\nliv'
    expect(parseLog(text).map(e => `${e.event} ${e.id}`)).toEqual(['start v1', 'ready v1'])
  })

  it('keeps a last event cut off in its time, and drops one cut off in its id', () => {
    expect(parseLog('ready\tv1\t2026-11')).toEqual([{ event: 'ready', id: 'v1', time: '' }])
    expect(parseLog('start\tv1\t2026-11-22T10:15:00Z\nready\tv1')).toEqual([
      { event: 'start', id: 'v1', time: '2026-11-22T10:15:00Z' }
    ])
  })

  it.each([
    [
      'an unknown event',
      'deleted\tv1\t2026-11-22T10:15:00Z',
      /line 1 has an unknown event "deleted"/
    ],
    ['an id with a slash', 'start\t../../etc\t2026-11-22T10:15:00Z', /line 1 names "..\/..\/etc"/],
    ['an id that is a dot', 'abort\t.\t2026-11-22T10:15:00Z', /not a release id/],
    ['an id with a quote', 'live\tx"; touch y\t2026-11-22T10:15:00Z', /not a release id/],
    ['no time', 'ready\tv1', /line 1 has no time/],
    ['a time of another form', 'ready\tv1\tyesterday', /line 1 has no time/],
    ['a line of garbage', 'rm -rf /', /line 1 has an unknown event/]
  ])('refuses a line with %s, naming the line', (_what, line, message) => {
    const text = `${line}\nstart\tv2\t2026-11-22T10:15:00Z\n`
    expect(() => parseLog(text)).toThrow(LogFormatError)
    expect(() => parseLog(text)).toThrow(message)
  })

  it('names the line number of a bad line after good ones', () => {
    const good = 'start\tv1\t2026-11-22T10:15:00Z\n'
    expect(() => parseLog(`${good}${good}live\tv1;x\t2026-11-22T10:15:00Z\n`)).toThrow(/^line 3 /)
  })

  it('reads every event the scripts write, and ignores fields a later version may add', () => {
    const text = LOG_EVENTS.map(e => `${e}\tv1\t2026-11-22T10:15:00Z\textra\n`).join('')
    expect(parseLog(text).map(e => e.event)).toEqual([...LOG_EVENTS])
  })

  it('reads an empty log as no events', () => {
    expect(parseLog('')).toEqual([])
    expect(formatLog([])).toBe('')
  })
})

describe('releaseStates: the last event decides', () => {
  it.each<[string, LogEvent[], ReleaseState]>([
    ['started only', [ev('start', 'a')], 'incomplete'],
    ['started and ready', made('a'), 'complete'],
    ['ready, then live', [...made('a'), ev('live', 'a')], 'complete'],
    [
      'ready, then live again after a rollback',
      [...made('a'), ev('rollback', 'a'), ev('live', 'a')],
      'complete'
    ],
    [
      'live, then switched away from by mode: rollback',
      [...made('a'), ev('live', 'a'), ev('rollback', 'a')],
      'rolled-back'
    ],
    [
      'live, then rolled back for a failure',
      [...made('a'), ev('live', 'a'), ev('fail', 'a')],
      'failed'
    ],
    ['failed, then pruned', [...made('a'), ev('fail', 'a'), ev('prune', 'a')], 'gone'],
    [
      'aborted, then a stray fail event',
      [ev('start', 'a'), ev('abort', 'a'), ev('fail', 'a')],
      'gone'
    ],
    ['started, then aborted', [ev('start', 'a'), ev('abort', 'a')], 'gone'],
    ['ready, then aborted (another server failed)', [...made('a'), ev('abort', 'a')], 'gone'],
    ['ready, then pruned', [...made('a'), ev('prune', 'a')], 'gone'],
    [
      'pruned, then a new release of the same id started',
      [...made('a'), ev('prune', 'a'), ev('start', 'a')],
      'incomplete'
    ],
    [
      'pruned, then the same id made again',
      [...made('a'), ev('prune', 'a'), ...made('a')],
      'complete'
    ],
    [
      'aborted, then the same id made again',
      [ev('start', 'a'), ev('abort', 'a'), ...made('a')],
      'complete'
    ],
    ['pruned, then a stray live event', [...made('a'), ev('prune', 'a'), ev('live', 'a')], 'gone']
  ])('%s', (_label, events, expected) => {
    expect(releaseStates(events).get('a')).toBe(expected)
  })

  it('keeps the states of different ids apart', () => {
    const states = releaseStates([
      ev('start', 'a'),
      ev('start', 'b'),
      ev('ready', 'b'),
      ev('abort', 'a'),
      ev('start', 'c')
    ])
    expect(Object.fromEntries(states)).toEqual({ a: 'gone', b: 'complete', c: 'incomplete' })
  })

  it('knows nothing about ids the log never mentions', () => {
    expect(releaseStates(made('a')).has('b')).toBe(false)
  })
})

describe('completeReleases', () => {
  it('orders custom ids by when they became ready, not by name', () => {
    const events = [
      ...made('zeta'),
      ...made('alpha'),
      ev('start', 'mid'),
      ev('start', 'beta'),
      ev('ready', 'beta'),
      ev('ready', 'mid')
    ]
    const all = new Set(['alpha', 'beta', 'mid', 'zeta'])
    expect(completeReleases(events, all)).toEqual(['zeta', 'alpha', 'beta', 'mid'])
  })

  it('orders timestamp ids by the log even when the clock went backwards', () => {
    const events = [...made('20261122101500'), ...made('20261122090000')]
    expect(completeReleases(events, new Set(['20261122090000', '20261122101500']))).toEqual([
      '20261122101500',
      '20261122090000'
    ])
  })

  it('leaves out incomplete, aborted and pruned releases, and releases no longer on disk', () => {
    const events = [
      ...made('kept'),
      ev('start', 'half'),
      ...made('aborted'),
      ev('abort', 'aborted'),
      ...made('pruned'),
      ev('prune', 'pruned'),
      ...made('deleted-by-hand'),
      ...made('newest')
    ]
    const onDisk = new Set(['kept', 'half', 'aborted', 'pruned', 'newest', 'not-in-log'])
    expect(completeReleases(events, onDisk)).toEqual(['kept', 'newest'])
  })

  it('places an id made again after a prune at its new position', () => {
    const events = [...made('a'), ...made('b'), ev('prune', 'a'), ...made('c'), ...made('a')]
    expect(completeReleases(events, new Set(['a', 'b', 'c']))).toEqual(['b', 'c', 'a'])
  })

  it('orders by when each release was last live, so a rollback-to moves its target last', () => {
    const events = [
      ...made('a'),
      ev('live', 'a'),
      ...made('b'),
      ev('live', 'b'),
      ...made('c'),
      ev('live', 'c'),
      ev('rollback', 'c'),
      ev('live', 'a')
    ]
    expect(completeReleases(events, new Set(['a', 'b', 'c']))).toEqual(['b', 'a'])
  })

  it('leaves out releases rolled back for a failure or by mode: rollback, even in old logs', () => {
    const events = [
      ...made('a'),
      ev('live', 'a'),
      ...made('b'),
      ev('live', 'b'),
      ev('fail', 'b'),
      ev('live', 'a'),
      // A log written before `fail` existed: an automatic rollback was a `rollback` event.
      ...made('c'),
      ev('live', 'c'),
      ev('rollback', 'c'),
      ev('live', 'a'),
      ...made('d'),
      ev('live', 'd')
    ]
    const all = new Set(['a', 'b', 'c', 'd'])
    expect(completeReleases(events, all)).toEqual(['a', 'd'])
    expect(setAsideReleases(events, all)).toEqual(['b', 'c'])
  })
})

describe('incompleteReleases', () => {
  it('lists releases started and never finished that are still on disk', () => {
    const events = [
      ev('start', 'crashed'),
      ...made('fine'),
      ev('start', 'crashed-and-gone'),
      ev('start', 'aborted'),
      ev('abort', 'aborted')
    ]
    const onDisk = new Set(['crashed', 'fine', 'aborted'])
    expect(incompleteReleases(events, onDisk)).toEqual(['crashed'])
  })

  it('lists nothing for a clean log', () => {
    expect(incompleteReleases([...made('a'), ...made('b')], new Set(['a', 'b']))).toEqual([])
  })

  it('lists a reused id whose new start has no ready yet', () => {
    const events = [...made('a'), ev('prune', 'a'), ev('start', 'a')]
    expect(incompleteReleases(events, new Set(['a']))).toEqual(['a'])
  })
})

describe('previousRelease', () => {
  it.each<[string, string[], string | undefined, string | undefined]>([
    ['the one before the newest', ['a', 'b', 'c'], 'c', 'b'],
    ['the one before a middle release', ['a', 'b', 'c'], 'b', 'a'],
    ['nothing before the oldest', ['a', 'b', 'c'], 'a', undefined],
    ['nothing before the only one', ['a'], 'a', undefined],
    ['custom ids in log order', ['zz', 'aa', 'mm'], 'mm', 'aa'],
    ['the newest complete one when current is not in the list', ['a', 'b', 'c'], 'x', 'c'],
    ['the newest complete one when there is no current', ['a', 'b'], undefined, 'b'],
    ['nothing when there is no complete release', [], 'x', undefined],
    ['nothing when nothing exists', [], undefined, undefined]
  ])('%s', (_label, complete, current, expected) => {
    expect(previousRelease(complete, current)).toBe(expected)
  })
})

describe('the release mode: rollback goes to', () => {
  it('is the good release live before: A, broken B rolled back, C, then rollback lands on A', () => {
    const events = [
      ...made('A'),
      ev('live', 'A'),
      ...made('B'),
      ev('live', 'B'),
      ev('fail', 'B'),
      ev('live', 'A'),
      ...made('C'),
      ev('live', 'C')
    ]
    const all = new Set(['A', 'B', 'C'])
    expect(previousRelease(completeReleases(events, all), 'C')).toBe('A')
    // Rolling back again steps further back, never to the release just left.
    const after = [...events, ev('rollback', 'C'), ev('live', 'A')]
    expect(previousRelease(completeReleases(after, all), 'A')).toBeUndefined()
  })

  it('is the release that was live before a deploy (its previous-release-id), after a rollback-to', () => {
    const events = [
      ...['a', 'b', 'c'].flatMap(id => [...made(id), ev('live', id)]),
      ev('rollback', 'c'),
      ev('live', 'a'),
      ...made('d'),
      ev('live', 'd')
    ]
    expect(previousRelease(completeReleases(events, new Set(['a', 'b', 'c', 'd'])), 'd')).toBe('a')
  })
})

/** Releases made and put live one after another, in the order given. */
const deployed = (...ids: string[]): LogEvent[] => ids.flatMap(id => [...made(id), ev('live', id)])

describe('releasesToPrune', () => {
  it.each<[string, string[], number, string, string | undefined, string[]]>([
    ['keeps the newest three', ['a', 'b', 'c', 'd', 'e'], 3, 'e', 'd', ['a', 'b']],
    [
      'keeps the newest one, the live one and the one it replaced',
      ['a', 'b', 'c', 'd', 'e'],
      1,
      'e',
      'a',
      ['b', 'c', 'd']
    ],
    ['keeps everything when there are fewer than keep', ['a', 'b'], 3, 'b', 'a', []],
    ['keeps everything on a first deploy', ['a'], 1, 'a', undefined, []],
    ['keeps in log order, not name order', ['zz', 'aa', 'mm', 'bb'], 2, 'bb', 'mm', ['zz', 'aa']]
  ])('%s', (_label, ids, keep, live, replaced, expected) => {
    expect(releasesToPrune(deployed(...ids), new Set(ids), keep, live, replaced)).toEqual(expected)
  })

  it('keeps an old release that was rolled back to, as the newest live', () => {
    const events = [...deployed('a', 'b', 'c', 'd', 'e'), ev('rollback', 'e'), ev('live', 'b')]
    const all = new Set(['a', 'b', 'c', 'd', 'e'])
    // Complete by last live: a, c, d, b. Keep 2: d and b. e was rolled back from: the newest
    // set-aside release, kept for inspection.
    expect(releasesToPrune(events, all, 2, 'b', 'e')).toEqual(['a', 'c'])
  })

  it('keeps the good releases after failed deploys, and only the newest failure while it is recent', () => {
    // good A, broken B and C (rolled back automatically), good D, with keep-releases 2.
    const events = [
      ...deployed('A', 'B'),
      ev('fail', 'B'),
      ev('live', 'A'),
      ...made('C'),
      ev('live', 'C'),
      ev('fail', 'C'),
      ev('live', 'A'),
      ...deployed('D')
    ]
    const all = new Set(['A', 'B', 'C', 'D'])
    expect(releasesToPrune(events, all, 2, 'D', 'A')).toEqual(['B'])
    // With keep-releases 1, D is the only good release kept, and C failed before D was made.
    expect(releasesToPrune(events, all, 1, 'D', 'A')).toEqual(['B', 'C'])
    // Another good deploy: A is beyond keep 2, and C failed before D, the oldest kept, was made.
    const more = [...events, ...deployed('E')]
    const withE = new Set([...all, 'E'])
    expect(releasesToPrune(more, withE, 2, 'E', 'D')).toEqual(['B', 'C', 'A'])
  })

  it('prunes the newest set-aside release too once every good release kept is younger', () => {
    // r2 was rolled back from; r3, r4 and r5 came after it, and keep-releases is 2.
    const events = [
      ...deployed('r1', 'r2'),
      ev('rollback', 'r2'),
      ev('live', 'r1'),
      ...deployed('r3', 'r4', 'r5')
    ]
    const all = new Set(['r1', 'r2', 'r3', 'r4', 'r5'])
    expect(releasesToPrune(events, all, 2, 'r5', 'r4')).toEqual(['r2', 'r1', 'r3'])
  })

  it('never removes the live release or the one it replaced, for any keep and any pair', () => {
    const complete = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']
    const events = deployed(...complete)
    for (let keep = 1; keep <= 7; keep++) {
      for (const live of complete) {
        for (const replaced of [undefined, ...complete]) {
          const pruned = releasesToPrune(events, new Set(complete), keep, live, replaced)
          expect(pruned).not.toContain(live)
          if (replaced !== undefined) expect(pruned).not.toContain(replaced)
          // Exactly the releases older than the newest `keep` that are neither live nor replaced.
          const expected = complete.filter(
            (id, i) => i < complete.length - keep && id !== live && id !== replaced
          )
          expect(pruned).toEqual(expected)
        }
      }
    }
  })
})

describe('compactLog', () => {
  it('drops the events of removed and gone releases, and keeps the rest in order', () => {
    const events = [
      ...made('a'),
      ev('live', 'a'),
      ev('start', 'b'),
      ev('abort', 'b'),
      ...made('c'),
      ev('live', 'c'),
      ev('start', 'd')
    ]
    const compacted = compactLog(events, new Set(['a']))
    expect(compacted.map(e => `${e.event} ${e.id}`)).toEqual([
      'start c',
      'ready c',
      'live c',
      'start d'
    ])
    // The events kept are the same objects, times included.
    expect(compacted.every(e => events.includes(e))).toBe(true)
  })

  it('answers the same questions after compaction as before, for what is left', () => {
    const events = [
      ...made('zz'),
      ...made('aa'),
      ...made('mm'),
      ev('prune', 'zz'),
      ev('start', 'crashed')
    ]
    const onDisk = new Set(['aa', 'mm', 'crashed'])
    const compacted = compactLog(events, new Set(['zz']))
    expect(completeReleases(compacted, onDisk)).toEqual(completeReleases(events, onDisk))
    expect(incompleteReleases(compacted, onDisk)).toEqual(incompleteReleases(events, onDisk))
    expect(compacted.some(e => e.id === 'zz')).toBe(false)
  })

  it('keeps a reused id that is complete again, with its whole history', () => {
    const events = [...made('a'), ev('prune', 'a'), ...made('a'), ...made('b')]
    const compacted = compactLog(events, new Set())
    expect(releaseStates(compacted).get('a')).toBe('complete')
    expect(completeReleases(compacted, new Set(['a', 'b']))).toEqual(['a', 'b'])
  })
})
