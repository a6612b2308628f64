/**
 * Zero downtime, observed from outside: a real nginx serves `<path>/current` while keep-alive
 * clients fetch files without pause and deploys switch releases under them. Every response must
 * be a 200 whose body is one whole file of one release: each file states its page, version and
 * length and ends with a checksum, and every version gives every file another length, so a
 * response torn between two releases, cut short, or mixed cannot pass unnoticed.
 */
import { createHash } from 'node:crypto'
import http from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction } from '../support/action.ts'
import { createFixture, writeTree, type Fixture, type TreeSpec } from '../support/fixture.ts'
import { startNginx, type Nginx } from '../support/nginx.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'

let sshd: Sshd
const fixtures: Fixture[] = []
const servers: Nginx[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const n of servers.splice(0)) await n.stop()
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

const PAGES = 10
const CLIENTS = 6
/** Releases deployed while the clients run (after the first, which exists before they start). */
const DEPLOYS_UNDER_LOAD = 8

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

/**
 * page-<k>.html of version v: `page=<k>;version=<v>;len=<n>;` + padding + `;sha256=<hex>\n`,
 * where the checksum covers everything before `;sha256=`. Sizes run from about 1.5 KB to 160 KB
 * and differ between any two versions of a page.
 */
function pageBody(k: number, v: number): Buffer {
  const size = 1500 + ((k * 37 + v * 11) % 40) * 4096 + v * 13 + k
  const head = `page=${k};version=${v};len=${size};`
  const trailerLength = ';sha256='.length + 64 + 1
  const padLength = size - head.length - trailerLength
  const unit = `<v${v}p${k}>`
  const prefix = head + unit.repeat(Math.ceil(padLength / unit.length)).slice(0, padLength)
  return Buffer.from(`${prefix};sha256=${sha256(prefix)}\n`, 'latin1')
}

const expected = new Map<string, Buffer>()

/** pageBody, computed once per page and version (the clients compare every response to it). */
function expectedBody(k: number, v: number): Buffer {
  const key = `${k}:${v}`
  let body = expected.get(key)
  if (body === undefined) expected.set(key, (body = pageBody(k, v)))
  return body
}

function versionTree(v: number): TreeSpec {
  const spec: TreeSpec = {}
  for (let k = 0; k < PAGES; k++) spec[`page-${k}.html`] = { content: expectedBody(k, v) }
  return spec
}

/** What is wrong with a response for page k, or undefined; and the version it carries. */
function inspectBody(
  k: number,
  body: Buffer,
  contentLength: string | undefined
): { version?: number; problem?: string } {
  const text = body.toString('latin1')
  const head = /^page=(\d+);version=(\d+);len=(\d+);/.exec(text)
  if (!head) return { problem: `no header: ${JSON.stringify(text.slice(0, 40))}` }
  const version = Number(head[2])
  if (Number(head[1]) !== k) return { version, problem: `page ${head[1]} served for page ${k}` }
  if (Number(head[3]) !== body.length)
    return { version, problem: `declares ${head[3]} bytes, body has ${body.length}` }
  if (contentLength !== String(body.length))
    return { version, problem: `Content-Length ${contentLength}, body has ${body.length}` }
  const at = text.lastIndexOf(';sha256=')
  if (at < 0 || !text.endsWith('\n') || sha256(text.slice(0, at)) !== text.slice(at + 8, -1))
    return { version, problem: 'checksum does not match the body' }
  if (!body.equals(expectedBody(k, version)))
    return { version, problem: `differs from version ${version} of the page` }
  return { version }
}

interface Response {
  status: number
  body: Buffer
  contentLength: string | undefined
  reused: boolean
}

function get(agent: http.Agent, port: number, urlPath: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: urlPath, agent, timeout: 10_000 },
      response => {
        const chunks: Buffer[] = []
        response.on('data', (c: Buffer) => chunks.push(c))
        response.on('error', reject)
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks),
            contentLength: response.headers['content-length'],
            reused: request.reusedSocket
          })
        )
      }
    )
    request.on('timeout', () => request.destroy(new Error(`no answer in 10 s for ${urlPath}`)))
    request.on('error', reject)
  })
}

interface LoadStats {
  requests: number
  reused: number
  nonOk: number
  errors: number
  torn: number
  /** A client saw an older version after a newer one. */
  regressions: number
  versions: Map<number, number>
  problems: string[]
}

/** One keep-alive client (one socket) fetching pages in turn until `running()` says stop. */
async function client(
  index: number,
  port: number,
  running: () => boolean,
  stats: LoadStats
): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  // The first few problems of each kind, for the failure message.
  const noted = new Map<string, number>()
  const note = (kind: string, problem: string): void => {
    const count = noted.get(kind) ?? 0
    noted.set(kind, count + 1)
    if (count < 5) stats.problems.push(`client ${index}: ${problem}`)
  }
  let newest = 0
  try {
    for (let n = index; running(); n++) {
      const k = n % PAGES
      stats.requests++
      let response: Response
      try {
        response = await get(agent, port, `/page-${k}.html`)
      } catch (error) {
        stats.errors++
        note('error', `page-${k}.html: ${error instanceof Error ? error.message : String(error)}`)
        continue
      }
      if (response.reused) stats.reused++
      if (response.status !== 200) {
        stats.nonOk++
        note('status', `page-${k}.html: HTTP ${response.status}`)
        continue
      }
      const { version, problem } = inspectBody(k, response.body, response.contentLength)
      if (problem !== undefined) {
        stats.torn++
        note('torn', `page-${k}.html: ${problem}`)
        continue
      }
      const v = version as number
      stats.versions.set(v, (stats.versions.get(v) ?? 0) + 1)
      if (v < newest) {
        stats.regressions++
        note('regression', `page-${k}.html: version ${v} after version ${newest}`)
      }
      newest = Math.max(newest, v)
    }
  } finally {
    agent.destroy()
  }
}

describe('zero downtime', () => {
  it.each([
    ['a shell account', 'default'],
    ['an SFTP-only account (ForceCommand internal-sftp in a chroot)', 'sftp-only']
  ] as const)(
    'serves every request whole, from one release, while eight deploys switch releases under load, on %s',
    async (_, kind) => {
      const started = Date.now()
      const f = await createFixture({ sshd, kind })
      fixtures.push(f)
      await writeTree(f.source, versionTree(1))
      const first = await runAction(f.inputs({ 'release-id': 'v1' }))
      expect(first.code, first.log).toBe(0)

      const nginx = await startNginx({ root: `${f.deployDir}/current`, user: f.user.name })
      servers.push(nginx)
      const agent = new http.Agent({ keepAlive: false })
      for (let k = 0; k < PAGES; k++) {
        const r = await get(agent, nginx.port, `/page-${k}.html`)
        expect(r.status, await nginx.errorLog()).toBe(200)
        expect(inspectBody(k, r.body, r.contentLength)).toEqual({ version: 1 })
      }

      const stats: LoadStats = {
        requests: 0,
        reused: 0,
        nonOk: 0,
        errors: 0,
        torn: 0,
        regressions: 0,
        versions: new Map(),
        problems: []
      }
      let running = true
      const loadStarted = Date.now()
      const clients = Array.from({ length: CLIENTS }, (_, i) =>
        client(i, nginx.port, () => running, stats)
      )
      const deploys: { id: string; ms: number; requestsBefore: number }[] = []
      try {
        for (let v = 2; v <= DEPLOYS_UNDER_LOAD + 1; v++) {
          await writeTree(f.source, versionTree(v))
          const requestsBefore = stats.requests
          const deployed = await runAction(f.inputs({ 'release-id': `v${v}` }), {
            timeoutMs: 40_000
          })
          expect(deployed.code, deployed.log).toBe(0)
          deploys.push({ id: `v${v}`, ms: deployed.durationMs, requestsBefore })
        }
      } finally {
        running = false
        await Promise.all(clients)
      }
      const loadMs = Date.now() - loadStarted

      const last = DEPLOYS_UNDER_LOAD + 1
      const summary = {
        requests: stats.requests,
        reusedConnections: stats.reused,
        nonOk: stats.nonOk,
        errors: stats.errors,
        torn: stats.torn,
        regressions: stats.regressions,
        versions: Object.fromEntries([...stats.versions].sort((a, b) => a[0] - b[0])),
        loadMs,
        deploys,
        totalMs: Date.now() - started,
        problems: stats.problems
      }
      console.log(`zero-downtime load (${kind}): ${JSON.stringify(summary)}`)
      const why = JSON.stringify(summary, null, 2)

      expect(stats.nonOk, why).toBe(0)
      expect(stats.errors, why).toBe(0)
      expect(stats.torn, why).toBe(0)
      expect(stats.regressions, why).toBe(0)
      expect(stats.versions.size, why).toBeGreaterThanOrEqual(3)
      expect(stats.requests, why).toBeGreaterThan(500)
      // The clients kept their connections: this was keep-alive traffic across the switches.
      expect(stats.reused, why).toBeGreaterThan(stats.requests * 0.9)

      // Once the last deploy finished, every page is its newest version.
      for (let k = 0; k < PAGES; k++) {
        const r = await get(agent, nginx.port, `/page-${k}.html`)
        expect(r.status).toBe(200)
        expect(inspectBody(k, r.body, r.contentLength)).toEqual({ version: last })
      }
      agent.destroy()
    },
    90_000
  )
})
