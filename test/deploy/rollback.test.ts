/**
 * Rollback that restores a working site, end to end against a real sshd: which release a
 * rollback goes to, what it keeps, and that a restored release gets the same checks as a
 * deployed one (its hook with its own RELEASE_ID, the health check).
 */
import { readFile, readlink, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionResult } from '../support/action.ts'
import { createFixture, exists, list, writeTree, type Fixture } from '../support/fixture.ts'
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

async function fixture(): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  return f
}

const current = async (f: Fixture): Promise<string> => readlink(path.join(f.deployDir, 'current'))
const errorOf = (run: ActionResult): string =>
  run.log
    .split('\n')
    .filter(l => l.startsWith('::error::'))
    .join('\n')
    .replaceAll('%0A', '\n')
/** Where the hooks below write what they ran for: outside the deploy directory. */
const hookLog = (f: Fixture): string => path.join(f.user.home, 'hooks.log')
const hookLines = async (f: Fixture): Promise<string[]> =>
  (await readFile(hookLog(f), 'utf8').catch(() => '')).split('\n').filter(l => l !== '')

/** An after-switch that records the release it runs for. */
const RECORDING_HOOK =
  'echo "$RELEASE_ID after $PREVIOUS_RELEASE_ID in $(pwd)" >> "$DEPLOY_PATH/../hooks.log"'
/** An after-rollback that records the release it runs for. */
const ROLLBACK_HOOK =
  'echo "$RELEASE_ID rolled back from $PREVIOUS_RELEASE_ID in $(pwd)" >> "$DEPLOY_PATH/../hooks.log"'
/** The same, failing in a release whose health.txt is not ok. */
const CHECKING_HOOK = `${RECORDING_HOOK}\ngrep -q "^ok" health.txt`

/** Deploy `source` as release `id` whose health.txt says `health`. */
async function deployAs(
  f: Fixture,
  id: string,
  health: string,
  extra: Record<string, string> = {}
): Promise<ActionResult> {
  await writeTree(f.source, { 'health.txt': `${health}\n`, 'version.txt': id })
  return runAction(f.inputs({ 'release-id': id, ...extra }))
}

/**
 * Answers what current/health.txt says: 200 with its text when it starts with "ok", 500 when
 * it starts with "error", 404 when there is none.
 */
async function startHealthServer(f: Fixture): Promise<string> {
  const server = http.createServer((_req, res) => {
    readFile(path.join(f.deployDir, 'current/health.txt'), 'utf8')
      .catch(() => undefined)
      .then(text => {
        res.statusCode = text === undefined ? 404 : text.startsWith('error') ? 500 : 200
        res.end(text ?? 'no health.txt')
      })
  })
  servers.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`
}

describe('rollback after a failed deploy', () => {
  it('A, broken B rolled back with after-switch run for A, then C: mode rollback lands on A, and previous-release-id agrees', async () => {
    const f = await fixture()
    const hook = { 'after-switch': CHECKING_HOOK }
    expect((await deployAs(f, 'A', 'ok', hook)).code).toBe(0)

    const broken = await deployAs(f, 'B', 'broken', hook)
    expect(broken.code, broken.log).toBe(1)
    expect(broken.outputs['rolled-back']).toBe('true')
    expect(broken.outputs['release-id']).toBe('A')
    expect(await current(f)).toBe('releases/A')
    // The restored release got its after-switch, with its own RELEASE_ID, in its own directory:
    // a reload there is what makes a PHP or Node app serve A's code again.
    expect(await hookLines(f)).toEqual([
      `A after  in ${f.deployDir}/releases/A`,
      `B after A in ${f.deployDir}/releases/B`,
      `A after B in ${f.deployDir}/releases/A`
    ])
    expect(errorOf(broken)).toMatch(/after-switch failed with status 1 \(release B\)/)
    expect(errorOf(broken)).toContain('Rolled back to A on 1 server; A passed after-switch.')
    // B stays for inspection.
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['A', 'B'])

    const good = await deployAs(f, 'C', 'ok', hook)
    expect(good.code, good.log).toBe(0)
    expect(good.outputs['previous-release-id']).toBe('A')

    const back = await runAction(f.inputs({ mode: 'rollback', ...hook }))
    expect(back.code, back.log).toBe(0)
    expect(back.outputs['release-id']).toBe('A')
    expect(back.outputs['previous-release-id']).toBe('C')
    expect(await current(f)).toBe('releases/A')
    expect((await hookLines(f)).at(-1)).toBe(`A after C in ${f.deployDir}/releases/A`)

    // Nothing good before A: B failed, C was just left. A named failed release is refused.
    const further = await runAction(f.inputs({ mode: 'rollback' }))
    expect(further.code).toBe(1)
    expect(errorOf(further)).toMatch(/no good release before A/)
    const toBroken = await runAction(f.inputs({ mode: 'rollback', 'rollback-to': 'B' }))
    expect(toBroken.code).toBe(1)
    expect(errorOf(toBroken)).toMatch(/'B' failed its checks after it went live/)
    expect(await current(f)).toBe('releases/A')
    // C was left by choice, not for a failure: rollback-to may still name it.
    const toC = await runAction(f.inputs({ mode: 'rollback', 'rollback-to': 'C' }))
    expect(toC.code, toC.log).toBe(0)
    expect(await current(f)).toBe('releases/C')
  }, 60_000)

  it('runs after-rollback, not after-switch, in the restored release; keeps only the newest failure, also in a row; prunes failed releases first (keep 3: A B C good, D E broken, F good)', async () => {
    const f = await fixture()
    const inputs = {
      'after-switch': CHECKING_HOOK,
      'after-rollback': ROLLBACK_HOOK,
      'keep-releases': '3'
    }
    const kept: string[][] = []
    for (const [id, health] of [
      ['A', 'ok'],
      ['B', 'ok'],
      ['C', 'ok'],
      ['D', 'broken'],
      ['E', 'broken'],
      ['F', 'ok']
    ]) {
      const run = await deployAs(f, id, health, inputs)
      expect(run.code, `${id}: ${run.log}`).toBe(health === 'ok' ? 0 : 1)
      kept.push(await list(path.join(f.deployDir, 'releases')))
    }
    // After E failed, D (the older failure) went: one failed release is kept, not one per
    // failure. Then good B, C and F (keep-releases 3) and E, the newest failure, for
    // inspection: A and D pruned.
    expect(kept).toEqual([
      ['A'],
      ['A', 'B'],
      ['A', 'B', 'C'],
      ['A', 'B', 'C', 'D'],
      ['A', 'B', 'C', 'E'],
      ['B', 'C', 'E', 'F']
    ])
    // C was restored twice with its after-rollback (RELEASE_ID C, PREVIOUS_RELEASE_ID the
    // release that failed), and never got an after-switch for it.
    const at = (id: string): string => `${f.deployDir}/releases/${id}`
    expect(await hookLines(f)).toEqual([
      `A after  in ${at('A')}`,
      `B after A in ${at('B')}`,
      `C after B in ${at('C')}`,
      `D after C in ${at('D')}`,
      `C rolled back from D in ${at('C')}`,
      `E after C in ${at('E')}`,
      `C rolled back from E in ${at('C')}`,
      `F after C in ${at('F')}`
    ])
    const back = await runAction(f.inputs({ mode: 'rollback' }))
    expect(back.code, back.log).toBe(0)
    expect(await current(f)).toBe('releases/C')
  }, 60_000)
})

describe('a rollback checks the release it restores', () => {
  it('fails the step and says so when the target fails the health check, switches back, and keeps the target for a retry', async () => {
    const f = await fixture()
    const url = await startHealthServer(f)
    // A went live without a health check; its health page has broken since (the database it
    // needs is down, say).
    expect((await deployAs(f, 'A', 'error: database unreachable')).code).toBe(0)
    const b = await deployAs(f, 'B', 'ok B', { 'health-check-url': url })
    expect(b.code, b.log).toBe(0)

    // after-rollback runs in the release a rollback puts live, with its RELEASE_ID, and in the
    // one restored when that fails; after-switch (which would fail) is not run at all.
    const checks = {
      mode: 'rollback',
      'health-check-url': url,
      'after-rollback': ROLLBACK_HOOK,
      'after-switch': 'exit 9'
    }
    const started = Date.now()
    const back = await runAction(f.inputs(checks))
    expect(back.code).toBe(1)
    // Three 500s in a row end the check early, long before the 60 s timeout.
    expect(Date.now() - started).toBeLessThan(20_000)
    const error = errorOf(back)
    expect(error).toContain('Rollback to A failed its checks')
    expect(error).toMatch(/answered like a broken app 3 times in a row.*HTTP 500/)
    expect(error).toContain(
      'Rolled back to B on 1 server; B passed after-rollback and the health check.'
    )
    expect(error).toContain('A stays a rollback target')
    expect(back.outputs['rolled-back']).toBe('true')
    expect(back.outputs['release-id']).toBe('B')
    expect(await current(f)).toBe('releases/B')
    expect(await hookLines(f)).toEqual([
      `A rolled back from B in ${f.deployDir}/releases/A`,
      `B rolled back from A in ${f.deployDir}/releases/B`
    ])
    expect(back.summary).toContain('↩️ rolled back')
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)

    // A passed its checks when it was live: a failure now is not held against it. Once its
    // database is back, the same rollback goes to it and passes.
    await writeFile(path.join(f.deployDir, 'releases/A/health.txt'), 'ok A\n')
    const again = await runAction(f.inputs(checks))
    expect(again.code, again.log).toBe(0)
    expect(await current(f)).toBe('releases/A')
    expect((await hookLines(f)).at(-1)).toBe(`A rolled back from B in ${f.deployDir}/releases/A`)
  }, 60_000)

  it('health-check-expect fails a 200 with the wrong body and rolls back; the right body passes', async () => {
    const f = await fixture()
    const url = await startHealthServer(f)
    const check = { 'health-check-url': url, 'health-check-timeout': '30' }
    expect((await deployAs(f, 'one', 'ok build-1', check)).code).toBe(0)

    // The new release still answers with the old build's page: stale code, a 200 nonetheless.
    const started = Date.now()
    const stale = await deployAs(f, 'two', 'ok build-1', {
      ...check,
      'health-check-expect': 'build-2'
    })
    expect(stale.code).toBe(1)
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(errorOf(stale)).toMatch(
      /HTTP 200 OK without 'build-2' in the body, which starts 'ok build-1'/
    )
    expect(stale.outputs['rolled-back']).toBe('true')
    expect(await current(f)).toBe('releases/one')

    const fixed = await deployAs(f, 'three', 'ok build-2', {
      ...check,
      'health-check-expect': 'build-2'
    })
    expect(fixed.code, fixed.log).toBe(0)
    expect(fixed.log).toContain("answered HTTP 200 OK with 'build-2'")
    expect(await current(f)).toBe('releases/three')
  }, 60_000)
})
