/**
 * The lock and cancellation, end to end: signals during an upload, the post step of a killed
 * job, leftovers of a run that lost its connection, and two deploys racing for one path.
 * Uploads that must last go through a latency proxy.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { appendFile, readFile, readlink } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionOptions } from '../support/action.ts'
import { run } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  writeTree,
  type Fixture
} from '../support/fixture.ts'
import { startLatencyProxy, type LatencyProxy } from '../support/proxy.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'

let sshd: Sshd
const fixtures: Fixture[] = []
const proxies: LatencyProxy[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close()
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

async function fixture(): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  await writeTree(f.source, { 'index.php': '<?php echo "v1";', 'public/app.css': 'body {}' })
  return f
}

const lockDir = (f: Fixture): string => path.join(f.deployDir, '.atomic-deploy/lock')
const releases = (f: Fixture): Promise<string[]> => list(path.join(f.deployDir, 'releases'))
const current = (f: Fixture): Promise<string> => readlink(path.join(f.deployDir, 'current'))

/** Inputs that reach the server through a proxy adding `delayMs` each way. */
async function throughProxy(
  f: Fixture,
  delayMs: number
): Promise<{
  proxy: LatencyProxy
  inputs: (extra?: Record<string, string>) => Record<string, string>
}> {
  const proxy = await startLatencyProxy(
    { host: '127.0.0.1', port: sshd.port },
    { delayMsEachWay: delayMs }
  )
  proxies.push(proxy)
  const knownHosts = sshd.knownHosts
    .split('\n')
    .map(l => l.replace(`[127.0.0.1]:${sshd.port} `, `[127.0.0.1]:${proxy.port} `))
    .join('\n')
  return {
    proxy,
    inputs: (extra = {}) =>
      f.inputs({
        servers: `${f.user.name}@127.0.0.1:${proxy.port}`,
        'known-hosts': knownHosts,
        compression: 'none',
        ...extra
      })
  }
}

/**
 * Call `act` once `ready` holds for the step's log, polled every `everyMs`, for at most
 * `timeoutMs`.
 */
function when(
  ready: (log: string) => boolean,
  act: (child: ChildProcess, log: string) => void,
  { everyMs = 50, timeoutMs = 30_000 } = {}
): { options: ActionOptions; acted: () => boolean } {
  let acted = false
  return {
    acted: () => acted,
    options: {
      onStart: (child, log) => {
        const started = Date.now()
        const timer = setInterval(() => {
          if (Date.now() - started > timeoutMs) clearInterval(timer)
          else if (ready(log())) {
            clearInterval(timer)
            acted = true
            act(child, log())
          }
        }, everyMs)
        child.on('close', () => clearInterval(timer))
      }
    }
  }
}

/**
 * Call `act` once the step is uploading the release: its log shows the 'Prepare release' group
 * and at least `bytes` went through the proxy.
 */
function whenUploading(
  proxy: LatencyProxy,
  bytes: number,
  act: (child: ChildProcess) => void
): { options: ActionOptions; acted: () => boolean } {
  return when(log => log.includes('::group::Prepare release') && proxy.stats().up >= bytes, act)
}

/** A file of random bytes (incompressible), big enough that its upload lasts seconds. */
async function addBigFile(f: Fixture, megabytes: number): Promise<void> {
  await writeTree(f.source, { 'big.bin': { content: randomBytes(megabytes * 1024 * 1024) } })
}

describe('a signal during the upload', () => {
  for (const [signal, transfer] of [
    ['SIGTERM', 'tar'],
    ['SIGINT', 'tar'],
    ['SIGTERM', 'sftp']
  ] as const) {
    it(`${signal} during a ${transfer} upload: exits non-zero, removes the incomplete release, releases the lock, leaves current alone`, async () => {
      const f = await fixture()
      const first = await runAction(f.inputs({ 'release-id': 'one', transfer }))
      expect(first.code, first.log).toBe(0)
      const before = await describeTree(path.join(f.deployDir, 'releases/one'))

      await addBigFile(f, 32)
      const { proxy, inputs } = await throughProxy(f, 150)
      let signalledAt = 0
      const trigger = whenUploading(proxy, 1024 * 1024, child => {
        signalledAt = Date.now()
        child.kill(signal)
      })
      const cancelled = await runAction(inputs({ 'release-id': 'two', transfer }), trigger.options)
      const ended = Date.now()

      expect(trigger.acted(), cancelled.log).toBe(true)
      expect(cancelled.signal).toBeNull()
      expect(cancelled.code).not.toBe(0)
      expect(cancelled.code).not.toBeNull()
      // The upload was cut short, not finished before the signal.
      expect(cancelled.log).not.toContain('Switch to two')
      expect(ended - signalledAt).toBeLessThan(15_000)
      // Stopped mid-transfer: far less than the 32 MB file crossed the wire.
      expect(proxy.stats().up).toBeLessThan(16 * 1024 * 1024)
      expect(await releases(f)).toEqual(['one'])
      expect(await exists(lockDir(f))).toBe(false)
      expect(await current(f)).toBe('releases/one')
      expect(await describeTree(path.join(f.deployDir, 'releases/one'))).toEqual(before)
      expect(await list(path.join(f.deployDir, '.atomic-deploy/tmp'))).toEqual([])
      // The summary says why: the run was cancelled, not that reading the source failed.
      expect(cancelled.summary).toContain('cancelled (SIGINT/SIGTERM)')
      expect(cancelled.summary).not.toContain('reading the source failed')
      // And the log says the release was aborted once.
      const log = await readFile(path.join(f.deployDir, '.atomic-deploy/log'), 'utf8')
      expect(log.split('\n').filter(l => l.startsWith('abort\ttwo\t'))).toHaveLength(1)
    }, 90_000)
  }
})

describe('a signal during authentication', () => {
  it('SIGTERM once the inspect script, sent during authentication, took the lock: the run reads its answer, then releases the lock', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    // 200 ms each way: the script reaches the server 200 ms before its success reaches the step.
    const { inputs } = await throughProxy(f, 200)
    let lockedBeforeConnected: boolean | undefined
    const trigger = when(
      () => existsSync(lockDir(f)),
      (child, log) => {
        lockedBeforeConnected = !log.includes('connected (')
        child.kill('SIGTERM')
      },
      { everyMs: 10 }
    )
    const cancelled = await runAction(inputs({ 'release-id': 'two' }), {
      // As on a runner: the commit comes from the run's variables, so the script is ready in time.
      env: { GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567' },
      ...trigger.options
    })
    // The lock was taken while the step was still authenticating: the script went ahead.
    expect(trigger.acted(), cancelled.log).toBe(true)
    expect(lockedBeforeConnected, cancelled.log).toBe(true)
    expect(cancelled.code).not.toBe(0)
    expect(cancelled.code).not.toBeNull()
    expect(cancelled.summary).toContain('cancelled (SIGINT/SIGTERM)')
    expect(await exists(lockDir(f))).toBe(false)
    expect(await releases(f)).toEqual(['one'])
    expect(await current(f)).toBe('releases/one')
    // Nothing is left for the next deploy to clear: it goes ahead.
    const next = await runAction(f.inputs({ 'release-id': 'three' }))
    expect(next.code, next.log).toBe(0)
    expect(await current(f)).toBe('releases/three')
  }, 90_000)

  it('a connection cut once the inspect script went with authentication: the deploy says the lock may be held, and mode: unlock clears it', async () => {
    const f = await fixture()
    const { proxy, inputs } = await throughProxy(f, 20)
    // About 1 kB of identification and key exchange go first; the authentication request, the
    // channels' opens, the exec request and the script (several kB) go together after them.
    const cut = proxy.cutAfterBytes(3000)
    const lost = await runAction(inputs({ 'release-id': 'one' }), {
      env: { GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567' }
    })
    await cut
    expect(lost.code, lost.log).not.toBe(0)
    expect(lost.log).toContain(
      'Cannot reach 1 of 1 server; nothing was changed but perhaps the lock'
    )
    expect(lost.log).toContain('may have run: if the next deploy finds the lock held by this run')
    expect(lost.log).not.toContain('nothing was changed anywhere')
    const unlocked = await runAction(f.inputs({ mode: 'unlock' }))
    expect(unlocked.code, unlocked.log).toBe(0)
    const next = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(next.code, next.log).toBe(0)
    expect(await current(f)).toBe('releases/two')
  }, 90_000)
})

describe('the post step', () => {
  it('releases the lock of a main step killed mid-upload; the next deploy cleans up and succeeds', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)

    await addBigFile(f, 32)
    const { proxy, inputs } = await throughProxy(f, 150)
    const trigger = whenUploading(proxy, 1024 * 1024, child => child.kill('SIGKILL'))
    const killed = await runAction(inputs({ 'release-id': 'two' }), trigger.options)
    expect(trigger.acted(), killed.log).toBe(true)
    expect(killed.signal).toBe('SIGKILL')
    // Killed outright: nothing of the step ran after the kill, the lock stays behind.
    expect(await exists(lockDir(f))).toBe(true)
    expect(await current(f)).toBe('releases/one')

    // The runner runs the post step with the same inputs and the state the main step saved.
    proxy.setDelay(0)
    const post = await runAction(inputs({ 'release-id': 'two' }), { state: killed.state })
    expect(post.code, post.log).toBe(0)
    expect(await exists(lockDir(f))).toBe(false)
    expect(await current(f)).toBe('releases/one')

    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    const next = await runAction(f.inputs({ 'release-id': 'three' }))
    expect(next.code, next.log).toBe(0)
    expect(await current(f)).toBe('releases/three')
    expect(await releases(f)).toEqual(['one', 'three'])
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
    expect(await exists(lockDir(f))).toBe(false)
  }, 90_000)

  it('does nothing after a main step that finished', async () => {
    const f = await fixture()
    const deployed = await runAction(f.inputs())
    expect(deployed.code, deployed.log).toBe(0)
    const metadata = await describeTree(path.join(f.deployDir, '.atomic-deploy'))
    const post = await runAction(f.inputs(), { state: deployed.state })
    expect(post.code, post.log).toBe(0)
    expect(await describeTree(path.join(f.deployDir, '.atomic-deploy'))).toEqual(metadata)
  })
})

describe('a release left by a run that lost its connection', () => {
  it('is removed by the next deploy, which succeeds', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    // What a run cut off mid-upload leaves: a half-made directory, logged as started only.
    await writeTree(path.join(f.deployDir, 'releases/lost'), { 'index.php': '<?php echo' })
    await appendFile(
      path.join(f.deployDir, '.atomic-deploy/log'),
      `start\tlost\t${new Date().toISOString()}\n`
    )
    await run('chown', ['-R', `${f.user.name}:`, f.deployDir])

    const next = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(next.code, next.log).toBe(0)
    expect(await releases(f)).toEqual(['one', 'two'])
    expect(await current(f)).toBe('releases/two')
    // It was never counted as a complete release: a rollback goes back to 'one'.
    const back = await runAction(f.inputs({ mode: 'rollback' }))
    expect(back.code, back.log).toBe(0)
    expect(await current(f)).toBe('releases/one')
  })
})

describe('two deploys started at once', () => {
  it('lets one proceed and fails the other fast, naming the holder; current is a whole release', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'base' }))
    expect(first.code, first.log).toBe(0)
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })

    const env = (runId: string): Record<string, string> => ({
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'acme/site',
      GITHUB_RUN_ID: runId,
      GITHUB_SHA: randomBytes(20).toString('hex')
    })
    // The lock is held for at least the before-switch's two seconds, so the runs overlap.
    const [a, b] = await Promise.all([
      runAction(f.inputs({ 'release-id': 'a', 'before-switch': 'sleep 2' }), { env: env('501') }),
      runAction(f.inputs({ 'release-id': 'b', 'before-switch': 'sleep 2' }), { env: env('502') })
    ])
    const winners = [a, b].filter(r => r.code === 0)
    const losers = [a, b].filter(r => r.code !== 0)
    expect(winners, `${a.log}\n----\n${b.log}`).toHaveLength(1)
    expect(losers).toHaveLength(1)
    const winner = winners[0]!
    const loser = losers[0]!
    const winnerId = winner === a ? 'a' : 'b'
    const winnerUrl = `https://github.com/acme/site/actions/runs/${winner === a ? '501' : '502'}`

    const error = loser.log
      .split('\n')
      .filter(l => l.startsWith('::error::'))
      .join('\n')
    expect(error).toMatch(/lock/)
    expect(error).toContain(winnerUrl)
    expect(error).toMatch(/\d+s ago/)
    expect(loser.durationMs).toBeLessThan(winner.durationMs)

    expect(await current(f)).toBe(`releases/${winnerId}`)
    expect(await releases(f)).toEqual(['base', winnerId].sort())
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
    expect(await readFile(path.join(f.deployDir, 'current/index.php'), 'utf8')).toBe(
      '<?php echo "v2";'
    )
    expect(await exists(lockDir(f))).toBe(false)
  })
})
