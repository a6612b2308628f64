/**
 * manifest.ts against a real directory tree: files, empty directories, symlinks (kept as links),
 * an executable, a world-writable file, set-id and sticky bits, .git at the top and nested, a
 * FIFO, and names with spaces, quotes, newlines and unicode. Digests come from `sha256sum`.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  appendFileSync,
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildManifest,
  compareNames,
  sortNames,
  deployedMode,
  linksLeavingTree,
  excludeMatcher,
  hashEntries,
  hashFile,
  parseManifest,
  pathPrefix,
  scanSource,
  serializeManifest,
  type Manifest,
  type ManifestEntry
} from '../../src/release/manifest.js'
import { InputError } from '../../src/errors.js'
import { HashWorkers } from '../../src/release/hash-workers.js'

const MTIME = 1_700_000_000
const work = mkdtempSync(join(tmpdir(), 'manifest-test-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

/** sha256 of a file as `sha256sum` prints it. */
function sha256sum(file: string): string {
  return execFileSync('sha256sum', { input: readFileSync(file) })
    .toString()
    .split(' ')[0]!
}

interface FileSpec {
  content: string | Buffer
  mode: number
}

/** Files of the test tree (relative path -> content and mode). */
const files: Record<string, FileSpec> = {
  'index.html': { content: '<h1>hello</h1>\n', mode: 0o644 },
  'script.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'world.txt': { content: 'anyone may write me\n', mode: 0o666 },
  setuid: { content: 'setuid binary\n', mode: 0o4755 },
  setgid: { content: 'setgid\n', mode: 0o2775 },
  '.env': { content: 'SECRET=1\n', mode: 0o600 },
  '.gitignore': { content: 'node_modules\n', mode: 0o644 },
  '.git/HEAD': { content: 'ref: refs/heads/main\n', mode: 0o644 },
  '.git/objects/ab': { content: 'object', mode: 0o444 },
  'a/x': { content: 'x', mode: 0o644 },
  'a-b': { content: 'a-b', mode: 0o644 },
  'a.b': { content: 'a.b', mode: 0o644 },
  'app.log': { content: 'log line\n', mode: 0o644 },
  'docs/tests': { content: 'a file named tests\n', mode: 0o644 },
  'docs/readme.md': { content: '# docs\n', mode: 0o644 },
  'lib/node_modules/keep.js': { content: 'module.exports = 1\n', mode: 0o644 },
  'logs/deep/x.log': { content: 'deep log\n', mode: 0o644 },
  'logs/.hidden.log': { content: 'hidden log\n', mode: 0o644 },
  'logs/keep.txt': { content: 'keep\n', mode: 0o644 },
  'node_modules/pkg/index.js': { content: 'module.exports = 2\n', mode: 0o644 },
  'node_modules/.bin/tool': { content: 'tool', mode: 0o755 },
  'src/main.js': { content: 'console.log(1)\n', mode: 0o644 },
  'src/tests/unit.js': { content: 'test()\n', mode: 0o644 },
  'sub/.git': { content: 'gitdir: ../.git/modules/sub\n', mode: 0o644 },
  'sub/code.js': { content: 'code\n', mode: 0o644 },
  'vendor/x/.git/config': { content: '[core]\n', mode: 0o644 },
  'vendor/x/lib.js': { content: 'lib\n', mode: 0o644 },
  'tests/a.test': { content: 'top-level tests\n', mode: 0o644 },
  'with space.txt': { content: 'space', mode: 0o644 },
  "quote'.txt": { content: 'quote', mode: 0o644 },
  'new\nline.txt': { content: 'newline in the name', mode: 0o644 },
  'back\\slash.txt': { content: 'backslash', mode: 0o644 },
  'é.txt': { content: 'unicode', mode: 0o644 },
  '-leading-dash.txt': { content: 'dash', mode: 0o644 },
  'empty-file': { content: '', mode: 0o644 },
  'binary.bin': {
    content: Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 256)),
    mode: 0o644
  }
}
const symlinks: Record<string, string> = {
  link: 'index.html',
  dirlink: 'empty',
  dangling: 'does/not/exist',
  'abs-link': '/etc/passwd',
  'a/up': '../index.html',
  'unicode-link': 'é.txt'
}
/** Directories with an explicit mode (the others come from mkdir). */
const dirModes: Record<string, number> = { empty: 0o777, 'shared-sticky': 0o1777, a: 0o755 }

let root: string

beforeAll(() => {
  root = join(work, 'source')
  mkdirSync(root)
  for (const [rel, spec] of Object.entries(files)) {
    const abs = join(root, rel)
    mkdirSync(dirname(abs), { recursive: true })
    writeFileSync(abs, spec.content)
    chmodSync(abs, spec.mode)
    utimesSync(abs, MTIME, MTIME)
  }
  for (const [rel, mode] of Object.entries(dirModes)) {
    mkdirSync(join(root, rel), { recursive: true })
    chmodSync(join(root, rel), mode)
  }
  for (const [rel, target] of Object.entries(symlinks)) symlinkSync(target, join(root, rel))
  execFileSync('mkfifo', [join(root, 'fifo')])
  execFileSync('mkfifo', [join(root, 'a', 'pipe')])
})

/** Component-wise byte order: parents before children, siblings as `LC_ALL=C sort`. */
function treeOrder(a: string, b: string): number {
  const x = a.split('/')
  const y = b.split('/')
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!))
    if (c !== 0) return c
  }
  return x.length - y.length
}

const EXCLUDE = ['node_modules/**', '*.log', 'tests/']

/** What the source holds after EXCLUDE and the .git rule, worked out by hand from the tree. */
const expectedPaths = [
  '-leading-dash.txt',
  '.env',
  '.gitignore',
  'a',
  'a/up',
  'a/x',
  'a-b',
  'a.b',
  'abs-link',
  'back\\slash.txt',
  'binary.bin',
  'dangling',
  'dirlink',
  'docs',
  'docs/readme.md',
  'docs/tests',
  'empty',
  'empty-file',
  'index.html',
  'lib',
  'lib/node_modules',
  'lib/node_modules/keep.js',
  'link',
  'logs',
  'logs/deep',
  'logs/keep.txt',
  'new\nline.txt',
  "quote'.txt",
  'script.sh',
  'setgid',
  'setuid',
  'shared-sticky',
  'src',
  'src/main.js',
  'sub',
  'sub/code.js',
  'unicode-link',
  'vendor',
  'vendor/x',
  'vendor/x/lib.js',
  'with space.txt',
  'world.txt',
  'é.txt'
]

describe('scanSource', () => {
  it('lists exactly the deployable paths, parents first and siblings in byte order', async () => {
    const { entries } = await scanSource(root, EXCLUDE)
    const got = entries.map(e => e.path)
    expect([...got].sort(treeOrder)).toEqual([...expectedPaths].sort(treeOrder))
    expect(got).toEqual([...got].sort(treeOrder))
  })

  it('skips the FIFOs and reports them', async () => {
    const { entries, skipped } = await scanSource(root, EXCLUDE)
    expect(skipped.sort()).toEqual(['a/pipe', 'fifo'])
    expect(entries.some(e => e.path === 'fifo' || e.path === 'a/pipe')).toBe(false)
  })

  it('always leaves out .git, as a directory or a file, at any depth, even with no excludes', async () => {
    const { entries } = await scanSource(root, [])
    expect(entries.filter(e => e.path.split('/').includes('.git'))).toEqual([])
    // .gitignore and friends are ordinary files.
    expect(entries.some(e => e.path === '.gitignore')).toBe(true)
    // Without excludes the excluded paths are back.
    for (const p of [
      'node_modules',
      'node_modules/pkg/index.js',
      'node_modules/.bin/tool',
      'app.log',
      'tests',
      'src/tests/unit.js',
      'logs/.hidden.log'
    ]) {
      expect(entries.map(e => e.path)).toContain(p)
    }
  })

  it('records files with their deployed mode, size and mtime', async () => {
    const { entries } = await scanSource(root, EXCLUDE)
    const byPath = new Map(entries.map(e => [e.path, e]))
    const expectedModes: Record<string, number> = {
      'index.html': 0o644,
      'script.sh': 0o755,
      'world.txt': 0o664,
      setuid: 0o755,
      setgid: 0o775,
      '.env': 0o600
    }
    for (const [p, mode] of Object.entries(expectedModes)) expect(byPath.get(p)?.mode, p).toBe(mode)
    for (const e of entries.filter(x => x.type === 'file')) {
      const spec = files[e.path]!
      expect(e.size, e.path).toBe(Buffer.byteLength(spec.content))
      expect(e.mtime, e.path).toBe(MTIME)
      expect(e.sha256, 'hashes come later').toBeUndefined()
    }
  })

  it('records directories (empty ones too) without world-write or sticky bits', async () => {
    const { entries } = await scanSource(root, EXCLUDE)
    const byPath = new Map(entries.map(e => [e.path, e]))
    expect(byPath.get('empty')).toMatchObject({ type: 'dir', mode: 0o775, size: 0 })
    expect(byPath.get('shared-sticky')).toMatchObject({ type: 'dir', mode: 0o775, size: 0 })
    expect(byPath.get('a')).toMatchObject({ type: 'dir', mode: 0o755, size: 0 })
  })

  it('keeps symlinks as symlinks with their target verbatim, never following them', async () => {
    const { entries } = await scanSource(root, EXCLUDE)
    const byPath = new Map(entries.map(e => [e.path, e]))
    for (const [p, target] of Object.entries(symlinks)) {
      expect(byPath.get(p), p).toMatchObject({
        type: 'symlink',
        target,
        size: Buffer.byteLength(target)
      })
    }
    // dirlink points at a directory, but nothing below it is listed.
    expect(entries.some(e => e.path.startsWith('dirlink/'))).toBe(false)
  })

  it("does not empty the release when a '!' (re-include) pattern is given", async () => {
    const { entries } = await scanSource(root, ['*.log', '!logs/keep.txt'])
    const got = entries.map(e => e.path)
    expect(got).toContain('index.html')
    expect(got).toContain('src/main.js')
  })

  it('skips an excluded directory whole, without walking into it', async () => {
    const { entries } = await scanSource(root, ['node_modules/**'])
    expect(
      entries.filter(e => e.path === 'node_modules' || e.path.startsWith('node_modules/'))
    ).toEqual([])
    expect(entries.some(e => e.path === 'lib/node_modules/keep.js')).toBe(true)
  })
})

describe('compareNames and sortNames', () => {
  const bytewise = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

  it('order names as their UTF-8 bytes, beyond the surrogates too, as LC_ALL=C sort does', () => {
    // UTF-16 puts U+1F600 (a surrogate pair) before U+E000 and U+FFFD; UTF-8, and sort, after.
    const names = [
      '\u{1F600}',
      '\uFFFD',
      'b',
      '\uE000',
      'a/b',
      'a',
      'é',
      'a\u{1F600}',
      'a\uFFFD',
      ''
    ]
    const expected = [...names].sort(bytewise)
    expect(expected.indexOf('\u{1F600}')).toBeGreaterThan(expected.indexOf('\uFFFD'))
    expect([...names].sort(compareNames)).toEqual(expected)
    expect(sortNames([...names])).toEqual(expected)
    const plain = ['b/c', 'b', 'a-b', 'a/b', 'a.b', 'A', 'é', 'e']
    expect(sortNames([...plain])).toEqual([...plain].sort(bytewise))
    const random = (): string =>
      String.fromCodePoint(
        ...Array.from(
          { length: 1 + Math.floor(Math.random() * 4) },
          () =>
            [0x61, 0x2f, 0xe9, 0xe000, 0xfffd, 0x1f600, 0x10ffff][Math.floor(Math.random() * 7)]!
        )
      )
    for (let round = 0; round < 20; round++) {
      const many = Array.from({ length: 200 }, random)
      expect(sortNames([...many])).toEqual([...many].sort(bytewise))
      for (let i = 1; i < many.length; i++)
        expect(Math.sign(compareNames(many[i - 1]!, many[i]!))).toBe(
          Math.sign(bytewise(many[i - 1]!, many[i]!))
        )
    }
  })
})

describe('excludeMatcher', () => {
  it.each<[string, string[], string, boolean, boolean]>([
    [
      "'node_modules/**' excludes the directory itself",
      ['node_modules/**'],
      'node_modules',
      true,
      true
    ],
    [
      "'node_modules/**' excludes what is inside",
      ['node_modules/**'],
      'node_modules/a/b.js',
      false,
      true
    ],
    [
      "'node_modules/**' is anchored (it has a slash)",
      ['node_modules/**'],
      'lib/node_modules',
      true,
      false
    ],
    ["'*.log' matches at the top", ['*.log'], 'app.log', false, true],
    ["'*.log' matches at any depth", ['*.log'], 'logs/deep/x.log', false, true],
    ["'*.log' matches a dot-file like any other", ['*.log'], 'logs/.hidden.log', false, true],
    ["'*.log' does not match a longer extension", ['*.log'], 'app.log.txt', false, false],
    ["'tests/' excludes a directory", ['tests/'], 'tests', true, true],
    ["'tests/' excludes a nested directory", ['tests/'], 'src/tests', true, true],
    ["'tests/' leaves a file named tests", ['tests/'], 'docs/tests', false, false],
    ["'.env' matches at the top", ['.env'], '.env', false, true],
    ["'.env' matches at any depth", ['.env'], 'config/.env', false, true],
    ["'*' matches dot-files", ['*'], '.env', false, true],
    ["'.*' does not match a name without a dot", ['.*'], 'env', false, false],
    ["'docs/*.md' matches in docs/", ['docs/*.md'], 'docs/a.md', false, true],
    ["'docs/*.md' is anchored", ['docs/*.md'], 'x/docs/a.md', false, false],
    ["'docs/*.md' does not cross a slash", ['docs/*.md'], 'docs/sub/a.md', false, false],
    ["'**/*.map' matches at the top", ['**/*.map'], 'app.js.map', false, true],
    ["'**/*.map' matches deep", ['**/*.map'], 'a/b/c.js.map', false, true],
    ["'./build' means build at the top", ['./build'], 'build', true, true],
    ["'[ab].txt' is a character class", ['[ab].txt'], 'a.txt', false, true],
    ["'a b.txt' with a space", ['a b.txt'], 'dir/a b.txt', false, true],
    ["'é.txt' in unicode", ['é.txt'], 'é.txt', false, true],
    ["'-rf' with a leading dash is a name", ['-rf'], '-rf', false, true],
    ["'#x' is a name, not a comment", ['#x'], '#x', false, true],
    ['an empty pattern excludes nothing', [''], 'anything', false, false],
    ["'/' alone excludes nothing", ['/'], 'anything', true, false],
    ['no patterns exclude nothing', [], 'index.html', false, false],
    // A leading slash anchors a pattern to the top of source, as in .gitignore: it has a slash.
    ["'/secret' matches secret at the top", ['/secret'], 'secret', true, true],
    ["'/secret' is anchored to the top", ['/secret'], 'app/secret', true, false],
    // A '!' line is a re-include in .gitignore; it must never exclude unrelated paths.
    [
      "'!keep.log' does not exclude every other path",
      ['*.log', '!keep.log'],
      'index.html',
      false,
      false
    ]
  ])('%s', (_label, patterns, relative, isDirectory, expected) => {
    expect(excludeMatcher(patterns)(relative, isDirectory)).toBe(expected)
  })
})

describe('deployedMode', () => {
  it.each([
    [0o644, 0o644],
    [0o600, 0o600],
    [0o755, 0o755],
    [0o700, 0o700],
    [0o666, 0o664],
    [0o777, 0o775],
    [0o4755, 0o755],
    [0o2775, 0o775],
    [0o1777, 0o775],
    [0o7777, 0o775],
    [0o100644, 0o644],
    [0o100666, 0o664],
    [0o40755, 0o755],
    [0o000, 0o000]
  ])('deploys source mode %o as %o', (source, deployed) => {
    expect(deployedMode(source)).toBe(deployed)
  })
})

describe('hashFile and hashEntries', () => {
  it('hash every file exactly as sha256sum does, and leave directories and links alone', async () => {
    const { entries } = await buildManifest(root, EXCLUDE)
    for (const e of entries) {
      if (e.type === 'file') expect(e.sha256, e.path).toBe(sha256sum(join(root, e.path)))
      else expect(e.sha256, e.path).toBeUndefined()
    }
    expect(entries.filter(e => e.type === 'file').length).toBeGreaterThan(20)
  })

  it('hashes an empty file and a multi-megabyte file like sha256sum', async () => {
    const big = join(work, 'big.bin')
    const chunk = createHash('sha512').update('seed').digest()
    writeFileSync(big, Buffer.concat(Array.from({ length: 50_000 }, () => chunk)))
    const result = await hashFile(big)
    expect(result).toEqual({ sha256: sha256sum(big), size: 64 * 50_000 })
    const empty = join(work, 'empty.bin')
    writeFileSync(empty, '')
    expect(await hashFile(empty)).toEqual({ sha256: sha256sum(empty), size: 0 })
  })

  it('rejects a missing file', async () => {
    await expect(hashFile(join(work, 'missing'))).rejects.toThrow()
  })

  it('hashes a 256 MB file without holding it in memory', async () => {
    const dir = join(work, 'huge')
    mkdirSync(dir)
    const huge = join(dir, 'huge.bin')
    // A sparse file: 256 MB to read, no disk to fill.
    const size = 256 * 1024 * 1024
    writeFileSync(huge, '')
    truncateSync(huge, size)
    const peakBefore = process.resourceUsage().maxRSS
    const { entries } = await buildManifest(dir, [])
    const peakAfter = process.resourceUsage().maxRSS
    expect(entries).toEqual([expect.objectContaining({ path: 'huge.bin', size })])
    expect(entries[0]?.sha256).toBe(sha256sum(huge))
    // maxRSS is in kilobytes. Reading the file whole would raise the peak by 256 MB.
    expect((peakAfter - peakBefore) / 1024).toBeLessThan(32)
  })

  // A file smaller than the 1 MB read buffer is read once (its end known from the walk's size),
  // a larger one in chunks: the digests must not depend on which, on either side of the bound.
  it.each([
    ['on the main thread', { threads: 0 }],
    ['on two threads', { threads: 2, threadsFrom: { files: 0, bytes: 0 } }]
  ])('hashes files on either side of the read buffer, %s', async (_label, options) => {
    const dir = join(work, `sizes-${options.threads}`)
    mkdirSync(dir)
    const MB = 1024 * 1024
    const sizes = [0, 1, MB - 1, MB, MB + 1, 2 * MB + 3]
    for (const size of sizes) {
      const bytes = Buffer.alloc(size)
      for (let i = 0; i < size; i += 4093) bytes[i] = (i * 31 + size) & 0xff
      writeFileSync(join(dir, `f${size}`), bytes)
    }
    const { entries } = await buildManifest(dir, [], options)
    expect(entries.map(e => [e.path, e.size, e.sha256])).toEqual(
      sizes
        .map(size => [`f${size}`, size, sha256sum(join(dir, `f${size}`))])
        .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1))
    )
  })

  it('fails, naming the file, when a file shrank between the scan and the hash', async () => {
    const dir = join(work, 'shrinking')
    mkdirSync(dir)
    writeFileSync(join(dir, 'a.txt'), 'abcdef')
    const { entries } = await scanSource(dir, [])
    writeFileSync(join(dir, 'a.txt'), 'abc')
    await expect(hashEntries(dir, entries)).rejects.toThrow(
      /a\.txt changed while it was being read \(6 bytes, then 3\)/
    )
  })

  it('fails, naming the file, when a file grew between the scan and the hash', async () => {
    const dir = join(work, 'growing')
    mkdirSync(dir)
    writeFileSync(join(dir, 'a.txt'), 'a')
    writeFileSync(join(dir, 'b.txt'), 'b')
    const { entries } = await scanSource(dir, [])
    appendFileSync(join(dir, 'b.txt'), 'more')
    await expect(hashEntries(dir, entries)).rejects.toThrow(/b\.txt/)
  })
})

describe('buildManifest on worker threads', () => {
  const always = { files: 0, bytes: 0 }

  it('gives the same entries, in the same order, on two threads as on the main thread', async () => {
    const here = await buildManifest(root, EXCLUDE, { threads: 0 })
    const threaded = await buildManifest(root, EXCLUDE, { threads: 2, threadsFrom: always })
    expect(threaded.threads).toBe(2)
    expect(here.threads).toBeUndefined()
    expect(threaded.entries).toEqual(here.entries)
    expect(threaded.skipped).toEqual(here.skipped)
    expect(threaded.entries.filter(e => e.type === 'file').every(e => e.sha256)).toBe(true)
  })

  it('reads the same tree through a relative root, or one with a trailing slash, on either thread', async () => {
    const here = await buildManifest(root, EXCLUDE, { threads: 0 })
    const relativeRoot = relative(process.cwd(), root)
    expect(relativeRoot.startsWith('/')).toBe(false)
    for (const other of [relativeRoot, `${root}/`, `${relativeRoot}/`]) {
      for (const threads of [0, 2]) {
        const result = await buildManifest(other, EXCLUDE, { threads, threadsFrom: always })
        expect(result.entries).toEqual(here.entries)
      }
    }
    expect(pathPrefix('/')).toBe('/')
    expect(pathPrefix(`${root}/`)).toBe(`${root}/`)
    expect(pathPrefix(relativeRoot)).toBe(`${root}/`)
  })

  it('hashes a small tree on the main thread, starting no thread', async () => {
    const result = await buildManifest(root, EXCLUDE, { threads: 2 })
    expect(result.threads).toBe(0)
    expect(result.entries.find(e => e.path === 'index.html')?.sha256).toBe(
      sha256sum(join(root, 'index.html'))
    )
  })

  it('fails, naming the file, when a file changed size after the walk', async () => {
    const workers = new HashWorkers(pathPrefix(root), 2, async () => undefined, always)
    const entry: ManifestEntry = {
      path: 'index.html',
      type: 'file',
      mode: 0o644,
      size: 3,
      mtime: 0
    }
    workers.add(entry)
    await expect(workers.done()).rejects.toThrow(
      /index\.html changed while it was being read \(3 bytes, then 15\)/
    )
  })

  it('fails, naming the path, when a file is gone', async () => {
    const workers = new HashWorkers(pathPrefix(root), 1, async () => undefined, always)
    workers.add({ path: 'gone.txt', type: 'file', mode: 0o644, size: 1, mtime: 0 })
    await expect(workers.done()).rejects.toThrow(/ENOENT.*gone\.txt/)
  })
})

describe('serializeManifest and parseManifest', () => {
  it('round-trip a real manifest, names with newlines and unicode included', async () => {
    const { entries } = await buildManifest(root, EXCLUDE)
    const manifest: Manifest = {
      version: 1,
      entries,
      sharedLinks: ['storage', '.env', 'public/uploads']
    }
    const data = await serializeManifest(manifest)
    // It is stored gzipped.
    expect(data[0]).toBe(0x1f)
    expect(data[1]).toBe(0x8b)
    expect(await parseManifest(data)).toEqual(manifest)
  })

  it('stores exactly the JSON of the whole manifest, built in pieces past 64 KB', async () => {
    // Enough entries that the text is assembled from several pieces.
    const entries = Array.from({ length: 3000 }, (_, i) => ({
      path: `dir ${i % 7}/file-${i}-\u00e9\n"q".txt`,
      type: 'file' as const,
      mode: 0o644,
      size: i,
      mtime: 1_700_000_000 + i,
      sha256: createHash('sha256').update(String(i)).digest('hex')
    }))
    const manifest: Manifest = { version: 1, entries, sharedLinks: ['storage'] }
    const text = gunzipSync(await serializeManifest(manifest)).toString('utf8')
    expect(text.length).toBeGreaterThan(3 * 65_536)
    expect(text).toBe(
      JSON.stringify({
        version: 1,
        sharedLinks: ['storage'],
        entries: entries.map(e => [e.path, 'f', e.mode, e.size, e.mtime, e.sha256])
      })
    )
  })

  it('round-trips an empty manifest', async () => {
    const manifest: Manifest = { version: 1, entries: [], sharedLinks: [] }
    expect(await parseManifest(await serializeManifest(manifest))).toEqual(manifest)
  })

  const sha = 'a'.repeat(64)
  const stored = (value: unknown): Buffer => gzipSync(JSON.stringify(value))
  const withEntry = (entry: unknown): Buffer =>
    stored({ version: 1, sharedLinks: [], entries: [entry] })

  it.each<[string, () => Buffer]>([
    ['data that is not gzip', () => Buffer.from('this is not gzip')],
    ['an empty buffer', () => Buffer.alloc(0)],
    [
      'a truncated gzip stream',
      () =>
        stored({ version: 1, sharedLinks: [], entries: [['a', 'f', 420, 1, 0, sha]] }).subarray(
          0,
          20
        )
    ],
    ['gzip of text that is not JSON', () => gzipSync('{not json')],
    ['gzip of JSON null', () => gzipSync('null')],
    ['version 2', () => stored({ version: 2, sharedLinks: [], entries: [] })],
    ['version "1" as a string', () => stored({ version: '1', sharedLinks: [], entries: [] })],
    ['no version', () => stored({ sharedLinks: [], entries: [] })],
    ['no entries', () => stored({ version: 1, sharedLinks: [] })],
    ['entries that are not a list', () => stored({ version: 1, sharedLinks: [], entries: {} })],
    ["a '..' path", () => withEntry(['..', 'd', 493, 0, 0, ''])],
    ["a path through '..'", () => withEntry(['a/../../etc/passwd', 'f', 420, 1, 0, sha])],
    ["a path starting with '../'", () => withEntry(['../x', 'f', 420, 1, 0, sha])],
    ['an absolute path', () => withEntry(['/etc/passwd', 'f', 420, 1, 0, sha])],
    ['an empty path', () => withEntry(['', 'f', 420, 1, 0, sha])],
    ["a '.' segment", () => withEntry(['./a', 'f', 420, 1, 0, sha])],
    ['an empty segment', () => withEntry(['a//b', 'f', 420, 1, 0, sha])],
    ['a trailing slash', () => withEntry(['a/', 'd', 493, 0, 0, ''])],
    ['a path that is not a string', () => withEntry([42, 'f', 420, 1, 0, sha])],
    ['an entry that is an object', () => withEntry({ path: 'a', type: 'f' })],
    ['an entry with five fields', () => withEntry(['a', 'f', 420, 1, 0])],
    ['an unknown type', () => withEntry(['a', 'x', 420, 1, 0, ''])],
    ['a file without a sha256', () => withEntry(['a', 'f', 420, 1, 0, ''])],
    ['a file with a short sha256', () => withEntry(['a', 'f', 420, 1, 0, 'abc'])],
    ['a file with an upper-case sha256', () => withEntry(['a', 'f', 420, 1, 0, 'A'.repeat(64)])],
    ['a mode that is a string', () => withEntry(['a', 'f', '644', 1, 0, sha])],
    ['a size that is a string', () => withEntry(['a', 'f', 420, '1', 0, sha])],
    ['a negative size', () => withEntry(['a', 'f', 420, -1, 0, sha])],
    ['a mode beyond 07777', () => withEntry(['a', 'f', 0o10000, 1, 0, sha])],
    ['a path with a NUL', () => withEntry(['a\0b', 'f', 420, 1, 0, sha])],
    ['a path below a missing directory', () => withEntry(['ext/secret', 'f', 420, 1, 0, sha])],
    [
      'a path beneath a symlink (ext -> /outside)',
      () =>
        stored({
          version: 1,
          sharedLinks: [],
          entries: [
            ['ext', 'l', 0o777, 8, 0, '/outside'],
            ['ext/secret', 'f', 420, 1, 0, sha]
          ]
        })
    ],
    [
      'a path beneath a file',
      () =>
        stored({
          version: 1,
          sharedLinks: [],
          entries: [
            ['a', 'f', 420, 1, 0, sha],
            ['a/b', 'f', 420, 1, 0, sha]
          ]
        })
    ],
    [
      'the same path twice',
      () =>
        stored({
          version: 1,
          sharedLinks: [],
          entries: [
            ['a', 'd', 493, 0, 0, ''],
            ['a', 'f', 420, 1, 0, sha]
          ]
        })
    ],
    ['a symlink whose size is not its length', () => withEntry(['l', 'l', 0o777, 3, 0, 'target'])],
    ['a symlink with an empty target', () => withEntry(['l', 'l', 0o777, 0, 0, ''])]
  ])('rejects %s with an Error', async (_label, make) => {
    await expect(parseManifest(make())).rejects.toBeInstanceOf(Error)
  })

  it('stops unpacking a gzip bomb at the limit, with bounded memory', async () => {
    // About 1 MB that unpacks to 1 GB of spaces (JSON white space, so only the limit stops it):
    // 1,024 gzip members of 1 MB each, which gunzip reads one after the other.
    const member = gzipSync(Buffer.alloc(1024 * 1024, 0x20), { level: 9 })
    const bomb = Buffer.concat(Array.from({ length: 1024 }, () => member))
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024)
    const before = process.memoryUsage().rss
    await expect(parseManifest(bomb, { compressed: 32 << 20, json: 64 << 20 })).rejects.toThrow(
      /unpacks to more than 67108864 bytes/
    )
    expect(process.memoryUsage().rss - before).toBeLessThan(400 * 1024 * 1024)
  })

  it('refuses stored data past the compressed limit before unpacking it', async () => {
    const data = stored({ version: 1, sharedLinks: [], entries: [] })
    await expect(parseManifest(data, { compressed: 10, json: 1000 })).rejects.toThrow(
      /over the limit of 10/
    )
  })

  it('drops shared links that are not strings and keeps the rest', async () => {
    const data = stored({ version: 1, sharedLinks: ['storage', 7, null, '.env'], entries: [] })
    expect((await parseManifest(data)).sharedLinks).toEqual(['storage', '.env'])
  })

  it('reads the stored form field by field', async () => {
    const target = '../shared/x'
    const data = stored({
      version: 1,
      sharedLinks: [],
      entries: [
        ['d', 'd', 0o755, 0, MTIME, ''],
        ['d/f', 'f', 0o644, 3, MTIME, sha],
        ['d/l', 'l', 0o777, target.length, MTIME, target]
      ]
    })
    const expected: ManifestEntry[] = [
      { path: 'd', type: 'dir', mode: 0o755, size: 0, mtime: MTIME },
      { path: 'd/f', type: 'file', mode: 0o644, size: 3, mtime: MTIME, sha256: sha },
      { path: 'd/l', type: 'symlink', mode: 0o777, size: target.length, mtime: MTIME, target }
    ]
    expect((await parseManifest(data)).entries).toEqual(expected)
  })
})

describe('file names that are not valid UTF-8', () => {
  const dir = join(work, 'latin1')
  const latin1 = Buffer.concat([
    Buffer.from(`${dir}/sub/caf`),
    Buffer.from([0xe9]),
    Buffer.from('.txt')
  ])

  beforeAll(() => {
    mkdirSync(join(dir, 'sub'), { recursive: true })
    writeFileSync(join(dir, 'sub', 'ok-\ufffd-real.txt'), 'a real U+FFFD is valid UTF-8\n')
    writeFileSync(latin1, 'latin-1 name\n')
  })

  it('are refused with the name shown byte for byte and what to do', async () => {
    const error = await scanSource(dir, []).then(
      () => undefined,
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe('source')
    expect((error as Error).message).toContain(`'sub/caf\\xe9.txt'`)
    expect((error as Error).message).toMatch(/Rename it to UTF-8 .*or leave it out with exclude/)
  })

  it('are left alone when exclude leaves them out, and a real U+FFFD deploys', async () => {
    const { entries } = await scanSource(dir, ['*.txt', '!ok-*'])
    expect(entries.map(e => e.path)).toEqual(['sub', 'sub/ok-\ufffd-real.txt'])
  })
})

describe('linksLeavingTree', () => {
  const link = (p: string, target: string): ManifestEntry => ({
    path: p,
    type: 'symlink',
    mode: 0o777,
    size: target.length,
    mtime: MTIME,
    target
  })

  it.each<[string, string, boolean]>([
    ['wp-config.php', '/etc/wordpress/wp-config.php', true],
    ['wp-content/uploads', '../../../var/lib/wordpress/uploads', true],
    ['a/b', '../..', true],
    ['a/b', '../../x', true],
    ['top', '..', true],
    ['public', 'src', false],
    ['a/b', '../c', false],
    ['a/b', './c/../../d', false],
    ['a/b/c', '../../d', false],
    ['dot', '.', false]
  ])('%s -> %s leaves the tree: %s', (p, target, leaves) => {
    expect(linksLeavingTree([link(p, target)]).length === 1).toBe(leaves)
  })

  it('ignores files and directories', () => {
    const entries: ManifestEntry[] = [
      { path: 'd', type: 'dir', mode: 0o755, size: 0, mtime: MTIME },
      { path: 'f', type: 'file', mode: 0o644, size: 1, mtime: MTIME, sha256: 'x' }
    ]
    expect(linksLeavingTree(entries)).toEqual([])
  })
})
