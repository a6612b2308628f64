/**
 * `npm run bench`: wall time and memory of whole deploys, against the tools that bound them.
 *
 * One loopback sshd, ten throwaway accounts and an SFTP-only one (ForceCommand internal-sftp in
 * a ChrootDirectory), and a latency proxy (half the RTT each way); every timed command goes
 * through the proxy to a fresh target directory. At each RTT the action's first, incremental
 * (copy and hardlink), no-change and ten-server deploys, and its first and incremental deploys
 * to the SFTP-only account (0 and 40 ms), run beside a `tar | ssh tar` pipe, `rsync
 * --link-dest` and ssh2-sftp-client's `uploadDir`. A 50,000-file
 * tree runs at 40 ms. Repetitions interleave the scenarios so that load from elsewhere on the
 * machine hits all of them alike; the table shows medians.
 *
 * Environment:
 *   BENCH_QUICK=1          web-app tree at 0 and 40 ms, one repetition, no large tree
 *   BENCH_RTTS=0,40,100    RTTs in ms (default 0,40,100)
 *   BENCH_REPEAT=3         repetitions per scenario (default 3; 1 when quick)
 *   BENCH_LARGE=0          skip the 50,000-file tree
 *   BENCH_LARGE_REPEAT=1   repetitions of the large-tree scenarios (default 1: minutes each)
 *   BENCH_GROUP_REPEAT=7   repetitions of the group pair when BENCH_REPEAT is above 1 (its
 *                          runner CPU varies by more than the ratio's margin)
 *   BENCH_RTT_COUNT=0|1    count the no-change deploy's round trips (default: on unless quick)
 *   BENCH_DEADLINE_MIN=30  global bound; at the deadline the run stops and prints what it has
 *   BENCH_ONLY=a,b         only these scenario keys (see scenarios.ts), e.g. large-first
 *   BENCH_ACTION=path      benchmark another build of the action (default dist/index.js)
 *   BENCH_COMPARE=path     another build whose SFTP-only incremental deploys (keys
 *                          sftp-only-incr-cmp, sftp-only-incr-hardlink-cmp) run interleaved
 *                          with the action's, from a seed that build made, and whose shell
 *                          incremental and no-change deploys (incr-copy-cmp, nochange-cmp) and
 *                          group pair (group-1-cmp, group-10-cmp) and large-tree incremental
 *                          deploy (large-incr-copy-cmp) run beside the action's from the same
 *                          seeds
 *   BENCH_STARTUP_RUNS=30  runs of each start-up command (hyperfine; 10 when quick)
 *   BENCH_STARTUP_COMPARE=path,...  other builds whose start-up to show beside the action's
 *
 * Before any deploy, on the still quiet machine, the action's start-up is timed with hyperfine
 * (`BENCH_ONLY=startup` for that alone).
 *
 * Progress goes to stderr; the report goes to stdout and bench/.work/results.md (and .json).
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import {
  ACTION,
  DeadlineError,
  exec,
  killActiveChildren,
  setDeadline,
  timeLeft,
  startEnv,
  type Env
} from './harness.ts'
import {
  machineLine,
  phaseTable,
  resultsTable,
  roundTripsText,
  scanCurveText,
  targetsText,
  workloadLine,
  type Cell,
  type RoundTrips
} from './report.ts'
import { countRoundTrips } from './rtt-count.ts'
import { bundleFiles } from '../scripts/dist-files.ts'
import { measureStartup, startupTable, type Startup } from './startup.ts'
import {
  checkSeeds,
  GROUP_REPEAT,
  LARGE_REPEAT,
  prepareSeeds,
  SCENARIOS,
  type Scenario,
  type Trees
} from './scenarios.ts'
import { ensureWorkload, LARGE, WEB_APP, WORK_DIR } from './workload.ts'

const quick = process.env.BENCH_QUICK === '1'
const rtts = (process.env.BENCH_RTTS ?? (quick ? '0,40' : '0,40,100'))
  .split(',')
  .map(s => Number(s.trim()))
  .filter(n => Number.isFinite(n) && n >= 0)
const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? (quick ? 1 : 3)) || 1)
const withLarge = !quick && process.env.BENCH_LARGE !== '0'
const withRttCount = process.env.BENCH_RTT_COUNT ? process.env.BENCH_RTT_COUNT === '1' : !quick
const only = process.env.BENCH_ONLY?.split(',').map(s => s.trim())
const deadlineMin = Number(process.env.BENCH_DEADLINE_MIN ?? 30) || 30
const withStartup = !only || only.includes('startup')
const startupRuns = Math.max(3, Number(process.env.BENCH_STARTUP_RUNS ?? (quick ? 10 : 30)) || 30)
const startupCompare = (process.env.BENCH_STARTUP_COMPARE ?? '')
  .split(',')
  .map(s => s.trim())
  .filter(Boolean)

const started = Date.now()
/** Stopping and cleaning up (removing accounts with GBs deployed to them) takes up to a minute. */
const CLEANUP_RESERVE_MS = 60_000
setDeadline(started + deadlineMin * 60_000 - CLEANUP_RESERVE_MS)

function log(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(0).padStart(4)
  process.stderr.write(`[bench ${t}s] ${line}\n`)
}

const cells: Cell[] = []
const verified = new Set<string>()
const notes: string[] = []
let header = ''
let workloads: string[] = []
let roundTrips: RoundTrips | undefined
let startup: Startup | undefined

function report(): string {
  const parts = ['## atomic-deploy benchmark', '', header, '']
  if (startup) parts.push('### Start-up', '', startupTable(startup), '')
  if (cells.length > 0)
    parts.push(
      ...workloads.map(w => `- ${w}`),
      '',
      resultsTable(cells),
      '',
      phaseTable(cells),
      '',
      '### Targets',
      '',
      targetsText(cells)
    )
  const curve = scanCurveText(cells)
  if (curve) parts.push('', '### Local work by cores', '', curve)
  if (roundTrips)
    parts.push('', '### Round trips of a no-change deploy', '', roundTripsText(roundTrips))
  if (notes.length > 0) parts.push('', '### Notes', '', ...notes.map(n => `- ${n}`))
  return parts.join('\n') + '\n'
}

function publish(): void {
  const text = report()
  process.stdout.write(`\n${text}`)
  mkdirSync(WORK_DIR, { recursive: true })
  writeFileSync(path.join(WORK_DIR, 'results.md'), text)
  const json = cells.map(c => ({
    scenario: c.scenario.key,
    rtt: c.rtt,
    error: c.error,
    samples: c.samples
  }))
  writeFileSync(
    path.join(WORK_DIR, 'results.json'),
    JSON.stringify({ header, cells: json, roundTrips, notes }, null, 2)
  )
}

/** One timed run of a cell; a failure is counted and reported, and the repetitions go on. */
async function runOnce(env: Env, trees: Trees, cell: Cell, rep: number): Promise<void> {
  if (timeLeft() <= 0) throw new DeadlineError('global deadline reached')
  env.proxy.setDelay(cell.rtt / 2)
  env.proxy.setRate(cell.scenario.rate)
  const label = `${cell.scenario.key} @${cell.rtt} ms #${rep + 1}`
  try {
    // Correctness is checked once per scenario (its first run), outside the timed region.
    const verify = !verified.has(cell.scenario.key)
    verified.add(cell.scenario.key)
    const m = await cell.scenario.run({ env, trees, rtt: cell.rtt, rep, verify })
    cell.samples.push(m)
    const rss = m.rssMb !== undefined ? `, ${m.rssMb.toFixed(0)} MB RSS` : ''
    log(`${label}: ${(m.ms / 1000).toFixed(2)} s${rss}`)
  } catch (error) {
    if (error instanceof DeadlineError) throw error
    // A run cut short by the deadline fails in whatever way it was cut; that is the deadline.
    if (timeLeft() <= 0) throw new DeadlineError('global deadline reached')
    const message = error instanceof Error ? error.message : String(error)
    cell.failures = (cell.failures ?? 0) + 1
    cell.error = `${cell.failures} failed: ${message.split('\n')[0]}`
    notes.push(`${label} failed: ${message.replace(/\n/g, '\n  ')}`)
    log(`${label} FAILED: ${message}`)
  }
}

/** A scenario's runs: BENCH_REPEAT, raised to its minRepeat when repeating, within maxRepeat. */
function runsOf(scenario: Scenario): number {
  const wanted = repeat > 1 ? Math.max(repeat, scenario.minRepeat ?? 0) : repeat
  return Math.min(wanted, scenario.maxRepeat ?? wanted)
}

/** Repetitions interleaved across the cells of one block (same tree, same RTT). */
async function runBlock(env: Env, trees: Trees, block: Cell[]): Promise<void> {
  const runs = block.map(cell => runsOf(cell.scenario))
  for (let rep = 0; rep < Math.max(0, ...runs); rep++) {
    for (const [i, cell] of block.entries()) {
      if (rep >= (runs[i] ?? repeat)) continue
      // A scenario that fails every time is not worth more attempts.
      if (cell.samples.length === 0 && (cell.failures ?? 0) >= 2) continue
      await runOnce(env, trees, cell, rep)
    }
  }
}

/** Identify the build under test, so a rebuild in the middle of a run cannot go unnoticed. */
function buildId(): string {
  // The entry and the chunks it imports: the entry alone names its chunks, not what is in them.
  const hash = createHash('sha256')
  for (const file of bundleFiles(ACTION)) hash.update(readFileSync(file))
  const digest = hash.digest('hex').slice(0, 12)
  return `${path.relative(process.cwd(), ACTION)} sha256:${digest}, built ${statSync(ACTION)
    .mtime.toISOString()
    .replace(/\.\d+Z$/, 'Z')}`
}

async function main(): Promise<void> {
  if (!existsSync(ACTION)) throw new Error(`${ACTION} is missing; build the bundle first`)
  const build = buildId()
  for (const tool of ['/usr/bin/time', 'rsync', 'ssh', 'tar', 'gzip']) {
    const probe = await exec('sh', ['-c', `command -v ${tool}`], { timeoutMs: 5_000 })
    if (probe.code !== 0) throw new Error(`${tool} is not installed`)
  }
  const sshVersion = (await exec('ssh', ['-V'], { timeoutMs: 5_000 })).stderr.trim()
  // Scenarios that run more often than the rest (runsOf) are the group pair's.
  const raised = SCENARIOS.some(s => (!only || only.includes(s.key)) && runsOf(s) > repeat)
  const groupRuns = raised ? ` (the group pair: ${GROUP_REPEAT})` : ''
  header = `${machineLine(sshVersion, repeat)}${groupRuns}\n\nAction under test: ${build}`

  if (withStartup) {
    log(
      `--- start-up: node ${path.relative(process.cwd(), ACTION)} with no inputs, ${startupRuns} runs`
    )
    const builds = [ACTION, ...startupCompare].map(file => {
      const relative = path.relative(process.cwd(), file)
      return { label: `node ${relative.startsWith('..') ? path.resolve(file) : relative}`, file }
    })
    const measured = await measureStartup(builds, startupRuns)
    if (typeof measured === 'string') notes.push(measured)
    else startup = measured
  }
  // Only the start-up was asked for: no workload, no servers.
  if (only && only.every(k => k === 'startup')) return

  const trees: Trees = { webapp: ensureWorkload(WEB_APP, log) }
  const largeWanted = !only || only.some(k => k.startsWith('large-'))
  if (withLarge && largeWanted) trees.large = ensureWorkload(LARGE, log)
  workloads = [workloadLine(trees.webapp)]
  if (trees.large)
    workloads.push(`${workloadLine(trees.large)}; ${LARGE_REPEAT} run(s) per scenario`)

  // Every cell up front, so a partial run still shows what was skipped.
  const order = [...rtts].sort((a, b) => a - b)
  for (const rtt of order) {
    for (const scenario of SCENARIOS) {
      if (scenario.tree === 'large' && !trees.large) continue
      if (only && !only.includes(scenario.key)) continue
      if (scenario.rtts(rtts).includes(rtt)) cells.push({ scenario, rtt, samples: [] })
    }
  }
  // Table order: by tree, then scenario, then RTT.
  cells.sort(
    (a, b) => SCENARIOS.indexOf(a.scenario) - SCENARIOS.indexOf(b.scenario) || a.rtt - b.rtt
  )

  // Set once started; the interrupt handler below may run before that.
  const running: { env?: Env } = {}
  // On Ctrl-C: stop the children, print what there is, and exit; the exit hooks of the test
  // support modules then stop sshd and remove the accounts (with everything deployed to them).
  const interrupt = (signal: NodeJS.Signals): void => {
    killActiveChildren()
    notes.push(`interrupted by ${signal}; the table is partial`)
    publish()
    if (running.env) {
      running.env.agedDisk?.closeSync()
      running.env.disk.closeSync()
      rmSync(running.env.dir, { recursive: true, force: true })
    }
    process.exit(130)
  }
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)

  const env = await startEnv(log, { aged: cells.some(c => c.scenario.disk === 'aged') })
  running.env = env
  header += `\n\nServer disk: ${env.disk.description}`
  if (env.agedDisk) header += `\n\nAged disk (the "aged disk" rows): ${env.agedDisk.description}`
  try {
    await prepareSeeds(env, trees, log, line => notes.push(line))
    // Run order puts the cells the targets need first, so a deadline costs the least useful
    // ones: 40 ms (most targets), 100 ms (the no-change target), the large tree, the round-trip
    // count, then the other RTTs, with the minutes-long per-file SFTP baseline last of all.
    const targetRtts = [40, 100].filter(r => rtts.includes(r))
    const otherRtts = order.filter(r => !targetRtts.includes(r))
    const webappAt = (rtt: number, sftp: boolean) =>
      cells.filter(
        c =>
          c.rtt === rtt && c.scenario.tree === 'webapp' && (c.scenario.key === 'sftp-full') === sftp
      )
    for (const rtt of targetRtts) {
      log(`--- web-app tree at ${rtt} ms RTT`)
      await runBlock(env, trees, [...webappAt(rtt, false), ...webappAt(rtt, true)])
    }
    for (const rtt of order) {
      const large = cells.filter(c => c.rtt === rtt && c.scenario.tree === 'large')
      if (large.length === 0) continue
      log(`--- large tree at ${rtt} ms RTT`)
      await runBlock(env, trees, large)
    }
    if (withRttCount) {
      log('--- round trips of a no-change deploy (0, 100, 200 ms)')
      roundTrips = await countRoundTrips(env, trees, repeat, log, line => notes.push(line))
    }
    for (const rtt of otherRtts) {
      log(`--- web-app tree at ${rtt} ms RTT`)
      await runBlock(env, trees, webappAt(rtt, false))
    }
    for (const rtt of otherRtts) {
      if (webappAt(rtt, true).length === 0) continue
      log(`--- per-file SFTP baseline at ${rtt} ms RTT`)
      await runBlock(env, trees, webappAt(rtt, true))
    }
    log('checking that the seeds are unchanged')
    await checkSeeds(env, trees).catch(error => {
      notes.push(
        `seed check failed, so runs after the first may have started from a changed state: ${error instanceof Error ? error.message : String(error)}`
      )
    })
  } catch (error) {
    if (!(error instanceof DeadlineError)) throw error
    notes.push(
      `stopped at the ${deadlineMin}-minute deadline (BENCH_DEADLINE_MIN); cells without a median were not run`
    )
    log('global deadline reached: stopping')
  } finally {
    log('cleaning up')
    await env.close()
  }
  if (buildId() !== build) {
    notes.push(`the action was rebuilt during the run (now ${buildId()}): rows may mix two builds`)
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

try {
  await main()
  publish()
} catch (error) {
  notes.push(`aborted: ${error instanceof Error ? error.message : String(error)}`)
  publish()
  process.exitCode = 1
}
// Everything is cleaned up (env.close) and written by now: the run ends here rather than when the
// event loop drains. Some targeted runs kept the main thread busy past this point without a
// system call, for minutes; the cause is not found, and a benchmark must stop by itself.
process.exit()
