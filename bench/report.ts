/**
 * Turning measurements into the markdown report: one row per scenario and RTT (median of the
 * repetitions), the ratio against each scenario's peer, the action's phase breakdown, and the
 * targets with whether each holds.
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import type { Measurement } from './harness.ts'
import type { Scenario } from './scenarios.ts'
import type { Workload } from './workload.ts'

export interface Cell {
  scenario: Scenario
  rtt: number
  samples: Measurement[]
  /** Why the cell is incomplete: the last failure. */
  error?: string
  /** Failed runs (not in samples). */
  failures?: number
}

export interface RoundTrips {
  /** Median seconds of the no-change deploy at each RTT (ms). */
  seconds: Record<number, number>
  /** (t200 - t100) / 100 ms. */
  roundTrips: number
  /** (t100 - t0) / 100 ms, a second estimate. */
  roundTripsLow: number
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function machineLine(sshVersion: string, repeat: number): string {
  let cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) cpu = m[1]!.trim()
  } catch {
    // Not Linux: os.cpus() said enough.
  }
  return [
    `Machine: ${cpu}, ${os.availableParallelism()} cores`,
    `Node ${process.version}`,
    sshVersion.split(',')[0]!.trim(),
    new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    `median of ${repeat} run${repeat === 1 ? '' : 's'}`
  ].join(' · ')
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1)
}

export function workloadLine(w: Workload): string {
  const s = w.stats
  return `${w.name}: ${s.files.toLocaleString('en')} files + ${s.symlinks} symlinks, ${mb(s.bytes)} MB; next version: ${s.changed} changed, ${s.added} added, ${s.deleted} deleted (${mb(s.changedBytes)} MB)`
}

const seconds = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1)

function find(cells: Cell[], key: string, rtt: number): Cell | undefined {
  return cells.find(c => c.scenario.key === key && c.rtt === rtt && c.samples.length > 0)
}

/** Median wall time in ms of a scenario at an RTT, if it ran. */
export function medianMs(cells: Cell[], key: string, rtt: number): number | undefined {
  const cell = find(cells, key, rtt)
  return cell ? median(cell.samples.map(s => s.ms)) : undefined
}

function ratioText(cells: Cell[], cell: Cell): string {
  const own = median(cell.samples.map(s => s.ms))
  const peer = cell.scenario.peer
  if (!peer) {
    // The no-change deploy is pure round trips: say how many RTTs its time is worth.
    if (cell.scenario.key.startsWith('nochange') && cell.rtt > 0)
      return `wall time = ${(own / cell.rtt).toFixed(1)} RTTs`
    return ''
  }
  const other = medianMs(cells, peer.key, cell.rtt)
  if (other === undefined) return ''
  return peer.invert
    ? `${peer.label} ${(own / other).toFixed(1)}× faster`
    : `${(own / other).toFixed(2)}× ${peer.label}`
}

/** Keep a message from breaking the table. */
function cellText(text: string): string {
  const flat = text.replace(/\|/g, '\\|').replace(/\s+/g, ' ')
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat
}

export function resultsTable(cells: Cell[]): string {
  const lines = [
    '| Scenario | RTT ms | Median s | Runs s | vs peer | Peak RSS MB | Sent MB | SSH conns |',
    '|---|---:|---:|---|---|---:|---:|---:|'
  ]
  for (const cell of cells) {
    const { samples } = cell
    if (samples.length === 0) {
      lines.push(
        `| ${cell.scenario.title} | ${cell.rtt} | — | ${cellText(cell.error ?? 'not run')} | | | | |`
      )
      continue
    }
    const rss = samples.map(s => s.rssMb).filter((v): v is number => v !== undefined)
    const sent = samples.map(s => s.sentBytes ?? 0)
    const conns = samples.map(s => s.connections ?? 0)
    lines.push(
      [
        '',
        cell.scenario.title,
        cell.rtt,
        seconds(median(samples.map(s => s.ms))),
        samples.map(s => seconds(s.ms)).join(', ') +
          (cell.error ? ` (${cellText(cell.error)})` : ''),
        ratioText(cells, cell),
        rss.length > 0 ? Math.max(...rss).toFixed(0) : '',
        mb(median(sent)),
        median(conns),
        ''
      ]
        .join(' | ')
        .trim()
    )
  }
  return lines.join('\n')
}

const PHASES = ['connect', 'inspect', 'upload', 'switch', 'after-switch', 'health-check', 'finish']

/**
 * Where the action's wall time goes, from its own `servers` output (slowest server per phase).
 * "outside" is process start, the local scan and hashing not hidden behind connect, planning
 * and exit: everything that is not a server phase. "scan + hash" is the action's own figure for
 * reading and hashing the source; it runs while connect and inspect do, so it is not added in.
 */
export function phaseTable(cells: Cell[]): string {
  const rows = cells.filter(c => c.samples.some(s => s.phases))
  if (rows.length === 0) return ''
  const used = PHASES.filter(p => rows.some(c => c.samples.some(s => (s.phases?.[p] ?? 0) > 0)))
  const lines = [
    `| Action scenario | RTT ms | total | ${used.join(' | ')} | outside phases | scan + hash (beside connect) |`,
    `|---|---:|---:|${used.map(() => '---:').join('|')}|---:|---:|`
  ]
  for (const cell of rows) {
    const withPhases = cell.samples.filter(s => s.phases)
    const total = median(withPhases.map(s => s.ms))
    const per = used.map(p => median(withPhases.map(s => s.phases?.[p] ?? 0)))
    const outside = median(
      withPhases.map(s => s.ms - used.reduce((sum, p) => sum + (s.phases?.[p] ?? 0), 0))
    )
    const scans = withPhases.map(s => s.scanMs).filter((v): v is number => v !== undefined)
    const scan = scans.length > 0 ? median(scans).toFixed(0) : ''
    lines.push(
      `| ${cell.scenario.title} | ${cell.rtt} | ${total.toFixed(0)} | ${per.map(v => v.toFixed(0)).join(' | ')} | ${outside.toFixed(0)} | ${scan} |`
    )
  }
  return `Where the action's time goes (median ms; per phase, the slowest server):\n\n${lines.join('\n')}`
}

interface Target {
  text: string
  /** undefined: not measured in this run. */
  holds?: boolean
  value: string
}

function ratioTarget(
  cells: Cell[],
  text: string,
  key: string,
  peerKey: string,
  rtt: number,
  limit: number
): Target {
  const own = medianMs(cells, key, rtt)
  const peer = medianMs(cells, peerKey, rtt)
  if (own === undefined || peer === undefined) return { text, value: 'not measured' }
  const ratio = own / peer
  return {
    text,
    holds: ratio <= limit,
    value: `${ratio.toFixed(2)}× (${seconds(own)} s vs ${seconds(peer)} s)`
  }
}

export function targets(cells: Cell[]): Target[] {
  const list: Target[] = [
    ratioTarget(cells, 'first deploy ≤ 1.2× tar pipe at 40 ms', 'first', 'tar-full', 40, 1.2),
    ratioTarget(
      cells,
      'incremental (hardlink) ≤ 1.0× rsync --link-dest at 40 ms',
      'incr-hardlink',
      'rsync-incr',
      40,
      1.0
    ),
    ratioTarget(
      cells,
      'incremental (copy, the default) ≤ 1.0× rsync --link-dest at 40 ms',
      'incr-copy',
      'rsync-incr',
      40,
      1.0
    )
  ]

  const sftp = medianMs(cells, 'sftp-full', 40)
  const first = medianMs(cells, 'first', 40)
  list.push(
    sftp === undefined || first === undefined
      ? { text: '≥ 50× faster than uploadDir at 40 ms', value: 'not measured' }
      : {
          text: '≥ 50× faster than uploadDir at 40 ms',
          holds: sftp / first >= 50,
          value: `${(sftp / first).toFixed(1)}× (${seconds(sftp)} s vs ${seconds(first)} s)`
        }
  )

  list.push(
    ratioTarget(
      cells,
      'SFTP-only first deploy ≤ 2× tar pipe at 40 ms',
      'sftp-only-first',
      'tar-full',
      40,
      2
    ),
    ratioTarget(
      cells,
      'SFTP-only incremental (copy, the default) ≤ 1.5× rsync --link-dest at 40 ms',
      'sftp-only-incr',
      'rsync-incr',
      40,
      1.5
    ),
    ratioTarget(
      cells,
      'SFTP-only incremental (hardlink) ≤ 1.5× rsync --link-dest at 40 ms',
      'sftp-only-incr-hardlink',
      'rsync-incr',
      40,
      1.5
    )
  )
  const sftpOnlyFirst = medianMs(cells, 'sftp-only-first', 40)
  const uploadDirText = 'SFTP-only first deploy ≥ 30× faster than uploadDir at 40 ms'
  list.push(
    sftp === undefined || sftpOnlyFirst === undefined
      ? { text: uploadDirText, value: 'not measured' }
      : {
          text: uploadDirText,
          holds: sftp / sftpOnlyFirst >= 30,
          value: `${(sftp / sftpOnlyFirst).toFixed(1)}× (${seconds(sftp)} s vs ${seconds(sftpOnlyFirst)} s)`
        }
  )

  for (const [key, what] of [
    ['nochange', 'copy, the default'],
    ['nochange-hardlink', 'hardlink']
  ] as const) {
    const ms = medianMs(cells, key, 100)
    const text = `no-change deploy (${what}) ≤ 15 round trips (≤ 1.5 s) at 100 ms`
    list.push(
      ms === undefined
        ? { text, value: 'not measured' }
        : {
            text,
            holds: ms <= 1500,
            value: `${seconds(ms)} s (= ${(ms / 100).toFixed(1)} RTTs of wall time)`
          }
    )
  }

  const largeRss = cells
    .filter(c => c.scenario.tree === 'large')
    .flatMap(c => c.samples.map(s => s.rssMb))
    .filter((v): v is number => v !== undefined)
  list.push(
    largeRss.length === 0
      ? { text: '50k-file tree: peak RSS < 250 MB', value: 'not measured' }
      : {
          text: '50k-file tree: peak RSS < 250 MB',
          holds: Math.max(...largeRss) < 250,
          value: `${Math.max(...largeRss).toFixed(0)} MB (max over all large-tree action runs)`
        }
  )
  list.push(
    ratioTarget(
      cells,
      '50k-file tree: incremental (hardlink) ≤ 1.2× rsync at 40 ms',
      'large-incr-hardlink',
      'large-rsync-incr',
      40,
      1.2
    ),
    ratioTarget(
      cells,
      '50k-file tree: incremental (copy) ≤ 1.2× rsync at 40 ms',
      'large-incr-copy',
      'large-rsync-incr',
      40,
      1.2
    ),
    ratioTarget(cells, '10-server group ≤ 2.5× one server at 40 ms', 'group-10', 'group-1', 40, 2.5)
  )
  return list
}

export function targetsText(cells: Cell[]): string {
  return targets(cells)
    .map(t => {
      const mark = t.holds === undefined ? 'n/a ' : t.holds ? 'PASS' : 'FAIL'
      return `- [${mark}] ${t.text}: ${t.value}`
    })
    .join('\n')
}

export function roundTripsText(r: RoundTrips): string {
  const times = Object.entries(r.seconds)
    .map(([rtt, s]) => `${s.toFixed(2)} s at ${rtt} ms`)
    .join(', ')
  return [
    `No-change deploy (copy-method hardlink): ${times}.`,
    `Round trips = (t200 − t100) / 0.1 s = ${r.roundTrips.toFixed(1)}` +
      ` (from t100 − t0: ${r.roundTripsLow.toFixed(1)}).`
  ].join('\n')
}
