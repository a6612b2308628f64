import { messageOf } from '../errors.js'
import type { Log } from '../logger.js'

export interface HealthResult {
  ok: boolean
  /** The last status or error seen, for the failure message. */
  last: string
  attempts: number
  /** The check ended before its timeout, after `brokenLimit` answers from a broken app in a row. */
  stoppedEarly: boolean
  /** Answers from a broken app in a row at the end. */
  brokenInARow: number
}

export interface HealthOptions {
  /** Time between the starts of two tries; default 2 s. */
  intervalMs?: number
  signal?: AbortSignal
  /** A substring a 2xx answer's body must contain (the first MiB of it is read). */
  expect?: string
  /** Answers in a row that show a broken app, after which the check stops; default 3. */
  brokenLimit?: number
}

/** The most of a body that is read to look for `expect`. */
const BODY_LIMIT = 1024 * 1024

/**
 * 502, 503 and 504 are what a proxy answers while the app behind it is (re)starting, and what an
 * app in maintenance mode answers: worth waiting for. Any other 5xx comes from the app itself
 * having run and failed.
 */
function isBrokenStatus(status: number): boolean {
  return status >= 500 && status <= 599 && status !== 502 && status !== 503 && status !== 504
}

/** Up to `limit` bytes of a body, as text; the rest is not read. */
async function readBody(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!body) return ''
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < limit) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.length
    }
  } finally {
    await reader.cancel().catch(() => undefined)
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8')
}

/** The start of a body, on one line, for the log. */
function excerpt(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  if (flat === '') return 'an empty body'
  return `'${flat.length > 80 ? `${flat.slice(0, 80)}...` : flat}'`
}

/**
 * Poll `url` from the runner until it answers 2xx (with `expect` in its body, when given) or
 * `timeoutSeconds` pass. Tries are spaced by `intervalMs` and bounded in number, and each request
 * has its own timeout, so a server that accepts the connection and never answers cannot hold the
 * deploy past the deadline. Answers that can only come from a broken app — a 5xx other than
 * 502/503/504, or a 2xx without the expected text (a themed error page, stale code) — end the
 * check early once `brokenLimit` of them came in a row: waiting out the timeout would only keep
 * the broken release live longer.
 */
export async function pollHealth(
  url: string,
  timeoutSeconds: number,
  log: Log,
  options: HealthOptions = {}
): Promise<HealthResult> {
  const intervalMs = options.intervalMs ?? 2000
  const brokenLimit = options.brokenLimit ?? 3
  const deadline = Date.now() + timeoutSeconds * 1000
  const maxAttempts = Math.ceil((timeoutSeconds * 1000) / intervalMs) + 1
  let last = 'no answer'
  let broken = 0
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const started = Date.now()
    const remaining = deadline - started
    if (remaining <= 0 || options.signal?.aborted)
      return { ok: false, last, attempts: attempt - 1, stoppedEarly: false, brokenInARow: broken }
    try {
      const response = await fetch(url, {
        redirect: 'follow',
        cache: 'no-store',
        signal: AbortSignal.any([
          AbortSignal.timeout(Math.min(10_000, remaining)),
          ...(options.signal ? [options.signal] : [])
        ])
      })
      const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
      const success = response.status >= 200 && response.status < 300
      if (success && options.expect !== undefined) {
        const body = await readBody(response.body, BODY_LIMIT)
        if (body.includes(options.expect)) {
          log.info(
            `health check: ${url} answered ${status} with '${options.expect}' (attempt ${attempt})`
          )
          return {
            ok: true,
            last: status,
            attempts: attempt,
            stoppedEarly: false,
            brokenInARow: broken
          }
        }
        last = `${status} without '${options.expect}' in the body, which starts ${excerpt(body)}`
        broken++
      } else {
        await response.body?.cancel()
        last = status
        if (success) {
          log.info(`health check: ${url} answered ${last} (attempt ${attempt})`)
          return { ok: true, last, attempts: attempt, stoppedEarly: false, brokenInARow: broken }
        }
        broken = isBrokenStatus(response.status) ? broken + 1 : 0
      }
    } catch (error) {
      // A request the check's own deadline cut short says nothing new of the app: the message
      // keeps the answer before it (an earlier 503 says more than "aborted due to timeout").
      const cutByDeadline = Date.now() >= deadline && remaining < 10_000
      if (!cutByDeadline || last === 'no answer') {
        const cause = (error as { cause?: unknown }).cause
        last = cause ? `${messageOf(error)} (${messageOf(cause)})` : messageOf(error)
      }
      broken = 0
    }
    if (broken >= brokenLimit) {
      log.info(`health check: ${url}: ${last} (attempt ${attempt}); ${broken} in a row: giving up`)
      return { ok: false, last, attempts: attempt, stoppedEarly: true, brokenInARow: broken }
    }
    log.info(`health check: ${url}: ${last} (attempt ${attempt}); trying again`)
    const wait = Math.min(intervalMs - (Date.now() - started), deadline - Date.now())
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
  }
  return { ok: false, last, attempts: maxAttempts, stoppedEarly: false, brokenInARow: broken }
}

/** Why a failed check failed, in one sentence. */
export function describeHealthFailure(
  url: string,
  timeoutSeconds: number,
  health: HealthResult,
  expect?: string
): string {
  if (health.stoppedEarly)
    return `${url} answered like a broken app ${health.brokenInARow} times in a row (stopped before the ${timeoutSeconds}s timeout); last: ${health.last}`
  const wanted = expect === undefined ? '2xx' : `2xx with '${expect}' in the body`
  return `${url} did not answer ${wanted} within ${timeoutSeconds}s; last: ${health.last}`
}
