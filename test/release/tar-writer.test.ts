import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AbortedError } from '../../src/errors.js'
import { createTarStream, tarSize, type TarEntry } from '../../src/release/tar-writer.js'

const MTIME = 1_700_000_000

interface Tool {
  name: string
  command: string[]
}

/** The two extractors the server may have, with the flags the deploy passes them. */
const tools: Tool[] = [
  { name: 'GNU tar', command: ['tar'] },
  { name: 'BusyBox tar', command: ['busybox', 'tar'] }
]

interface Spec {
  path: string
  type: 'file' | 'dir' | 'symlink'
  mode?: number
  content?: Buffer | string
  target?: string
}

let work: string
let counter = 0

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tar-writer-'))
})

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

async function freshDir(label: string): Promise<string> {
  const dir = join(work, `${label}-${++counter}`)
  await mkdir(dir)
  return dir
}

/** Creates the specs on disk with exact modes (set with chmod, so the umask does not apply). */
async function materialize(root: string, specs: Spec[]): Promise<void> {
  for (const spec of specs) {
    const full = join(root, spec.path)
    const parent = full.slice(0, full.lastIndexOf('/'))
    await mkdir(parent, { recursive: true })
    if (spec.type === 'dir') {
      await mkdir(full, { recursive: true })
      await chmod(full, spec.mode ?? 0o755)
    } else if (spec.type === 'file') {
      await writeFile(full, spec.content ?? '')
      await chmod(full, spec.mode ?? 0o644)
      await utimes(full, MTIME, MTIME)
    } else {
      await symlink(spec.target as string, full)
    }
  }
}

/** Lists a tree as archive entries, each directory before its contents, like a deploy scan. */
async function scan(root: string, prefix = ''): Promise<TarEntry[]> {
  const entries: TarEntry[] = []
  const names = (await readdir(join(root, prefix))).sort()
  for (const name of names) {
    const path = prefix ? `${prefix}/${name}` : name
    const full = join(root, path)
    const stat = await lstat(full)
    const mode = stat.mode & 0o7777
    const mtime = Math.floor(stat.mtimeMs / 1000)
    if (stat.isSymbolicLink()) {
      entries.push({ path, type: 'symlink', mode: 0o777, mtime, target: await readlink(full) })
    } else if (stat.isDirectory()) {
      entries.push({ path, type: 'dir', mode, mtime })
      entries.push(...(await scan(root, path)))
    } else {
      entries.push({ path, type: 'file', mode, mtime, size: stat.size, source: full })
    }
  }
  return entries
}

interface Node {
  type: 'file' | 'dir' | 'symlink'
  mode?: number
  mtime?: number
  target?: string
  content?: Buffer
}

/** Everything that must survive the round trip, keyed by relative path. */
async function snapshot(root: string, prefix = '', into = new Map<string, Node>()) {
  for (const name of await readdir(join(root, prefix))) {
    const path = prefix ? `${prefix}/${name}` : name
    const full = join(root, path)
    const stat = await lstat(full)
    if (stat.isSymbolicLink()) {
      into.set(path, { type: 'symlink', target: await readlink(full) })
    } else if (stat.isDirectory()) {
      into.set(path, { type: 'dir', mode: stat.mode & 0o7777 })
      await snapshot(root, path, into)
    } else {
      into.set(path, {
        type: 'file',
        mode: stat.mode & 0o7777,
        mtime: Math.floor(stat.mtimeMs / 1000),
        content: await readFile(full)
      })
    }
  }
  return into
}

interface Extraction {
  code: number | null
  stderr: string
}

/**
 * Pipes the stream into `<tool> -x -p -o -f - -C dir`, the command the deploy runs. The tool runs
 * under umask 022, as over ssh: as root both tools apply the header mode exactly, and as another
 * user BusyBox applies header mode & ~umask, which leaves the modes used here unchanged.
 */
async function extract(stream: Readable, tool: Tool, dir: string): Promise<Extraction> {
  const args = [...tool.command, '-x', '-p', '-o', '-f', '-', '-C', dir]
  const child = spawn('sh', ['-c', 'umask 022 && exec "$@"', 'sh', ...args], {
    cwd: work,
    stdio: ['pipe', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  const piped = await pipeline(stream, child.stdin).then(
    () => undefined,
    (error: unknown) => error
  )
  const code = await exited
  if (piped) throw piped
  return { code, stderr }
}

/** Runs `<tool> -t -v -f -` on the given bytes and returns its listing. */
async function list(
  tool: Tool,
  input: Buffer | Readable
): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(tool.command[0], [...tool.command.slice(1), '-t', '-v', '-f', '-'], {
    stdio: ['pipe', 'pipe', 'ignore']
  })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
  const stream = Buffer.isBuffer(input) ? Readable.from([input]) : input
  await pipeline(stream, child.stdin).catch(() => {})
  return { code: await exited, stdout }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function expectSameTree(source: string, extracted: string): Promise<void> {
  const want = await snapshot(source)
  const got = await snapshot(extracted)
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort())
  for (const [path, node] of want) {
    const other = got.get(path) as Node
    expect({ path, type: other.type }).toEqual({ path, type: node.type })
    if (node.type === 'symlink') expect(other.target).toBe(node.target)
    if (node.type !== 'symlink') {
      expect({ path, mode: other.mode?.toString(8) }).toEqual({
        path,
        mode: node.mode?.toString(8)
      })
    }
    if (node.type === 'file') {
      expect(other.mtime).toBe(node.mtime)
      expect(other.content?.length).toBe(node.content?.length)
      expect(other.content?.equals(node.content as Buffer)).toBe(true)
    }
  }
}

const multiByte100 = 'é'.repeat(50)
const deepPath = ['a'.repeat(90), 'b'.repeat(90), 'c'.repeat(90), 'd'.repeat(27)].join('/')

const cases: [string, Spec[]][] = [
  ['a name with spaces', [{ path: 'name with  spaces.txt', type: 'file', content: 'spaces' }]],
  ['a single quote', [{ path: "it's here.txt", type: 'file', content: 'single' }]],
  ['a double quote', [{ path: 'say "hi".txt', type: 'file', content: 'double' }]],
  ['a command substitution', [{ path: '$(touch pwned)', type: 'file', content: 'subst' }]],
  ['backticks', [{ path: '`touch pwned`', type: 'file', content: 'ticks' }]],
  ['a newline', [{ path: 'line\nbreak.txt', type: 'file', content: 'newline' }]],
  ['a backslash', [{ path: 'back\\slash\\n.txt', type: 'file', content: 'backslash' }]],
  ['a leading dash', [{ path: '-rf --help', type: 'file', content: 'dash' }]],
  ['an accented letter', [{ path: 'café/résumé.txt', type: 'file', content: 'é' }]],
  ['Japanese', [{ path: '日本/日本語.txt', type: 'file', content: '日本' }]],
  ['an emoji', [{ path: '🚀 launch 👩‍💻.txt', type: 'file', content: 'emoji' }]],
  ['a 100-byte name', [{ path: 'n'.repeat(96) + '.txt', type: 'file', content: '100' }]],
  ['a 101-byte name', [{ path: 'n'.repeat(97) + '.txt', type: 'file', content: '101' }]],
  ['a 100-byte name of 2-byte characters', [{ path: multiByte100, type: 'file', content: 'é' }]],
  ['a 101-byte name of 2-byte characters', [{ path: `${multiByte100}x`, type: 'file' }]],
  ['an empty directory with a 100-byte name', [{ path: 'd'.repeat(100), type: 'dir' }]],
  ['a 300-byte nested path', [{ path: deepPath, type: 'file', content: 'deep' }]],
  [
    'a symlink with a 150-byte target',
    [{ path: 'long-link', type: 'symlink', target: `${'t/'.repeat(74)}tt` }]
  ],
  [
    'a symlink with a 100-byte target',
    [{ path: 'link100', type: 'symlink', target: 'u'.repeat(100) }]
  ],
  [
    'a symlink to a name with spaces',
    [
      { path: 'target with spaces.txt', type: 'file', content: 'pointed at' },
      { path: 'link to it', type: 'symlink', target: 'target with spaces.txt' }
    ]
  ],
  [
    'a symlink with a long name and a long target',
    [{ path: 'l'.repeat(120), type: 'symlink', target: `../${'shared/'.repeat(20)}x` }]
  ],
  [
    'a symlink to a directory',
    [
      { path: 'dir', type: 'dir' },
      { path: 'alias', type: 'symlink', target: 'dir' }
    ]
  ],
  ['an empty file', [{ path: 'empty', type: 'file', content: '' }]],
  ['a file of exactly 512 bytes', [{ path: 'block', type: 'file', content: randomBytes(512) }]],
  ['a file of exactly 64 KiB', [{ path: 'k64', type: 'file', content: randomBytes(65536) }]],
  ['a file of 64 KiB + 1', [{ path: 'k64p1', type: 'file', content: randomBytes(65537) }]],
  ['a 5 MB file', [{ path: 'big.bin', type: 'file', content: randomBytes(5 * 1024 * 1024 + 123) }]],
  ['an executable', [{ path: 'bin/run.sh', type: 'file', mode: 0o755, content: '#!/bin/sh\n' }]],
  ['a 0640 file', [{ path: 'secret.env', type: 'file', mode: 0o640, content: 'KEY=1\n' }]],
  ['a 0700 directory', [{ path: 'private', type: 'dir', mode: 0o700 }]],
  ['an empty directory', [{ path: 'empty-dir', type: 'dir' }]]
]

describe.each(tools)('extracted by $name', tool => {
  it.each(cases)('keeps %s byte for byte', async (_label, specs) => {
    const source = await freshDir('src')
    const dest = await freshDir('dest')
    await materialize(source, specs)
    const entries = await scan(source)

    const result = await extract(createTarStream(entries), tool, dest)

    expect(result).toEqual({ code: 0, stderr: '' })
    await expectSameTree(source, dest)
    // Names are data, never shell: nothing named in the archive gets executed.
    expect(existsSync(join(work, 'pwned'))).toBe(false)
    expect(existsSync(join(dest, 'pwned'))).toBe(false)
  })

  it('extracts every case together from one archive fed by an async iterable', async () => {
    const source = await freshDir('src')
    const dest = await freshDir('dest')
    for (const [index, [, specs]] of cases.entries()) {
      await materialize(
        source,
        specs.map(spec => ({ ...spec, path: `case${index}/${spec.path}` }))
      )
    }
    const entries = await scan(source)
    async function* lazily(): AsyncGenerator<TarEntry> {
      for (const entry of entries) yield entry
    }

    const result = await extract(createTarStream(lazily()), tool, dest)

    expect(result).toEqual({ code: 0, stderr: '' })
    await expectSameTree(source, dest)
  })

  it('extracts in-memory data entries', async () => {
    const dest = await freshDir('dest')
    const manifest = Buffer.from('{"files":3}\n')
    const entries: TarEntry[] = [
      { path: '.meta', type: 'dir', mode: 0o755, mtime: MTIME },
      { path: '.meta/manifest.json', type: 'file', mode: 0o600, mtime: MTIME, data: manifest },
      { path: '.meta/empty', type: 'file', mode: 0o644, mtime: MTIME, data: Buffer.alloc(0) }
    ]

    const result = await extract(createTarStream(entries), tool, dest)

    expect(result).toEqual({ code: 0, stderr: '' })
    expect(await readFile(join(dest, '.meta/manifest.json'))).toEqual(manifest)
    expect((await lstat(join(dest, '.meta/manifest.json'))).mode & 0o7777).toBe(0o600)
    expect((await lstat(join(dest, '.meta/empty'))).size).toBe(0)
  })

  it('extracts data entries and files of every size around the packing buffer, in any mix', async () => {
    const dest = await freshDir('packing')
    const src = await freshDir('packing-src')
    // Sizes straddling 256 KiB (the packing buffer) and 512 KiB (the read chunk), as data and as
    // files, interleaved with small entries that are packed together.
    const sizes = [0, 1, 511, 512, 513, 200_000, 262_143, 262_144, 262_145, 524_288, 1_000_003]
    const entries: TarEntry[] = []
    const expected = new Map<string, Buffer>()
    for (const [i, size] of sizes.entries()) {
      const content = randomBytes(size)
      expected.set(`d${i}`, content)
      entries.push({ path: `d${i}`, type: 'file', mode: 0o644, mtime: MTIME, data: content })
      const file = join(src, `f${i}`)
      await writeFile(file, content)
      expected.set(`f${i}`, content)
      entries.push({ path: `f${i}`, type: 'file', mode: 0o644, mtime: MTIME, size, source: file })
      expected.set(`s${i}`, Buffer.from(`small ${i}`))
      entries.push({
        path: `s${i}`,
        type: 'file',
        mode: 0o644,
        mtime: MTIME,
        data: Buffer.from(`small ${i}`)
      })
    }
    const stream = createTarStream(entries)
    const result = await extract(stream, tool, dest)

    expect(result).toEqual({ code: 0, stderr: '' })
    for (const [name, content] of expected)
      expect(await readFile(join(dest, name))).toEqual(content)
  })

  it('reads a size of 8 GiB or more from the base-256 size field', async () => {
    const dir = await freshDir('huge')
    const sparse = join(dir, 'sparse.bin')
    const size = 8 * 1024 ** 3 + 1
    await writeFile(sparse, '')
    await truncate(sparse, size)
    const stream = createTarStream([
      { path: 'huge.bin', type: 'file', mode: 0o644, mtime: MTIME, size, source: sparse }
    ])
    const header = (await new Promise<Buffer>(resolve => stream.once('data', resolve))).subarray(
      0,
      512
    )
    stream.destroy()

    expect(header[124]).toBe(0x80)
    // The listing comes before the tool notices the content is missing.
    const { stdout } = await list(tool, header)
    expect(stdout).toContain(String(size))
    expect(stdout).toContain('huge.bin')
  })
})

describe('createTarStream', () => {
  it('produces exactly tarSize bytes, a whole number of blocks ending in two zero blocks', async () => {
    const source = await freshDir('src')
    for (const [index, [, specs]] of cases.entries()) {
      await materialize(
        source,
        specs.map(spec => ({ ...spec, path: `case${index}/${spec.path}` }))
      )
    }
    const entries = await scan(source)

    const archive = await collect(createTarStream(entries))

    expect(archive.length).toBe(tarSize(entries))
    expect(archive.length % 512).toBe(0)
    expect(archive.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true)
  })

  it('counts long-name records in tarSize', () => {
    const short: TarEntry = {
      path: 'a',
      type: 'file',
      mode: 0o644,
      mtime: MTIME,
      data: Buffer.from('x')
    }
    const long: TarEntry = { ...short, path: 'x'.repeat(101) }
    const link: TarEntry = {
      path: 'l',
      type: 'symlink',
      mode: 0o777,
      mtime: MTIME,
      target: 'y'.repeat(101)
    }

    expect(tarSize([short])).toBe(512 + 512 + 1024)
    expect(tarSize([long])).toBe(512 + 512 + 512 + 512 + 1024)
    expect(tarSize([link])).toBe(512 + 512 + 512 + 1024)
    expect(tarSize([])).toBe(1024)
  })

  it('writes a ustar header with a valid checksum, zero ids and empty owner names', async () => {
    const archive = await collect(
      createTarStream([
        { path: 'f.txt', type: 'file', mode: 0o640, mtime: MTIME, data: Buffer.from('hello') }
      ])
    )
    const header = archive.subarray(0, 512)
    const field = (start: number, length: number) =>
      header.subarray(start, start + length).toString('latin1')

    expect(field(257, 8)).toBe('ustar\0' + '00')
    expect(field(100, 8)).toBe('0000640\0')
    expect(field(108, 8)).toBe('0000000\0')
    expect(field(116, 8)).toBe('0000000\0')
    expect(field(124, 12)).toBe('00000000005\0')
    expect(field(136, 12)).toBe(`${MTIME.toString(8).padStart(11, '0')}\0`)
    expect(field(265, 64)).toBe('\0'.repeat(64))
    const stored = parseInt(field(148, 6), 8)
    const blanked = Buffer.from(header)
    blanked.fill(0x20, 148, 156)
    expect(stored).toBe(blanked.reduce((sum, byte) => sum + byte, 0))
  })

  it('marks directories with a trailing slash and type 5', async () => {
    const archive = await collect(
      createTarStream([{ path: 'assets', type: 'dir', mode: 0o755, mtime: MTIME }])
    )

    expect(archive.subarray(0, 8).toString('latin1')).toBe('assets/\0')
    expect(String.fromCharCode(archive[156])).toBe('5')
  })

  it.each([
    ['grown', 'x'.repeat(20), /expected 10 bytes, but it now has 20/],
    ['shrunk', 'x'.repeat(5), /expected 10 bytes, but it now has 5/]
  ])('fails naming the path when a file has %s since the scan', async (_label, content, why) => {
    const dir = await freshDir('changed')
    const file = join(dir, "the 'file'.txt")
    await writeFile(file, content)
    const entries: TarEntry[] = [
      { path: 'before', type: 'file', mode: 0o644, mtime: MTIME, data: Buffer.from('ok') },
      {
        path: "web/the 'file'.txt",
        type: 'file',
        mode: 0o644,
        mtime: MTIME,
        size: 10,
        source: file
      }
    ]

    const failure = collect(createTarStream(entries))

    await expect(failure).rejects.toThrow(JSON.stringify("web/the 'file'.txt"))
    await expect(failure).rejects.toThrow(why)
  })

  it('fails naming the path when a large file is truncated while it streams', async () => {
    const dir = await freshDir('truncated')
    const file = join(dir, 'big.bin')
    const size = 4 * 1024 * 1024
    await writeFile(file, randomBytes(size))
    const stream = createTarStream([
      { path: 'assets/big.bin', type: 'file', mode: 0o644, mtime: MTIME, size, source: file }
    ])
    let seen = 0
    const failure = new Promise<Error>((resolve, reject) => {
      stream.on('error', resolve)
      stream.on('end', () => reject(new Error('the stream ended without an error')))
    })

    await new Promise<void>(resolve => {
      stream.on('data', (chunk: Buffer) => {
        seen += chunk.length
        if (seen > 512 && seen - chunk.length <= 512) {
          stream.pause()
          void truncate(file, 1000).then(() => {
            stream.resume()
            resolve()
          })
        }
      })
    })

    const error = await failure
    expect(error.message).toContain('"assets/big.bin"')
    expect(error.message).toMatch(/expected 4194304 bytes, but it ended after \d+/)
  })

  it('fails with the source path when a file has disappeared', async () => {
    const missing = join(work, 'gone.txt')

    const failure = collect(
      createTarStream([
        { path: 'gone.txt', type: 'file', mode: 0o644, mtime: MTIME, size: 1, source: missing }
      ])
    )

    await expect(failure).rejects.toThrow(missing)
  })

  it('fails instead of waiting when a source has been replaced by a FIFO', async () => {
    const dir = await freshDir('fifo')
    const fifo = join(dir, 'pipe')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)

    const failure = collect(
      createTarStream([
        { path: 'was-a-file', type: 'file', mode: 0o644, mtime: MTIME, size: 0, source: fifo }
      ])
    )

    await expect(failure).rejects.toThrow('"was-a-file"')
    await expect(failure).rejects.toThrow('is not a regular file')
  })

  it.each<[string, TarEntry]>([
    [
      'a parent segment',
      { path: 'a/../../etc/passwd', type: 'file', mode: 0o644, mtime: 0, data: Buffer.alloc(0) }
    ],
    [
      'an absolute path',
      { path: '/etc/passwd', type: 'file', mode: 0o644, mtime: 0, data: Buffer.alloc(0) }
    ],
    ['a leading ./', { path: './a', type: 'file', mode: 0o644, mtime: 0, data: Buffer.alloc(0) }],
    [
      'an empty segment',
      { path: 'a//b', type: 'file', mode: 0o644, mtime: 0, data: Buffer.alloc(0) }
    ],
    ['a NUL', { path: 'a\0b', type: 'file', mode: 0o644, mtime: 0, data: Buffer.alloc(0) }],
    ['a symlink without target', { path: 'l', type: 'symlink', mode: 0o777, mtime: 0 }],
    [
      'a symlink target with NUL',
      { path: 'l', type: 'symlink', mode: 0o777, mtime: 0, target: 'a\0' }
    ],
    ['a file without content', { path: 'f', type: 'file', mode: 0o644, mtime: 0, size: 1 }],
    [
      'a source without size',
      { path: 'f', type: 'file', mode: 0o644, mtime: 0, source: '/etc/hostname' }
    ],
    [
      'a size that contradicts data',
      { path: 'f', type: 'file', mode: 0o644, mtime: 0, size: 2, data: Buffer.alloc(1) }
    ],
    [
      'a mode beyond permission bits',
      { path: 'f', type: 'file', mode: 0o100644, mtime: 0, data: Buffer.alloc(0) }
    ]
  ])('rejects an entry with %s, naming it', async (_label, entry) => {
    await expect(collect(createTarStream([entry]))).rejects.toThrow(
      `Cannot archive ${JSON.stringify(entry.path)}`
    )
    expect(() => tarSize([entry])).toThrow(`Cannot archive ${JSON.stringify(entry.path)}`)
  })

  it('reports progress after each entry, ending at tarSize less the end blocks', async () => {
    const entries: TarEntry[] = [
      { path: 'd', type: 'dir', mode: 0o755, mtime: MTIME },
      { path: 'd/a', type: 'file', mode: 0o644, mtime: MTIME, data: randomBytes(700) },
      { path: 'd/l', type: 'symlink', mode: 0o777, mtime: MTIME, target: 'a' }
    ]
    const seen: { files: number; bytes: number }[] = []

    await collect(createTarStream(entries, { onEntry: progress => seen.push(progress) }))

    expect(seen).toEqual([
      { files: 1, bytes: 512 },
      { files: 2, bytes: 512 + 512 + 1024 },
      { files: 3, bytes: 512 + 512 + 1024 + 512 }
    ])
    expect(seen[2].bytes + 1024).toBe(tarSize(entries))
  })

  it('stops with an AbortedError when the signal aborts mid-stream, closing open files', async () => {
    const dir = await freshDir('abort')
    const file = join(dir, 'big.bin')
    await writeFile(file, randomBytes(2 * 1024 * 1024))
    function* forever(): Generator<TarEntry> {
      for (let i = 0; ; i++) {
        yield {
          path: `f${i}`,
          type: 'file',
          mode: 0o644,
          mtime: MTIME,
          size: 2 * 1024 * 1024,
          source: file
        }
      }
    }
    const controller = new AbortController()
    const stream = createTarStream(forever(), { signal: controller.signal })
    let received = 0
    const failure = new Promise<Error>(resolve => stream.on('error', resolve))
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received > 5 * 1024 * 1024) controller.abort(new Error('cancelled by the user'))
    })

    const error = await failure

    expect(error).toBeInstanceOf(AbortedError)
    expect((error.cause as Error).message).toBe('cancelled by the user')
    expect(stream.destroyed).toBe(true)
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(await openDescriptorsOf(file)).toBe(0)
  })

  it('fails at once without reading entries when the signal is already aborted', async () => {
    let pulled = 0
    function* entries(): Generator<TarEntry> {
      pulled++
      yield { path: 'a', type: 'file', mode: 0o644, mtime: MTIME, data: Buffer.from('a') }
    }
    const controller = new AbortController()
    controller.abort()

    await expect(
      collect(createTarStream(entries(), { signal: controller.signal }))
    ).rejects.toThrow(AbortedError)
    expect(pulled).toBe(0)
  })

  it('takes no entries from the source ahead of the one being streamed', async () => {
    const dir = await freshDir('read-ahead')
    const file = join(dir, 'big.bin')
    const size = 8 * 1024 * 1024
    await writeFile(file, randomBytes(size))
    let pulled = 0
    function* entries(): Generator<TarEntry> {
      pulled++
      yield { path: 'big.bin', type: 'file', mode: 0o644, mtime: MTIME, size, source: file }
      for (;;) {
        pulled++
        yield {
          path: `f${pulled}`,
          type: 'file',
          mode: 0o644,
          mtime: MTIME,
          data: Buffer.alloc(10)
        }
      }
    }
    const stream = createTarStream(entries())

    await new Promise(resolve => stream.once('readable', resolve))
    await new Promise(resolve => setTimeout(resolve, 50))
    const pulledWhileBigFileStreams = pulled
    stream.destroy()

    // The source iterable is not drained ahead of the consumer: while the big file streams,
    // the next entry has not even been asked for.
    expect(pulledWhileBigFileStreams).toBe(1)
  })

  it('does not read a file further than the consumer has asked for', async () => {
    const dir = await freshDir('backpressure')
    const file = join(dir, 'big.bin')
    const size = 8 * 1024 * 1024
    await writeFile(file, randomBytes(size))
    const entries: TarEntry[] = [
      { path: 'big.bin', type: 'file', mode: 0o644, mtime: MTIME, size, source: file }
    ]
    const stream = createTarStream(entries)

    await new Promise(resolve => stream.once('readable', resolve))
    await new Promise(resolve => setTimeout(resolve, 100))

    expect(stream.readableLength).toBeLessThan(1024 * 1024)
    const whole = await collect(stream)
    expect(whole.length).toBe(tarSize(entries))
  })

  it('streams 20,000 small files with bounded memory', async () => {
    const dir = await freshDir('many')
    const file = join(dir, 'small.bin')
    const content = randomBytes(4096)
    await writeFile(file, content)
    const count = 20_000
    function* entries(): Generator<TarEntry> {
      yield { path: 'many', type: 'dir', mode: 0o755, mtime: MTIME }
      for (let i = 0; i < count; i++) {
        yield {
          path: `many/file-${i}.bin`,
          type: 'file',
          mode: 0o644,
          mtime: MTIME,
          size: 4096,
          source: file
        }
      }
    }
    const gc = (globalThis as { gc?: () => void }).gc
    const used = () => {
      gc?.()
      const usage = process.memoryUsage()
      return usage.heapUsed + usage.arrayBuffers
    }
    const baseline = used()
    let peak = baseline
    let files = 0
    const stream = createTarStream(entries(), {
      onEntry: progress => {
        files = progress.files
        if (progress.files % 1000 === 0) peak = Math.max(peak, used())
      }
    })
    let bytes = 0
    let chunks = 0
    // A consumer slower than the producer, as an ssh channel is: without backpressure the
    // archive would pile up in memory (it is about 100 MB).
    const counter = new Writable({
      write(chunk: Buffer, _encoding, done) {
        bytes += chunk.length
        if (++chunks % 32 === 0) setTimeout(done, 1)
        else done()
      }
    })

    await pipeline(stream, counter)

    expect(files).toBe(count + 1)
    expect(bytes).toBe(tarSize(entries()))
    expect(bytes).toBeGreaterThan(count * 4096)
    expect(peak - baseline).toBeLessThan(50 * 1024 * 1024)
  })

  it('is read by GNU tar as 20,000 listed entries', async () => {
    const dir = await freshDir('listing')
    const file = join(dir, 'one.txt')
    await writeFile(file, 'x')
    const count = 20_000
    function* entries(): Generator<TarEntry> {
      for (let i = 0; i < count; i++) {
        yield { path: `f-${i}`, type: 'file', mode: 0o644, mtime: MTIME, size: 1, source: file }
      }
    }

    const { code, stdout } = await list(tools[0], createTarStream(entries()))

    expect(code).toBe(0)
    expect(stdout.trim().split('\n')).toHaveLength(count)
  })
})

/** How many descriptors this process holds open on the file (Linux /proc). */
async function openDescriptorsOf(file: string): Promise<number> {
  let count = 0
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '')
    if (target === file) count++
  }
  return count
}
