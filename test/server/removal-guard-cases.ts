/**
 * The cases both removal guards are tested on: lib/guard.sh (every removal of a shell deploy,
 * test/server/guard.test.ts, in four shells) and src/server/removal-guard.ts (every removal of an
 * SFTP-only deploy, test/server/removal-guard.test.ts). One table, so that the two refuse the
 * same paths for the same reasons, in the same words. Expected results come from the file
 * system, never from either guard's own text.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

let count = 0

/**
 * A deploy directory in `work`: releases old, replaced and live (current -> releases/live),
 * shared/ with an entry, metadata; and beside it `outside/`, the sentinel.
 */
export function guardLayout(work: string): { D: string; outside: string } {
  const root = join(work, `case-${count++}`)
  const D = join(root, 'app')
  const outside = join(root, 'outside')
  for (const dir of ['releases/old', 'releases/replaced', 'releases/live', 'shared/storage'])
    mkdirSync(join(D, dir), { recursive: true })
  mkdirSync(join(D, '.atomic-deploy/manifests'), { recursive: true })
  mkdirSync(join(D, '.atomic-deploy/revisions'), { recursive: true })
  for (const id of ['old', 'replaced', 'live']) writeFileSync(join(D, 'releases', id, 'index'), id)
  mkdirSync(join(outside, 'deep'), { recursive: true })
  writeFileSync(join(outside, 'secret'), 'keep me')
  writeFileSync(join(outside, 'deep/file'), 'keep me too')
  symlinkSync('releases/live', join(D, 'current'))
  return { D, outside }
}

/** The releases every case keeps, whatever it asks (GUARD_KEEP, protectedReleases). */
export const KEPT = ['replaced']

/**
 * What must be refused, with nothing removed: what it is, the paths asked for (relative to the
 * deploy directory, or absolute), and the reason either guard gives.
 */
export const REFUSED: [string, (D: string, outside: string) => string[], RegExp][] = [
  ['current itself', () => ['current'], /current is part of the deploy layout/],
  [
    'a path through current',
    () => ['current/index'],
    /current\/index is part of the deploy layout/
  ],
  ["current's target", () => ['releases/live'], /releases\/live is what current points to/],
  ['a path inside the live release', () => ['releases/live/index'], /what current points to/],
  ['releases/, which holds the live release', () => ['releases'], /part of the deploy layout/],
  ['the release it replaced', () => ['releases/replaced'], /release replaced, which is kept/],
  ['a path leaving the deploy directory', () => ['../outside'], /not a plain relative path/],
  ['a path climbing out halfway', () => ['releases/old/../../../outside'], /not a plain/],
  ['an absolute path', (_, outside) => [outside], /not a plain relative path/],
  ['the deploy directory itself', () => ['.'], /not a plain relative path/],
  ['an empty path', () => [''], /not a plain relative path/],
  ['shared/', () => ['shared'], /part of the deploy layout/],
  ['the metadata directory', () => ['.atomic-deploy'], /part of the deploy layout/],
  [
    'the directory of every manifest',
    () => ['.atomic-deploy/manifests'],
    /\.atomic-deploy\/manifests is part of the deploy layout/
  ],
  [
    'the directory of every revision record',
    () => ['.atomic-deploy/revisions'],
    /part of the deploy layout/
  ],
  [
    'a path beneath a symlink to elsewhere',
    (D, outside) => {
      symlinkSync(outside, join(D, 'releases/old/ext'))
      return ['releases/old/ext/secret']
    },
    /releases\/old\/ext is a symlink/
  ],
  [
    'a path beneath a layout directory that is a symlink',
    (D, outside) => {
      rmSync(join(D, 'shared'), { recursive: true })
      symlinkSync(outside, join(D, 'shared'))
      return ['shared/deep']
    },
    /shared is a symlink/
  ],
  [
    'a good path listed with a bad one (nothing is removed)',
    () => ['releases/old', '../outside'],
    /not a plain relative path/
  ]
]

/** The layout's directories both checks look at (inspect.sh's layout_dirs; sftp-inspect.ts). */
export const LAYOUT_ENTRIES = [
  'releases',
  'shared',
  'cache',
  '.atomic-deploy',
  '.atomic-deploy/tmp'
]

/**
 * Layout directories that must be refused before anything is written, naming the entry and
 * what is wrong, in the words of lib/guard.sh's real_dir (src/server/sftp-layout.ts's
 * layoutDirProblem says the same).
 */
export const LAYOUT_REFUSED: [string, (D: string, outside: string) => void, RegExp][] = [
  [
    'a symlink',
    (D, outside) => {
      rmSync(join(D, 'shared'), { recursive: true })
      symlinkSync(outside, join(D, 'shared'))
    },
    /^shared is a symlink \(to .*outside\); atomic-deploy writes only into real directories/
  ],
  ['a file', D => writeFileSync(join(D, 'cache'), 'x'), /^cache exists and is not a directory/],
  [
    'a directory every user may write to',
    D => chmodSync(join(D, 'releases'), 0o777),
    /^releases is writable by every user \(mode 777\)/
  ],
  [
    'a sticky directory every user may write to',
    D => chmodSync(join(D, '.atomic-deploy'), 0o1777),
    /^\.atomic-deploy is writable by every user \(mode 1777\)/
  ],
  [
    'a directory of another user',
    D => execFileSync('chown', ['nobody', join(D, 'releases')]),
    /^releases is owned by nobody.*, not by /
  ],
  [
    'a metadata directory of another user',
    D => {
      mkdirSync(join(D, '.atomic-deploy/tmp'))
      execFileSync('chown', ['nobody', join(D, '.atomic-deploy/tmp')])
    },
    /^\.atomic-deploy\/tmp is owned by nobody.*, not by /
  ]
]
