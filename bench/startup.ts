/**
 * What starting the action costs before it does anything: `node dist/index.js` with no inputs
 * (it loads the whole bundle, then stops at the missing `servers` input) against a bare
 * `node -e 0`, wall and CPU time, over many runs with hyperfine (Debian's `hyperfine`).
 * A runner starts the action twice per job (the main and the post step).
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { bundleFiles } from '../scripts/dist-files.ts'
import { exec, shq } from './harness.ts'

export interface StartupRow {
  label: string
  /** Size of the file Node loads, bytes (none for bare Node). */
  bytes?: number
  meanMs: number
  stddevMs: number
  userMs: number
  systemMs: number
  runs: number
}

export interface Startup {
  rows: StartupRow[]
  hyperfine: string
}

interface HyperfineResult {
  command: string
  mean: number
  stddev: number | null
  user: number
  system: number
  times: number[]
}

/**
 * Time bare Node and each build. Returns a reason instead when hyperfine is missing. The
 * environment is emptied but for PATH and HOME, so no INPUT_* or GITHUB_* variable of the
 * shell running the benchmark reaches the action.
 */
export async function measureStartup(
  builds: { label: string; file: string }[],
  runs: number
): Promise<Startup | string> {
  const probe = await exec('sh', ['-c', 'command -v hyperfine'], { timeoutMs: 5_000 })
  if (probe.code !== 0)
    return 'start-up not measured: hyperfine is not installed (apt-get install hyperfine)'
  const version = (await exec('hyperfine', ['--version'], { timeoutMs: 5_000 })).stdout.trim()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-startup-'))
  try {
    const json = path.join(dir, 'startup.json')
    const commands: { label: string; argv: string[]; file?: string }[] = [
      { label: 'bare Node: node -e 0', argv: [process.execPath, '-e', '0'] },
      ...builds.map(b => ({ label: b.label, argv: [process.execPath, b.file], file: b.file }))
    ]
    const args = ['--shell=none', '--ignore-failure', '--warmup', '5', '--runs', String(runs)]
    for (const c of commands) args.push('--command-name', c.label, c.argv.map(shq).join(' '))
    args.push('--export-json', json, '--style', 'none')
    const result = await exec('hyperfine', args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
      cwd: dir,
      timeoutMs: 300_000
    })
    if (result.code !== 0) return `start-up not measured: hyperfine failed: ${result.stderr.trim()}`
    const parsed = JSON.parse(await readFile(json, 'utf8')) as { results: HyperfineResult[] }
    const rows: StartupRow[] = []
    for (const [i, r] of parsed.results.entries()) {
      const file = commands[i]?.file
      rows.push({
        label: commands[i]?.label ?? r.command,
        bytes: file ? await bundleBytes(file) : undefined,
        meanMs: r.mean * 1000,
        stddevMs: (r.stddev ?? 0) * 1000,
        userMs: r.user * 1000,
        systemMs: r.system * 1000,
        runs: r.times.length
      })
    }
    return { rows, hyperfine: version }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export function startupTable(s: Startup): string {
  const bare = s.rows[0]
  const ms = (v: number): string => v.toFixed(1)
  const lines = [
    `Mean of ${s.rows[0]?.runs ?? 0} runs each, after 5 warm-up runs (${s.hyperfine}); the action runs with no inputs and stops at the first check, so this is loading Node and the bundle.`,
    '',
    '| Command | Bundle MB | Wall ms (mean ± σ) | User ms | System ms | CPU ms | Over bare Node |',
    '|---|---:|---:|---:|---:|---:|---|'
  ]
  for (const r of s.rows) {
    const cpu = r.userMs + r.systemMs
    const over =
      r === bare || !bare
        ? ''
        : `+${ms(r.meanMs - bare.meanMs)} wall, +${ms(cpu - bare.userMs - bare.systemMs)} CPU`
    lines.push(
      [
        '',
        r.label,
        r.bytes === undefined ? '' : (r.bytes / 1e6).toFixed(2),
        `${ms(r.meanMs)} ± ${ms(r.stddevMs)}`,
        ms(r.userMs),
        ms(r.systemMs),
        ms(cpu),
        over,
        ''
      ]
        .join(' | ')
        .trim()
    )
  }
  return lines.join('\n')
}

/** A build's size: its entry and its chunks. */
async function bundleBytes(entry: string): Promise<number> {
  let bytes = 0
  for (const file of bundleFiles(entry)) bytes += (await stat(file)).size
  return bytes
}
