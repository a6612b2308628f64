/**
 * Faults from outside the action: the connection cut mid-upload or during the switch, sshd
 * restarting, a full disk, a deploy path the user cannot write, and two deploys racing. After
 * each, `current` must point at a whole release, and whatever the fault left behind must be
 * named in the log or cleaned up by the next deploy (after at most `mode: unlock`).
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readlinkSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, readlink, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionOptions, type ActionResult } from '../support/action.ts'
import { run, sleep, within } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  writeTree,
  type Fixture,
  type TreeSpec
} from '../support/fixture.ts'
import { onProcessExit, pidsOfUid } from '../support/process-tree.ts'
import { startLatencyProxy, type LatencyProxy } from '../support/proxy.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'
import { authorizeKey } from '../support/users.ts'

let sshd: Sshd
const fixtures: Fixture[] = []
const proxies: LatencyProxy[] = []
/** Undone after each test, last first, before the fixtures go (mounts, extra directories). */
const undo: (() => Promise<void>)[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close()
  for (const u of undo.splice(0).reverse()) await u()
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

async function fixture(spec: TreeSpec = {}): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  await writeTree(f.source, {
    'index.php': '<?php echo "v1";',
    'public/app.css': 'body {}',
    ...spec
  })
  return f
}

const lockDir = (f: Fixture): string => path.join(f.deployDir, '.atomic-deploy/lock')
const releases = (f: Fixture): Promise<string[]> => list(path.join(f.deployDir, 'releases'))
const current = (f: Fixture): Promise<string> => readlink(path.join(f.deployDir, 'current'))
/** The step's failure message, as core.setFailed printed it (an `::error::` command). */
const errorLines = (r: ActionResult): string =>
  r.log
    .split('\n')
    .filter(l => l.startsWith('::error::'))
    .map(l =>
      l.slice('::error::'.length).replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%')
    )
    .join('\n')

/** Inputs that reach the server through a latency proxy. */
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

async function uidOf(f: Fixture): Promise<number> {
  return Number((await run('id', ['-u', f.user.name])).stdout.trim())
}

/**
 * After a cut connection, sshd ends the session and the commands it ran see their pipes close.
 * Wait (bounded) until none of the user's processes is left, so what they leave is final.
 */
async function waitForUserIdle(f: Fixture, timeoutMs = 10_000): Promise<void> {
  const uid = await uidOf(f)
  const deadline = Date.now() + timeoutMs
  while (pidsOfUid(uid).length > 0 && Date.now() < deadline) await sleep(50)
}

/**
 * The release log (`event<TAB>id<TAB>time` lines): ids whose last start/ready/abort/prune event
 * is `start`, i.e. releases begun and never finished or removed.
 */
async function danglingStarts(f: Fixture): Promise<string[]> {
  const text = await readFile(path.join(f.deployDir, '.atomic-deploy/log'), 'utf8').catch(() => '')
  const last = new Map<string, string>()
  for (const line of text.split('\n')) {
    const [event, id] = line.split('\t')
    if (id && ['start', 'ready', 'abort', 'prune'].includes(event ?? '')) last.set(id, event!)
  }
  return [...last].filter(([, event]) => event === 'start').map(([id]) => id)
}

/**
 * Every directory in releases/ is a whole release: its tree equals the source it was deployed
 * from, and the log does not show it as begun and unfinished.
 */
async function expectOnlyCompleteReleases(
  f: Fixture,
  sources: Record<string, string[]>
): Promise<void> {
  const dangling = await danglingStarts(f)
  for (const id of await releases(f)) {
    expect(dangling, `release ${id} is logged as started and never finished`).not.toContain(id)
    expect(Object.keys(sources), `unexpected release ${id}`).toContain(id)
    expect(await describeTree(path.join(f.deployDir, 'releases', id)), `release ${id}`).toEqual(
      sources[id]
    )
  }
}

/** `current` points at an existing release directory; returns its id. */
async function liveRelease(f: Fixture): Promise<string> {
  const target = await current(f)
  expect(target).toMatch(/^releases\/[^/]+$/)
  const id = target.slice('releases/'.length)
  expect(await releases(f)).toContain(id)
  return id
}

describe('a connection cut mid-upload', () => {
  it('fails the step, leaves current whole, and the next deploy (after at most an unlock) cleans up', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    const sources: Record<string, string[]> = { one: await describeTree(f.source) }

    await writeTree(f.source, {
      'index.php': '<?php echo "v2";',
      'big.bin': { content: randomBytes(16 * 1024 * 1024) }
    })
    const { proxy, inputs } = await throughProxy(f, 0)
    // 4 MiB from the connection's start is well past the scripts and inside the 16 MiB file.
    const cut = proxy.cutAfterBytes(4 * 1024 * 1024)
    cut.catch(() => undefined)
    const failed = await runAction(inputs({ 'release-id': 'two' }), { timeoutMs: 45_000 })
    expect(await within(cut, 1000), failed.log).toBe(true)
    expect(failed.code, failed.log).not.toBe(0)
    expect(failed.code).not.toBeNull()
    expect(failed.log).not.toContain('Switch to two')
    expect(errorLines(failed)).toMatch(/connection|lost|closed|reset/i)

    await waitForUserIdle(f)
    expect(await current(f)).toBe('releases/one')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(sources.one)

    sources.three = await describeTree(f.source)
    const lockLeft = await exists(lockDir(f))
    const left = await releases(f)
    console.log(`mid-upload cut: ${JSON.stringify({ lockLeft, releases: left })}`)
    // A release the cut left behind is logged as begun, so the next deploy knows to remove it.
    if (left.includes('two')) expect(await danglingStarts(f)).toContain('two')
    if (lockLeft) {
      // The lock outlived the lost connection: the failing step said so and how to clear it,
      // and the next deploy refuses, naming the lock, until it is cleared.
      expect(failed.log).toMatch(/mode: unlock/)
      const refused = await runAction(f.inputs({ 'release-id': 'three' }))
      expect(refused.code, refused.log).not.toBe(0)
      expect(errorLines(refused)).toMatch(/lock/)
      expect(errorLines(refused)).toMatch(/mode: unlock/)
      expect(await current(f)).toBe('releases/one')
      const unlocked = await runAction(f.inputs({ mode: 'unlock' }))
      expect(unlocked.code, unlocked.log).toBe(0)
      expect(await exists(lockDir(f))).toBe(false)
    }
    const next = await runAction(f.inputs({ 'release-id': 'three' }))
    expect(next.code, next.log).toBe(0)
    expect(await current(f)).toBe('releases/three')
    expect(await releases(f)).toEqual(['one', 'three'])
    await expectOnlyCompleteReleases(f, sources)
    expect(await danglingStarts(f)).toEqual([])
    expect(await exists(lockDir(f))).toBe(false)
    expect(await list(path.join(f.deployDir, '.atomic-deploy/tmp'))).toEqual([])
  }, 60_000)
})

describe('a connection cut during the switch', () => {
  // With a command after the switch, the switch is a script of its own: the cut comes from
  // before its request reaches the server (25 ms in the proxy) to after its answer. Without
  // one, on a single server, the release script switches and finishes once the release is
  // ready: the cuts span the upload, the checks, the switch and the finish.
  it.each([
    {
      how: 'a switch script of its own (after-switch set)',
      extra: { 'after-switch': 'true' } as Record<string, string>,
      group: (id: string) => `::group::Switch to ${id}`,
      offsets: [0, 15, 30, 50, 80]
    },
    {
      how: 'the release script switching once the release is ready',
      extra: {} as Record<string, string>,
      group: (id: string) => `::group::Prepare release ${id}, switch to it and finish`,
      offsets: [0, 30, 60, 90, 120, 150]
    }
  ])(
    'leaves current on a whole release, the old or the new one, at every timing: $how',
    async ({ how, extra, group, offsets }) => {
      const f = await fixture({ 'version.txt': 'v0' })
      const base = await runAction(f.inputs({ 'release-id': 's0' }))
      expect(base.code, base.log).toBe(0)
      const sources: Record<string, string[]> = { s0: await describeTree(f.source) }
      const { proxy, inputs } = await throughProxy(f, 25)

      // Milliseconds between the log showing the group and the cut.
      const outcomes: {
        offset: number
        cut: boolean
        code: number | null
        live: string
        lockLeft: boolean
      }[] = []
      for (const [i, offset] of offsets.entries()) {
        const id = `s${i + 1}`
        const old = await liveRelease(f)
        await writeTree(f.source, {
          'version.txt': `v${i + 1}`,
          [`pages/p${i + 1}.html`]: `page ${i + 1}`
        })
        await rm(path.join(f.source, `pages/p${i}.html`), { force: true })
        sources[id] = await describeTree(f.source)

        let cutAt = 0
        const result = await runAction(inputs({ 'release-id': id, ...extra }), {
          timeoutMs: 30_000,
          onStart: child => {
            let seen = ''
            let timer: NodeJS.Timeout | undefined
            const watch = (chunk: Buffer): void => {
              seen += chunk.toString('utf8')
              if (!seen.includes(group(id))) return
              child.stdout?.off('data', watch)
              timer = setTimeout(() => {
                cutAt = Date.now()
                proxy.cutAll()
              }, offset)
            }
            child.stdout?.on('data', watch)
            // A step over before its cut is not cut later (nor is the post step).
            child.on('exit', () => clearTimeout(timer))
          }
        })
        // The step may have ended before a late cut: then it must have deployed.
        if (cutAt === 0) expect(result.code, result.log).toBe(0)
        await waitForUserIdle(f)

        const live = await liveRelease(f)
        expect([old, id], result.log).toContain(live)
        // A step that reports success has switched.
        if (result.code === 0) expect(live).toBe(id)
        expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(sources[live])
        const lockLeft = await exists(lockDir(f))
        outcomes.push({
          offset,
          cut: cutAt > 0,
          code: result.code,
          live: live === id ? 'new' : 'old',
          lockLeft
        })
        // The runner runs the post step with the same inputs and the state the main step saved:
        // it releases a lock the cut connection kept the main step from releasing.
        const post = await runAction(inputs({ 'release-id': id, ...extra }), {
          state: result.state
        })
        expect(post.code, post.log).toBe(0)
        expect(await exists(lockDir(f)), `${result.log}\n----\n${post.log}`).toBe(false)
        expect(await current(f)).toBe(`releases/${live}`)
      }
      console.log(`switch cuts (${how}): ${JSON.stringify(outcomes)}`)

      // A clean deploy afterwards works and leaves only whole releases.
      await writeTree(f.source, { 'version.txt': 'final' })
      sources.final = await describeTree(f.source)
      const final = await runAction(f.inputs({ 'release-id': 'final' }))
      expect(final.code, final.log).toBe(0)
      expect(await current(f)).toBe('releases/final')
      await expectOnlyCompleteReleases(f, sources)
      expect(await danglingStarts(f)).toEqual([])
      expect((await list(f.deployDir)).filter(n => n.startsWith('.current'))).toEqual([])
      expect(await exists(lockDir(f))).toBe(false)
    },
    90_000
  )
})

/**
 * Cut every connection through `proxy` the moment `link` (a server's `current`, read on this
 * machine) points at `target`: the server has done the switch, and its answer is still in the
 * proxy's delay line, so the step never hears of it. Polled every 2 ms while the step runs.
 */
function cutOnceSwitched(
  proxy: LatencyProxy,
  link: string,
  target: string
): { options: ActionOptions; cut: () => boolean } {
  let cut = false
  return {
    cut: () => cut,
    options: {
      timeoutMs: 30_000,
      onStart: child => {
        const started = Date.now()
        const timer = setInterval(() => {
          let now = ''
          try {
            now = readlinkSync(link)
          } catch {
            // not there yet
          }
          if (now === target) {
            proxy.cutAll()
            cut = true
            clearInterval(timer)
          } else if (Date.now() - started > 30_000) clearInterval(timer)
        }, 2)
        child.on('close', () => clearInterval(timer))
      }
    }
  }
}

describe('a connection lost after the server switched but before it answered', () => {
  it('the step reports the release that is live', async () => {
    const f = await fixture({ 'version.txt': 'old' })
    const base = await runAction(f.inputs({ 'release-id': 'old' }))
    expect(base.code, base.log).toBe(0)
    await writeTree(f.source, { 'version.txt': 'new' })
    const sources: Record<string, string[]> = {
      old: await describeTree(path.join(f.deployDir, 'current')),
      new: await describeTree(f.source)
    }
    const { proxy, inputs } = await throughProxy(f, 80)
    const trigger = cutOnceSwitched(proxy, path.join(f.deployDir, 'current'), 'releases/new')
    const result = await runAction(inputs({ 'release-id': 'new' }), trigger.options)
    expect(trigger.cut(), result.log).toBe(true)
    await waitForUserIdle(f)

    const live = await liveRelease(f)
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(sources[live])
    // Whatever the step did about the lost answer, what it reports is what is live.
    expect(result.outputs['release-id'], `${result.log}\nlive: ${live}`).toBe(live)
    if (live === 'new') expect(errorLines(result)).not.toMatch(/no server had switched/i)

    const post = await runAction(inputs({ 'release-id': 'new' }), { state: result.state })
    expect(post.code, post.log).toBe(0)
    expect(await exists(lockDir(f))).toBe(false)
  })

  it('a group is never left split: every server ends on the same release', async () => {
    const a = await fixture({ 'version.txt': 'old' })
    const b = await createFixture({ sshd })
    fixtures.push(b)
    await authorizeKey(sshd, b.user, a.user.publicKey)
    const { proxy } = await throughProxy(b, 80)
    const knownHosts = [
      sshd.knownHosts,
      ...sshd.knownHosts
        .split('\n')
        .map(l => l.replace(`[127.0.0.1]:${sshd.port} `, `[127.0.0.1]:${proxy.port} `))
    ].join('\n')
    // One key and one source for both servers; the second is reached through the proxy.
    const group = (extra: Record<string, string> = {}): Record<string, string> =>
      a.inputs({
        servers: `${a.user.name}@127.0.0.1:${sshd.port}\n${b.user.name}@127.0.0.1:${proxy.port}`,
        'known-hosts': knownHosts,
        compression: 'none',
        ...extra
      })
    const base = await runAction(group({ 'release-id': 'old' }))
    expect(base.code, base.log).toBe(0)
    await writeTree(a.source, { 'version.txt': 'new' })

    const trigger = cutOnceSwitched(proxy, path.join(b.deployDir, 'current'), 'releases/new')
    const result = await runAction(group({ 'release-id': 'new' }), trigger.options)
    expect(trigger.cut(), result.log).toBe(true)
    await waitForUserIdle(b)

    const liveA = await liveRelease(a)
    const liveB = await liveRelease(b)
    expect({ a: liveA, b: liveB }, result.log).toEqual({ a: liveB, b: liveB })
    expect(result.outputs['release-id'], result.log).toBe(liveA)
    if (result.code === 0) expect(liveA).toBe('new')

    const post = await runAction(group({ 'release-id': 'new' }), { state: result.state })
    expect(post.code, post.log).toBe(0)
    expect(await exists(lockDir(a))).toBe(false)
    expect(await exists(lockDir(b))).toBe(false)
  })
})

describe('sshd restarts', () => {
  it('between deploys, with or without killing sessions: the next deploy connects and succeeds', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)

    await sshd.restart()
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    const second = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(second.code, second.log).toBe(0)
    expect(await current(f)).toBe('releases/two')

    await sshd.restart({ killSessions: true })
    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    const third = await runAction(f.inputs({ 'release-id': 'three' }))
    expect(third.code, third.log).toBe(0)
    expect(await current(f)).toBe('releases/three')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
    expect(await exists(lockDir(f))).toBe(false)
  })

  it('during a deploy, keeping sessions (as systemctl restart does): the deploy carries on', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })

    let restarted: Promise<void> | undefined
    const result = await runAction(f.inputs({ 'release-id': 'two', 'before-switch': 'sleep 2' }), {
      onStart: child => {
        let seen = ''
        const watch = (chunk: Buffer): void => {
          seen += chunk.toString('utf8')
          if (!seen.includes('::group::Prepare release two')) return
          child.stdout?.off('data', watch)
          restarted = sshd.restart()
        }
        child.stdout?.on('data', watch)
      }
    })
    expect(restarted, result.log).toBeDefined()
    await restarted
    expect(result.code, result.log).toBe(0)
    expect(await current(f)).toBe('releases/two')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
    expect(await exists(lockDir(f))).toBe(false)
  })
})

/**
 * Mount a filesystem of `megabytes` on `dir`, owned by the user: tmpfs, or where mounting tmpfs
 * is not permitted, a loop-mounted ext4 image. Unmounted after the test (and at exit).
 */
async function mountSmallFilesystem(f: Fixture, dir: string, megabytes: number): Promise<string> {
  const uid = await uidOf(f)
  const gid = Number((await run('id', ['-g', f.user.name])).stdout.trim())
  await mkdir(dir, { recursive: true })
  const unmount = async (): Promise<void> => {
    const r = await run('umount', [dir], { check: false })
    if (r.code !== 0) await run('umount', ['-l', dir], { check: false })
  }
  const tmpfs = await run(
    'mount',
    ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0755,uid=${uid},gid=${gid}`, 'tmpfs', dir],
    { check: false }
  )
  if (tmpfs.code === 0) {
    const cancel = onProcessExit(() => void spawnSync('umount', ['-l', dir]))
    undo.push(async () => {
      cancel()
      await unmount()
    })
    return 'tmpfs'
  }
  const imageDir = await mkdtemp(path.join(os.tmpdir(), 'adt-fs-'))
  const image = path.join(imageDir, 'fs.img')
  await run('truncate', ['-s', `${megabytes}M`, image])
  await run('mkfs.ext4', ['-q', '-F', '-m', '0', image])
  const loop = await run('mount', ['-o', 'loop', image, dir], { check: false })
  if (loop.code !== 0) {
    await rm(imageDir, { recursive: true, force: true })
    throw new Error(
      `cannot mount a small filesystem: tmpfs: ${tmpfs.stderr.trim()}; loop ext4: ${loop.stderr.trim()}`
    )
  }
  const cancel = onProcessExit(() => void spawnSync('umount', ['-l', dir]))
  undo.push(async () => {
    cancel()
    await unmount()
    await rm(imageDir, { recursive: true, force: true })
  })
  // An empty deploy path, as a first deploy wants it, owned by the user.
  await rm(path.join(dir, 'lost+found'), { recursive: true, force: true })
  await run('chown', [`${uid}:${gid}`, dir])
  await chmod(dir, 0o755)
  return 'ext4 (loop)'
}

async function usedBytes(dir: string): Promise<number> {
  const { stdout } = await run('df', ['-B1', '--output=used', dir])
  return Number(stdout.trim().split('\n').pop())
}

describe('a full disk', () => {
  it('fails the step with the reason, removes the partial release, releases the lock, leaves current whole', async () => {
    const f = await fixture()
    const kind = await mountSmallFilesystem(f, f.deployDir, 2)
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, `${kind}\n${first.log}`).toBe(0)
    const sources: Record<string, string[]> = { one: await describeTree(f.source) }
    const used = await usedBytes(f.deployDir)

    // More than the whole filesystem: the extraction runs out of space.
    await writeTree(f.source, { 'big.bin': { content: randomBytes(3 * 1024 * 1024) } })
    const failed = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(failed.code, failed.log).not.toBe(0)
    expect(errorLines(failed), failed.log).toMatch(/space|disk full|extract/i)
    expect(failed.log).not.toContain('Switch to two')

    expect(await current(f)).toBe('releases/one')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(sources.one)
    expect(await releases(f)).toEqual(['one'])
    expect(await exists(lockDir(f))).toBe(false)
    expect(await danglingStarts(f)).toEqual([])
    expect(await list(path.join(f.deployDir, '.atomic-deploy/tmp'))).toEqual([])
    // The space the failed upload took is free again.
    expect(await usedBytes(f.deployDir)).toBeLessThanOrEqual(used + 64 * 1024)

    // With a source that fits, the next deploy succeeds.
    await rm(path.join(f.source, 'big.bin'))
    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    sources.three = await describeTree(f.source)
    const next = await runAction(f.inputs({ 'release-id': 'three' }))
    expect(next.code, next.log).toBe(0)
    expect(await current(f)).toBe('releases/three')
    await expectOnlyCompleteReleases(f, sources)
  })
})

describe('a deploy path the user cannot write', () => {
  /** A fresh root-owned 0755 directory outside the user's home. */
  async function rootOwnedParent(): Promise<string> {
    const parent = `/var/lib/adt-${randomBytes(4).toString('hex')}`
    await mkdir(parent, { mode: 0o755 })
    await chmod(parent, 0o755)
    undo.push(() => rm(parent, { recursive: true, force: true }))
    return parent
  }

  it('names the path and the chown fix when the path cannot be created, and writes nothing', async () => {
    const f = await fixture()
    const parent = await rootOwnedParent()
    const target = `${parent}/app`
    const failed = await runAction(f.inputs({ path: target }))
    expect(failed.code, failed.log).not.toBe(0)
    const error = errorLines(failed)
    expect(error).toContain(target)
    expect(error).toMatch(/chown/)
    expect(error).toContain(f.user.name)
    // The fix is ready to paste: it names the path, not a placeholder.
    expect(error).toContain(`sudo mkdir -p ${target} && sudo chown ${f.user.name}: ${target}`)
    expect(error).not.toContain('<path>')
    expect(failed.log).not.toContain('::group::Prepare release')
    expect(await list(parent)).toEqual([])
  })

  it('a handle left open after the step does not hold the job: the step ends within seconds and says what was open', async () => {
    const f = await fixture()
    const target = `${await rootOwnedParent()}/app`
    // A ten-minute timer that nothing clears, loaded before the action, stands for a leak.
    const leak = `data:text/javascript,setTimeout(function(){},600000)`
    const failed = await runAction(f.inputs({ path: target }), {
      env: { NODE_OPTIONS: `--import=${leak}`, ACTIONS_STEP_DEBUG: 'true' },
      timeoutMs: 30_000
    })
    expect(failed.code, failed.log).toBe(1)
    expect(failed.durationMs).toBeLessThan(15_000)
    expect(failed.log).toMatch(
      /::debug::still open 2000 ms after the step ended: .*Timeout.*; exiting/
    )
  })

  it('names the path and the chown fix when the path exists but belongs to root, and writes nothing', async () => {
    const f = await fixture()
    const target = `${await rootOwnedParent()}/app`
    await mkdir(target, { mode: 0o755 })
    const failed = await runAction(f.inputs({ path: target }))
    expect(failed.code, failed.log).not.toBe(0)
    const error = errorLines(failed)
    expect(error).toContain(target)
    expect(error).toMatch(/chown/)
    expect(await list(target)).toEqual([])
  })
})

describe('two deploys at once', () => {
  it('lets exactly one proceed; the other names the lock; current is the whole winning release', async () => {
    const f = await fixture()
    const base = await runAction(f.inputs({ 'release-id': 'base' }))
    expect(base.code, base.log).toBe(0)

    // Two different builds of the site, so current shows whose release went live.
    await writeTree(f.source, { 'index.php': '<?php echo "a";', 'a.txt': 'from a' })
    const otherSource = await mkdtemp(path.join(os.tmpdir(), 'adt-src-b-'))
    undo.push(() => rm(otherSource, { recursive: true, force: true }))
    await writeTree(otherSource, { 'index.php': '<?php echo "b";', 'b/b.txt': 'from b' })
    const trees: Record<string, string[]> = {
      a: await describeTree(f.source),
      b: await describeTree(otherSource)
    }

    // Each holds the lock for at least the before-switch's two seconds, so the runs overlap.
    const [a, b] = await Promise.all([
      runAction(f.inputs({ 'release-id': 'a', 'before-switch': 'sleep 2' })),
      runAction(f.inputs({ 'release-id': 'b', 'before-switch': 'sleep 2', source: otherSource }))
    ])
    const winners = [a, b].filter(r => r.code === 0)
    expect(winners, `${a.log}\n----\n${b.log}`).toHaveLength(1)
    const winner = winners[0] === a ? 'a' : 'b'
    const loser = winner === 'a' ? b : a
    expect(loser.code).not.toBeNull()
    expect(errorLines(loser)).toMatch(/lock/)
    expect(loser.log).not.toContain('::group::Prepare release')

    expect(await current(f)).toBe(`releases/${winner}`)
    expect(await releases(f)).toEqual(['base', winner].sort())
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(trees[winner])
    expect(await exists(lockDir(f))).toBe(false)
    expect(await danglingStarts(f)).toEqual([])
  })
})
