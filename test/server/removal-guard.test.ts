/**
 * src/server/removal-guard.ts, the guard every removal of an SFTP-only deploy passes, on the same
 * table of cases as lib/guard.sh (test/server/removal-guard-cases.ts), with the same words; and
 * the layout check of an SFTP-only inspect (src/server/sftp-layout.ts's layoutDirProblem) on the
 * same cases as inspect.sh's layout_dirs. The files are this machine's, behind a hand-written
 * RemoteFiles (test/support/local-files.ts), so that each case is planted exactly.
 */
import { chmodSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { existsSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { removalGuard, RemovalRefusedError } from '../../src/server/removal-guard.ts'
import { layoutDirProblem } from '../../src/server/sftp-layout.ts'
import { removeTrees } from '../../src/sftp/sftp-tree.ts'
import { LocalFiles } from '../support/local-files.ts'
import {
  guardLayout,
  KEPT,
  LAYOUT_ENTRIES,
  LAYOUT_REFUSED,
  REFUSED
} from './removal-guard-cases.ts'

const work = realpathSync(mkdtempSync(join(tmpdir(), 'ts-guard-')))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** Remove `paths` (relative to D, or absolute) through the guard, as every SFTP removal does. */
async function guardedRemove(
  files: LocalFiles,
  D: string,
  paths: string[],
  keep: string[] = KEPT
): Promise<unknown> {
  const guard = removalGuard({ deployDir: D, protectedReleases: keep })
  return removeTrees(
    files,
    paths.map(p => (isAbsolute(p) ? p : `${D}/${p}`)),
    { guard }
  ).then(
    () => undefined,
    (error: unknown) => error
  )
}

describe('the removal guard of SFTP-only deploys', () => {
  it.each(REFUSED)('refuses %s, and removes nothing', async (_what, paths, why) => {
    const { D, outside } = guardLayout(work)
    const files = new LocalFiles()
    const error = await guardedRemove(files, D, paths(D, outside))
    expect(error).toBeInstanceOf(RemovalRefusedError)
    expect((error as Error).message).toMatch(new RegExp(`^refusing to remove .*${why.source}`))
    expect(files.removed).toEqual([])
    for (const id of ['old', 'replaced', 'live'])
      expect(readFileSync(join(D, 'releases', id, 'index'), 'utf8')).toBe(id)
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('keep me')
    expect(readFileSync(join(outside, 'deep/file'), 'utf8')).toBe('keep me too')
  })

  it('removes what it may: an old release, a symlink (not what it points to), a missing path', async () => {
    const { D, outside } = guardLayout(work)
    symlinkSync(outside, join(D, 'shared/link-out'))
    chmodSync(join(D, 'releases/old'), 0o500)
    const files = new LocalFiles()
    const paths = ['releases/old', 'shared/link-out', 'releases/gone', 'x y']
    expect(await guardedRemove(files, D, paths)).toBeUndefined()
    expect(existsSync(join(D, 'releases/old'))).toBe(false)
    expect(existsSync(join(D, 'shared/link-out'))).toBe(false)
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('keep me')
    expect(existsSync(join(D, 'releases/live/index'))).toBe(true)
  })

  it('reads current afresh: once current moves, the release it left may go', async () => {
    const { D } = guardLayout(work)
    rmSync(join(D, 'current'))
    symlinkSync(`${D}/releases/old/`, join(D, 'current'))
    // An absolute target with a trailing slash protects the same release.
    expect(await guardedRemove(new LocalFiles(), D, ['releases/old'])).toBeInstanceOf(
      RemovalRefusedError
    )
    expect(await guardedRemove(new LocalFiles(), D, ['releases/live'], [])).toBeUndefined()
    expect(existsSync(join(D, 'releases/live'))).toBe(false)
  })

  it('refuses everything while the deploy directory is not resolved', () => {
    const unresolved = removalGuard({ deployDir: 'app', protectedReleases: [] })
    expect(() => unresolved.check('app/releases/x')).toThrow(/not resolved/)
  })
})

describe('the layout check of SFTP-only deploys', () => {
  /** The first problem with the layout's directories, as an SFTP-only inspect finds it. */
  async function layoutProblem(D: string): Promise<string | undefined> {
    const files = new LocalFiles()
    const who = { uid: process.getuid?.() ?? 0, user: 'root' }
    for (const entry of LAYOUT_ENTRIES) {
      const slash = entry.lastIndexOf('/')
      const parent = slash < 0 ? D : `${D}/${entry.slice(0, slash)}`
      const name = entry.slice(slash + 1)
      const found = (await files.list(parent)).find(e => e.name === name)
      const target =
        found?.attrs.type === 'symlink' ? await files.readlink(`${D}/${entry}`) : undefined
      const why = layoutDirProblem(entry, found?.attrs, who, {
        ...(found?.owner ? { owner: found.owner } : {}),
        ...(target !== undefined ? { target } : {})
      })
      if (why !== undefined) return why
    }
    return undefined
  }

  it('passes real directories of this user, missing ones, and group write', async () => {
    const { D } = guardLayout(work)
    chmodSync(join(D, 'shared'), 0o2775)
    expect(await layoutProblem(D)).toBeUndefined()
  })

  it.each(LAYOUT_REFUSED)('refuses %s, naming it', async (_what, plant, why) => {
    const { D, outside } = guardLayout(work)
    plant(D, outside)
    expect(await layoutProblem(D)).toMatch(why)
  })
})
