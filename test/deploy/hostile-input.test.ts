/**
 * Hostile input end to end: shell metacharacters, quotes, newlines, leading dashes and unicode in
 * every place a user value reaches (file names, shared/ entries, `path`, `release-id`,
 * `rollback-to`, `shared-paths`, `exclude`, `servers`), each carrying a canary command that must
 * never run. A value is either refused with one line that names the input, or taken literally.
 * And a table with a bad value for every input of action.yml.
 */
import { readdir, readFile, readlink, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { runAction, token, type ActionResult } from '../support/action.ts'
import { run } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  writeTree,
  type Fixture,
  type TreeSpec
} from '../support/fixture.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'

let sshd: Sshd
const fixtures: Fixture[] = []
/** Canary files of the current test: a command injection would create one. */
let canaries: string[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const c of canaries) await rm(c, { force: true })
  canaries = []
  for (const f of fixtures.splice(0)) await f.cleanup()
  // A refusal writes nothing; if one did, the next case starts clean all the same.
  if (refusals) await rm(refusals.deployDir, { recursive: true, force: true })
})
afterAll(async () => {
  await refusals?.cleanup()
  await sshd?.stop()
})

/**
 * One reachable account for the cases that must be refused before connecting: a value that
 * were not refused would deploy to it.
 */
let refusals: Fixture | undefined
async function refusalTarget(): Promise<Fixture> {
  if (!refusals) {
    refusals = await createFixture({ sshd })
    await writeTree(refusals.source, { 'index.php': 'x' })
  }
  return refusals
}

async function fixture(spec: TreeSpec = { 'index.php': '<?php echo 1;' }): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  await writeTree(f.source, spec)
  return f
}

/** A fresh absolute path that only an injected `touch` would create. */
function canary(): string {
  const c = `/tmp/adt-canary-${token()}`
  canaries.push(c)
  return c
}

/** Commands that, if a value were spliced into a shell line unquoted, would create `c`. */
function payloads(c: string): string[] {
  return [
    `$(touch ${c}.1)`,
    `\`touch ${c}.2\``,
    `x; touch ${c}.3`,
    `x'; touch ${c}.4; echo '`,
    `x"; touch ${c}.5; echo "`,
    `x && touch ${c}.6 #`,
    `x | touch ${c}.7`,
    `-rf $(touch ${c}.8)`
  ]
}

async function expectNoCanary(): Promise<void> {
  const found: string[] = []
  for (const c of canaries) {
    for (const suffix of ['', '.1', '.2', '.3', '.4', '.5', '.6', '.7', '.8']) {
      if (await exists(c + suffix)) found.push(c + suffix)
    }
  }
  expect(found).toEqual([])
}

/** Paths under `root` whose last segment is exactly `name`. */
async function named(root: string, name: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name === name) found.push(path.join(dir, entry.name))
      if (entry.isDirectory()) await walk(path.join(dir, entry.name))
    }
  }
  await walk(root)
  return found
}

async function deploy(f: Fixture, extra: Record<string, string> = {}): Promise<ActionResult> {
  const result = await runAction(f.inputs(extra))
  expect(result.code, result.log).toBe(0)
  return result
}

const errorLines = (log: string): string[] => log.split('\n').filter(l => l.startsWith('::error::'))

/** One `::error::` line that names `input`, on one line, no stack trace, exit code 1. */
function expectOneLineRefusal(result: ActionResult, input: string): void {
  expect(result.code, result.log).toBe(1)
  const errors = errorLines(result.log)
  expect(errors, result.log).toHaveLength(1)
  // The input's own name, not a longer one that contains it ('path' in 'shared-paths').
  const name = input.replace(/[-]/g, '\\-')
  expect(errors[0]).toMatch(new RegExp(`(?<![\\w-])${name}(?![\\w-])`))
  // @actions/core escapes a newline in the message as %0A: a one-line refusal has none.
  expect(errors[0]).not.toContain('%0A')
  expect(result.log).not.toMatch(/^\s+at /m)
}

describe('hostile names on the server side', () => {
  it.each(['tar', 'sftp'])(
    'are taken literally in files, symlink targets and shared/ entries over %s',
    async transfer => {
      const c = canary()
      // Names without a slash carry relative canaries: run, they would create `rel`.
      const rel = `adt-canary-${token()}`
      const f = await fixture({
        'index.php': 'index',
        [`it's "q" $(touch ${c}.1) \`touch ${c}.2\`; x.txt`]: 'quotes',
        [`new\nline $(touch ${rel}).txt`]: 'newline',
        '-rf': 'dash',
        '--version': 'double dash',
        '日本語 ü 🚀.txt': 'unicode',
        [`link $(touch ${c}.3)`]: { symlink: `$(touch ${c}.4) 'q' \`x\`` }
      })
      // Entries of shared/ with the same kind of names are linked automatically.
      const sharedNames = [
        `cfg $(touch ${rel}) 'q'`,
        `line\nbreak; touch ${rel}`,
        '-x',
        `ü \`touch ${rel}\``
      ]
      await writeTree(
        f.deployDir,
        Object.fromEntries(sharedNames.map(n => [`shared/${n}`, `shared ${n}`]))
      )
      await run('chown', ['-R', `${f.user.name}:`, f.deployDir])

      await deploy(f, { transfer })
      const current = path.join(f.deployDir, 'current')
      const isShared = (p: string): boolean => sharedNames.includes(p)
      expect(await describeTree(current, { skip: isShared })).toEqual(await describeTree(f.source))
      for (const name of sharedNames) {
        expect(await readlink(path.join(current, name))).toBe(`../../shared/${name}`)
        expect(await readFile(path.join(current, name), 'utf8')).toBe(`shared ${name}`)
      }
      expect(await named(f.user.home, rel)).toEqual([])
      await expectNoCanary()
    }
  )
})

describe('a hostile path', () => {
  /** Each value is a directory name relative to the login directory, taken literally. */
  const PATHS: [string, (c: string) => string][] = [
    ['spaces and quotes', () => `it's "my" app`],
    ['command substitutions', c => `app $(touch ${c}.1) \`touch ${c}.2\``],
    ['a quote breaking out', c => `x'; touch ${c}.4; echo '`],
    ['a leading dash and a semicolon', c => `-rf; touch ${c}.3 #`],
    ['unicode', () => '日本語 ü/🚀 app'],
    ['backslashes', () => 'back\\slash\\n \\\\ app']
  ]

  it.each(PATHS)(
    'with %s deploys, rolls back and unlocks in exactly that directory',
    async (_, value) => {
      const f = await fixture()
      const c = canary()
      const p = value(c)
      const dir = path.join(f.user.home, p)
      const before = await list(f.user.home)

      const first = await deploy(f, { path: p, 'release-id': 'r1' })
      expect(first.outputs['release-path']).toBe(path.join(dir, 'releases/r1'))
      await writeTree(f.source, { 'index.php': 'v2' })
      await deploy(f, { path: p, 'release-id': 'r2', 'keep-releases': '1' })
      expect(await describeTree(path.join(dir, 'current'))).toEqual(await describeTree(f.source))
      const back = await deploy(f, { path: p, mode: 'rollback' })
      expect(back.outputs['release-id']).toBe('r1')
      expect(await readlink(path.join(dir, 'current'))).toBe('releases/r1')
      await deploy(f, { path: p, mode: 'unlock' })

      expect(await list(dir)).toEqual(['.atomic-deploy', 'current', 'releases', 'shared'])
      // Nothing else appeared in the login directory but the first segment of the path.
      const top = p.split('/')[0]!
      expect(await list(f.user.home)).toEqual([...before, top].sort())
      await expectNoCanary()
    }
  )

  it('given as an absolute path with quotes and $() deploys into exactly that directory', async () => {
    const f = await fixture()
    const c = canary()
    const p = `${f.user.home}/abs 'q' $(touch ${c}.1) "d"`
    await deploy(f, { path: p })
    expect(await describeTree(path.join(p, 'current'))).toEqual(await describeTree(f.source))
    await expectNoCanary()
  })
})

describe('a hostile release-id', () => {
  it('that is a single segment of the allowed characters is used literally, leading dashes too', async () => {
    const f = await fixture()
    for (const id of ['-rf', '--help', '-']) {
      const result = await deploy(f, { 'release-id': id })
      expect(result.outputs['release-id']).toBe(id)
      expect(await readlink(path.join(f.deployDir, 'current'))).toBe(`releases/${id}`)
    }
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['-', '--help', '-rf'])
    const back = await deploy(f, { mode: 'rollback', 'rollback-to': '-rf' })
    expect(back.outputs['release-id']).toBe('-rf')
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/-rf')
  })
})

describe('a hostile shared-paths entry', () => {
  it('is linked literally, on the first deploy and the next', async () => {
    const f = await fixture()
    const c = canary()
    // A directory entry (created) and a file entry prepared in shared/.
    const dirEntry = `$(touch ${c}.1) \`touch ${c}.2\`; 'q' "d"`
    const fileEntry = `it's $(touch ${c}.3).env`
    await writeTree(f.deployDir, { [`shared/${fileEntry}`]: 'env' })
    await run('chown', ['-R', `${f.user.name}:`, f.deployDir])
    const sharedPaths = `${dirEntry}/\n${fileEntry}`

    await deploy(f, { 'shared-paths': sharedPaths, 'release-id': 'r1' })
    const check = async (id: string): Promise<void> => {
      const release = path.join(f.deployDir, 'releases', id)
      for (const entry of [dirEntry, fileEntry]) {
        const link = path.join(release, entry)
        const target = await readlink(link)
        expect(path.isAbsolute(target)).toBe(false)
        expect(await realpath(link)).toBe(await realpath(path.join(f.deployDir, 'shared', entry)))
      }
      expect(await readFile(path.join(release, fileEntry), 'utf8')).toBe('env')
    }
    await check('r1')
    await expectNoCanary()

    await deploy(f, { 'shared-paths': sharedPaths, 'release-id': 'r2' })
    await check('r2')
    await expectNoCanary()
  })
})

describe('a nested shared-paths entry', () => {
  it('whose parent the source lacks is linked again on the next deploy', async () => {
    const f = await fixture()
    await deploy(f, { 'shared-paths': 'logs/app/', 'release-id': 'r1' })
    expect(await readlink(path.join(f.deployDir, 'releases/r1/logs/app'))).toBe(
      '../../../shared/logs/app'
    )
    await deploy(f, { 'shared-paths': 'logs/app/', 'release-id': 'r2' })
    expect(await readlink(path.join(f.deployDir, 'releases/r2/logs/app'))).toBe(
      '../../../shared/logs/app'
    )
  })
})

describe('a hostile exclude pattern', () => {
  it('matches names literally and runs nothing', async () => {
    const c = canary()
    const excluded = [
      `$(touch ${c}.1)`,
      `\`touch ${c}.2\``,
      `x'; touch ${c}.4; echo '`,
      '-rf',
      `it's "q".txt`
    ]
    const f = await fixture({
      'keep.txt': 'keep',
      'it\'s "q".txt.keep': 'keep',
      'sub/-rf': 'excluded at any depth',
      ...Object.fromEntries(excluded.map(e => [e, 'excluded']))
    })
    await deploy(f, { exclude: excluded.join('\n') })
    const isExcluded = (rel: string): boolean =>
      excluded.includes(rel) || rel === 'sub/-rf' || rel.endsWith('/-rf')
    const expected = await describeTree(f.source, { skip: isExcluded })
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(expected)
    expect(expected.some(l => l.includes('keep.txt'))).toBe(true)
    expect(expected.some(l => l.includes('-rf'))).toBe(false)
    await expectNoCanary()
  })
})

describe('hostile values that are refused', () => {
  const REFUSED: [string, (c: string, f: Fixture) => Record<string, string>][] = [
    ...payloads('C').map(
      (_, i) =>
        ['release-id', (c: string) => ({ 'release-id': payloads(c)[i]! })] as [
          string,
          (c: string) => Record<string, string>
        ]
    ),
    ['release-id', () => ({ 'release-id': '../x' })],
    ['release-id', () => ({ 'release-id': '.hidden' })],
    ['release-id', c => ({ 'release-id': `a\n$(touch ${c})` })],
    ['release-id', () => ({ 'release-id': 'ü' })],
    ['rollback-to', c => ({ mode: 'rollback', 'rollback-to': `$(touch ${c})` })],
    ['rollback-to', c => ({ mode: 'rollback', 'rollback-to': `x'; touch ${c}; '` })],
    ['path', c => ({ path: `app\n$(touch ${c})` })],
    ['path', c => ({ path: `app\r; touch ${c}` })],
    ['path', c => ({ path: `/etc/$(touch ${c})` })],
    ['path', c => ({ path: `~/$(touch ${c})` })],
    ['shared-paths', c => ({ 'shared-paths': `../$(touch ${c})/` })],
    ['shared-paths', c => ({ 'shared-paths': `/$(touch ${c})` })],
    ['shared-paths', c => ({ 'shared-paths': `a/../$(touch ${c})` })],
    ['shared-paths', c => ({ 'shared-paths': `a\t$(touch ${c})` })],
    ['servers', (c, f) => ({ servers: `${f.user.name}@$(touch ${c})` })],
    ['servers', (c, f) => ({ servers: `${f.user.name}@127.0.0.1;touch${c}` })],
    ['servers', (c, f) => ({ servers: `${f.user.name}@\`touch ${c}\`:${sshd.port}` })],
    ['servers', c => ({ servers: `-oProxyCommand=touch${c}@127.0.0.1:${sshd.port}` })],
    ['username', c => ({ servers: `127.0.0.1:${sshd.port}`, username: `$(touch ${c})` })],
    ['port', c => ({ servers: '127.0.0.1', username: 'x', port: `22;touch ${c}` })],
    ['source', c => ({ source: `$(touch ${c})` })]
  ]

  it.each(REFUSED.map(([input, make], i) => [input, i, make] as const))(
    '%s (case %i) with a canary is refused in one line and runs nothing',
    async (input, _, make) => {
      const target = await refusalTarget()
      const c = canary()
      const result = await runAction(target.inputs(make(c, target)))
      expectOneLineRefusal(result, input)
      expect(await exists(target.deployDir)).toBe(false)
      await expectNoCanary()
    }
  )
})

describe('a bad value for every input', () => {
  const ACTION_YML = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../action.yml')

  type Row =
    | { bad: (f: Fixture) => Record<string, string> }
    /** No value of this input is ever refused: why. */
    | { anyValue: string }

  const ROWS: Record<string, Row> = {
    servers: { bad: () => ({ servers: 'deploy@bad_host!' }) },
    username: {
      bad: () => ({ servers: `127.0.0.1:${sshd.port}`, username: '-oProxyCommand=x' })
    },
    port: { bad: () => ({ servers: 'x@127.0.0.1', port: '70000' }) },
    'private-key': { bad: f => ({ 'private-key': f.user.publicKey }) },
    passphrase: { bad: () => ({ 'private-key': '', password: 'pw', passphrase: 'secret' }) },
    password: { anyValue: 'any text is a possible password' },
    'known-hosts': { bad: () => ({ 'known-hosts': 'this is not a known_hosts line' }) },
    'host-fingerprint': {
      bad: () => ({
        'known-hosts': '',
        'host-fingerprint': 'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48'
      })
    },
    'insecure-ignore-host-key': { bad: () => ({ 'insecure-ignore-host-key': 'yes' }) },
    'jump-host': { bad: () => ({ 'jump-host': 'jump@$(id)' }) },
    'jump-private-key': {
      bad: f => ({ 'jump-host': `x@127.0.0.1:${sshd.port}`, 'jump-private-key': f.user.publicKey })
    },
    'jump-passphrase': { bad: () => ({ 'jump-host': 'x@127.0.0.1', 'jump-passphrase': 'secret' }) },
    'jump-password': { bad: () => ({ 'jump-password': 'secret' }) },
    path: { bad: () => ({ path: '/' }) },
    source: { bad: () => ({ source: 'no/such/directory' }) },
    exclude: { anyValue: 'any line is a glob; an exclude that matches everything deploys nothing' },
    'release-id': { bad: () => ({ 'release-id': '..' }) },
    'keep-releases': { bad: () => ({ 'keep-releases': '0' }) },
    'before-switch': { anyValue: 'a shell script' },
    'after-switch': { anyValue: 'a shell script' },
    'after-rollback': { anyValue: 'a shell script' },
    mode: { bad: () => ({ mode: 'redeploy' }) },
    'rollback-to': { bad: () => ({ 'rollback-to': 'r1' }) },
    'dry-run': { bad: () => ({ 'dry-run': 'maybe' }) },
    reuse: { bad: () => ({ reuse: 'all' }) },
    'copy-method': { bad: () => ({ 'copy-method': 'rsync' }) },
    compression: { bad: () => ({ compression: 'zstd' }) },
    transfer: { bad: () => ({ transfer: 'scp' }) },
    verify: { bad: () => ({ verify: 'none' }) },
    'shared-paths': { bad: () => ({ 'shared-paths': '../etc/' }) },
    'shared-conflict': { bad: () => ({ 'shared-conflict': 'ignore' }) },
    'rollback-on-failure': { bad: () => ({ 'rollback-on-failure': 'yes' }) },
    'health-check-url': { bad: () => ({ 'health-check-url': 'ftp://example.com/health' }) },
    'health-check-timeout': { bad: () => ({ 'health-check-timeout': '0' }) },
    'health-check-expect': { bad: () => ({ 'health-check-expect': 'ok' }) },
    'on-drift': { bad: () => ({ 'on-drift': 'error' }) },
    strategy: { bad: () => ({ strategy: 'random' }) },
    'max-parallel': { bad: () => ({ 'max-parallel': '0' }) },
    'connect-timeout': { bad: () => ({ 'connect-timeout': '0' }) },
    shell: { bad: () => ({ shell: 'bash' }) },
    'command-timeout': { bad: () => ({ 'command-timeout': '1' }) }
  }

  it('covers every input of action.yml', async () => {
    const action = parse(await readFile(ACTION_YML, 'utf8')) as { inputs: Record<string, unknown> }
    const inputs = Object.keys(action.inputs).sort()
    expect(inputs.length).toBeGreaterThan(20)
    expect(Object.keys(ROWS).sort()).toEqual(inputs)
  })

  const refusable = Object.entries(ROWS).flatMap(([input, row]) =>
    'bad' in row ? [[input, row.bad] as const] : []
  )

  it.each(refusable)(
    '%s: one error line naming it, exit code 1, nothing written',
    async (input, bad) => {
      const target = await refusalTarget()
      const result = await runAction(target.inputs(bad(target)))
      expectOneLineRefusal(result, input)
      expect(await exists(target.deployDir)).toBe(false)
    }
  )
})
