/**
 * Shared paths, hooks, health checks, rollback and unlock, end to end: `node dist/index.js`
 * against a real OpenSSH sshd on loopback, and a local HTTP server for the health check.
 */
import {
  appendFile,
  mkdir,
  readFile,
  readlink,
  realpath,
  rename,
  writeFile
} from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction } from '../support/action.ts'
import { run } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  writeTree,
  type Fixture,
  type TreeSpec
} from '../support/fixture.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'

let sshd: Sshd
const fixtures: Fixture[] = []
const servers: http.Server[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise<void>(resolve => s.close(() => resolve()))
  }
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

async function fixture(tree: TreeSpec = {}): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  await writeTree(f.source, { 'index.php': '<?php echo "v1";', ...tree })
  return f
}

const label = (f: Fixture): string => `${f.user.name}@127.0.0.1:${sshd.port}`
const lockDir = (f: Fixture): string => path.join(f.deployDir, '.atomic-deploy/lock')
const current = async (f: Fixture): Promise<string> => readlink(path.join(f.deployDir, 'current'))
const errorLines = (log: string): string[] => log.split('\n').filter(l => l.startsWith('::error::'))

/** Write files into the deploy directory (e.g. a hand-made shared/) owned by the deploy user. */
async function writeOnServer(f: Fixture, spec: TreeSpec): Promise<void> {
  await mkdir(f.deployDir, { recursive: true })
  await writeTree(f.deployDir, spec)
  await run('chown', ['-R', `${f.user.name}:`, f.deployDir])
}

/** A link that is relative and, resolved from where it sits, lands exactly on `expected`. */
async function expectRelativeLinkTo(link: string, expected: string): Promise<void> {
  const target = await readlink(link)
  expect(path.isAbsolute(target), `${link} -> ${target}`).toBe(false)
  expect(path.resolve(path.dirname(link), target)).toBe(expected)
  expect(await realpath(link)).toBe(await realpath(expected))
}

describe('shared paths linked automatically', () => {
  it('links every entry of shared/ at the first level the release lacks, with relative links that survive moving the deploy directory', async () => {
    const f = await fixture({
      'storage/app/.gitignore': '*\n',
      'storage/logs/.gitkeep': ''
    })
    await writeOnServer(f, {
      'shared/.env': 'APP_KEY=from-shared\n',
      'shared/storage/app/public/avatar.png': 'png bytes'
    })
    const deployed = await runAction(f.inputs())
    expect(deployed.code, deployed.log).toBe(0)
    const id = deployed.outputs['release-id']
    const release = path.join(f.deployDir, 'releases', id)

    await expectRelativeLinkTo(path.join(release, '.env'), path.join(f.deployDir, 'shared/.env'))
    await expectRelativeLinkTo(
      path.join(release, 'storage/app/public'),
      path.join(f.deployDir, 'shared/storage/app/public')
    )
    // storage/ and storage/app/ stay the release's own directories; only the missing level links.
    const own = await describeTree(release, {
      skip: rel => rel === '.env' || rel === 'storage/app/public'
    })
    expect(own).toEqual(await describeTree(f.source))
    expect(await readFile(path.join(f.deployDir, 'current/.env'), 'utf8')).toBe(
      'APP_KEY=from-shared\n'
    )

    // Move the whole deploy directory: every link still resolves, to the moved shared/.
    const moved = path.join(f.user.home, 'moved-app')
    await rename(f.deployDir, moved)
    expect(await exists(f.deployDir)).toBe(false)
    expect(await readFile(path.join(moved, 'current/.env'), 'utf8')).toBe('APP_KEY=from-shared\n')
    expect(await readFile(path.join(moved, 'current/storage/app/public/avatar.png'), 'utf8')).toBe(
      'png bytes'
    )
    expect(await realpath(path.join(moved, 'current/storage/app/public'))).toBe(
      await realpath(path.join(moved, 'shared/storage/app/public'))
    )
  })
})

describe('explicit shared-paths', () => {
  it('fails on a listed file that exists nowhere, naming it, with nothing switched', async () => {
    const f = await fixture({ 'config/app.ini': 'debug=0\n' })
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    const sharedBefore = await describeTree(path.join(f.deployDir, 'shared'))

    const run = await runAction(
      f.inputs({ 'release-id': 'two', 'shared-paths': 'config/missing.ini' })
    )
    expect(run.code).toBe(1)
    expect(errorLines(run.log).join('\n')).toContain('config/missing.ini')
    expect(await current(f)).toBe('releases/one')
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one'])
    expect(await describeTree(path.join(f.deployDir, 'shared'))).toEqual(sharedBefore)
    expect(await exists(lockDir(f))).toBe(false)
  })

  it('leaves shared/ as it was when the deploy fails after a listed path could be seeded', async () => {
    const f = await fixture({ 'config/app.ini': 'debug=0\n' })
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    const sharedBefore = await describeTree(path.join(f.deployDir, 'shared'))

    const run = await runAction(
      f.inputs({ 'release-id': 'two', 'shared-paths': 'config/app.ini\nconfig/missing.ini' })
    )
    expect(run.code).toBe(1)
    expect(errorLines(run.log).join('\n')).toContain('config/missing.ini')
    expect(await current(f)).toBe('releases/one')
    // Nothing of the aborted release stays behind in shared/, so the next deploy is not blocked.
    expect(await describeTree(path.join(f.deployDir, 'shared'))).toEqual(sharedBefore)
    const next = await runAction(
      f.inputs({ 'release-id': 'three', 'shared-paths': 'config/app.ini' })
    )
    expect(next.code, next.log).toBe(0)
    expect(await readFile(path.join(f.deployDir, 'shared/config/app.ini'), 'utf8')).toBe(
      'debug=0\n'
    )
  })

  it('seeds a listed path from the first release, creates a listed directory, and keeps shared data on later deploys', async () => {
    const f = await fixture({
      'storage/logs/laravel.log': 'shipped empty log\n',
      'public/index.html': 'hi'
    })
    const inputs = { 'shared-paths': 'storage/logs\nuploads/\n' }
    const first = await runAction(f.inputs({ ...inputs, 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    const shared = path.join(f.deployDir, 'shared')
    const one = path.join(f.deployDir, 'releases/one')

    // Seeded: the release's storage/logs moved into shared/, and a link left in its place.
    expect(await readFile(path.join(shared, 'storage/logs/laravel.log'), 'utf8')).toBe(
      'shipped empty log\n'
    )
    await expectRelativeLinkTo(path.join(one, 'storage/logs'), path.join(shared, 'storage/logs'))
    // Created: uploads/ was in neither place, and ends in '/'.
    expect(await list(path.join(shared, 'uploads'))).toEqual([])
    await expectRelativeLinkTo(path.join(one, 'uploads'), path.join(shared, 'uploads'))
    // Only the listed paths are linked.
    expect(await list(shared)).toEqual(['storage', 'uploads'])

    // The app writes to the shared paths while release one is live.
    await writeOnServer(f, {
      'shared/storage/logs/laravel.log': 'written by the app\n',
      'shared/uploads/photo.jpg': 'jpeg'
    })
    const sharedBefore = await describeTree(shared)

    // Later deploys of the same source (storage/logs still in it) link, never overwrite.
    await writeTree(f.source, { 'public/index.html': 'hi again' })
    const second = await runAction(
      f.inputs({ ...inputs, 'release-id': 'two', 'shared-conflict': 'replace' })
    )
    expect(second.code, second.log).toBe(0)
    expect(await current(f)).toBe('releases/two')
    expect(await describeTree(shared)).toEqual(sharedBefore)
    expect(await readFile(path.join(f.deployDir, 'current/storage/logs/laravel.log'), 'utf8')).toBe(
      'written by the app\n'
    )
    expect(await readFile(path.join(f.deployDir, 'current/uploads/photo.jpg'), 'utf8')).toBe('jpeg')
    expect(await readFile(path.join(f.deployDir, 'current/public/index.html'), 'utf8')).toBe(
      'hi again'
    )
  })
})

describe('a path both in shared/ and in the release', () => {
  it('fails naming it, and with shared-conflict: replace links to shared/ without touching it', async () => {
    const f = await fixture({ '.env': 'APP_KEY=committed-by-mistake\n' })
    await writeOnServer(f, { 'shared/.env': 'APP_KEY=the-real-one\n' })

    const refused = await runAction(f.inputs())
    expect(refused.code).toBe(1)
    expect(errorLines(refused.log).join('\n')).toMatch(/\.env\b.*shared/)
    expect(await exists(path.join(f.deployDir, 'current'))).toBe(false)
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual([])
    expect(await exists(lockDir(f))).toBe(false)

    const replaced = await runAction(f.inputs({ 'shared-conflict': 'replace' }))
    expect(replaced.code, replaced.log).toBe(0)
    const release = path.join(f.deployDir, 'releases', replaced.outputs['release-id'])
    await expectRelativeLinkTo(path.join(release, '.env'), path.join(f.deployDir, 'shared/.env'))
    expect(await readFile(path.join(f.deployDir, 'shared/.env'), 'utf8')).toBe(
      'APP_KEY=the-real-one\n'
    )
  })

  it('keeps deploying with shared-conflict: replace, the link still pointing to shared/', async () => {
    const f = await fixture({ '.env': 'APP_KEY=committed-by-mistake\n' })
    await writeOnServer(f, { 'shared/.env': 'APP_KEY=the-real-one\n' })
    const first = await runAction(f.inputs({ 'shared-conflict': 'replace', 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)

    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    const second = await runAction(f.inputs({ 'shared-conflict': 'replace', 'release-id': 'two' }))
    expect(second.code, second.log).toBe(0)
    expect(await current(f)).toBe('releases/two')
    await expectRelativeLinkTo(
      path.join(f.deployDir, 'releases/two/.env'),
      path.join(f.deployDir, 'shared/.env')
    )
    expect(await readFile(path.join(f.deployDir, 'shared/.env'), 'utf8')).toBe(
      'APP_KEY=the-real-one\n'
    )
  })
})

describe('hook scripts', () => {
  it('runs a before-switch script with CRLF line endings', async () => {
    const f = await fixture()
    const script = ['X=two', 'test "$X" = two', 'echo "crlf ok:$X:"', ''].join('\r\n')
    const deployed = await runAction(f.inputs({ 'before-switch': script }))
    expect(deployed.code, deployed.log).toBe(0)
    expect(deployed.log).toContain(`[${label(f)}] crlf ok:two:`)
    expect(deployed.log).not.toContain('\r')
  })

  it('streams hook output live, prefixed with the server, and reports the exit status', async () => {
    const f = await fixture()
    const prefix = `[${label(f)}] `
    let firstSeen = false
    let secondAlreadyThere = true
    const deployed = await runAction(
      f.inputs({
        'before-switch': 'echo first-line\necho on-stderr >&2\nsleep 2\necho second-line',
        'after-switch': 'echo after-ran\nexit 7',
        'rollback-on-failure': 'false'
      }),
      {
        onStart: (child, log) => {
          const timer = setInterval(() => {
            if (log().includes(`${prefix}first-line\n`)) {
              firstSeen = true
              secondAlreadyThere = log().includes('second-line')
              clearInterval(timer)
            }
          }, 50)
          child.on('close', () => clearInterval(timer))
        }
      }
    )
    expect(deployed.code).toBe(1)
    // Seen while the script was still sleeping: streamed, not collected at the end.
    expect(firstSeen).toBe(true)
    expect(secondAlreadyThere).toBe(false)
    for (const line of ['first-line', 'on-stderr', 'second-line', 'after-ran'])
      expect(deployed.log).toContain(`${prefix}${line}\n`)
    expect(errorLines(deployed.log).join('\n')).toMatch(/after-switch failed with status 7/)
  })
})

describe('a failing after-switch', () => {
  it('switches back to the previous release, or stays with rollback-on-failure: false', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)

    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    const failed = await runAction(
      f.inputs({ 'release-id': 'two', 'after-switch': 'echo reloading\nexit 4' })
    )
    expect(failed.code).toBe(1)
    expect(failed.outputs['rolled-back']).toBe('true')
    expect(failed.outputs['release-id']).toBe('one')
    expect(await current(f)).toBe('releases/one')
    expect(await readFile(path.join(f.deployDir, 'current/index.php'), 'utf8')).toBe(
      '<?php echo "v1";'
    )
    expect(errorLines(failed.log).join('\n')).toMatch(/after-switch failed with status 4/)
    expect(await exists(lockDir(f))).toBe(false)
    // The job summary says it plainly: the server's row, the reason, and where it went back to.
    expect(failed.summary).toContain('↩️ rolled back')
    expect(failed.summary).toMatch(/<td>[^<]*after-switch failed with status 4/)
    expect(failed.summary).toContain('**Failed:**')
    expect(failed.summary).toContain('**Rolled back** to one.')

    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    const kept = await runAction(
      f.inputs({
        'release-id': 'three',
        'after-switch': 'exit 4',
        'rollback-on-failure': 'false'
      })
    )
    expect(kept.code).toBe(1)
    expect(kept.outputs['rolled-back']).toBe('false')
    expect(await current(f)).toBe('releases/three')
    expect(await readFile(path.join(f.deployDir, 'current/index.php'), 'utf8')).toBe(
      '<?php echo "v3";'
    )
    expect(await exists(lockDir(f))).toBe(false)
  })
})

interface HealthServer {
  url: string
  /** Time (ms since epoch) and path of every request. */
  requests: { at: number; path: string }[]
}

/**
 * /health answers 200 when the deployed tree's current/health.txt says ok, else 404.
 * /hang accepts the request and never answers.
 */
async function startHealthServer(f: Fixture): Promise<HealthServer> {
  const requests: HealthServer['requests'] = []
  const server = http.createServer((req, res) => {
    requests.push({ at: Date.now(), path: req.url ?? '' })
    if (req.url === '/hang') return
    readFile(path.join(f.deployDir, 'current/health.txt'), 'utf8')
      .catch(() => '')
      .then(text => {
        res.statusCode = text.trim() === 'ok' ? 200 : 404
        res.end(text.trim() === 'ok' ? 'ok' : 'not ok')
      })
  })
  servers.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, requests }
}

describe('the health check', () => {
  it('keeps a release that answers 2xx and rolls back one that answers 404', async () => {
    const f = await fixture({ 'health.txt': 'ok\n' })
    const health = await startHealthServer(f)
    const passing = await runAction(
      f.inputs({ 'release-id': 'good', 'health-check-url': `${health.url}/health` })
    )
    expect(passing.code, passing.log).toBe(0)
    expect(passing.outputs['rolled-back']).toBe('false')
    expect(await current(f)).toBe('releases/good')
    expect(health.requests.length).toBeGreaterThan(0)

    await writeTree(f.source, { 'health.txt': 'broken\n' })
    health.requests.length = 0
    const failing = await runAction(
      f.inputs({
        'release-id': 'bad',
        'health-check-url': `${health.url}/health`,
        'health-check-timeout': '3'
      })
    )
    const ended = Date.now()
    expect(failing.code).toBe(1)
    expect(failing.outputs['rolled-back']).toBe('true')
    expect(errorLines(failing.log).join('\n')).toContain('404')
    expect(await current(f)).toBe('releases/good')
    expect(await readFile(path.join(f.deployDir, 'current/health.txt'), 'utf8')).toBe('ok\n')
    expect(await exists(lockDir(f))).toBe(false)
    // The bad release was polled (it was live when asked), and for about the timeout.
    expect(health.requests.length).toBeGreaterThan(0)
    expect(health.requests.length).toBeLessThanOrEqual(10)
    expect(ended - health.requests[0]!.at).toBeLessThan(6_500)
  })

  it('gives up at health-check-timeout when the URL never answers', async () => {
    const f = await fixture({ 'health.txt': 'ok\n' })
    const health = await startHealthServer(f)
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)

    const hung = await runAction(
      f.inputs({
        'release-id': 'two',
        'health-check-url': `${health.url}/hang`,
        'health-check-timeout': '3'
      })
    )
    const ended = Date.now()
    expect(hung.code).toBe(1)
    expect(hung.outputs['rolled-back']).toBe('true')
    expect(await current(f)).toBe('releases/one')
    expect(health.requests.length).toBeGreaterThan(0)
    expect(health.requests.length).toBeLessThanOrEqual(5)
    const waited = ended - health.requests[0]!.at
    expect(waited).toBeGreaterThanOrEqual(2_500)
    expect(waited).toBeLessThan(6_500)
  })
})

describe('mode: rollback', () => {
  it('steps back one release at a time, goes to rollback-to, and refuses a missing or incomplete target', async () => {
    const f = await fixture()
    for (const id of ['r1', 'r2', 'r3']) {
      await writeTree(f.source, { 'version.txt': id })
      const deployed = await runAction(f.inputs({ 'release-id': id }))
      expect(deployed.code, deployed.log).toBe(0)
    }
    const afterSwitch = 'echo "after-switch RELEASE_ID=$RELEASE_ID in $(pwd)"'

    const back = await runAction(f.inputs({ mode: 'rollback', 'after-switch': afterSwitch }))
    expect(back.code, back.log).toBe(0)
    expect(await current(f)).toBe('releases/r2')
    expect(back.outputs['release-id']).toBe('r2')
    expect(await readFile(path.join(f.deployDir, 'current/version.txt'), 'utf8')).toBe('r2')
    expect(back.log).toContain(
      `[${label(f)}] after-switch RELEASE_ID=r2 in ${f.deployDir}/releases/r2`
    )

    const again = await runAction(f.inputs({ mode: 'rollback' }))
    expect(again.code, again.log).toBe(0)
    expect(await current(f)).toBe('releases/r1')
    expect(again.outputs['release-id']).toBe('r1')
    expect(again.log).toMatch(/^Done: rolled back; release r1 is live \(\d+\.\d+s\)\.$/m)

    const to = await runAction(f.inputs({ mode: 'rollback', 'rollback-to': 'r3' }))
    expect(to.code, to.log).toBe(0)
    expect(await current(f)).toBe('releases/r3')
    expect(await readFile(path.join(f.deployDir, 'current/version.txt'), 'utf8')).toBe('r3')

    const missing = await runAction(f.inputs({ mode: 'rollback', 'rollback-to': 'nope' }))
    expect(missing.code).toBe(1)
    expect(errorLines(missing.log).join('\n')).toContain('nope')
    expect(await current(f)).toBe('releases/r3')
    expect(await exists(lockDir(f))).toBe(false)

    // A release a crashed run left half-made is there on disk, but is no rollback target.
    await writeOnServer(f, { 'releases/half/version.txt': 'half' })
    await appendFile(
      path.join(f.deployDir, '.atomic-deploy/log'),
      `start\thalf\t${new Date().toISOString()}\n`
    )
    const incomplete = await runAction(f.inputs({ mode: 'rollback', 'rollback-to': 'half' }))
    expect(incomplete.code).toBe(1)
    expect(errorLines(incomplete.log).join('\n')).toContain('half')
    expect(await current(f)).toBe('releases/r3')
    expect(await exists(lockDir(f))).toBe(false)
  }, 120_000)
})

describe('mode: unlock', () => {
  it('removes a lock held by a run and says whose it was and since when; says so when none was held', async () => {
    const f = await fixture()
    const go = path.join(f.user.home, 'go')
    const runUrl = 'https://github.com/acme/site/actions/runs/4242'
    const started = Date.now()
    let holding!: () => void
    const holdingLock = new Promise<void>(resolve => (holding = resolve))
    // A deploy that holds the lock until told to go on (bounded: 20 s).
    const holder = runAction(
      f.inputs({
        'before-switch': `echo holding; i=0; while [ ! -e ${go} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done`
      }),
      {
        env: {
          GITHUB_SERVER_URL: 'https://github.com',
          GITHUB_REPOSITORY: 'acme/site',
          GITHUB_RUN_ID: '4242',
          GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567'
        },
        onStart: (child, log) => {
          const timer = setInterval(() => {
            if (log().includes('] holding')) {
              clearInterval(timer)
              holding()
            }
          }, 50)
          child.on('close', () => {
            clearInterval(timer)
            holding()
          })
        }
      }
    )
    await holdingLock
    expect(await exists(lockDir(f))).toBe(true)

    const unlocked = await runAction(f.inputs({ mode: 'unlock' }))
    await writeFile(go, '')
    const held = await holder
    expect(held.code, held.log).toBe(0)
    expect(unlocked.code, unlocked.log).toBe(0)
    const line = unlocked.log.split('\n').find(l => l.includes(runUrl))
    expect(line, unlocked.log).toBeDefined()
    expect(line).toContain(`[${label(f)}]`)
    const since = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/.exec(line ?? '')
    expect(since, line).not.toBeNull()
    const sinceMs = Date.parse(since![0])
    expect(sinceMs).toBeGreaterThanOrEqual(started - 1_000)
    expect(sinceMs).toBeLessThanOrEqual(Date.now())

    const none = await runAction(f.inputs({ mode: 'unlock' }))
    expect(none.code, none.log).toBe(0)
    expect(none.log).toMatch(/no lock was held/)
    // Like every mode, unlock says what is live, in its outputs and its summary's title.
    expect(none.outputs['release-id']).toBe(held.outputs['release-id'])
    expect(none.outputs['release-path']).toBe(
      `${f.deployDir}/releases/${held.outputs['release-id']}`
    )
    expect(none.summary).toContain(`atomic-deploy: unlock, ${held.outputs['release-id']} live`)
    expect(await exists(lockDir(f))).toBe(false)
  })
})

describe('an unknown mode', () => {
  it('is refused with one line naming it, and nothing is written', async () => {
    const f = await fixture()
    const refused = await runAction(f.inputs({ mode: 'redeploy' }))
    expect(refused.code).toBe(1)
    const errors = errorLines(refused.log)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/mode/)
    expect(errors[0]).toContain('redeploy')
    expect(refused.log).not.toMatch(/\n\s+at /)
    expect(await exists(f.deployDir)).toBe(false)
  })
})
