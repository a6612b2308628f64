/**
 * Run the bundled action the way the runner does: `node dist/index.js` with INPUT_* variables,
 * GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_STATE files, and nothing else.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ACTION = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../dist/index.js'
)

export interface ActionResult {
  code: number | null
  signal: NodeJS.Signals | null
  /** stdout and stderr interleaved, as the log shows them. */
  log: string
  outputs: Record<string, string>
  summary: string
  /** What the main step saved for the post step. */
  state: Record<string, string>
  durationMs: number
}

export interface ActionOptions {
  /** Extra environment (e.g. ACTIONS_STEP_DEBUG, GITHUB_ACTIONS). */
  env?: Record<string, string>
  /** Kill the step if it runs longer than this (default 120 s). */
  timeoutMs?: number
  /** Called with the child once it started, e.g. to send it a signal. */
  onStart?: (child: ChildProcess, log: () => string) => void
  /** Run the post step (with the state the main step saved) instead of the main step. */
  state?: Record<string, string>
}

/** Environment names as the runner builds them: `INPUT_` + upper-cased name, dashes kept. */
export function inputEnv(inputs: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(inputs))
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  return env
}

/** Parse the `name<<delimiter` records @actions/core writes to GITHUB_OUTPUT and GITHUB_STATE. */
export function parseCommandFile(text: string): Record<string, string> {
  const result: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<]+)<<(.+)$/.exec(lines[i])
    if (!m) continue
    const [, name, delimiter] = m
    const value: string[] = []
    for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i])
    result[name] = value.join('\n')
  }
  return result
}

export async function runAction(
  inputs: Record<string, string>,
  options: ActionOptions = {}
): Promise<ActionResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-action-'))
  const files = {
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
    GITHUB_STATE: path.join(dir, 'state')
  }
  for (const f of Object.values(files)) await writeFile(f, '')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    RUNNER_TEMP: dir,
    ...files,
    ...inputEnv(inputs),
    ...(options.env ?? {})
  }
  if (options.state) {
    for (const [k, v] of Object.entries(options.state)) env[`STATE_${k}`] = v
  }
  const started = Date.now()
  const child = spawn(process.execPath, [ACTION], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout?.on('data', (d: Buffer) => (log += d.toString('utf8')))
  child.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')))
  options.onStart?.(child, () => log)
  const timeoutMs = options.timeoutMs ?? 120_000
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(resolve =>
    child.on('close', (c, s) => resolve([c, s]))
  )
  clearTimeout(timer)
  const result: ActionResult = {
    code,
    signal,
    log,
    outputs: parseCommandFile(await readFile(files.GITHUB_OUTPUT, 'utf8')),
    summary: await readFile(files.GITHUB_STEP_SUMMARY, 'utf8'),
    state: parseCommandFile(await readFile(files.GITHUB_STATE, 'utf8')),
    durationMs: Date.now() - started
  }
  await rm(dir, { recursive: true, force: true })
  return result
}

/** A random token, for file content that must be recognisable. */
export function token(): string {
  return randomBytes(6).toString('hex')
}
