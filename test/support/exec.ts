import { spawn } from 'node:child_process'

export interface RunOptions {
  /** Written to the child's stdin, which is then closed (secrets go here, never into argv). */
  input?: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** The child is killed (by its pid) after this long; default 30 s. */
  timeoutMs?: number
  /** Reject on a non-zero exit; default true. */
  check?: boolean
}

export interface RunResult {
  stdout: string
  stderr: string
  code: number | null
  signal: NodeJS.Signals | null
}

export class CommandError extends Error {
  readonly result: RunResult
  constructor(message: string, result: RunResult) {
    super(message)
    this.result = result
    this.name = 'CommandError'
  }
}

/** Run a program without a shell and collect its output; every wait is bounded. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    // A child that exits without reading its stdin makes the write fail with EPIPE; the exit
    // status is what matters then.
    child.stdin.on('error', () => {})
    child.stdin.end(options.input ?? '')
    child.once('error', e => {
      clearTimeout(timer)
      reject(e)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      const result: RunResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        signal
      }
      const printable = [command, ...args].join(' ')
      if (timedOut) {
        reject(new CommandError(`${printable}: timed out after ${timeoutMs} ms`, result))
      } else if ((options.check ?? true) && code !== 0) {
        const why = code === null ? `signal ${signal}` : `exit code ${code}`
        reject(new CommandError(`${printable}: ${why}: ${result.stderr.trim()}`, result))
      } else {
        resolve(result)
      }
    })
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Wait for `promise` at most `ms`; true if it settled in time. The timer never lingers. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>(resolve => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([promise.then(() => true as const), timeout])
  } finally {
    clearTimeout(timer)
  }
}
