/**
 * The SFTP phases with server data written by the test: the removal guard, and cleanup that a
 * hostile record can neither redirect nor stop. The files are this machine's, behind a
 * hand-written RemoteFiles (test/support/local-files.ts).
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { removalGuard, RemovalRefusedError } from '../../src/server/removal-guard.ts'
import { abortOverSftp, finishOverSftp } from '../../src/server/sftp-finish.ts'
import { prepareOverSftp, SftpVerifyFailure } from '../../src/server/sftp-release.ts'
import { firstReads, readBaseRecords } from '../../src/server/sftp-inspect.ts'
import { gunzipSync } from 'node:zlib'
import { chmodSync, mkdirSync } from 'node:fs'
import { compactManifest, manifestView } from '../../src/release/compact-manifest.ts'
import { scanSource } from '../../src/release/manifest.ts'
import { makePlan } from '../../src/release/plan.ts'
import { exists } from '../support/fixture.ts'
import { LocalFiles } from '../support/local-files.ts'
import type { LocalFile, WriteOptions } from '../../src/sftp/remote-files.ts'

const D = '/srv/www/app'
const guard = removalGuard({ deployDir: D, protectedReleases: ['live', 'previous', undefined] })

describe('the removal guard, on absolute paths as the SFTP phases build them', () => {
  it.each([
    [`${D}/releases/old`],
    [`${D}/releases/old/public/index.php`],
    [`${D}/releases/live2`],
    [`${D}/shared/uploads`],
    [`${D}/.atomic-deploy/lock`],
    [`${D}/.atomic-deploy/tmp`],
    [`${D}/cache`],
    [`${D}/.current.tmp-1234`]
  ])('lets %s go', p => {
    expect(() => guard.check(p, 'releases/live')).not.toThrow()
  })

  it.each([
    [`${D}/current`, /current is part of the deploy layout/],
    [`${D}/releases/live`, /releases\/live is what current points to/],
    [`${D}/releases/live/index.php`, /releases\/live\/index.php is what current points to/],
    [`${D}/releases/previous`, /releases\/previous is release previous, which is kept/],
    [`${D}/releases`, /releases is part of the deploy layout/],
    [`${D}/shared`, /part of the deploy layout/],
    [`${D}/.atomic-deploy`, /part of the deploy layout/],
    [`${D}/.atomic-deploy/manifests`, /part of the deploy layout/],
    [D, /not a plain relative path inside/],
    ['/srv/www', /not a plain relative path inside/],
    ['/srv/www/app2/releases/x', /not a plain relative path inside/],
    [`${D}/releases/../../../etc`, /not a plain relative path/],
    [`${D}/releases/x/../live`, /not a plain relative path/],
    [`${D}/shared/`, /not a plain relative path/],
    [`${D}//etc`, /not a plain relative path/],
    [`${D}/./current`, /not a plain relative path/]
  ])('refuses %s', (p, why) => {
    expect(() => guard.check(p, 'releases/live')).toThrow(RemovalRefusedError)
    expect(() => guard.check(p, 'releases/live')).toThrow(why)
  })
})

describe('cleanup over SFTP with records read back from the server', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })

  /** A deploy directory holding a live release, a new one, a lock of ours, and a victim. */
  async function layout(): Promise<{ root: string; dir: string; victim: string }> {
    const root = await mkdtemp(path.join(os.tmpdir(), 'adt-phases-'))
    dirs.push(root)
    const dir = path.join(root, 'app')
    const victim = path.join(root, 'victim')
    await mkdir(victim)
    await writeFile(path.join(victim, 'precious'), 'keep')
    for (const d of ['releases/live', 'releases/new/sub', 'shared', '.atomic-deploy/lock'])
      await mkdir(path.join(dir, d), { recursive: true })
    await writeFile(path.join(dir, 'releases/new/sub/f'), 'x')
    await symlink('releases/live', path.join(dir, 'current'))
    await writeFile(path.join(dir, '.atomic-deploy/lock/owner'), '{"token":"ours"}\n')
    await writeFile(path.join(dir, '.atomic-deploy/log'), 'start\tnew\tt\n')
    return { root, dir, victim }
  }

  it('an abort removes its release and releases the lock, and a hostile seed record removes nothing outside, nor any shared path but those of its own shared-paths', async () => {
    const { dir, victim } = await layout()
    // shared/storage holds the users' data; this run seeded shared/uploads only.
    await mkdir(path.join(dir, 'shared/storage'))
    await writeFile(path.join(dir, 'shared/storage/photo.jpg'), 'users data')
    await mkdir(path.join(dir, 'shared/uploads'))
    await writeFile(
      path.join(dir, '.atomic-deploy/seeded.new'),
      'seeded ../../victim\ncreated ../victim\nseeded \nseeded uploads/../../../victim\nseeded storage\nseeded uploads\n'
    )
    const files = new LocalFiles()
    const warnings: string[] = []
    const done = await abortOverSftp({
      files,
      log: { info: () => undefined, debug: () => undefined, warning: w => void warnings.push(w) },
      deployDir: dir,
      releaseId: 'new',
      lockToken: 'ours',
      protectedReleases: ['live'],
      sharedPaths: ['uploads/', '../victim']
    })
    expect(done).toEqual({ aborted: true, unlocked: true })
    expect(await readFile(path.join(victim, 'precious'), 'utf8')).toBe('keep')
    expect(await exists(path.join(dir, 'releases/new'))).toBe(false)
    expect(await exists(path.join(dir, 'releases/live'))).toBe(true)
    expect(await exists(path.join(dir, '.atomic-deploy/lock'))).toBe(false)
    expect(await exists(path.join(dir, '.atomic-deploy/seeded.new'))).toBe(false)
    expect(warnings).toHaveLength(5)
    for (const w of warnings)
      expect(w).toMatch(
        /^the seed record of new names shared\/.*, which is not in shared-paths; it was left alone$/
      )
    expect(await readFile(path.join(dir, 'shared/storage/photo.jpg'), 'utf8')).toBe('users data')
    expect(await exists(path.join(dir, 'shared/uploads'))).toBe(false)
    expect(files.removed.every(p => p.startsWith(`${dir}/`))).toBe(true)
    expect(await readFile(path.join(dir, '.atomic-deploy/log'), 'utf8')).toMatch(
      /^start\tnew\tt\nabort\tnew\t/
    )
  })

  it('an abort leaves the release current points to, and a lock that is not ours', async () => {
    const { dir } = await layout()
    await rm(path.join(dir, 'current'))
    await symlink('releases/new', path.join(dir, 'current'))
    const warnings: string[] = []
    const done = await abortOverSftp({
      files: new LocalFiles(),
      log: { info: () => undefined, debug: () => undefined, warning: w => void warnings.push(w) },
      deployDir: dir,
      releaseId: 'new',
      lockToken: 'someone else',
      protectedReleases: ['live']
    })
    expect(done).toEqual({ aborted: false, unlocked: false })
    expect(warnings).toEqual([
      `release new was not removed: refusing to remove ${dir}/releases/new: releases/new is what current points to`
    ])
    expect(await exists(path.join(dir, 'releases/new/sub/f'))).toBe(true)
    expect(await exists(path.join(dir, '.atomic-deploy/lock/owner'))).toBe(true)
  })

  it('pruning never removes what current points to now, whatever the runner was told', async () => {
    const { dir } = await layout()
    const warnings: string[] = []
    const done = await finishOverSftp({
      files: new LocalFiles(),
      log: { info: () => undefined, debug: () => undefined, warning: w => void warnings.push(w) },
      deployDir: dir,
      events: [['live', 'new']],
      prune: ['live'],
      forget: ['live'],
      lockToken: 'ours',
      seedRecords: [],
      protectedReleases: []
    })
    expect(done).toEqual({ pruned: [], unlocked: true })
    expect(await exists(path.join(dir, 'releases/live'))).toBe(true)
    expect(warnings[0]).toMatch(
      /^not pruned: release live: refusing to remove .*releases\/live: releases\/live is what current points to$/
    )
  })

  it('a run whose lock was cleared and taken by another prunes nothing, keeps the log and seed records, and leaves that lock', async () => {
    const { dir } = await layout()
    await mkdir(path.join(dir, 'releases/old'))
    await writeFile(path.join(dir, '.atomic-deploy/seeded.old'), 'seeded uploads\n')
    const warnings: string[] = []
    const done = await finishOverSftp({
      files: new LocalFiles(),
      log: { info: () => undefined, debug: () => undefined, warning: w => void warnings.push(w) },
      deployDir: dir,
      events: [['live', 'new']],
      prune: ['old'],
      forget: ['old'],
      lockToken: 'a run that is gone',
      seedRecords: ['seeded.old'],
      protectedReleases: ['new']
    })
    expect(done).toEqual({ pruned: [], unlocked: false })
    expect(warnings).toEqual([`the lock on ${dir} is no longer this run's: nothing was pruned`])
    expect(await exists(path.join(dir, 'releases/old'))).toBe(true)
    expect(await exists(path.join(dir, '.atomic-deploy/seeded.old'))).toBe(true)
    expect(await exists(path.join(dir, '.atomic-deploy/lock/owner'))).toBe(true)
    // Its own event is still recorded.
    expect(await readFile(path.join(dir, '.atomic-deploy/log'), 'utf8')).toMatch(
      /^start\tnew\tt\nlive\tnew\t/
    )
  })
})

describe('a release built over SFTP, verified with its directory modes', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })

  /** A source tree, and an empty deploy layout, on this machine. */
  async function setup(): Promise<{ source: string; dir: string }> {
    const root = await mkdtemp(path.join(os.tmpdir(), 'adt-build-'))
    dirs.push(root)
    const source = path.join(root, 'source')
    const dir = path.join(root, 'app')
    await mkdir(path.join(source, 'public/css'), { recursive: true })
    await writeFile(path.join(source, 'index.html'), 'x')
    await writeFile(path.join(source, 'public/css/app.css'), 'y')
    for (const d of ['releases', 'shared', '.atomic-deploy'])
      await mkdir(path.join(dir, d), { recursive: true })
    return { source, dir }
  }

  /** Build release 'one' from `source` with these files, as the deploy does. */
  async function build(files: LocalFiles, source: string, dir: string) {
    const { entries } = await scanSource(source, [])
    return prepareOverSftp({
      files,
      label: 'test',
      log: { info: () => undefined, debug: () => undefined, warning: () => undefined },
      deployDir: dir,
      releaseId: 'one',
      sourceRoot: source,
      entries,
      plan: makePlan(entries, []),
      base: { kind: 'none', reason: 'first deploy' },
      copyMethod: 'copy',
      verify: 'standard',
      sharedConflict: 'fail',
      revision: '{}',
      manifest: compactManifest(entries),
      staleReleases: [],
      leftovers: { switchLinks: [], metaNames: [] },
      protectedReleases: [],
      onCreated: () => undefined
    })
  }

  it("gives every directory the release directory's mode, and records it in the listing and the shell's manifest records", async () => {
    const { source, dir } = await setup()
    await build(new LocalFiles(), source, dir)
    // The manifest as install_manifest leaves it: a shell deploy plans and assembles from it.
    const { text, digest } = compactManifest((await scanSource(source, [])).entries)
    const records = path.join(dir, '.atomic-deploy/manifests/one')
    expect(await readFile(`${records}.m2`)).toEqual(text)
    expect(await readFile(`${records}.digest`, 'utf8')).toBe(`${digest}\n`)
    expect(gunzipSync(await readFile(`${records}.view.gz`))).toEqual(manifestView(text))
    expect(await exists(`${records}.json.gz`)).toBe(false)
    expect((await stat(`${records}.m2`)).mode & 0o777).toBe(0o600)
    const mode = (await stat(path.join(dir, 'releases/one'))).mode & 0o777
    for (const d of ['public', 'public/css'])
      expect((await stat(path.join(dir, 'releases/one', d))).mode & 0o777).toBe(mode)
    expect(await readFile(path.join(dir, '.atomic-deploy/manifests/one.listing'), 'utf8')).toMatch(
      new RegExp(`^d ${mode.toString(8)} \\./public/css$`, 'm')
    )
  })

  it("leaves a file's setstat out only where the server's umask spares its mode, learned from the release directory's mkdir", async () => {
    const { source, dir } = await setup()
    await chmod(path.join(source, 'index.html'), 0o644)
    await chmod(path.join(source, 'public/css/app.css'), 0o640)
    /** A server whose sftp-server creates with `umask` (as open(2) and mkdir(2) do). */
    class Umasked extends LocalFiles {
      setstats: string[] = []
      constructor(readonly umask: number) {
        super()
      }
      override async mkdir(d: string, mode: number): Promise<void> {
        // At once, as mkdir(2) is: an lstat sent right behind it sees the final mode.
        mkdirSync(d, { mode })
        chmodSync(d, mode & ~this.umask)
      }
      override async mkdirExact(d: string, mode: number): Promise<void> {
        this.setstats.push(d)
        await super.mkdirExact(d, mode)
      }
      override async writeFile(
        p: string,
        data: Buffer | LocalFile,
        options: WriteOptions
      ): Promise<void> {
        if (!options.modeAtOpen) this.setstats.push(p)
        const mode = options.modeAtOpen ? options.mode & ~this.umask : options.mode
        await super.writeFile(p, data, { ...options, mode })
      }
    }
    // 027: the release directory comes out 0750; a 0644 file needs its setstat, a 0640 one and
    // the directories do not. Every mode comes out as asked, and verification agrees.
    const strict = new Umasked(0o027)
    await build(strict, source, dir)
    const release = path.join(dir, 'releases/one')
    expect((await stat(release)).mode & 0o777).toBe(0o750)
    expect((await stat(path.join(release, 'index.html'))).mode & 0o777).toBe(0o644)
    expect((await stat(path.join(release, 'public/css/app.css'))).mode & 0o777).toBe(0o640)
    expect(strict.setstats.filter(p => p.startsWith(release))).toEqual([
      path.join(release, 'index.html')
    ])
  })

  it('refuses a release whose directory the server left with another mode, naming it', async () => {
    const { source, dir } = await setup()
    // A server that makes one directory world-writable, whatever it was asked.
    class Loose extends LocalFiles {
      override async mkdir(d: string, mode: number): Promise<void> {
        await super.mkdir(d, mode)
        if (d.endsWith('/css')) await super.setMode(d, 0o777)
      }
      override async mkdirExact(d: string, mode: number): Promise<void> {
        await super.mkdirExact(d, d.endsWith('/css') ? 0o777 : mode)
      }
    }
    const error = await build(new Loose(), source, dir).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(SftpVerifyFailure)
    expect((error as SftpVerifyFailure).unexpected).toEqual(['d 777 ./public/css'])
    expect((error as SftpVerifyFailure).missing).toEqual(['d ./public/css'])
  })

  it.each([
    ['a failed verification', 'verify'],
    ['a failed upload', 'upload']
  ] as const)(
    'reports %s only once the records written beside the build are done',
    async (_what, failure) => {
      const { source, dir } = await setup()
      // A server whose metadata writes (the manifest, the revision, the links) are slow, and
      // that makes one directory world-writable (verification fails) or refuses one file (the
      // build fails): the failure comes before those writes are done.
      let pending = 0
      let lastDone = 0
      class SlowRecords extends LocalFiles {
        override async mkdir(d: string, mode: number): Promise<void> {
          await super.mkdir(d, mode)
          if (failure === 'verify' && d.endsWith('/css')) await super.setMode(d, 0o777)
        }
        override async mkdirExact(d: string, mode: number): Promise<void> {
          await super.mkdirExact(d, failure === 'verify' && d.endsWith('/css') ? 0o777 : mode)
        }
        override async writeFile(
          p: string,
          data: Buffer | { local: string },
          options: { mode: number }
        ): Promise<void> {
          if (failure === 'upload' && p.endsWith('/index.html'))
            throw new Error('Permission denied')
          if (!p.includes('/.atomic-deploy/')) return super.writeFile(p, data, options)
          pending++
          try {
            await new Promise(resolve => setTimeout(resolve, 300))
            await super.writeFile(p, data, options)
          } finally {
            pending--
            lastDone = Date.now()
          }
        }
      }
      const error = await build(new SlowRecords(), source, dir).then(
        () => undefined,
        (e: unknown) => e
      )
      const failedAt = Date.now()
      if (failure === 'verify') expect(error).toBeInstanceOf(SftpVerifyFailure)
      else expect((error as Error).message).toMatch(/Permission denied/)
      // Nothing of this release is still being written when the failure is reported, for the
      // abort that follows to remove: every record landed before.
      expect(pending).toBe(0)
      expect(lastDone).toBeGreaterThan(0)
      expect(lastDone).toBeLessThanOrEqual(failedAt)
    }
  )
})

describe("the starting point's manifest, read at an SFTP-only inspect", () => {
  it('opens the view beside the digest, reads it only when the digests differ, and takes a view only beside a valid digest', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'adt-base-'))
    try {
      const stem = path.join(root, 'r1')
      const mine = 'a'.repeat(64)
      const theirs = 'b'.repeat(64)
      await writeFile(`${stem}.view.gz`, 'the view')
      await writeFile(path.join(root, 'r1.json.gz'), 'an older manifest')
      const local = new LocalFiles()
      const read: string[] = []
      const files = Object.assign(Object.create(local) as LocalFiles, {
        readFile: async (p: string, max: number, signal?: AbortSignal, when?: Promise<boolean>) => {
          const data = await local.readFile(p, max, signal, when)
          if (data.length > 0) read.push(path.basename(p))
          return data
        }
      })
      const base = { stem, old: path.join(root, 'r1.json.gz') }
      const digest = (d: string): Promise<Buffer> => Promise.resolve(Buffer.from(`${d}\n`))
      // The same digest: nothing more is read.
      expect(await readBaseRecords(files, base, mine, digest(mine))).toEqual({
        sourceDigest: mine,
        same: true
      })
      // (The reads it opened settle after it returns: given the time to.)
      await new Promise(resolve => setTimeout(resolve, 100))
      expect(read).toEqual([])
      // Another digest: the view, the first found in order.
      const other = await readBaseRecords(files, base, Promise.resolve(mine), digest(theirs))
      expect(other.same).toBe(false)
      expect(other.chosen?.name).toBe('view')
      expect(other.chosen?.data?.toString()).toBe('the view')
      // A digest that is not one: no view is taken, only the older manifest.
      read.length = 0
      const invalid = await readBaseRecords(files, base, mine, digest('not a digest'))
      expect(invalid.chosen?.name).toBe('manifest')
      expect(read).toEqual(['r1.json.gz'])
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})

describe('the first reads of an SFTP-only inspect', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })

  /** LocalFiles that records every path it is asked to lstat. */
  class CountingFiles extends LocalFiles {
    readonly stats: string[] = []
    override async lstat(p: string): ReturnType<LocalFiles['lstat']> {
      this.stats.push(p)
      return super.lstat(p)
    }
  }

  it("finds the layout's names by lstat for a deploy, and sends no such lstat when told not to (a rollback)", async () => {
    const D = await mkdtemp(path.join(os.tmpdir(), 'adt-first-reads-'))
    dirs.push(D)
    await mkdir(path.join(D, '.atomic-deploy'))
    await mkdir(path.join(D, 'releases'))
    const deploy = new CountingFiles()
    const forDeploy = await firstReads(deploy, D)
    expect(forDeploy.layout?.status).toBe('fulfilled')
    if (forDeploy.layout?.status === 'fulfilled')
      expect([...forDeploy.layout.value.keys()].sort()).toEqual(['.atomic-deploy', 'releases'])
    expect(deploy.stats).toContain(`${D}/.atomic-deploy`)

    const rollback = new CountingFiles()
    const forRollback = await firstReads(rollback, D, false)
    expect(forRollback.layout).toBeUndefined()
    expect(rollback.stats).toEqual([`${D}/.`])
    // The listing it falls back on is read all the same.
    expect((await forRollback.top)?.map(e => e.name).sort()).toEqual(['.atomic-deploy', 'releases'])
  })
})
