/**
 * lib/guard.sh, the one guard every removal on the server passes through, run for real under
 * each shell a server's /bin/sh may be (dash, BusyBox ash with only BusyBox tools, bash --posix,
 * posh). A deploy directory holds a live release, the one it replaced, an older one, shared/,
 * and beside it a sentinel tree the deploy user could delete; the guard is asked to remove
 * each thing it must refuse, and each thing it must allow. Expected results come from the file
 * system, never from the script's own text.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { quote } from '../../src/shell-quote.js'

const scripts = fileURLToPath(new URL('../../src/server/scripts/lib/', import.meta.url))
const LIB = ['common.sh', 'guard.sh'].map(f => readFileSync(join(scripts, f), 'utf8')).join('\n')

const work = realpathSync(mkdtempSync(join(tmpdir(), 'guard-')))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const busyboxBin = join(work, 'busybox-bin')
mkdirSync(busyboxBin)
for (const applet of execFileSync('busybox', ['--list'], { encoding: 'utf8' }).trim().split('\n'))
  symlinkSync('/usr/bin/busybox', join(busyboxBin, applet))
const systemPath = process.env.PATH ?? '/usr/bin:/bin'
const shells = [
  { name: 'dash', sh: 'dash', args: [] as string[], path: systemPath },
  { name: 'BusyBox ash', sh: join(busyboxBin, 'sh'), args: [], path: busyboxBin },
  { name: 'bash --posix', sh: 'bash', args: ['--posix'], path: systemPath },
  { name: 'posh', sh: 'posh', args: [], path: systemPath }
]

let count = 0
/**
 * A deploy directory: releases old, replaced and live (current -> releases/live), shared/
 * with an entry, metadata; and beside it `outside/`, the sentinel.
 */
function layout(): { D: string; outside: string } {
  const root = join(work, `case-${count++}`)
  const D = join(root, 'app')
  const outside = join(root, 'outside')
  for (const dir of ['releases/old', 'releases/replaced', 'releases/live', 'shared/storage'])
    mkdirSync(join(D, dir), { recursive: true })
  mkdirSync(join(D, '.atomic-deploy/manifests'), { recursive: true })
  for (const id of ['old', 'replaced', 'live']) writeFileSync(join(D, 'releases', id, 'index'), id)
  mkdirSync(join(outside, 'deep'), { recursive: true })
  writeFileSync(join(outside, 'secret'), 'keep me')
  writeFileSync(join(outside, 'deep/file'), 'keep me too')
  symlinkSync('releases/live', join(D, 'current'))
  return { D, outside }
}

/** Run `layout_dirs REL...` in D: its status and $why. */
function layoutDirs(
  shell: (typeof shells)[number],
  D: string,
  rels: string[]
): { status: number | null; why: string } {
  const script = [
    "GUARD_KEEP=''",
    LIB,
    `D=${quote(D)}`,
    `layout_dirs ${rels.map(quote).join(' ')}; rc=$?; printf '%s' "\${why:-}"; exit $rc`
  ].join('\n')
  const r = spawnSync(shell.sh, [...shell.args, '-c', script], {
    cwd: D,
    env: { PATH: shell.path, HOME: D }
  })
  return { status: r.status, why: r.stdout.toString() }
}

/** Run `guarded_rm REL...` in D with GUARD_KEEP, returning its status and `!` lines. */
function guardedRm(
  shell: (typeof shells)[number],
  D: string,
  rels: string[],
  keep: string[] = ['replaced']
): { status: number | null; lines: string[]; stderr: string } {
  const script = [
    `GUARD_KEEP=${quote(keep.map(quote).join(' '))}`,
    LIB,
    `D=${quote(D)}`,
    `guarded_rm ${rels.map(quote).join(' ')}`
  ].join('\n')
  const r = spawnSync(shell.sh, [...shell.args, '-c', script], {
    cwd: D,
    env: { PATH: shell.path, HOME: D }
  })
  return {
    status: r.status,
    lines: r.stdout
      .toString()
      .split('\n')
      .filter(l => l.startsWith('!'))
      .map(l => l.slice(1)),
    stderr: r.stderr.toString()
  }
}

describe.each(shells)('guarded_rm under $name', shell => {
  it.each<[string, (D: string, outside: string) => string[], RegExp]>([
    ['current itself', () => ['current'], /current is part of the deploy layout/],
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
  ])('refuses %s, and removes nothing', (_what, paths, why) => {
    const { D, outside } = layout()
    const rels = paths(D, outside)
    const r = guardedRm(shell, D, rels)
    expect(r.status).toBe(1)
    expect(r.lines.join('\n')).toMatch(new RegExp(`^refused-remove .*${why.source}`))
    for (const id of ['old', 'replaced', 'live'])
      expect(readFileSync(join(D, 'releases', id, 'index'), 'utf8')).toBe(id)
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('keep me')
    expect(readFileSync(join(outside, 'deep/file'), 'utf8')).toBe('keep me too')
  })

  it('removes what it may: an old release, a symlink (not what it points to), a missing path', () => {
    const { D, outside } = layout()
    symlinkSync(outside, join(D, 'shared/link-out'))
    chmodSync(join(D, 'releases/old'), 0o500)
    const r = guardedRm(shell, D, ['releases/old', 'shared/link-out', 'releases/gone', 'x y'])
    expect(r.status, r.stderr).toBe(0)
    expect(existsSync(join(D, 'releases/old'))).toBe(false)
    expect(existsSync(join(D, 'shared/link-out'))).toBe(false)
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('keep me')
    expect(existsSync(join(D, 'releases/live/index'))).toBe(true)
  })

  it('reads current afresh: once current moves, the release it left may go', () => {
    const { D } = layout()
    rmSync(join(D, 'current'))
    symlinkSync(`${D}/releases/old/`, join(D, 'current'))
    // An absolute target with a trailing slash protects the same release.
    expect(guardedRm(shell, D, ['releases/old']).status).toBe(1)
    expect(guardedRm(shell, D, ['releases/live'], []).status).toBe(0)
    expect(existsSync(join(D, 'releases/live'))).toBe(false)
  })
})

describe.each(shells)('layout_dirs under $name', shell => {
  const ENTRIES = ['releases', 'shared', 'cache', '.atomic-deploy', '.atomic-deploy/tmp']

  it('passes real directories of this user, missing ones, and group write', () => {
    const { D } = layout()
    chmodSync(join(D, 'shared'), 0o2775)
    expect(layoutDirs(shell, D, ENTRIES)).toEqual({ status: 0, why: '' })
  })

  it.each<[string, (D: string, outside: string) => void, RegExp]>([
    [
      'a symlink',
      (D, outside) => {
        rmSync(join(D, 'shared'), { recursive: true })
        symlinkSync(outside, join(D, 'shared'))
      },
      /^shared is a symlink \(to .*outside\)/
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
      /^releases is owned by nobody, not by /
    ]
  ])('refuses %s, naming it', (_what, plant, why) => {
    const { D, outside } = layout()
    plant(D, outside)
    const r = layoutDirs(shell, D, ENTRIES)
    expect(r.status).toBe(1)
    expect(r.why).toMatch(why)
  })
})
