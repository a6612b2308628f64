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
  localView,
  manifestView,
  parseView,
  parseViewAgainst,
  sourceManifestAndView,
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

describe('sourceManifestAndView', () => {
  // Paths that start one another and names that sort apart in UTF-16 and UTF-8, so a line's
  // place could only move if what follows it in the sort counted.
  const tricky: ManifestEntry[] = [
    ...entries,
    ...['a', 'a b', 'a-b', 'a/b', 'a\tb', 'a\u0001', '\uff61', '\u{1f680}', 'dir/plain.txtx'].map(
      (path, i): ManifestEntry =>
        path === 'a'
          ? { path, type: 'dir', mode: 0o755, size: 0, mtime: 1 }
          : { path, type: 'file', mode: 0o644, size: i, mtime: 1, sha256: sha(path) }
    )
  ]

  it("makes the manifest compactManifest makes, and the view of it that manifestView makes, its entries in the view's order", () => {
    for (const list of [entries, tricky, [...tricky].reverse(), []]) {
      const made = sourceManifestAndView([...list])
      const both = { ...made, view: made.view() }
      const alone = compactManifest(list)
      expect(both.text).toEqual(alone.text)
      expect(both.digest).toBe(alone.digest)
      expect(both.view.text).toEqual(manifestView(alone.text))
      const lines = both.view.text.toString('utf8').split('\n').slice(0, -1)
      // Each line's entry: the line is that entry's, its digest cut.
      expect(
        both.view.entries.map(e =>
          e.type === 'file' ? manifestLine(e).slice(0, VIEW_DIGITS - 64) : manifestLine(e)
        )
      ).toEqual(lines)
      const starts = [...both.view.starts]
      expect(starts.at(-1)).toBe(both.view.text.length)
      for (let i = 0; i < lines.length; i++)
        expect(both.view.text.subarray(starts[i], (starts[i + 1] as number) - 1).toString()).toBe(
          lines[i]
        )
    }
  })

  it('is what localView answers for the same scan, made once, when first asked for', () => {
    const scan = [...tricky]
    const made = sourceManifestAndView(scan)
    expect(localView(scan)).toBe(made.view())
    expect(made.view()).toBe(made.view())
    const view = made.view()
    // Another scan of the same entries gets a view of its own, equal to it.
    const other = [...tricky]
    expect(localView(other)).not.toBe(view)
    expect(localView(other)).toEqual(view)
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

describe('parseViewAgainst', () => {
  /** A tree of directories, files (some with hostile names) and links, a few hundred entries. */
  const tree = (): ManifestEntry[] => {
    const list: ManifestEntry[] = [...entries]
    for (let d = 0; d < 8; d++) {
      list.push({ path: `d${d}`, type: 'dir', mode: 0o755, size: 0, mtime: 1 })
      list.push({ path: `d${d}/sub`, type: 'dir', mode: 0o755, size: 0, mtime: 1 })
      for (let f = 0; f < 30; f++) {
        const name = f % 7 === 0 ? `${NAMES[f % NAMES.length]} ${f}` : `f${f}.txt`
        for (const parent of [`d${d}`, `d${d}/sub`])
          list.push({
            path: `${parent}/${name}`,
            type: 'file',
            mode: f % 3 ? 0o644 : 0o755,
            size: f,
            mtime: 1,
            sha256: sha(`${parent}/${name}`)
          })
      }
      list.push({
        path: `d${d}/to`,
        type: 'symlink',
        mode: 0o777,
        size: 3,
        mtime: 1,
        target: 'sub'
      })
    }
    return list
  }
  const viewOf = (list: ManifestEntry[]): Buffer => manifestView(compactManifest(list).text)
  /** What a plan reads of an entry: digests compared on the view's 16 digits. */
  const seen = (list: ManifestEntry[]): string[] =>
    list.map(e =>
      [
        e.path,
        e.type,
        e.type === 'dir' ? '' : e.mode.toString(8),
        e.size,
        e.sha256?.slice(0, VIEW_DIGITS) ?? '',
        e.target ?? ''
      ].join(' ')
    )

  it('reads a view that differs from the source here and there as parseView does, and plans alike', () => {
    const local = tree()
    // The server's: files changed, removed and added, a directory gone with what it held and
    // one only it has, a file that is a directory in the source, a link elsewhere, and a line
    // with its whole digest.
    const server = local
      .filter(e => !e.path.startsWith('d2/sub') && e.path !== 'd5/f1.txt')
      .map(e => {
        if (e.path === 'd1/f4.txt') return { ...e, sha256: sha('other'), size: 99 }
        if (e.path === 'd3/sub/f2.txt') return { ...e, mode: 0o600 }
        if (e.path === 'd4/to') return { ...e, target: 'd4', size: 2 }
        return e
      })
      .concat([
        { path: 'd6/only', type: 'dir', mode: 0o755, size: 0, mtime: 1 },
        { path: 'd6/only/x', type: 'file', mode: 0o644, size: 1, mtime: 1, sha256: sha('x') },
        { path: 'zz', type: 'file', mode: 0o644, size: 1, mtime: 1, sha256: sha('zz') }
      ])
    server.push({ path: 'd2/sub', type: 'file', mode: 0o644, size: 3, mtime: 1, sha256: sha('s') })
    const data = Buffer.from(
      viewOf(server)
        .toString('utf8')
        .replace(
          `d7/f5.txt f 644 5 ${sha('d7/f5.txt').slice(0, 16)}`,
          `d7/f5.txt f 644 5 ${sha('d7/f5.txt')}`
        )
    )
    expect(data.includes(sha('d7/f5.txt'))).toBe(true)
    const slow = parseView(data)
    for (const text of [data, data.subarray(0, data.length - 1)]) {
      const fast = parseViewAgainst(text, localView(local))
      expect(seen(fast)).toEqual(seen(slow))
      expect(makePlan(local, fast)).toEqual(makePlan(local, slow))
    }
    // The lines the view has as the source does are the source's own entries: they were not
    // parsed again.
    const fast = parseViewAgainst(data, localView(local))
    const same = local.find(e => e.path === 'd0/sub/f3.txt')
    expect(fast.find(e => e.path === 'd0/sub/f3.txt')).toBe(same)
    expect(fast.find(e => e.path === 'd1/f4.txt')).not.toBe(local.find(e => e.path === 'd1/f4.txt'))
    const plan = makePlan(local, fast)
    expect(plan.remove).toEqual(
      expect.arrayContaining(['d1/f4.txt', 'd2/sub', 'd3/sub/f2.txt', 'd4/to', 'd6/only', 'zz'])
    )
    expect(plan.upload.map(e => e.path)).toEqual(
      expect.arrayContaining(['d1/f4.txt', 'd2/sub', 'd2/sub/f1.txt', 'd5/f1.txt', 'd4/to'])
    )
  })

  it('reads an identical view as the source, and one with nothing in common as parseView does', () => {
    const local = tree()
    const fast = parseViewAgainst(viewOf(local), localView(local))
    expect(new Set(fast)).toEqual(new Set(local))
    const other = tree().map(e => (e.type === 'file' ? { ...e, sha256: sha(`${e.path}!`) } : e))
    const data = viewOf(other)
    expect(seen(parseViewAgainst(data, localView(local)))).toEqual(seen(parseView(data)))
  })

  const source = tree()
  const lines = viewOf(source).toString('utf8').split('\n').slice(0, -1)
  const at = (line: string): number => lines.findIndex(l => l.startsWith(line))
  it.each([
    [
      "a directory's line missing, the source's lines beneath it kept",
      () => lines.filter(l => !l.startsWith('d3/sub d '))
    ],
    [
      'a path twice: the source line, and another for its path right after',
      () => lines.flatMap(l => (l.startsWith('d1/f2.txt ') ? [l, 'd1/f2.txt l 777 1 x'] : [l]))
    ],
    [
      "a path twice, far apart: a directory of the source's again at the end",
      () => [...lines, 'd0 f 644 1 0123456789abcdef']
    ],
    [
      'a file beneath a file of the source',
      () => {
        const i = at('d4/f1.txt ')
        return [
          ...lines.slice(0, i + 1),
          'd4/f1.txt/x f 644 1 0123456789abcdef',
          ...lines.slice(i + 1)
        ]
      }
    ],
    [
      'a file beneath a path only the server has as a symlink',
      () => [...lines, 'zz l 777 1 d', 'zz/y f 644 1 0123456789abcdef']
    ],
    ["a malformed line among the source's", () => lines.map((l, i) => (i === 40 ? 'd0 x' : l))]
  ])('refuses %s, as parseView does', (_, make) => {
    const data = Buffer.from(`${make().join('\n')}\n`)
    expect(() => parseView(data)).toThrow(ViewError)
    expect(() => parseViewAgainst(data, localView(source))).toThrow(ViewError)
  })
  it('reads a view whose lines are out of order as parseView does (a view the server did not sort)', () => {
    const data = Buffer.from(`${[...lines.slice(1), lines[0] as string].join('\n')}\n`)
    expect(seen(parseViewAgainst(data, localView(source)))).toEqual(seen(parseView(data)))
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
