/**
 * The server is untrusted input on an SFTP-only account too (`ForceCommand internal-sftp` in a
 * `ChrootDirectory`, as test/deploy/sftp-only.test.ts runs it): the hostile and damaged states
 * of test/deploy/untrusted-server.test.ts that apply to an account without a shell, planted on
 * a real sshd, each run the way the runner does, and the same three checks:
 *
 * - nothing outside `path` changed: a checksum listing of a sentinel tree (the account's login
 *   directory without the deploy directory, every file of it the deploy user's) is the same
 *   before and after;
 * - the live release still serves;
 * - the step either fails with a clear message naming the bad record, or succeeds without
 *   acting on it.
 */
import {
  appendFile,
  chmod,
  lstat,
  mkdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile
} from 'node:fs/promises'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { abortOverSftp, finishOverSftp } from '../../src/server/sftp-finish.ts'
import { parseKnownHosts } from '../../src/ssh/known-hosts.ts'
import { connectSsh } from '../../src/ssh/ssh-remote-host.ts'
import { runAction, type ActionResult } from '../support/action.ts'
import { expectServes, failure, meta, releasePath, warnings } from '../support/outcome.ts'
import { run } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  writeTree,
  type Fixture,
  type FixtureOptions,
  type TreeSpec
} from '../support/fixture.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { createUser, removeUser } from '../support/users.ts'

let sshd: Sshd
/** The other local account, where an attack needs one. */
let other: TestUser
const fixtures: Fixture[] = []

beforeAll(async () => {
  sshd = await startSshd()
  other = await createUser(sshd)
})
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  if (other) await removeUser(other)
  await sshd?.stop()
})

const V1: TreeSpec = {
  'index.html': 'release one\n',
  'assets/app.css': 'body { color: red }\n',
  'assets/logo.svg': '<svg/>\n',
  'config/app.php': '<?php return [];\n'
}

/** The account's login directory, as seen from here (outside the chroot). */
const home = (f: Fixture): string => path.dirname(f.deployDir)

async function fixture(options: FixtureOptions = { kind: 'sftp-only' }): Promise<Fixture> {
  const f = await createFixture({ sshd, ...options })
  fixtures.push(f)
  return f
}

/** A deployed first release 'one', and a sentinel tree beside the deploy directory. */
async function deployed(extra: Record<string, string> = {}): Promise<Fixture> {
  const f = await fixture()
  await writeTree(f.source, V1)
  await writeTree(home(f), {
    'outside/secret.txt': 'not part of any release\n',
    'outside/app.css': 'outside css\n',
    'other-app/.env': 'DB_PASSWORD=other\n'
  })
  await own(f, home(f))
  const first = await runAction(f.inputs({ 'release-id': 'one', ...extra }))
  expect(first.code, first.log).toBe(0)
  return f
}

/** chown -R to the deploy user (the test plants as root). */
async function own(f: Fixture, p: string): Promise<void> {
  await run('chown', ['-R', '-h', `${f.user.name}:`, p])
}

/** The checksum listing of everything in the login directory outside the deploy directory. */
function sentinel(f: Fixture): Promise<string[]> {
  return describeTree(home(f), { skip: rel => rel === f.path })
}

/** Deploy as release 'two', checking the sentinel around it. */
async function deployTwo(
  f: Fixture,
  extra: Record<string, string> = {},
  spec: TreeSpec = { 'index.html': 'release two\n' }
): Promise<ActionResult> {
  await writeTree(f.source, spec)
  const before = await sentinel(f)
  const result = await runAction(f.inputs({ 'release-id': 'two', ...extra }))
  expect(await sentinel(f), result.log).toEqual(before)
  return result
}

describe('records in .atomic-deploy/ that lie, read over SFTP', () => {
  it('a link list line that leaves the release: not used, the release uploaded whole', async () => {
    const f = await deployed()
    await writeFile(meta(f, 'manifests/one.links'), '../../../other-app/.env\n')
    const result = await deployTwo(f)
    expect(result.code, result.log).toBe(0)
    expect(warnings(result)).toMatch(
      /manifests\/one\.links line 1 .*is not a path inside the release: it has a '\.\.' segment.*uploads everything/
    )
    await expectServes(f, 'two', 'release two\n')
  })

  it('a release log line that is not ours: refused, naming the file, the line and the fix; the lock released', async () => {
    const f = await deployed()
    await appendFile(meta(f, 'log'), `prune\t../../outside\t2026-11-22T10:15:00Z\n`)
    const result = await deployTwo(f)
    expect(failure(result)).toMatch(
      /\.atomic-deploy\/log line \d+ names "\.\.\/\.\.\/outside", which is not a release id: .*Remove or correct that line/
    )
    await expectServes(f, 'one', 'release one\n')
    expect(await exists(meta(f, 'lock'))).toBe(false)
  })

  it('a release log far past its limit: refused without reading it', async () => {
    const f = await deployed()
    // 400 MB, sparse: sending it whole would cost the runner gigabytes.
    await truncate(meta(f, 'log'), 400 * 1024 * 1024)
    const started = Date.now()
    const refused = await deployTwo(f)
    expect(failure(refused)).toMatch(
      /\.atomic-deploy\/log is 419\.4 MB, over the limit of 1\.05 MB/
    )
    expect(Date.now() - started).toBeLessThan(10_000)
    await expectServes(f, 'one', 'release one\n')
  })

  // The view this version keeps of each manifest, and the manifest an older version wrote (read
  // only where there is no digest and view), as the shell path reads them.
  it.each([
    [
      'its view',
      'one.view.gz',
      /one\.view\.gz is not a valid manifest view \(it unpacks to more than/
    ],
    [
      "an older version's manifest",
      'one.json.gz',
      /one\.json\.gz is not a valid manifest \(it unpacks to more than/
    ]
  ])(
    'a gzip bomb as the live manifest (%s): not used, the release uploaded whole',
    async (_what, name, warning) => {
      const f = await deployed()
      if (name === 'one.json.gz')
        for (const kind of ['m2', 'digest', 'view.gz'])
          await rm(meta(f, `manifests/one.${kind}`), { force: true })
      const member = gzipSync(Buffer.alloc(1024 * 1024, 0x20), { level: 9 })
      await writeFile(
        meta(f, `manifests/${name}`),
        Buffer.concat(Array.from({ length: 1024 }, () => member))
      )
      await own(f, f.deployDir)
      const result = await deployTwo(f)
      expect(result.code, result.log).toBe(0)
      expect(warnings(result)).toMatch(warning)
      await expectServes(f, 'two', 'release two\n')
    }
  )

  it('records that are symlinks are not read through: a digest or view linked to a file outside is no manifest', async () => {
    for (const record of ['one.view.gz', 'one.digest']) {
      const f = await deployed()
      const file = meta(f, `manifests/${record}`)
      // The record itself, moved outside the deploy directory: followed, it would do.
      await rename(file, path.join(home(f), 'outside', record))
      await symlink(`../../../outside/${record}`, file)
      await own(f, f.deployDir)
      const result = await deployTwo(f)
      expect(result.code, result.log).toBe(0)
      expect(result.log).toMatch(/full upload: the live release one has no manifest/)
      await expectServes(f, 'two', 'release two\n')
    }
  })

  it('a planted seed record for the next release id: the failed deploy removes nothing it did not seed', async () => {
    const f = await deployed()
    // shared/storage holds the users' data, and the planted record claims this run seeded it.
    await writeTree(f.deployDir, {
      'shared/storage/uploads/photo.jpg': 'users data',
      'shared/.env': 'DB_PASSWORD=x\n'
    })
    await writeFile(
      meta(f, 'seeded.two'),
      'seeded ../../outside\ncreated ../other-app\nseeded storage\nseeded .env\n'
    )
    await own(f, f.deployDir)
    // .env is both in shared/ and in the source: the deploy fails after the release was made.
    const result = await deployTwo(
      f,
      { 'shared-paths': 'storage/\n.env' },
      { 'index.html': 'release two\n', '.env': 'from the source\n' }
    )
    expect(failure(result)).toMatch(/\.env is both in shared\/ and in the release/)
    await expectServes(f, 'one', 'release one\n')
    expect(await readFile(path.join(f.deployDir, 'shared/storage/uploads/photo.jpg'), 'utf8')).toBe(
      'users data'
    )
    expect(await readFile(path.join(f.deployDir, 'shared/.env'), 'utf8')).toBe('DB_PASSWORD=x\n')
    expect(await exists(meta(f, 'seeded.two'))).toBe(false)
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one'])
  })
})

describe('current, the path, and the layout, read over SFTP', () => {
  it('current pointing at a shell payload: refused, and no output or summary carries it', async () => {
    const f = await deployed()
    const payload = 'releases/x"; touch pwned; echo "<img src=x onerror=alert(1)>'
    await rm(path.join(f.deployDir, 'current'))
    await symlink(payload, path.join(f.deployDir, 'current'))
    await own(f, f.deployDir)
    const result = await deployTwo(f)
    expect(failure(result)).toMatch(
      /current points to .*which is not a release of this deploy directory/
    )
    for (const name of ['release-id', 'release-path', 'previous-release-id'])
      expect(result.outputs[name]).toBe('')
    expect(result.summary).not.toContain('<img')
    expect(result.summary).toContain('&lt;img src=x')
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe(payload)
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one'])
    // mode: unlock reports the live release only when it is one: not this.
    const unlocked = await runAction(f.inputs({ mode: 'unlock' }))
    expect(unlocked.code, unlocked.log).toBe(0)
    expect(unlocked.outputs['release-id']).toBe('')
    expect(warnings(unlocked)).toMatch(/which is not a release of this deploy directory/)
  })

  it('a deploy path that resolves through a name with a newline: refused, nothing written', async () => {
    const f = await fixture()
    await writeTree(f.source, V1)
    await mkdir(path.join(home(f), 'real\nnext'))
    await symlink('real\nnext', path.join(home(f), 'next'))
    await own(f, home(f))
    const before = await describeTree(home(f))
    const result = await runAction(f.inputs({ path: 'next', 'release-id': 'two' }))
    expect(failure(result)).toMatch(/resolves to a name that contains a newline/)
    expect(await describeTree(home(f))).toEqual(before)
  })

  it.each(['releases', 'shared', '.atomic-deploy', 'cache'])(
    '%s as a symlink to elsewhere: refused before anything is written, naming it',
    async entry => {
      const f = await deployed()
      const target = path.join(home(f), 'outside', 'moved')
      if (await exists(path.join(f.deployDir, entry)))
        await rename(path.join(f.deployDir, entry), target)
      else await mkdir(target)
      await symlink('../outside/moved', path.join(f.deployDir, entry))
      await own(f, home(f))
      const before = await describeTree(home(f))
      const result = await runAction(f.inputs({ 'release-id': 'two', reuse: 'cache' }))
      expect(failure(result)).toMatch(
        new RegExp(`${entry.replace('.', '\\.')} is a symlink \\(to \\.\\./outside/moved\\)`)
      )
      // Nothing at all was written: not in the deploy directory, not where the link points.
      expect(await describeTree(home(f))).toEqual(before)
    }
  )

  it('a layout directory owned by another account, or one every user may write to: refused before anything is written', async () => {
    const f = await deployed()
    await run('chown', [`${other.name}:`, path.join(f.deployDir, 'shared')])
    const before = await describeTree(home(f))
    const owned = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(failure(owned)).toMatch(
      /shared is owned by user id \d+, not by adtsf\w+ \(user id \d+\)/
    )
    expect(await describeTree(home(f))).toEqual(before)
    await own(f, f.deployDir)
    await chmod(meta(f, 'manifests'), 0o777)
    const open = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(failure(open)).toMatch(
      /\.atomic-deploy\/manifests is writable by every user \(mode 777\)/
    )
    await chmod(meta(f, 'manifests'), 0o700)
    await chmod(f.deployDir, 0o777)
    const dir = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(failure(dir)).toMatch(/app is writable by every user, so anybody could swap its entries/)
    await expectServes(f, 'one', 'release one\n')
    expect(await exists(meta(f, 'lock'))).toBe(false)
  })

  it('a directory of the live release replaced by a symlink: nothing is read or written through it', async () => {
    const f = await deployed()
    await rm(path.join(releasePath(f, 'one'), 'assets'), { recursive: true })
    await symlink('../../../outside', path.join(releasePath(f, 'one'), 'assets'))
    await own(f, f.deployDir)
    const spec = { ...V1, 'index.html': 'release two\n' }
    // Without the drift check, the copy of assets/ would read the outside files: refused.
    const ignored = await deployTwo(f, { 'on-drift': 'ignore' }, spec)
    expect(failure(ignored)).toMatch(
      /assets is a symlink in release one, where the manifest has a directory; nothing was read or written through it/
    )
    await expectServes(f, 'one', 'release one\n')
    // With it, the change is named and those paths are sent again: the release is the source.
    const warned = await deployTwo(f, {}, spec)
    expect(warned.code, warned.log).toBe(0)
    expect(warnings(warned)).toMatch(/release one was changed on the server since it was deployed/)
    expect(await describeTree(releasePath(f, 'two'))).toEqual(await describeTree(f.source))
  })

  it('a world-writable directory in the live release is not carried into the next; every directory of a release has its mode', async () => {
    const f = await deployed()
    await chmod(path.join(releasePath(f, 'one'), 'assets'), 0o777)
    const result = await deployTwo(f, {}, { ...V1, 'index.html': 'release two\n' })
    expect(result.code, result.log).toBe(0)
    const mode = (await stat(releasePath(f, 'two'))).mode & 0o777
    expect(mode & 0o002).toBe(0)
    for (const dir of ['assets', 'config'])
      expect((await stat(path.join(releasePath(f, 'two'), dir))).mode & 0o777).toBe(mode)
  })
})

describe('what an SFTP-only run creates, under an sftp-server umask of 000', () => {
  it('leaves nothing world-writable, and the metadata private', async () => {
    const loose = await startSshd({ extraConfig: ['Subsystem sftp internal-sftp -u 0000'] })
    const f = await createFixture({ sshd: loose })
    try {
      await writeTree(f.source, { ...V1, 'shared-seed/x': 'x' })
      const result = await runAction(
        f.inputs({ shell: 'none', 'shared-paths': 'storage/\nshared-seed' })
      )
      expect(result.code, result.log).toBe(0)
      const found: string[] = []
      const walk = async (dir: string): Promise<void> => {
        for (const name of await list(dir)) {
          const full = path.join(dir, name)
          const st = await lstat(full)
          if (st.isSymbolicLink()) continue
          if (st.mode & 0o002) found.push(`world-writable ${full}`)
          if (full.startsWith(path.join(f.deployDir, '.atomic-deploy')) && st.mode & 0o077)
            found.push(`not private ${full} ${(st.mode & 0o777).toString(8)}`)
          if (st.isDirectory()) await walk(full)
        }
      }
      await walk(f.deployDir)
      expect(found).toEqual([])
      expect((await stat(path.join(f.deployDir, '.atomic-deploy'))).mode & 0o777).toBe(0o700)
    } finally {
      await f.cleanup()
      await loose.stop()
    }
  })
})

describe('text from an SFTP-only server in the log and the summary', () => {
  it('cannot issue workflow commands', async () => {
    const f = await deployed()
    // Files added on the server are named by the drift check.
    for (const name of ['a\r::error::planted', '::add-mask::planted', 'x ##[error]planted'])
      await writeFile(path.join(releasePath(f, 'one'), name), 'x')
    await own(f, f.deployDir)
    const result = await deployTwo(f)
    expect(result.code, result.log).toBe(0)
    // As the runner reads it: lines end at \n or \r; a line is a command when it starts with ::
    // after white space (and then only that command), or, failing that, holds ##[ anywhere. The
    // names reach the log inside our own ::warning:: line, escaped.
    const lines = result.log.split(/\r\n|\r|\n/)
    const commands = lines.filter(
      l => /^\s*::(error|add-mask)::/.test(l) || (l.includes('##[') && !/^::warning::/.test(l))
    )
    expect(commands).toEqual([])
    expect(warnings(result)).toMatch(/added ::add-mask::planted, x ##\[error\]planted/)
  })
})

describe('the SFTP guards, told by the runner itself to remove the live release', () => {
  it('a prune and a cleanup of the live release are refused over a real connection', async () => {
    const f = await deployed()
    const second = await deployTwo(f)
    expect(second.code, second.log).toBe(0)
    const before = await sentinel(f)
    await mkdir(meta(f, 'lock'))
    await writeFile(meta(f, 'lock/owner'), '{"token":"tok-test"}\n')
    await own(f, f.deployDir)
    const host = await connectSsh({
      server: { user: f.user.name, host: '127.0.0.1', port: sshd.port, label: f.user.name },
      hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(sshd.knownHosts) },
      privateKey: f.user.privateKey,
      timeoutSeconds: 20,
      exec: false
    })
    const said: string[] = []
    const log = {
      info: () => undefined,
      debug: () => undefined,
      warning: (w: string) => void said.push(w)
    }
    try {
      const files = await host.files()
      const deployDir = `/home/${f.user.name}/${f.path}`
      const done = await finishOverSftp({
        files,
        log,
        deployDir,
        events: [],
        prune: ['two', 'one'],
        forget: [],
        lockToken: 'tok-test',
        seedRecords: [],
        protectedReleases: ['one']
      })
      expect(done.pruned).toEqual([])
      const aborted = await abortOverSftp({
        files,
        log,
        deployDir,
        releaseId: 'two',
        protectedReleases: []
      })
      expect(aborted.aborted).toBe(false)
    } finally {
      host.close()
    }
    expect(said.sort()).toEqual([
      expect.stringMatching(
        /^not pruned: release one: .*releases\/one is release one, which is kept$/
      ),
      expect.stringMatching(/^not pruned: release two: .*releases\/two is what current points to$/),
      expect.stringMatching(
        /^release two was not removed: .*releases\/two is what current points to$/
      )
    ])
    await expectServes(f, 'two', 'release two\n')
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one', 'two'])
    expect(await sentinel(f)).toEqual(before)
  })
})
