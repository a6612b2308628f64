/**
 * The manifest as the server keeps it (one line per entry) and the view a deploy plans against:
 * escaping that survives every name, the digest both sides compute, and a parser that takes
 * nothing malformed or unsafe from a server.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  compactManifest,
  escapeField,
  manifestLine,
  manifestView,
  parseView,
  unescapeField,
  VIEW_DIGITS,
  ViewError
} from '../../src/release/compact-manifest.js'
import type { ManifestEntry } from '../../src/release/manifest.js'
import { makePlan, sameDigest } from '../../src/release/plan.js'

const sha = (text: string): string => createHash('sha256').update(text).digest('hex')

const NAMES = [
  'plain.txt',
  'with space.txt',
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  'back\\slash',
  '\\n literally',
  'quote\'"',
  '$(touch x)`y`',
  '-rf',
  'ünïcödé 🚀',
  'trailing space '
]

const entries: ManifestEntry[] = [
  { path: 'dir', type: 'dir', mode: 0o755, size: 0, mtime: 1 },
  ...NAMES.map((name, i): ManifestEntry => ({
    path: `dir/${name}`,
    type: 'file',
    mode: i % 2 ? 0o644 : 0o755,
    size: i * 10,
    mtime: 1,
    sha256: sha(name)
  })),
  {
    path: 'dir/link to',
    type: 'symlink',
    mode: 0o777,
    size: Buffer.byteLength('../a b\\c\nd'),
    mtime: 1,
    target: '../a b\\c\nd'
  }
]

describe('escapeField and unescapeField', () => {
  it.each(NAMES)('give back %j exactly, as one field with no space or line break', name => {
    const escaped = escapeField(name)
    expect(escaped).not.toMatch(/[ \n\r\t]/)
    expect(unescapeField(escaped)).toBe(name)
  })

  it.each(['a b', 'a\\x', 'trailing\\', 'new\nline'])(
    'refuse %j, which escapeField cannot have made',
    text => {
      expect(unescapeField(text)).toBeUndefined()
    }
  )
})

describe('compactManifest', () => {
  it('is one line per entry, sorted bytewise, with a digest of exactly those bytes', () => {
    const { text, digest } = compactManifest(entries)
    const lines = text.toString('utf8').split('\n')
    expect(lines.pop()).toBe('')
    expect(lines).toHaveLength(entries.length)
    expect([...lines].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))).toEqual(lines)
    expect(digest).toBe(createHash('sha256').update(text).digest('hex'))
    // A directory's line carries no mode: the server's umask decides it.
    expect(lines).toContain(`dir d - 0 -`)
    expect(lines).toContain(`dir/with\\sspace.txt f 644 10 ${sha('with space.txt')}`)
    expect(lines).toContain(`dir/link\\sto l 777 10 ../a\\sb\\\\c\\nd`)
  })

  it('has the same digest whatever the order of the entries, and another for any change', () => {
    const base = compactManifest(entries).digest
    expect(compactManifest([...entries].reverse()).digest).toBe(base)
    const changed = entries.map(e => (e.path === 'dir/-rf' ? { ...e, mode: 0o600 } : e))
    expect(compactManifest(changed).digest).not.toBe(base)
    // A directory's mode is no change: the plan leaves it out, so the digest must too.
    const dirMode = entries.map(e => (e.type === 'dir' ? { ...e, mode: 0o700 } : e))
    expect(compactManifest(dirMode).digest).toBe(base)
  })
})

describe('manifestView', () => {
  it("is, byte for byte, what the server's manifest_view makes of the same manifest (dash and BusyBox awk)", () => {
    const { text } = compactManifest(entries)
    const view = manifestView(text)
    const lib = fileURLToPath(new URL('../../src/server/scripts/lib/manifest.sh', import.meta.url))
    for (const awk of [[], ['busybox']]) {
      const dir = mkdtempSync(join(tmpdir(), 'view-'))
      try {
        writeFileSync(join(dir, 'm2'), text)
        if (awk.length > 0) symlinkSync('/usr/bin/busybox', join(dir, 'awk'))
        const r = spawnSync('dash', ['-c', `. "$1" && manifest_view "$2"`, 'sh', lib, 'm2'], {
          cwd: dir,
          env: { PATH: awk.length > 0 ? `${dir}:/usr/bin:/bin` : '/usr/bin:/bin', LC_ALL: 'C' },
          stdio: ['ignore', 'pipe', 'pipe']
        })
        expect(r.status, r.stderr.toString()).toBe(0)
        expect(r.stdout).toEqual(view)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
    expect(view.toString()).toContain(
      `dir/with\\sspace.txt f 644 10 ${sha('with space.txt').slice(0, 16)}\n`
    )
    expect(parseView(view).find(e => e.path === 'dir/link to')?.target).toBe('../a b\\c\nd')
  })
})

describe('parseView', () => {
  const view = (list: ManifestEntry[]): Buffer =>
    Buffer.from(
      list
        .map(manifestLine)
        .map(l =>
          l.replace(
            / f (\d+) (\d+) ([0-9a-f]{64})$/,
            (_, m, s, h) => ` f ${m} ${s} ${(h as string).slice(0, VIEW_DIGITS)}`
          )
        )
        .join('\n') + '\n'
    )

  it('reads back every entry, digests cut to 16 digits, parents before children', () => {
    const parsed = parseView(view([...entries].reverse()))
    expect(parsed.map(e => e.path).sort()).toEqual(entries.map(e => e.path).sort())
    expect(parsed[0]?.path).toBe('dir')
    const file = parsed.find(e => e.path === 'dir/new\nline')
    expect(file).toMatchObject({ type: 'file', mode: 0o644, size: 30 })
    expect(file?.sha256).toBe(sha('new\nline').slice(0, VIEW_DIGITS))
    expect(parsed.find(e => e.type === 'symlink')?.target).toBe('../a b\\c\nd')
  })

  it('plans against a view as against the whole manifest', () => {
    const local = entries.map(e =>
      e.path === 'dir/plain.txt' ? { ...e, sha256: sha('changed'), size: 7 } : e
    )
    const plan = makePlan(local, parseView(view(entries)))
    expect(plan.upload.map(e => e.path)).toEqual(['dir/plain.txt'])
    expect(plan.remove).toEqual(['dir/plain.txt'])
    expect(plan.unchanged).toBe(entries.length - 1)
  })

  it.each([
    ['an absolute path', '/etc/passwd f 644 1 0123456789abcdef'],
    ['a .. segment', 'a/../b f 644 1 0123456789abcdef'],
    ['an empty segment', 'a//b f 644 1 0123456789abcdef'],
    ['a raw space', 'a b f 644 1 0123456789abcdef'],
    ['a bad escape', 'a\\qb f 644 1 0123456789abcdef'],
    ['a short digest', 'a f 644 1 0123456789'],
    ['a digest that is not hex', 'a f 644 1 0123456789abcdeg'],
    ['a mode that is not octal', 'a f 648 1 0123456789abcdef'],
    ['a size that is not a number', 'a f 644 -1 0123456789abcdef'],
    ['an unknown type', 'a p 644 0 -'],
    ['a symlink whose target length is not its size', 'a l 777 3 ab'],
    ['a path twice', 'a d - 0 -\na d - 0 -'],
    ['a directory with a mode', 'a d 755 0 -'],
    ['a path beneath a file', 'a f 644 1 0123456789abcdef\na/b f 644 1 0123456789abcdef'],
    ['a path beneath a symlink', 'a l 777 1 b\na/c f 644 1 0123456789abcdef'],
    ['a line with four fields', 'a f 644 1']
  ])('refuses %s', (_, text) => {
    expect(() => parseView(Buffer.from(`${text}\n`))).toThrow(ViewError)
  })

  // Each of these is a tree whose every parent is a directory of the view: only the rule for
  // the path itself (relativePathProblem) can refuse it.
  it.each([
    [
      'an absolute directory and a file in it',
      '/etc d - 0 -\n/etc/passwd f 644 1 0123456789abcdef'
    ],
    ["a '..' directory and a file beneath it", '.. d - 0 -\n../x f 644 1 0123456789abcdef'],
    ["a '.' directory and a file beneath it", '. d - 0 -\n./x f 644 1 0123456789abcdef'],
    ["a top-level '..' symlink", '.. l 777 1 x'],
    ['a path with a NUL', 'a\0b f 644 1 0123456789abcdef']
  ])('refuses %s as a path not inside the release', (_, text) => {
    expect(() => parseView(Buffer.from(`${text}\n`))).toThrow(
      /has a path that is not inside the release/
    )
  })
})

describe('sameDigest', () => {
  const full = sha('x')
  it.each([
    [full, full, true],
    [full, full.slice(0, 16), true],
    [full.slice(0, 16), full, true],
    [full, sha('y').slice(0, 16), false],
    [full, full.slice(0, 15), false],
    [full, undefined, false]
  ])('%s and %s: %s', (a, b, expected) => {
    expect(sameDigest(a, b)).toBe(expected)
  })
})
