/**
 * The README's PHP recipe, run for real: nginx (Debian's snippets/fastcgi-php.conf, with
 * SCRIPT_FILENAME from $realpath_root) in front of PHP-FPM (stock php.ini, so OPcache is on, and
 * process_control_timeout set), after-switch reloading PHP-FPM as `systemctl reload` does (but
 * for one deploy: $realpath_root alone must be enough), and a health check with
 * health-check-expect. Keep-alive clients fetch the front controller without
 * pause while two deploys, a deploy that fails its health check (rolled back automatically) and
 * a mode rollback run. Every answer must be a 200 from one whole release, and once a release is
 * seen live, no request that starts later may get older code.
 */
import http from 'node:http'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionResult } from '../support/action.ts'
import { createFixture, writeTree, type Fixture, type TreeSpec } from '../support/fixture.ts'
import { startNginx, type Nginx } from '../support/nginx.ts'
import { startPhpFpm, type PhpFpm } from '../support/php-fpm.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'

let sshd: Sshd
let fixture: Fixture | undefined
const stops: (() => Promise<void>)[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
  await fixture?.cleanup()
  fixture = undefined
})
afterAll(async () => {
  await sshd?.stop()
})

const CLIENTS = 4
/** Bounds on the load loop, whatever happens to the deploys. */
const MAX_REQUESTS = 200_000
const MAX_LOAD_MS = 50_000

/**
 * Version v of the app: a front controller that includes a library from outside the web root
 * (so a response mixing two releases, through PHP's realpath cache or OPcache, shows), and a
 * health page that says whether the app can reach its database.
 */
function app(v: number, database: 'ok' | 'missing' = 'ok'): TreeSpec {
  return {
    'public/index.php': `<?php\nrequire __DIR__ . '/../src/version.php';\necho 'index=v${v};lib=' . app_version() . ";\\n";\n`,
    'src/version.php': `<?php\nfunction app_version() { return 'v${v}'; }\n`,
    'public/health.php': `<?php\necho "db: ${database}\\n";\n`
  }
}

interface Sample {
  client: number
  start: number
  end: number
  status: number
  /** The release the whole body came from, or undefined when it is not one whole release. */
  version?: number
  body: string
}

function get(agent: http.Agent, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, r => {
      let body = ''
      r.setEncoding('utf8')
      r.on('data', (c: string) => (body += c))
      r.on('error', reject)
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }))
    })
    request.on('timeout', () => request.destroy(new Error('no answer in 10 s')))
    request.on('error', reject)
  })
}

async function client(
  index: number,
  port: number,
  running: () => boolean,
  samples: Sample[]
): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  try {
    while (running() && samples.length < MAX_REQUESTS) {
      const start = performance.now()
      let status = 0
      let body = ''
      try {
        ;({ status, body } = await get(agent, port))
      } catch (error) {
        body = `request failed: ${error instanceof Error ? error.message : String(error)}`
      }
      const whole = /^index=v(\d+);lib=v(\d+);\n$/.exec(body)
      const version = whole && whole[1] === whole[2] ? Number(whole[1]) : undefined
      samples.push({ client: index, start, end: performance.now(), status, version, body })
    }
  } finally {
    agent.destroy()
  }
}

interface Step {
  name: string
  start: number
  end: number
  /** The release live once the step is over. */
  live: number
  run: ActionResult
}

describe('the PHP recipe: nginx with $realpath_root, PHP-FPM with OPcache', () => {
  it('serves only 200s from one whole release through deploys, a failed deploy and a rollback, and never older code once a release was seen live', async () => {
    const f = await createFixture({ sshd })
    fixture = f
    const fpm: PhpFpm = await startPhpFpm(f.user, { processControlTimeout: 10 })
    stops.push(() => fpm.stop())
    const nginx: Nginx = await startNginx({
      root: `${f.deployDir}/current/public`,
      user: f.user.name,
      php: { fastcgiPass: fpm.address }
    })
    stops.push(() => nginx.stop())
    const recipe = {
      // What `systemctl reload php8.2-fpm` does: SIGUSR2 to the master, a graceful reload.
      'after-switch': `kill -USR2 "$(cat ${fpm.pidFile})"`,
      'health-check-url': `http://127.0.0.1:${nginx.port}/health.php`,
      'health-check-expect': 'db: ok'
    }

    await writeTree(f.source, app(1))
    const first = await runAction(f.inputs({ 'release-id': 'v1', ...recipe }))
    expect(first.code, first.log).toBe(0)
    const probe = new http.Agent({ keepAlive: false })
    const answer = await get(probe, nginx.port)
    expect(answer, `${await nginx.errorLog()}\n${await fpm.errorLog()}`).toEqual({
      status: 200,
      body: 'index=v1;lib=v1;\n'
    })

    const samples: Sample[] = []
    const loadStarted = performance.now()
    let running = true
    const clients = Array.from({ length: CLIENTS }, (_, i) =>
      client(i, nginx.port, () => running && performance.now() - loadStarted < MAX_LOAD_MS, samples)
    )
    const steps: Step[] = []
    const step = async (
      name: string,
      live: number,
      inputs: Record<string, string>
    ): Promise<ActionResult> => {
      const start = performance.now()
      const run = await runAction(f.inputs(inputs), { timeoutMs: 40_000 })
      steps.push({ name, start, end: performance.now(), live, run })
      return run
    }
    try {
      // With $realpath_root, no reload is needed for the new code to be served at once.
      await writeTree(f.source, app(2))
      const noReload = { ...recipe, 'after-switch': '' }
      expect((await step('deploy v2', 2, { 'release-id': 'v2', ...noReload })).code).toBe(0)
      await writeTree(f.source, app(3))
      expect((await step('deploy v3', 3, { 'release-id': 'v3', ...recipe })).code).toBe(0)
      // v4 answers its pages, but cannot reach its database: the health check fails it.
      await writeTree(f.source, app(4, 'missing'))
      const failed = await step('failed deploy v4', 3, { 'release-id': 'v4', ...recipe })
      expect(failed.code, failed.log).toBe(1)
      expect(failed.outputs['rolled-back']).toBe('true')
      expect(failed.log).toMatch(/without 'db: ok' in the body, which starts 'db: missing'/)
      const back = await step('mode rollback', 2, { mode: 'rollback', ...recipe })
      expect(back.code, back.log).toBe(0)
      expect(back.outputs['release-id']).toBe('v2')
      // Hold the load a little after the last step, to see what is served once it is over.
      await new Promise(resolve => setTimeout(resolve, 300))
    } finally {
      running = false
      await Promise.all(clients)
      probe.destroy()
    }

    const problems: string[] = []
    const note = (problem: string): void => void (problems.length < 20 && problems.push(problem))
    for (const s of samples) {
      if (s.status !== 200)
        note(`HTTP ${s.status} at ${Math.round(s.start)}: ${s.body.slice(0, 80)}`)
      else if (s.version === undefined) note(`not one whole release: ${JSON.stringify(s.body)}`)
    }
    // After each step, until the next, every request gets the release live after it.
    steps.forEach((st, i) => {
      const until = steps[i + 1]?.start ?? Infinity
      for (const s of samples.filter(x => x.start > st.end && x.end < until && x.version))
        if (s.version !== st.live) note(`v${s.version} after '${st.name}' (v${st.live} is live)`)
    })
    // Within each step: once a release was seen, no request starting later gets the one before it.
    for (const st of steps) {
      const during = samples.filter(x => x.start >= st.start && x.end <= st.end && x.version)
      const seenAt = new Map<number, number>()
      for (const s of during)
        seenAt.set(
          s.version as number,
          Math.min(s.end, seenAt.get(s.version as number) ?? Infinity)
        )
      const order = [...seenAt.keys()]
      for (const s of during) {
        for (const v of order) {
          const newer =
            st.name === 'mode rollback' ? v < (s.version as number) : v > (s.version as number)
          // The failed deploy goes v3 -> v4 -> v3: only its end state is checked (above).
          if (st.name.startsWith('failed')) continue
          if (newer && s.start > (seenAt.get(v) as number))
            note(`'${st.name}': v${s.version} served after v${v} was seen live`)
        }
      }
    }
    const versions = new Map<number, number>()
    for (const s of samples)
      if (s.version) versions.set(s.version, (versions.get(s.version) ?? 0) + 1)
    const summary = {
      requests: samples.length,
      non200: samples.filter(s => s.status !== 200).length,
      versions: Object.fromEntries(versions),
      steps: steps.map(st => ({
        name: st.name,
        ms: Math.round(st.end - st.start),
        requests: samples.filter(s => s.start >= st.start && s.end <= st.end).length
      })),
      problems
    }
    console.log(`php recipe under load: ${JSON.stringify(summary)}`)
    const why = JSON.stringify(summary, null, 2)
    expect(problems, why).toEqual([])
    expect(summary.non200, why).toBe(0)
    // Real load through every step, and v4 was live (and served) until it was rolled back.
    for (const st of summary.steps) expect(st.requests, why).toBeGreaterThan(20)
    expect(versions.get(4) ?? 0, why).toBeGreaterThan(0)
    expect(await fpm.errorLog()).not.toMatch(/PHP (Fatal|Warning)/)
  }, 90_000)
})
