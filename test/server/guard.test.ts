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
import {
  guardLayout,
  KEPT,
  LAYOUT_ENTRIES as ENTRIES,
  LAYOUT_REFUSED,
  REFUSED
} from './removal-guard-cases.ts'

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

const layout = (): { D: string; outside: string } => guardLayout(work)

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

/** Run `script` with `shell` in D, returning its status, its `!` lines and its stderr. */
function runIn(
  shell: (typeof shells)[number],
  D: string,
  script: string
): { status: number | null; lines: string[]; stderr: string } {
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
  return runIn(shell, D, script)
}

describe.each(shells)('guarded_rm under $name', shell => {
  it.each(REFUSED)('refuses %s, and removes nothing', (_what, paths, why) => {
    const { D, outside } = layout()
    const rels = paths(D, outside)
    const r = guardedRm(shell, D, rels, KEPT)
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

/**
 * Run `guarded_rm_list BASE KIND LIST` in D, LIST quoted as the runner quotes a list parameter;
 * `fail` is release.sh's contract (an `!error` line, then exit 1).
 */
function guardedRmList(
  shell: (typeof shells)[number],
  D: string,
  base: string,
  paths: string[]
): { status: number | null; lines: string[]; stderr: string } {
  const script = [
    `GUARD_KEEP=${quote(KEPT.map(quote).join(' '))}`,
    LIB,
    'fail() { kind=$1; shift; say "error $kind $*"; exit 1; }',
    `D=${quote(D)}`,
    `guarded_rm_list ${quote(base)} io ${quote(paths.map(quote).join(' '))}`
  ].join('\n')
  return runIn(shell, D, script)
}

describe.each(shells)('guarded_rm_list under $name', shell => {
  it.each<[string, string, (D: string, outside: string) => string, RegExp]>([
    ['a path leaving the base', 'releases/old', () => '../../../outside', /not a plain relative/],
    ['a path into the live release', 'releases', () => 'live/index', /what current points to/],
    ['a path into a kept release', 'releases', () => 'replaced', /release replaced, which is kept/],
    [
      'a path beneath a symlink to elsewhere',
      'releases/old',
      (D, outside) => {
        symlinkSync(outside, join(D, 'releases/old/ext'))
        return 'ext/secret'
      },
      /releases\/old\/ext is a symlink/
    ]
  ])('refuses %s, removing no path of the list', (_what, base, bad, why) => {
    const { D, outside } = layout()
    writeFileSync(join(D, 'releases/old/gone'), 'x')
    const r = guardedRmList(shell, D, base, [
      base === 'releases' ? 'old/gone' : 'gone',
      bad(D, outside)
    ])
    expect(r.status).toBe(1)
    expect(r.lines.join('\n')).toMatch(new RegExp(`^error io refusing to remove .*${why.source}`))
    expect(existsSync(join(D, 'releases/old/gone'))).toBe(true)
    for (const id of ['old', 'replaced', 'live'])
      expect(readFileSync(join(D, 'releases', id, 'index'), 'utf8')).toBe(id)
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('keep me')
  })

  it('removes every path of a list the guard passes, odd names included', () => {
    const { D } = layout()
    for (const name of ['gone', '-rf', 'a b', "it's"])
      writeFileSync(join(D, 'releases/old', name), 'x')
    const r = guardedRmList(shell, D, 'releases/old', ['gone', '-rf', 'a b', "it's", 'missing'])
    expect(r.status, r.stderr).toBe(0)
    for (const name of ['gone', '-rf', 'a b', "it's"])
      expect(existsSync(join(D, 'releases/old', name))).toBe(false)
    expect(readFileSync(join(D, 'releases/old/index'), 'utf8')).toBe('old')
  })
})

describe.each(shells)('layout_dirs under $name', shell => {
  it('passes real directories of this user, missing ones, and group write', () => {
    const { D } = layout()
    chmodSync(join(D, 'shared'), 0o2775)
    expect(layoutDirs(shell, D, ENTRIES)).toEqual({ status: 0, why: '' })
  })

  it.each(LAYOUT_REFUSED)('refuses %s, naming it', (_what, plant, why) => {
    const { D, outside } = layout()
    plant(D, outside)
    const r = layoutDirs(shell, D, ENTRIES)
    expect(r.status).toBe(1)
    expect(r.why).toMatch(why)
  })
})
