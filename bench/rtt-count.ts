/**
 * How many network round trips a deploy with nothing to upload costs.
 *
 * Wall time at RTT r is roughly fixed work + r × round trips, so the slope between two RTTs
 * counts the round trips on the critical path (sequential ones; overlapped ones count once):
 * round trips = (t(200 ms) − t(100 ms)) / 0.1 s. t(0) gives a second estimate, less clean
 * because at 0 ms CPU time and round trips overlap differently.
 *
 * `node bench/rtt-count.ts` runs it alone (BENCH_REPEAT repetitions, default 3); run.ts calls
 * countRoundTrips() at the end of a default run.
 */
import { DeadlineError, setDeadline, startEnv, type Env } from './harness.ts'
import { median, roundTripsText, type RoundTrips } from './report.ts'
import { prepareSeeds, SCENARIOS, type Trees } from './scenarios.ts'
import { ensureWorkload, WEB_APP } from './workload.ts'

const RTTS = [0, 100, 200]

/**
 * Needs the seeds of prepareSeeds(). Repetitions interleave the RTTs, so drift hits all alike.
 * A failed deploy is reported through `note` and left out; a failure of each run at some RTT
 * leaves the count undefined.
 */
export async function countRoundTrips(
  env: Env,
  trees: Trees,
  repeat: number,
  log: (line: string) => void,
  note: (line: string) => void
): Promise<RoundTrips | undefined> {
  // Hard links keep the server's disk copy, which varies with the disk's load, out of the slope.
  const noChange = SCENARIOS.find(s => s.key === 'nochange-hardlink')!
  const samples: Record<number, number[]> = { 0: [], 100: [], 200: [] }
  for (let rep = 0; rep < repeat; rep++) {
    for (const rtt of RTTS) {
      env.proxy.setDelay(rtt / 2)
      try {
        // Targets named apart from the main table's no-change runs.
        const m = await noChange.run({ env, trees, rtt: 10_000 + rtt, rep, verify: false })
        samples[rtt]!.push(m.ms)
        log(`round-trip count: no-change deploy at ${rtt} ms: ${(m.ms / 1000).toFixed(2)} s`)
      } catch (error) {
        if (error instanceof DeadlineError) throw error
        const message = error instanceof Error ? error.message : String(error)
        note(`round-trip count: no-change deploy at ${rtt} ms failed: ${message.split('\n')[0]}`)
        log(`round-trip count: no-change deploy at ${rtt} ms FAILED: ${message}`)
      }
    }
  }
  if (RTTS.some(rtt => samples[rtt]!.length === 0)) return undefined
  const t = (rtt: number): number => median(samples[rtt]!) / 1000
  return {
    seconds: { 0: t(0), 100: t(100), 200: t(200) },
    roundTrips: (t(200) - t(100)) / 0.1,
    roundTripsLow: (t(100) - t(0)) / 0.1
  }
}

if (import.meta.main) {
  const log = (line: string): void => void process.stderr.write(`[rtt-count] ${line}\n`)
  const repeat = Number(process.env.BENCH_REPEAT ?? 3)
  setDeadline(Date.now() + 10 * 60_000)
  const webapp = ensureWorkload(WEB_APP, log)
  const env = await startEnv(log)
  const stop = (): void => {
    void env.close().finally(() => process.exit(130))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    await prepareSeeds(env, { webapp }, log, line => console.error(line))
    const note = (line: string): void => console.error(line)
    const result = await countRoundTrips(env, { webapp }, repeat, log, note)
    console.log(result ? roundTripsText(result) : 'no count: every run at some RTT failed')
  } catch (error) {
    if (!(error instanceof DeadlineError)) process.exitCode = 1
    console.error(error instanceof Error ? error.message : String(error))
  } finally {
    await env.close()
  }
  // Cleaned up and printed: the run ends here rather than when the event loop drains (see the
  // end of run.ts).
  process.exit()
}
