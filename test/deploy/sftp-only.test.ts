/**
 * Deploys to SFTP-only accounts, as shared hosting makes them: OpenSSH's `ForceCommand
 * internal-sftp` inside a `ChrootDirectory` (see SFTP_ONLY_PROFILE in test/support/sshd.ts). Any
 * command the account is asked to run answers "This service allows sftp connections only.", so
 * every phase runs over SFTP alone, with the layout and metadata of shell deploys.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  appendFile,
  chmod,
  lstat,
  mkdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile
} from 'node:fs/promises'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { gunzipSync } from 'node:zlib'
import { manifestView, parseView } from '../../src/release/compact-manifest.ts'
import { serializeManifest } from '../../src/release/manifest.ts'
import { runAction, type ActionResult } from '../support/action.ts'
import { run, sleep } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  worldWritable,
  writeTree,
  type Fixture,
  type FixtureOptions
} from '../support/fixture.ts'
import { mountSmallFilesystem } from '../support/mounts.ts'
import { pidsOfUid } from '../support/process-tree.ts'
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

async function fixture(options: FixtureOptions = { kind: 'sftp-only' }): Promise<Fixture> {
  const f = await createFixture({ sshd, ...options })
  fixtures.push(f)
  return f
}

const meta = (f: Fixture, ...p: string[]): string => path.join(f.deployDir, '.atomic-deploy', ...p)
const releases = (f: Fixture): Promise<string[]> => list(path.join(f.deployDir, 'releases'))
const current = (f: Fixture): Promise<string> => readlink(path.join(f.deployDir, 'current'))
const release = (f: Fixture, id: string): string => path.join(f.deployDir, 'releases', id)
const errorLines = (r: ActionResult): string =>
  r.log
    .split('\n')
    .filter(l => l.startsWith('::error::'))
    .map(l => l.slice('::error::'.length).replace(/%0A/g, '\n').replace(/%25/g, '%'))
    .join('\n')
const logEvents = async (f: Fixture): Promise<string[]> =>
  (await readFile(meta(f, 'log'), 'utf8').catch(() => ''))
    .split('\n')
    .filter(l => l !== '')
    .map(l => l.split('\t').slice(0, 2).join(' '))

/** Deploy and expect success. */
async function deploy(f: Fixture, extra: Record<string, string>): Promise<ActionResult> {
  const result = await runAction(f.inputs(extra))
  expect(result.code, result.log).toBe(0)
  return result
}

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
  const knownHosts = sshd.knownHosts.replace(
    `[127.0.0.1]:${sshd.port} `,
    `[127.0.0.1]:${proxy.port} `
  )
  return {
    proxy,
    inputs: (extra = {}) =>
      f.inputs({
        servers: `${f.user.name}@127.0.0.1:${proxy.port}`,
        'known-hosts': knownHosts,
        ...extra
      })
  }
}

const SITE = {
  'index.php': '<?php echo "v1";',
  'public/app.css': 'body {}',
  'public/img/logo.svg': '<svg/>',
  'bin/console': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'config/secret.php': { content: '<?php return [];', mode: 0o600 },
  'docs/latest': { symlink: '../public/app.css' },
  'empty/dir': { dir: true as const }
}

describe('a deploy to an SFTP-only account', () => {
  it('deploys first and incrementally over SFTP alone, with the layout and metadata of shell deploys', async () => {
    const f = await fixture()
    await writeTree(f.source, SITE)
    const first = await deploy(f, { 'release-id': 'one' })
    expect(first.log).toMatch(
      /sshd runs only SFTP for it \(ForceCommand internal-sftp\); SFTP with posix-rename, hardlink, copy-data: deploying over SFTP alone/
    )
    expect(await current(f)).toBe('releases/one')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
    // The same metadata a shell deploy writes: a manifest any deploy can read (its digest and
    // view beside it), the links and revision records, the release log; no lock and no scratch
    // files left.
    const manifest = parseView(await readFile(meta(f, 'manifests/one.m2')))
    expect(manifest.map(e => e.path)).toContain('config/secret.php')
    expect(await readFile(meta(f, 'manifests/one.digest'), 'utf8')).toBe(
      `${createHash('sha256')
        .update(await readFile(meta(f, 'manifests/one.m2')))
        .digest('hex')}\n`
    )
    expect(gunzipSync(await readFile(meta(f, 'manifests/one.view.gz')))).toEqual(
      manifestView(await readFile(meta(f, 'manifests/one.m2')))
    )
    expect(await readFile(meta(f, 'manifests/one.links'), 'utf8')).toBe('')
    expect(JSON.parse(await readFile(meta(f, 'revisions/one.json'), 'utf8'))).toMatchObject({
      release: 'one'
    })
    expect(await logEvents(f)).toEqual(['start one', 'ready one', 'live one'])
    expect((await list(meta(f))).sort()).toEqual(['log', 'manifests', 'revisions'])
    expect(await worldWritable(f.deployDir)).toEqual([])
    expect((await list(f.deployDir)).sort()).toEqual([
      '.atomic-deploy',
      'current',
      'releases',
      'shared'
    ])

    // Incremental, with copy (the default): unchanged files copied on the server (copy-data),
    // so the two releases share no inode; only what changed crosses the wire.
    await writeTree(f.source, {
      'index.php': '<?php echo "v2";',
      'public/new.js': 'let a = 1',
      'docs/latest': { symlink: '../public/new.js' }
    })
    await chmod(path.join(f.source, 'bin/console'), 0o700)
    await rm(path.join(f.source, 'public/img'), { recursive: true })
    const second = await deploy(f, { 'release-id': 'two' })
    expect(second.outputs['files-uploaded']).toBe('3')
    expect(second.outputs['files-deleted']).toBe('2')
    expect(await describeTree(release(f, 'two'))).toEqual(await describeTree(f.source))
    expect(await describeTree(release(f, 'one'))).not.toEqual(await describeTree(f.source))
    const inode = async (id: string, p: string): Promise<number> =>
      (await stat(path.join(release(f, id), p))).ino
    expect(await inode('two', 'public/app.css')).not.toBe(await inode('one', 'public/app.css'))

    // With copy-method hardlink: unchanged files are hard links into the live release, and a
    // changed file is a new inode: the older release keeps its content.
    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    const third = await deploy(f, { 'release-id': 'three', 'copy-method': 'hardlink' })
    expect(third.outputs['files-uploaded']).toBe('1')
    expect(await describeTree(release(f, 'three'))).toEqual(await describeTree(f.source))
    expect(await inode('three', 'public/app.css')).toBe(await inode('two', 'public/app.css'))
    expect(await readFile(path.join(release(f, 'two'), 'index.php'), 'utf8')).toBe(
      '<?php echo "v2";'
    )
    expect(await releases(f)).toEqual(['one', 'three', 'two'])
    expect(await logEvents(f)).toEqual([
      'start one',
      'ready one',
      'live one',
      'start two',
      'ready two',
      'live two',
      'start three',
      'ready three',
      'live three'
    ])
    expect(await worldWritable(f.deployDir)).toEqual([])
  })

  it('moves between shell and SFTP-only deploys on one server, and with shell: none never starts the login shell', async () => {
    // A user with a shell that records every start, so that 'never ran a command' is seen.
    const f = await fixture({ kind: 'default' })
    const starts = path.join(f.user.home, '.shell-starts')
    const shell = path.join(f.user.home, '.recording-shell')
    await writeFile(shell, `#!/bin/sh\necho start >> '${starts}'\nexec /bin/sh "$@"\n`, {
      mode: 0o755
    })
    await writeFile(starts, '')
    await run('chown', [`${f.user.name}:`, starts])
    await run('usermod', ['-s', shell, f.user.name])
    await writeTree(f.source, SITE)
    const counted = async (): Promise<number> =>
      (await readFile(starts, 'utf8')).split('\n').filter(Boolean).length

    await deploy(f, { 'release-id': 's1' })
    const afterShell = await counted()
    expect(afterShell).toBeGreaterThan(0)

    await writeTree(f.source, { 'index.php': '<?php echo "f2";' })
    const sftp = await deploy(f, { 'release-id': 'f2', shell: 'none' })
    expect(sftp.log).toMatch(/; shell is none; SFTP with posix-rename.*: deploying over SFTP alone/)
    expect(sftp.log).toMatch(/plan for release f2: uploading 1 file \(/)
    // The records each way makes are read the other way: no change is seen where there is none.
    expect(sftp.log).not.toMatch(/changed on the server since it was deployed/)
    expect(await counted()).toBe(afterShell)
    expect(await describeTree(release(f, 'f2'))).toEqual(await describeTree(f.source))

    // Planned from the view the SFTP-only deploy wrote, and the new manifest put together on the
    // server from f2.m2 (the only manifest there: no older format is written any more).
    expect(await list(meta(f, 'manifests'))).not.toContain('f2.json.gz')
    await writeTree(f.source, { 'public/app.css': 'body { color: red }' })
    const back = await deploy(f, { 'release-id': 's3' })
    expect(back.log).toMatch(/plan for release s3: uploading 1 file \(/)
    expect(back.log).not.toMatch(/changed on the server since it was deployed|drift/)
    expect(await describeTree(release(f, 's3'))).toEqual(await describeTree(f.source))

    // Nothing changed, over SFTP: the digest the shell deploy recorded is the source's, and
    // nothing else of the manifest is read (without its view, a plan would upload everything).
    await rm(meta(f, 'manifests/s3.view.gz'))
    const same = await deploy(f, { 'release-id': 'f4', shell: 'none' })
    expect(same.log).toMatch(/plan for release f4: uploading 0 files/)

    // Releases recorded by an older version (a gzipped JSON manifest, nothing else): both ways
    // plan against it, and write the records of this version.
    const older = async (id: string): Promise<void> => {
      const entries = parseView(await readFile(meta(f, `manifests/${id}.m2`)))
      for (const suffix of ['m2', 'digest', 'view.gz'])
        await rm(meta(f, `manifests/${id}.${suffix}`), { force: true })
      const file = meta(f, `manifests/${id}.json.gz`)
      await writeFile(file, await serializeManifest({ version: 1, entries, sharedLinks: [] }))
      await run('chown', [`${f.user.name}:`, file])
    }
    await older('f4')
    await writeTree(f.source, { 'index.php': '<?php echo "f5";' })
    const fromOld = await deploy(f, { 'release-id': 'f5', shell: 'none' })
    expect(fromOld.log).toMatch(/plan for release f5: uploading 1 file \(/)
    expect(await exists(meta(f, 'manifests/f5.m2'))).toBe(true)
    await older('f5')
    await writeTree(f.source, { 'index.php': '<?php echo "s6";' })
    const shellFromOld = await deploy(f, { 'release-id': 's6' })
    expect(shellFromOld.log).toMatch(/plan for release s6: uploading 1 file \(/)
    expect(await describeTree(release(f, 's6'))).toEqual(await describeTree(f.source))
    expect(await exists(meta(f, 'manifests/s6.m2'))).toBe(true)
    expect(await counted()).toBeGreaterThan(afterShell)
    // The log compacted to the releases kept (keep-releases: 3), whichever way wrote them.
    expect(await logEvents(f)).toEqual(
      ['f4', 'f5', 's6'].flatMap(id => [`start ${id}`, `ready ${id}`, `live ${id}`])
    )
    expect(await releases(f)).toEqual(['f4', 'f5', 's6'])
  })

  it('links shared paths: every entry of shared/ by default; listed paths seeded, created, or refused on a conflict', async () => {
    const f = await fixture()
    await writeTree(f.source, {
      'index.php': 'v1',
      'storage/app/keep.txt': 'k',
      'config.php': 'c1'
    })
    // Prepared by hand before the first deploy.
    const { uid, gid } = await stat(path.dirname(f.deployDir))
    await mkdir(path.join(f.deployDir, 'shared/storage/logs'), { recursive: true })
    await writeFile(path.join(f.deployDir, 'shared/.env'), 'APP_KEY=x')
    await run('chown', ['-R', `${uid}:${gid}`, f.deployDir])
    await deploy(f, { 'release-id': 'auto' })
    const live = path.join(f.deployDir, 'current')
    expect(await readlink(path.join(live, '.env'))).toBe('../../shared/.env')
    expect(await readlink(path.join(live, 'storage/logs'))).toBe('../../../shared/storage/logs')
    expect(await readFile(path.join(live, '.env'), 'utf8')).toBe('APP_KEY=x')
    expect((await readFile(meta(f, 'manifests/auto.links'), 'utf8')).split('\n').sort()).toEqual([
      '',
      '.env',
      'storage/logs'
    ])

    // Listed paths: config.php is seeded from the release, uploads/ created, storage/cache/
    // created under a parent the source has; the next release starts without the links.
    const listed = { 'shared-paths': 'config.php\nuploads/\nstorage/logs\n.env' }
    await deploy(f, { 'release-id': 'listed', ...listed })
    expect(await readFile(path.join(f.deployDir, 'shared/config.php'), 'utf8')).toBe('c1')
    expect((await lstat(path.join(f.deployDir, 'shared/uploads'))).isDirectory()).toBe(true)
    expect(await readlink(path.join(live, 'config.php'))).toBe('../../shared/config.php')
    expect(await readlink(path.join(live, 'uploads'))).toBe('../../shared/uploads')

    // config.php is now in shared/ and in the source: refused, naming it; nothing switched.
    const conflict = await runAction(f.inputs({ 'release-id': 'conflict', ...listed }))
    expect(conflict.code).not.toBe(0)
    expect(errorLines(conflict)).toMatch(/config\.php is both in shared\/ and in the release/)
    expect(await current(f)).toBe('releases/listed')
    expect(await releases(f)).toEqual(['auto', 'listed'])

    await deploy(f, { 'release-id': 'replaced', ...listed, 'shared-conflict': 'replace' })
    expect(await readlink(path.join(live, 'config.php'))).toBe('../../shared/config.php')
    expect(await readFile(path.join(f.deployDir, 'shared/config.php'), 'utf8')).toBe('c1')
    expect(await list(meta(f))).not.toContain('seeded.listed')
  })

  it('rolls back, prunes to keep-releases, and never prunes the live release or the one it replaced', async () => {
    const f = await fixture()
    for (const id of ['r1', 'r2', 'r3', 'r4']) {
      await writeTree(f.source, { 'index.php': id, [`pages/${id}.html`]: id })
      await deploy(f, { 'release-id': id, 'keep-releases': '2' })
    }
    expect(await releases(f)).toEqual(['r3', 'r4'])
    expect(await list(meta(f, 'manifests'))).toEqual([
      'r3.digest',
      'r3.links',
      'r3.listing',
      'r3.m2',
      'r3.ready',
      'r3.view.gz',
      'r4.digest',
      'r4.links',
      'r4.listing',
      'r4.m2',
      'r4.ready',
      'r4.view.gz'
    ])
    expect(await logEvents(f)).not.toContain('start r1')

    const back = await deploy(f, { mode: 'rollback' })
    expect(back.outputs['release-id']).toBe('r3')
    expect(await current(f)).toBe('releases/r3')
    expect(await readFile(path.join(f.deployDir, 'current/index.php'), 'utf8')).toBe('r3')

    const refused = await runAction(f.inputs({ mode: 'rollback', 'rollback-to': 'r3' }))
    expect(refused.code).not.toBe(0)
    expect(errorLines(refused)).toMatch(/already live/)
    await deploy(f, { mode: 'rollback', 'rollback-to': 'r4' })
    expect(await current(f)).toBe('releases/r4')
    expect((await list(meta(f))).sort()).toEqual(['log', 'manifests', 'revisions'])
  })

  it('starts releases from a clean cache/ with reuse: cache, and mode: unlock clears a stale lock', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1', 'lib/a.php': 'A', 'lib/b.php': 'B' })
    await deploy(f, { 'release-id': 'c1', reuse: 'cache' })
    expect(await describeTree(path.join(f.deployDir, 'cache'))).toEqual(
      await describeTree(f.source)
    )
    await writeTree(f.source, { 'index.php': 'v2' })
    await rm(path.join(f.source, 'lib/b.php'))
    const second = await deploy(f, { 'release-id': 'c2', reuse: 'cache' })
    expect(second.outputs['files-uploaded']).toBe('1')
    for (const dir of ['cache', 'releases/c2'])
      expect(await describeTree(path.join(f.deployDir, dir))).toEqual(await describeTree(f.source))
    expect(await describeTree(release(f, 'c1'))).not.toEqual(await describeTree(f.source))
    for (const record of ['cache.m2', 'cache.digest', 'cache.view.gz'])
      expect(await exists(meta(f, record)), record).toBe(true)
    expect(await exists(meta(f, 'cache.pending'))).toBe(false)

    // A lock a killed run left behind: named, then removed.
    await mkdir(meta(f, 'lock'))
    await writeFile(
      meta(f, 'lock/owner'),
      JSON.stringify({ runUrl: 'https://github.example/acme/site/actions/runs/77', commit: 'abc' })
    )
    await run('chown', ['-R', `${f.user.name}:`, meta(f, 'lock')])
    const unlocked = await deploy(f, { mode: 'unlock' })
    expect(unlocked.log).toMatch(
      /removed the lock held by https:\/\/github\.example\/acme\/site\/actions\/runs\/77/
    )
    expect(await exists(meta(f, 'lock'))).toBe(false)
    const again = await deploy(f, { mode: 'unlock' })
    expect(again.log).toMatch(/no lock was held/)
  })

  it('refuses before-switch, after-switch and transfer tar up front, naming the input, and writes nothing', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1' })
    for (const [input, value] of [
      ['before-switch', 'php artisan migrate --force'],
      ['after-switch', 'sudo systemctl reload php8.3-fpm'],
      ['transfer', 'tar']
    ]) {
      const refused = await runAction(f.inputs({ [input!]: value! }))
      expect(refused.code).not.toBe(0)
      expect(errorLines(refused)).toContain(`'${input}' needs a shell on the server`)
      expect(await exists(f.deployDir)).toBe(false)
    }
    // With shell: none it is an input error, before any connection.
    const input = await runAction(f.inputs({ shell: 'none', 'before-switch': 'echo hi' }))
    expect(input.code).not.toBe(0)
    expect(errorLines(input)).toMatch(
      /^'before-switch' needs a shell on the server, and 'shell' is none/
    )
    expect(input.log).not.toContain('Connect')
    // A dry run reads and plans, and writes nothing either.
    const dry = await deploy(f, { 'dry-run': 'true' })
    expect(dry.log).toMatch(/dry run: uploading 1 file \(/)
    expect(await exists(f.deployDir)).toBe(false)
    // A health check runs from the runner, so it is no reason to refuse.
    await deploy(f, { 'release-id': 'one' })
    expect(await current(f)).toBe('releases/one')
  })

  it('names changes made on the server since a release was deployed, and does not carry them into the next one; verify: full catches what is not named', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1', 'lib/a.php': 'AAAA', 'lib/b.php': 'B' })
    await deploy(f, { 'release-id': 'one' })
    // The records a shell deploy makes too: the listing when verified (directories with their
    // mode, which no other user may write to), the ready marker.
    const dirMode = (await stat(path.join(release(f, 'one'), 'lib'))).mode & 0o777
    expect(dirMode & 0o002).toBe(0)
    expect((await readFile(meta(f, 'manifests/one.listing'), 'utf8')).split('\n').sort()).toEqual(
      [
        '',
        `d ${dirMode.toString(8)} ./lib`,
        'f 644 1 ./lib/b.php',
        'f 644 1 ./lib/a.php'.replace('1 ./lib/a', '4 ./lib/a'),
        'f 644 2 ./index.php'
      ].sort()
    )
    expect((await stat(meta(f, 'manifests/one.ready'))).size).toBe(0)
    // Changed by hand on the server, same size, a second after the release was ready.
    await sleep(1100)
    await writeFile(path.join(release(f, 'one'), 'lib/a.php'), 'BBBB')
    await writeFile(path.join(release(f, 'one'), 'extra.txt'), 'x')
    await writeTree(f.source, { 'index.php': 'v2' })
    const warned = await deploy(f, { 'release-id': 'two', 'copy-method': 'hardlink' })
    expect(warned.log).toMatch(
      /release one was changed on the server since it was deployed: .*extra\.txt.*lib\/a\.php|release one was changed on the server since it was deployed: .*lib\/a\.php.*extra\.txt/
    )
    expect(await describeTree(release(f, 'two'))).toEqual(await describeTree(f.source))
    expect(await readFile(path.join(release(f, 'one'), 'lib/a.php'), 'utf8')).toBe('BBBB')

    // With on-drift: ignore nothing is named: a same-size change is hard-linked into the next
    // release as it is, and verify: full reads it back and refuses the release.
    await sleep(1100)
    await writeFile(path.join(release(f, 'two'), 'lib/a.php'), 'CCCC')
    await writeTree(f.source, { 'index.php': 'v3' })
    const full = await runAction(
      f.inputs({
        'release-id': 'three',
        'copy-method': 'hardlink',
        verify: 'full',
        'on-drift': 'ignore'
      })
    )
    expect(full.code).not.toBe(0)
    expect(errorLines(full)).toMatch(
      /release three does not match the manifest; nothing was switched/
    )
    expect(errorLines(full)).toMatch(/content differs: lib\/a\.php$/m)
    expect(await current(f)).toBe('releases/two')
    expect(await releases(f)).toEqual(['one', 'two'])
    expect(await exists(meta(f, 'lock'))).toBe(false)
    expect((await logEvents(f)).slice(-2)).toEqual(['start three', 'abort three'])
    expect(await exists(meta(f, 'manifests/three.listing'))).toBe(false)
    // A file whose size changed is caught by the standard check.
    await writeFile(path.join(release(f, 'two'), 'lib/a.php'), 'CCCCC')
    const standard = await runAction(
      f.inputs({ 'release-id': 'four', 'copy-method': 'hardlink', 'on-drift': 'ignore' })
    )
    expect(standard.code).not.toBe(0)
    expect(errorLines(standard)).toMatch(
      /missing or different: lib\/a\.php \(file, mode 644, 4 bytes\)/
    )
    expect(await current(f)).toBe('releases/two')
  })

  it('never removes the live release, whatever the release log says', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1' })
    await deploy(f, { 'release-id': 'one' })
    // A log that calls the live release begun and never finished, which the next deploy would
    // clean up as a leftover.
    await appendFile(meta(f, 'log'), 'start\tone\t2026-01-01T00:00:00Z\n')
    await writeTree(f.source, { 'index.php': 'v2' })
    const next = await deploy(f, { 'release-id': 'two' })
    expect(next.log).toMatch(
      /the release log calls the live release one incomplete; it is live, so it is kept/
    )
    expect(await releases(f)).toEqual(['one', 'two'])
    expect(await readFile(path.join(release(f, 'one'), 'index.php'), 'utf8')).toBe('v1')
  })

  it('removes the trees cut aborts and prunes set aside in releases/, by their exact names and only as real directories', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1' })
    await deploy(f, { 'release-id': 'one' })
    const R = path.join(f.deployDir, 'releases')
    // What a shell deploy's prune (lib/finish.sh) and abort (lib/release.sh) leave when cut,
    // a tree each; names that only look like theirs; one such name on a symlink to a directory
    // outside, and one on a plain file.
    const outside = path.join(path.dirname(f.deployDir), 'outside')
    await writeTree(outside, { 'precious.txt': 'keep' })
    await writeTree(R, {
      '.pruning.r0.4242/public/index.php': 'old',
      '.pruning.r0.4242/public/css/app.css': 'old',
      '.aborting.v1.0.77/index.php': 'half',
      '.pruning.r0/index.php': 'not ours: no pid',
      '.pruning.r0.12x/index.php': 'not ours: pid not a number',
      '.pruning..r0.5/index.php': 'not ours: no release id',
      '.pruned.r0.6/index.php': 'not ours: another word',
      '.pruning.linked.99': { symlink: '../../outside' },
      '.aborting.file.55': 'a file, not a tree'
    })
    await run('chown', ['-R', '-h', `${f.user.name}:`, R, outside])
    const before = (await releases(f)).sort()
    await writeTree(f.source, { 'index.php': 'v2' })
    const next = await deploy(f, { 'release-id': 'two' })
    expect(next.log).not.toMatch(/was not removed/)
    expect((await releases(f)).sort()).toEqual(
      before
        .filter(n => n !== '.pruning.r0.4242' && n !== '.aborting.v1.0.77')
        .concat('two')
        .sort()
    )
    expect(await readlink(path.join(R, '.pruning.linked.99'))).toBe('../../outside')
    expect(await readFile(path.join(outside, 'precious.txt'), 'utf8')).toBe('keep')
    expect(await readFile(path.join(R, '.aborting.file.55'), 'utf8')).toBe('a file, not a tree')
    expect(await readFile(path.join(R, 'one/index.php'), 'utf8')).toBe('v1')
    expect(await current(f)).toBe('releases/two')
  })
})

describe('what an SFTP-only server says', () => {
  it('refuses a current that points out of the layout, and a path that resolves to a system directory, writing nothing', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1' })
    await mkdir(f.deployDir)
    await symlink('../../../etc', path.join(f.deployDir, 'current'))
    await run('chown', ['-R', '-h', `${f.user.name}:`, f.deployDir])
    const outside = await runAction(f.inputs())
    expect(outside.code).not.toBe(0)
    expect(errorLines(outside)).toMatch(
      /current points to '\.\.\/\.\.\/\.\.\/etc', which is not a release of this deploy directory/
    )
    expect(await list(f.deployDir)).toEqual(['current'])

    // A first deploy into a directory of another shape, or a layout entry of the wrong type.
    await rm(path.join(f.deployDir, 'current'))
    await writeFile(path.join(f.deployDir, 'index.html'), 'the old site')
    const foreign = await runAction(f.inputs())
    expect(foreign.code).not.toBe(0)
    expect(errorLines(foreign)).toMatch(/holds files that are not a deploy layout \(index\.html\)/)
    await rm(path.join(f.deployDir, 'index.html'))
    await writeFile(path.join(f.deployDir, 'releases'), 'a file')
    const layout = await runAction(f.inputs())
    expect(layout.code).not.toBe(0)
    expect(errorLines(layout)).toMatch(/releases exists and is not a directory/)
    expect(await list(f.deployDir)).toEqual(['releases'])

    // A symlink in the path that leads to a system directory (outside any chroot here).
    const g = await fixture({ kind: 'default' })
    await writeTree(g.source, { 'index.php': 'v1' })
    await symlink('/usr/bin', path.join(g.user.home, 'site'))
    const system = await runAction(g.inputs({ shell: 'none', path: 'site' }))
    expect(system.code).not.toBe(0)
    expect(errorLines(system)).toMatch(/refusing to deploy into \/usr\/bin is a system directory/)
  })

  it('a shell deploy does not follow a shared link record out of the release', async () => {
    // The links recorded with the live release are removed from the next release's copy; one
    // that climbs out would name a directory beside the deploy path.
    const f = await fixture({ kind: 'default' })
    await writeTree(f.source, { 'index.php': 'v1' })
    await deploy(f, { 'release-id': 'one' })
    const victim = path.join(f.user.home, 'victim')
    await mkdir(victim)
    await writeFile(path.join(victim, 'precious'), 'keep')
    await run('chown', ['-R', `${f.user.name}:`, victim])
    await writeFile(meta(f, 'manifests/one.links'), '../../../victim\n')
    await writeTree(f.source, { 'index.php': 'v2' })
    await deploy(f, { 'release-id': 'two' })
    expect(await readFile(path.join(victim, 'precious'), 'utf8')).toBe('keep')
    expect(await describeTree(release(f, 'two'))).toEqual(await describeTree(f.source))
  })
})

describe('faults during an SFTP-only deploy', () => {
  it('a connection cut mid-upload leaves current untouched; the post step releases the lock, and the next deploy heals', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1', 'public/app.css': 'body {}' })
    await deploy(f, { 'release-id': 'one' })
    const one = await describeTree(release(f, 'one'))
    await writeTree(f.source, {
      'index.php': 'v2',
      'big.bin': { content: randomBytes(12 * 1024 * 1024) }
    })
    const { proxy, inputs } = await throughProxy(f, 5)
    const cut = proxy.cutAfterBytes(3 * 1024 * 1024)
    cut.catch(() => undefined)
    const failed = await runAction(inputs({ 'release-id': 'two' }), { timeoutMs: 45_000 })
    expect(failed.code, failed.log).not.toBe(0)
    expect(failed.log).not.toContain('Switch to two')
    expect(errorLines(failed)).toMatch(/connection lost|closed|reset/i)
    for (
      let i = 0;
      i < 100 && pidsOfUid(Number((await run('id', ['-u', f.user.name])).stdout)).length > 0;
      i++
    )
      await sleep(50)
    expect(await current(f)).toBe('releases/one')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(one)
    // What the cut left: the lock (the step could not reach the server to release it) and the
    // release begun, logged as started.
    expect(await exists(meta(f, 'lock'))).toBe(true)
    expect(failed.log).toMatch(/mode: unlock/)

    // Another deploy is refused, naming the lock; the post step, run by the runner with the
    // state the main step saved, releases it over SFTP.
    const refused = await runAction(f.inputs({ 'release-id': 'three' }))
    expect(refused.code).not.toBe(0)
    expect(errorLines(refused)).toMatch(/another deploy holds the lock .*mode: unlock/)
    const post = await runAction(inputs({ 'release-id': 'two' }), { state: failed.state })
    expect(post.code, post.log).toBe(0)
    expect(post.log).toContain('released the lock left by the main step')
    expect(await exists(meta(f, 'lock'))).toBe(false)

    // What a run cut while writing its records leaves in tmp/: the next deploy writes its own
    // records there beside them, and removes them (by the names it listed, never its own).
    await mkdir(meta(f, 'tmp', 'cut-dir'), { recursive: true })
    await writeFile(meta(f, 'tmp', '.atomic-deploy-0123456789abcdef.tmp'), 'half a manifest')
    await writeFile(meta(f, 'tmp', 'cut-dir', 'inner'), 'x')
    await run('chown', ['-R', `${f.user.name}:`, meta(f, 'tmp')])
    await chmod(meta(f, 'tmp'), 0o700)
    await writeTree(f.source, { 'index.php': 'v3' })
    await deploy(f, { 'release-id': 'three' })
    expect(await current(f)).toBe('releases/three')
    expect(await releases(f)).toEqual(['one', 'three'])
    expect(await list(meta(f, 'tmp')).catch(() => [])).toEqual([])
    expect(await list(meta(f, 'manifests'))).toEqual(
      expect.arrayContaining(['three.m2', 'three.digest', 'three.view.gz', 'three.listing'])
    )
    expect(await describeTree(release(f, 'three'))).toEqual(await describeTree(f.source))
    expect((await logEvents(f)).filter(e => e.endsWith(' two'))).toEqual(['start two', 'abort two'])
  }, 60_000)

  it('a release the disk cannot hold is refused before it is written', async () => {
    const f = await fixture()
    const { unmount } = await mountSmallFilesystem(f.deployDir, 2, f.user.name)
    try {
      await writeTree(f.source, { 'index.php': 'v1' })
      await deploy(f, { 'release-id': 'one' })
      await writeTree(f.source, { 'big.bin': { content: randomBytes(3 * 1024 * 1024) } })
      const failed = await runAction(f.inputs({ 'release-id': 'two' }))
      expect(failed.code).not.toBe(0)
      expect(errorLines(failed)).toMatch(
        /not enough free space in .*: .* free, 3\.\d+ MB needed for release two/
      )
      expect(await releases(f)).toEqual(['one'])
      expect(await current(f)).toBe('releases/one')
      expect(await exists(meta(f, 'lock'))).toBe(false)
      expect(await logEvents(f)).toEqual(['start one', 'ready one', 'live one'])
    } finally {
      await unmount()
    }
  })

  it('two deploys at once: one deploys, the other is refused and names the lock holder', async () => {
    const f = await fixture()
    await writeTree(f.source, {
      'index.php': 'v1',
      'big.bin': { content: randomBytes(4 * 1024 * 1024) }
    })
    const { inputs } = await throughProxy(f, 20)
    const env = (run: string): Record<string, string> => ({
      GITHUB_SERVER_URL: 'https://github.example',
      GITHUB_REPOSITORY: 'acme/site',
      GITHUB_RUN_ID: run
    })
    const [a, b] = await Promise.all([
      runAction(inputs({ 'release-id': 'a' }), { env: env('1001') }),
      sleep(150).then(() => runAction(inputs({ 'release-id': 'b' }), { env: env('2002') }))
    ])
    const winner = a.code === 0 ? a : b
    const loser = winner === a ? b : a
    expect(winner.code, winner.log).toBe(0)
    expect(loser.code, loser.log).not.toBe(0)
    const holder = winner === a ? '1001' : '2002'
    expect(errorLines(loser)).toContain(`https://github.example/acme/site/actions/runs/${holder}`)
    expect(errorLines(loser)).toMatch(/another deploy holds the lock/)
    expect(await current(f)).toBe(`releases/${winner === a ? 'a' : 'b'}`)
    expect(await releases(f)).toEqual([winner === a ? 'a' : 'b'])
    expect(await exists(meta(f, 'lock'))).toBe(false)
  }, 60_000)

  it('SIGTERM mid-upload: the release is removed, the lock released, current untouched', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'index.php': 'v1' })
    await deploy(f, { 'release-id': 'one' })
    await writeTree(f.source, { 'big.bin': { content: randomBytes(24 * 1024 * 1024) } })
    const { proxy, inputs } = await throughProxy(f, 75)
    let signalled = 0
    const cancelled = await runAction(inputs({ 'release-id': 'two' }), {
      onStart: (child, log) => {
        const timer = setInterval(() => {
          if (log().includes('::group::Prepare release') && proxy.stats().up > 1024 * 1024) {
            clearInterval(timer)
            signalled = Date.now()
            child.kill('SIGTERM')
          }
        }, 20)
        child.on('close', () => clearInterval(timer))
      }
    })
    expect(signalled, cancelled.log).toBeGreaterThan(0)
    expect(cancelled.code).not.toBe(0)
    expect(cancelled.log).not.toContain('Switch to two')
    console.log(`sftp-only SIGTERM: the step ended ${Date.now() - signalled} ms after the signal`)
    expect(proxy.stats().up).toBeLessThan(16 * 1024 * 1024)
    expect(await releases(f)).toEqual(['one'])
    expect(await exists(meta(f, 'lock'))).toBe(false)
    expect(await current(f)).toBe('releases/one')
    expect((await logEvents(f)).slice(-2)).toEqual(['start two', 'abort two'])
  }, 60_000)
})
