import { messageOf } from '../errors.js'
import type { Log } from '../logger.js'

export interface HealthResult {
  ok: boolean
  /** The last status or error seen, for the failure message. */
  last: string
  attempts: number
}

/**
 * Poll `url` from the runner until it answers 2xx or `timeoutSeconds` pass. Tries are spaced by
 * `intervalMs` and bounded in number, and each request has its own timeout, so a server that
 * accepts the connection and never answers cannot hold the deploy past the deadline.
 */
export async function pollHealth(
  url: string,
  timeoutSeconds: number,
  log: Log,
  options: { intervalMs?: number; signal?: AbortSignal } = {}
): Promise<HealthResult> {
  const intervalMs = options.intervalMs ?? 2000
  const deadline = Date.now() + timeoutSeconds * 1000
  const maxAttempts = Math.ceil((timeoutSeconds * 1000) / intervalMs) + 1
  let last = 'no answer'
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const started = Date.now()
    const remaining = deadline - started
    if (remaining <= 0 || options.signal?.aborted) return { ok: false, last, attempts: attempt - 1 }
    try {
      const response = await fetch(url, {
        redirect: 'follow',
        cache: 'no-store',
        signal: AbortSignal.any([
          AbortSignal.timeout(Math.min(10_000, remaining)),
          ...(options.signal ? [options.signal] : [])
        ])
      })
      await response.body?.cancel()
      last = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
      if (response.status >= 200 && response.status < 300) {
        log.info(`health check: ${url} answered ${last} (attempt ${attempt})`)
        return { ok: true, last, attempts: attempt }
      }
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause
      last = cause ? `${messageOf(error)} (${messageOf(cause)})` : messageOf(error)
    }
    log.info(`health check: ${url}: ${last} (attempt ${attempt}); trying again`)
    const wait = Math.min(intervalMs - (Date.now() - started), deadline - Date.now())
    if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
  }
  return { ok: false, last, attempts: maxAttempts }
}
