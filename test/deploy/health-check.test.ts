/**
 * health-check.ts against a real HTTP server on loopback whose answers the test scripts: what
 * passes, what fails, and when the check stops before its timeout.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeHealthFailure, pollHealth } from '../../src/deploy/health-check.js'
import type { Log } from '../../src/logger.js'

/** The answers to give, in order; the last one repeats. Status 0: no answer at all. */
let script: { status: number; body: string }[] = []
let served = 0
let server: http.Server
let base = ''

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    const answer = script[Math.min(served, script.length - 1)] ?? { status: 200, body: '' }
    served++
    if (answer.status === 0) return
    res.statusCode = answer.status
    res.end(answer.body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
})

function answers(...list: [number, string][]): void {
  script = list.map(([status, body]) => ({ status, body }))
  served = 0
}

const lines: string[] = []
const log: Log = {
  info: line => lines.push(line),
  warning: line => lines.push(line),
  debug: () => undefined
}

const fast = { intervalMs: 50 }

describe('pollHealth', () => {
  it('passes on a 2xx whose body holds the expected text, after answers that did not', async () => {
    answers([503, 'starting'], [200, 'old build 41'], [200, '<p>build 42 ok</p>'])
    const result = await pollHealth(`${base}/up`, 5, log, { ...fast, expect: 'build 42' })
    expect(result).toMatchObject({ ok: true, attempts: 3, stoppedEarly: false })
  })

  it('fails a 200 with the wrong body, naming the text and the start of the body, and stops early', async () => {
    answers([200, '<html><title>Site error</title>\n<body>Something went wrong'])
    const started = Date.now()
    const result = await pollHealth(`${base}/up`, 30, log, { ...fast, expect: 'status: ok' })
    expect(result.ok).toBe(false)
    expect(result.stoppedEarly).toBe(true)
    expect(result.attempts).toBe(3)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(result.last).toContain("without 'status: ok'")
    expect(result.last).toContain('<html><title>Site error</title> <body>Something went wrong')
    const sentence = describeHealthFailure(`${base}/up`, 30, result, 'status: ok')
    expect(sentence).toContain('3 times in a row')
    expect(sentence).toContain('30s')
  })

  it('stops after three 500s in a row instead of waiting out the timeout', async () => {
    answers([500, 'Fatal error'])
    const started = Date.now()
    const result = await pollHealth(`${base}/up`, 30, log, fast)
    expect(result).toMatchObject({ ok: false, stoppedEarly: true, attempts: 3, brokenInARow: 3 })
    expect(result.last).toBe('HTTP 500 Internal Server Error')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('starts counting again after an answer that is not from a broken app', async () => {
    answers([500, ''], [500, ''], [502, ''], [500, ''], [500, ''], [200, 'ok'])
    const result = await pollHealth(`${base}/up`, 10, log, fast)
    expect(result).toMatchObject({ ok: true, attempts: 6 })
  })

  it('waits out the timeout on 502, 503 and 504, which a proxy gives while the app starts', async () => {
    answers([502, ''], [503, ''], [504, ''], [502, ''], [503, ''], [504, ''], [502, ''])
    const started = Date.now()
    const result = await pollHealth(`${base}/up`, 1, log, { intervalMs: 100 })
    const took = Date.now() - started
    expect(result.ok).toBe(false)
    expect(result.stoppedEarly).toBe(false)
    expect(result.attempts).toBeGreaterThan(3)
    expect(took).toBeGreaterThanOrEqual(900)
    expect(took).toBeLessThan(3_000)
    expect(describeHealthFailure(`${base}/up`, 1, result)).toMatch(
      /did not answer 2xx within 1s; last: HTTP 50[234]/
    )
  })

  it('names the last answer, not the request its timeout cut short, when the app then stops answering', async () => {
    answers([503, ''], [0, ''])
    const result = await pollHealth(`${base}/up`, 1, log, { intervalMs: 100 })
    expect(result.ok).toBe(false)
    expect(result.attempts).toBe(2)
    expect(describeHealthFailure(`${base}/up`, 1, result)).toMatch(
      /did not answer 2xx within 1s; last: HTTP 503/
    )
  })

  it('passes any 2xx when no text is expected', async () => {
    answers([204, ''])
    expect((await pollHealth(`${base}/up`, 5, log, fast)).ok).toBe(true)
  })
})
