/**
 * Server groups end to end: several accounts on real sshds stand in for separate servers, each
 * with its own home (login directory), all reached with one shared key.
 */
import { chmod, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, token, type ActionResult } from '../support/action.ts'
import { describeTree, exists, list, settled, writeTree } from '../support/fixture.ts'
import { freePort, startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { authorizeKey, createUser, generateKey, removeUser } from '../support/users.ts'

let sshd: Sshd
let sshd2: Sshd
let key: { privateKey: string; publicKey: string }
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  ;[sshd, sshd2, key] = await Promise.all([startSshd(), startSshd(), generateKey()])
})
afterEach(async () => {
  // Last registered first: restored permissions and closed forwarders before accounts go.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(async () => {
  await Promise.all([sshd?.stop(), sshd2?.stop()])
})

/** One "server": an account on an sshd, deployed to with `path: app`. */
interface Target {
  user: TestUser
  /** The entry in the `servers` input. */
  entry: string
  /** `user@host:port`: the key of the `servers` output and the log prefix. */
  label: string
  deployDir: string
}

async function target(on: Sshd = sshd): Promise<Target> {
  const user = await createUser(on)
  cleanups.push(() => removeUser(user))
  await authorizeKey(on, user, key.publicKey)
  const label = `${user.name}@127.0.0.1:${on.port}`
  return { user, entry: label, label, deployDir: path.join(user.home, 'app') }
}

function targets(n: number): Promise<Target[]> {
  return Promise.all(Array.from({ length: n }, () => target()))
}

async function source(): Promise<string> {
  const dir = await mkdtemp('/tmp/adt-group-src-')
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  await writeTree(dir, {
    'index.php': '<?php echo "v1";',
    'public/app.css': 'body { color: red }',
    'bin/console': { content: '#!/bin/sh\necho console\n', mode: 0o755 }
  })
  return dir
}

function inputs(ts: Target[], src: string, extra: Record<string, string> = {}) {
  return {
    servers: ts.map(t => t.entry).join('\n'),
    'private-key': key.privateKey,
    'known-hosts': `${sshd.knownHosts}\n${sshd2.knownHosts}`,
    path: 'app',
    source: src,
    ...extra
  }
}

/** A directory every account can write its own event file into. */
async function eventsDir(): Promise<string> {
  const dir = await mkdtemp('/tmp/adt-group-events-')
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  await chmod(dir, 0o1777)
  return dir
}

/** Shell lines defining `ev WORDS...`: append `<user> WORDS... <ns since epoch>` to the user's file. */
function recorder(dir: string): string {
  return [`E=${dir}`, 'me=$(id -un)', 'ev() { echo "$me $* $(date +%s%N)" >> "$E/$me"; }'].join(
    '\n'
  )
}

/** Shell lines recording where each target's `current` points (or `none`). */
function sees(ts: Target[]): string {
  return ts
    .map(t => `ev sees ${t.user.name} "$(readlink ${t.deployDir}/current || echo none)"`)
    .join('\n')
}

interface Event {
  user: string
  words: string[]
  t: bigint
}

async function readEvents(dir: string): Promise<Event[]> {
  const events: Event[] = []
  for (const name of await readdir(dir)) {
    for (const line of (await readFile(path.join(dir, name), 'utf8')).split('\n')) {
      const words = line.trim().split(' ')
      if (words.length < 3) continue
      events.push({ user: words[0], words: words.slice(1, -1), t: BigInt(words.at(-1) as string) })
    }
  }
  return events.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0))
}

const times = (events: Event[], user: string | undefined, what: string): bigint[] =>
  events.filter(e => (user === undefined || e.user === user) && e.words[0] === what).map(e => e.t)

const maxOf = (xs: bigint[]): bigint => xs.reduce((a, b) => (b > a ? b : a))
const minOf = (xs: bigint[]): bigint => xs.reduce((a, b) => (b < a ? b : a))

/** The step's failure message, as core.setFailed printed it (an `::error::` command). */
function failureOf(run: ActionResult): string {
  return run.log
    .split('\n')
    .filter(l => l.startsWith('::error::'))
    .map(l =>
      l.slice('::error::'.length).replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%')
    )
    .join('\n')
}

interface ServerEntry {
  status: string
  release?: string
  previousRelease?: string
  filesUploaded: number
  bytesUploaded: number
  phases: Record<string, number>
  error?: string
}

/** Whether `text` names the server `label` (and not one whose port merely starts the same). */
function mentions(text: string, label: string): boolean {
  return new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![0-9])`).test(text)
}

const serversOf = (run: ActionResult): Record<string, ServerEntry> =>
  JSON.parse(run.outputs.servers) as Record<string, ServerEntry>

const current = (t: Target): Promise<string | undefined> =>
  readlink(path.join(t.deployDir, 'current')).catch(() => undefined)

const releases = (t: Target): Promise<string[]> => list(path.join(t.deployDir, 'releases'))

async function deployOk(
  ts: Target[],
  src: string,
  extra: Record<string, string> = {}
): Promise<ActionResult> {
  const run = await runAction(inputs(ts, src, extra))
  expect(run.code, run.log).toBe(0)
  return run
}

/** Rows of the summary's table, as lists of cell texts (header row excluded). */
function summaryRows(summary: string): string[][] {
  return [...summary.matchAll(/<tr>([\s\S]*?)<\/tr>/g)]
    .map(m => m[1])
    .filter(row => !row.includes('<th'))
    .map(row => [...row.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map(c => c[1]))
}

/** A TCP forwarder listening on ::1, for reaching an sshd (which listens on 127.0.0.1) over IPv6. */
async function ipv6Forwarder(port: number): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer(client => {
    const upstream = net.connect({ host: '127.0.0.1', port })
    sockets.add(client).add(upstream)
    const end = (): void => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    for (const s of [client, upstream]) {
      s.on('error', end)
      s.on('close', end)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '::1', () => resolve())
  })
  cleanups.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  return (server.address() as net.AddressInfo).port
}

describe('a parallel deploy to a group', () => {
  it('makes one archive for the servers that share a plan, and its own for a server whose plan differs', async () => {
    const ts = await targets(3)
    const src = await source()
    await deployOk(ts.slice(0, 2), src)
    // The third server's live release lacks a file the others have: its plan differs.
    const other = await source()
    await rm(path.join(other, 'public/app.css'))
    await deployOk(ts.slice(2), other)

    await writeTree(src, { 'index.php': '<?php echo "v2";', 'public/new.js': 'new()' })
    const run = await deployOk(ts, src)
    const shared = run.log.split('\n').filter(l => l.includes('one archive for'))
    expect(shared).toHaveLength(1)
    expect(shared[0]).toContain('one archive for 2 servers with the same plan')
    expect(mentions(shared[0] as string, ts[0].label)).toBe(true)
    expect(mentions(shared[0] as string, ts[1].label)).toBe(true)
    expect(mentions(shared[0] as string, ts[2].label)).toBe(false)
    const servers = serversOf(run)
    expect(servers[ts[0].label]?.filesUploaded).toBe(2)
    expect(servers[ts[2].label]?.filesUploaded).toBe(3)
    for (const t of ts) {
      expect(await describeTree(path.join(t.deployDir, 'current'))).toEqual(await describeTree(src))
    }
  })

  it('puts the same release live on every server, with one output entry and summary row per server', async () => {
    const ts = await targets(3)
    const src = await source()
    const run = await deployOk(ts, src)

    const id = run.outputs['release-id']
    expect(id).toMatch(/^\d{14}$/)
    for (const t of ts) {
      expect(await current(t)).toBe(`releases/${id}`)
      expect(await releases(t)).toEqual([id])
      expect(await readFile(path.join(t.deployDir, 'current/index.php'), 'utf8')).toBe(
        '<?php echo "v1";'
      )
    }
    expect(run.outputs['release-path']).toBe(path.join(ts[0].deployDir, 'releases', id))
    expect(run.outputs['previous-release-id']).toBe('')
    expect(run.outputs['rolled-back']).toBe('false')
    // Three files on each of three servers.
    expect(run.outputs['files-uploaded']).toBe('9')

    const servers = serversOf(run)
    expect(Object.keys(servers).sort()).toEqual(ts.map(t => t.label).sort())
    for (const t of ts) {
      const s = servers[t.label]
      expect(s.status).toBe('deployed')
      expect(s.release).toBe(id)
      expect(s.filesUploaded).toBe(3)
      expect(s.bytesUploaded).toBeGreaterThan(0)
      expect(s.error).toBeUndefined()
      for (const phase of ['connect', 'inspect', 'upload', 'switch', 'finish'])
        expect(typeof s.phases[phase], phase).toBe('number')
    }
    expect(Number(run.outputs['bytes-uploaded'])).toBe(
      Object.values(servers).reduce((n, s) => n + s.bytesUploaded, 0)
    )

    const rows = summaryRows(run.summary)
    expect(rows).toHaveLength(3)
    for (const t of ts) {
      const row = rows.filter(r => r.some(cell => cell.includes(t.label)))
      expect(row, t.label).toHaveLength(1)
      expect(row[0].join(' ')).toContain(id)
    }
  })

  it('finishes every before-switch before any server switches or runs after-switch', async () => {
    const ts = await targets(3)
    const [slow, ...fast] = ts
    const src = await source()
    await deployOk(ts, src, { 'release-id': 'r1' })

    const dir = await eventsDir()
    const run = await deployOk(ts, src, {
      'release-id': 'r2',
      'before-switch': [
        recorder(dir),
        'ev before-start',
        `if [ "$me" = ${slow.user.name} ]; then`,
        '  sleep 2',
        sees(fast),
        'fi',
        'ev before-end'
      ].join('\n'),
      'after-switch': [recorder(dir), 'ev after'].join('\n')
    })
    expect(run.outputs['release-id']).toBe('r2')

    const events = await readEvents(dir)
    const beforeEnds = times(events, undefined, 'before-end')
    const afters = times(events, undefined, 'after')
    expect(beforeEnds).toHaveLength(3)
    expect(afters).toHaveLength(3)
    expect(maxOf(beforeEnds)).toBeLessThan(minOf(afters))

    // While the slow server was still in its before-switch, the fast ones had long finished
    // theirs, and their current still pointed to the old release.
    const looks = events.filter(e => e.user === slow.user.name && e.words[0] === 'sees')
    expect(looks.map(e => e.words[1]).sort()).toEqual(fast.map(t => t.user.name).sort())
    for (const look of looks) {
      expect(look.words[2], `${look.words[1]} seen from the slow server`).toBe('releases/r1')
      const theirEnd = times(events, look.words[1], 'before-end')[0]
      expect(theirEnd).toBeLessThan(look.t)
    }
    for (const t of ts) expect(await current(t)).toBe('releases/r2')
  })

  it('switches no server when one before-switch fails, and leaves no new release anywhere', async () => {
    const ts = await targets(3)
    const bad = ts[1]
    const src = await source()
    await deployOk(ts, src, { 'release-id': 'r1' })

    await writeTree(src, { 'index.php': '<?php echo "v2";' })
    const run = await runAction(
      inputs(ts, src, {
        'release-id': 'r2',
        'before-switch': `if [ "$(id -un)" = ${bad.user.name} ]; then echo "migration broke"; exit 7; fi`
      })
    )
    expect(run.code, run.log).toBe(1)
    for (const t of ts) {
      expect(await current(t), t.label).toBe('releases/r1')
      expect(await releases(t), t.label).toEqual(['r1'])
      expect(await exists(path.join(t.deployDir, '.atomic-deploy/lock')), t.label).toBe(false)
    }
    const failure = failureOf(run)
    const named = failure.split('\n').filter(l => mentions(l, bad.label))
    expect(named.join('\n'), failure).toMatch(/before-switch.*status 7/)
    for (const t of ts.filter(t => t !== bad)) expect(mentions(failure, t.label)).toBe(false)
    const servers = serversOf(run)
    expect(servers[bad.label].status).toBe('failed')
    expect(servers[bad.label].error).toMatch(/status 7/)
    for (const t of ts) expect(servers[t.label].status).not.toBe('deployed')
  })

  it('switches the others back when the switch fails on one server', async () => {
    const ts = await targets(3)
    const stuck = ts[2]
    const src = await source()
    await deployOk(ts, src, { 'release-id': 'r1' })
    cleanups.push(() => chmod(stuck.deployDir, 0o755).catch(() => undefined))

    const dir = await eventsDir()
    const run = await runAction(
      inputs(ts, src, {
        'release-id': 'r2',
        // The deploy directory becomes read-only on one server after its release is ready, so
        // the temporary link for the switch cannot be created there.
        'before-switch': `if [ "$(id -un)" = ${stuck.user.name} ]; then chmod 0555 "$DEPLOY_PATH"; fi`,
        'after-switch': [recorder(dir), 'ev after'].join('\n')
      })
    )
    await chmod(stuck.deployDir, 0o755)
    expect(run.code, run.log).toBe(1)
    for (const t of ts) {
      expect(await current(t), t.label).toBe('releases/r1')
      expect(await exists(path.join(t.deployDir, '.atomic-deploy/lock')), t.label).toBe(false)
    }
    // after-switch never ran: the group did not go live.
    expect(await list(dir)).toEqual([])
    const failure = failureOf(run)
    const named = failure.split('\n').filter(l => mentions(l, stuck.label))
    expect(named.length, failure).toBeGreaterThan(0)
    expect(failure).toMatch(/switch/i)
    expect(failure).toMatch(/permission denied|EACCES/i)
    const servers = serversOf(run)
    expect(servers[stuck.label].status).toBe('failed')
    for (const t of ts) expect(servers[t.label].status).not.toBe('deployed')
    // The release that is live after the step is the old one.
    expect(run.outputs['release-id']).toBe('r1')
  })
})

describe('strategy: sequential', () => {
  it('takes each server through every phase before the next one starts, and a dry run plans one release for all', async () => {
    const ts = await targets(3)
    const src = await source()
    const dir = await eventsDir()
    const locks = ts
      .map(
        t =>
          `if [ -e ${t.deployDir}/.atomic-deploy/lock ]; then ev lock ${t.user.name} held; else ev lock ${t.user.name} free; fi`
      )
      .join('\n')
    const run = await deployOk(ts, src, {
      strategy: 'sequential',
      'before-switch': [recorder(dir), 'ev before-start', sees(ts), locks, 'ev before-end'].join(
        '\n'
      ),
      'after-switch': [recorder(dir), 'ev after'].join('\n')
    })
    const id = run.outputs['release-id']
    expect(id).toMatch(/^\d{14}$/)
    for (const t of ts) expect(await current(t)).toBe(`releases/${id}`)
    const servers = serversOf(run)
    expect(Object.keys(servers).sort()).toEqual(ts.map(t => t.label).sort())
    for (const t of ts) expect(servers[t.label].status).toBe('deployed')

    const events = await readEvents(dir)
    for (let k = 1; k < ts.length; k++) {
      const previousAfter = times(events, ts[k - 1].user.name, 'after')
      const start = times(events, ts[k].user.name, 'before-start')
      expect(previousAfter).toHaveLength(1)
      expect(start).toHaveLength(1)
      expect(start[0]).toBeGreaterThan(previousAfter[0])
    }
    // From server k's before-switch: the servers before it are live on the new release and
    // finished (unlocked); the ones after it have not been touched yet.
    for (const [k, t] of ts.entries()) {
      const mine = events.filter(e => e.user === t.user.name)
      for (const [j, other] of ts.entries()) {
        const link = mine.find(e => e.words[0] === 'sees' && e.words[1] === other.user.name)
        const lock = mine.find(e => e.words[0] === 'lock' && e.words[1] === other.user.name)
        const what = `${other.user.name} seen from server ${k + 1}`
        expect(link?.words[2], what).toBe(j < k ? `releases/${id}` : 'none')
        if (j < k) expect(lock?.words[2], what).toBe('free')
        if (j === k) expect(lock?.words[2], what).toBe('held')
      }
    }

    // A dry run of the next deploy plans the same new release on every server, one after
    // another, and writes nothing.
    await writeTree(src, { 'index.php': '<?php echo "v2";' })
    const dry = await deployOk(ts, src, { strategy: 'sequential', 'dry-run': 'true' })
    const planned = /Done: dry run planned release (\d{14})/.exec(dry.log)?.[1]
    expect(planned).toBeDefined()
    expect(planned).not.toBe(id)
    for (const t of ts) {
      expect(dry.log).toContain(`[${t.label}] plan for release ${planned}: uploading 1 file`)
      expect(await current(t)).toBe(`releases/${id}`)
      expect(await list(path.join(t.deployDir, 'releases'))).toEqual([id])
    }
  })
})

describe('max-parallel', () => {
  it('with 1, runs one before-switch at a time and still switches only after all of them', async () => {
    const ts = await targets(3)
    const src = await source()
    const dir = await eventsDir()
    await deployOk(ts, src, {
      'max-parallel': '1',
      'before-switch': [
        recorder(dir),
        'ev before-start',
        'sleep 0.3',
        sees(ts),
        'ev before-end'
      ].join('\n'),
      'after-switch': [recorder(dir), 'ev after'].join('\n')
    })
    const events = await readEvents(dir)
    const spans = ts
      .map(t => ({
        user: t.user.name,
        start: times(events, t.user.name, 'before-start')[0],
        end: times(events, t.user.name, 'before-end')[0]
      }))
      .sort((a, b) => (a.start < b.start ? -1 : 1))
    for (const s of spans) {
      expect(s.start, s.user).toBeDefined()
      expect(s.end, s.user).toBeDefined()
    }
    for (let i = 1; i < spans.length; i++) {
      expect(
        spans[i].start > spans[i - 1].end,
        `${spans[i].user} started before ${spans[i - 1].user} ended`
      ).toBe(true)
    }
    const afters = times(events, undefined, 'after')
    expect(afters).toHaveLength(3)
    expect(maxOf(spans.map(s => s.end))).toBeLessThan(minOf(afters))
    // No before-switch, not even the last one, saw any server switched.
    const looks = events.filter(e => e.words[0] === 'sees')
    expect(looks).toHaveLength(9)
    for (const look of looks) expect(look.words[2], `${look.user}: ${look.words[1]}`).toBe('none')
  })
})

describe('an unreachable server', () => {
  it('fails the group before anything is written on the reachable ones', async () => {
    const ts = await targets(2)
    const src = await source()
    const port = await freePort()
    const unreachable = `${ts[0].user.name}@127.0.0.1:${port}`
    const run = await runAction({
      ...inputs(ts, src),
      servers: [...ts.map(t => t.entry), unreachable].join('\n'),
      // Its host key is known: what fails is reaching it.
      'known-hosts': `${sshd.knownHosts}\n${sshd.knownHosts.replace(`]:${sshd.port} `, `]:${port} `)}`,
      'connect-timeout': '5'
    })
    expect(run.code, run.log).toBe(1)
    for (const t of ts) expect(await exists(t.deployDir), t.label).toBe(false)
    const failure = failureOf(run)
    expect(mentions(failure, unreachable), failure).toBe(true)
    for (const t of ts) expect(mentions(failure, t.label), failure).toBe(false)
  })
})

describe('mode: rollback on a group', () => {
  it('switches every server back to its previous release together', async () => {
    const ts = await targets(3)
    const src = await source()
    await deployOk(ts, src, { 'release-id': 'r1' })
    await writeTree(src, { 'index.php': '<?php echo "v2";' })
    await deployOk(ts, src, { 'release-id': 'r2' })

    const run = await deployOk(ts, src, { mode: 'rollback' })
    expect(run.outputs['release-id']).toBe('r1')
    for (const t of ts) {
      expect(await current(t), t.label).toBe('releases/r1')
      expect(await readFile(path.join(t.deployDir, 'current/index.php'), 'utf8')).toBe(
        '<?php echo "v1";'
      )
    }
    const servers = serversOf(run)
    expect(Object.keys(servers).sort()).toEqual(ts.map(t => t.label).sort())
    for (const t of ts) expect(servers[t.label].release).toBe('r1')
  })

  it('is refused with nothing changed anywhere when one server has no previous release', async () => {
    const ts = await targets(3)
    const late = ts[2]
    const src = await source()
    await deployOk(ts.slice(0, 2), src, { 'release-id': 'r1' })
    await deployOk(ts, src, { 'release-id': 'r2' })
    for (const t of ts) await settled(t.deployDir)
    const before = await Promise.all(ts.map(t => describeTree(t.deployDir)))

    const run = await runAction(inputs(ts, src, { mode: 'rollback' }))
    expect(run.code, run.log).toBe(1)
    for (const t of ts) expect(await current(t), t.label).toBe('releases/r2')
    expect(await Promise.all(ts.map(t => describeTree(t.deployDir)))).toEqual(before)
    const failure = failureOf(run)
    expect(mentions(failure, late.label), failure).toBe(true)
    expect(failure).toMatch(/refused/i)
  })
})

describe('automatic rollback on a group', () => {
  it('switches every server back when after-switch fails on one, and runs after-switch for the restored release on every server', async () => {
    const ts = await targets(3)
    const bad = ts[1]
    const src = await source()
    const events = await eventsDir()
    await deployOk(ts, src, { 'release-id': 'r1' })
    await writeTree(src, { 'index.php': '<?php echo "v2";' })
    const run = await runAction(
      inputs(ts, src, {
        'release-id': 'r2',
        'after-switch': [
          `echo "$RELEASE_ID" >> ${events}/$(id -un)`,
          `if [ "$(id -un)" = ${bad.user.name} ] && [ "$RELEASE_ID" = r2 ]; then echo "reload failed" >&2; exit 4; fi`
        ].join('\n')
      })
    )
    for (const t of ts)
      expect(await readFile(path.join(events, t.user.name), 'utf8'), t.label).toBe('r2\nr1\n')
    expect(run.code, run.log).toBe(1)
    expect(run.outputs['rolled-back']).toBe('true')
    for (const t of ts) {
      expect(await current(t), t.label).toBe('releases/r1')
      expect(await exists(path.join(t.deployDir, '.atomic-deploy/lock')), t.label).toBe(false)
    }
    const failure = failureOf(run)
    const named = failure.split('\n').filter(l => mentions(l, bad.label))
    expect(named.join('\n'), failure).toMatch(/after-switch.*status 4/)
    const servers = serversOf(run)
    for (const t of ts) expect(servers[t.label].status, t.label).toBe('rolled-back')
  })
})

describe('the servers input', () => {
  it('takes commas and newlines, per-server users and ports, defaults, and IPv6 in brackets', async () => {
    const [a, b, d] = await targets(3)
    const c = await target(sshd2)
    const v6port = await ipv6Forwarder(sshd.port)
    const src = await source()
    // b relies on the username and port inputs; d is reached over IPv6.
    b.entry = '127.0.0.1'
    d.entry = `${d.user.name}@[::1]:${v6port}`
    d.label = d.entry
    const v6KnownHosts = sshd.knownHosts.replace(`[127.0.0.1]:${sshd.port}`, `[::1]:${v6port}`)
    const run = await runAction({
      ...inputs([], src),
      servers: `${a.entry}, ${b.entry}\n${c.entry},\n  ${d.entry}\n`,
      username: b.user.name,
      port: String(sshd.port),
      'known-hosts': `${sshd.knownHosts}\n${sshd2.knownHosts}\n${v6KnownHosts}`
    })
    expect(run.code, run.log).toBe(0)
    const id = run.outputs['release-id']
    const all = [a, b, c, d]
    for (const t of all) expect(await current(t), t.label).toBe(`releases/${id}`)
    const servers = serversOf(run)
    expect(Object.keys(servers).sort()).toEqual(all.map(t => t.label).sort())
    for (const t of all) expect(servers[t.label].status, t.label).toBe('deployed')
  })
})

describe('logs of a group', () => {
  it('prefixes every hook line with its server, and the error lists each failed server', async () => {
    const ts = await targets(3)
    const [good, bad5, bad6] = ts
    const src = await source()
    const mark = token()
    const run = await runAction(
      inputs(ts, src, {
        'before-switch': [
          'me=$(id -un)',
          `echo "${mark} out from $me"`,
          `echo "${mark} err from $me" >&2`,
          `echo "${mark} second out from $me"`,
          `case $me in ${bad5.user.name}) code=5 ;; ${bad6.user.name}) code=6 ;; *) code=0 ;; esac`,
          `printf '%s %s' "${mark} last without newline from" "$me" >&2`,
          'exit $code'
        ].join('\n')
      })
    )
    expect(run.code, run.log).toBe(1)

    const lines = run.log.split('\n')
    const start = lines.findIndex(l => /^::group::Prepare release/.test(l))
    expect(start, run.log).toBeGreaterThanOrEqual(0)
    const end = lines.findIndex((l, i) => i > start && l === '::endgroup::')
    const marked = lines.filter(l => l.includes(mark))
    expect(marked).toHaveLength(12)
    marked.forEach(line => {
      const index = lines.indexOf(line)
      expect(index > start && index < end, line).toBe(true)
      const from = ts.find(t => line.endsWith(`from ${t.user.name}`))
      expect(from, line).toBeDefined()
      expect(line.startsWith(`[${from?.label}] ${mark} `), line).toBe(true)
    })

    const failure = failureOf(run)
    const lineOf = (t: Target): string => failure.split('\n').find(l => mentions(l, t.label)) ?? ''
    expect(lineOf(bad5), failure).toMatch(/status 5/)
    expect(lineOf(bad6), failure).toMatch(/status 6/)
    expect(mentions(failure, good.label), failure).toBe(false)
    for (const t of ts) expect(await current(t), t.label).toBeUndefined()
  })
})
