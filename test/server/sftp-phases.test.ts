/**
 * The SFTP phases with server data written by the test: the removal guard, and cleanup that a
 * hostile record can neither redirect nor stop. The files are this machine's, behind a
 * hand-written RemoteFiles (test/support/local-files.ts).
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { removalGuard, RemovalRefusedError } from '../../src/server/removal-guard.ts'
import { abortOverSftp, finishOverSftp } from '../../src/server/sftp-finish.ts'
import { exists } from '../support/fixture.ts'
import { LocalFiles } from '../support/local-files.ts'

const D = '/srv/www/app'
const guard = removalGuard({ deployDir: D, protectedReleases: ['live', 'previous', undefined] })

describe('the removal guard', () => {
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
    expect(() => guard(p)).not.toThrow()
  })

  it.each([
    [`${D}/current`, /live link/],
    [`${D}/releases/live`, /release live is live/],
    [`${D}/releases/live/index.php`, /release live is live/],
    [`${D}/releases/previous`, /release previous is live, or the one the live release replaced/],
    [`${D}/releases`, /directory of the deploy layout/],
    [`${D}/shared`, /directory of the deploy layout/],
    [`${D}/.atomic-deploy`, /directory of the deploy layout/],
    [`${D}/.atomic-deploy/manifests`, /directory of the deploy layout/],
    [D, /outside/],
    ['/srv/www', /outside/],
    ['/srv/www/app2/releases/x', /outside/],
    [`${D}/releases/../../../etc`, /not a plain path/],
    [`${D}/releases/x/../live`, /not a plain path/],
    [`${D}/shared/`, /not a plain path/],
    [`${D}//etc`, /not a plain path/],
    [`${D}/./current`, /not a plain path/]
  ])('refuses %s', (p, why) => {
    expect(() => guard(p)).toThrow(RemovalRefusedError)
    expect(() => guard(p)).toThrow(why)
  })

  it('refuses everything while the deploy directory is not resolved', () => {
    const unresolved = removalGuard({ deployDir: 'app', protectedReleases: [] })
    expect(() => unresolved('app/releases/x')).toThrow(/not resolved/)
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

  it('an abort removes its release and releases the lock, and a hostile seed record removes nothing outside', async () => {
    const { dir, victim } = await layout()
    await writeFile(
      path.join(dir, '.atomic-deploy/seeded.new'),
      'seeded ../../victim\ncreated ../victim\nseeded \nseeded uploads/../../../victim\n'
    )
    const files = new LocalFiles()
    const warnings: string[] = []
    const done = await abortOverSftp({
      files,
      log: { info: () => undefined, debug: () => undefined, warning: w => void warnings.push(w) },
      deployDir: dir,
      releaseId: 'new',
      lockToken: 'ours',
      protectedReleases: ['live']
    })
    expect(done).toEqual({ aborted: true, unlocked: true })
    expect(await readFile(path.join(victim, 'precious'), 'utf8')).toBe('keep')
    expect(await exists(path.join(dir, 'releases/new'))).toBe(false)
    expect(await exists(path.join(dir, 'releases/live'))).toBe(true)
    expect(await exists(path.join(dir, '.atomic-deploy/lock'))).toBe(false)
    expect(await exists(path.join(dir, '.atomic-deploy/seeded.new'))).toBe(false)
    expect(warnings).toHaveLength(4)
    for (const w of warnings) expect(w).toMatch(/^left shared\/.* as it is: refusing to remove/)
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
    expect(done).toEqual({ aborted: true, unlocked: false })
    expect(warnings).toEqual(['release new is live; it was not removed'])
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
      /did not prune live: refusing to remove .*releases\/live: release live is live/
    )
  })
})
