/**
 * The server is untrusted input. Each test plants one hostile or damaged state on a real sshd's
 * account (as another local user could, or as an operator's mistake leaves it), runs the action
 * the way the runner does, and checks three things:
 *
 * - nothing outside `path` changed: a checksum listing of a sentinel tree (the deploy user's
 *   home without the deploy directory, every file of it writable by the deploy user, so a
 *   deletion or a write that escaped would show) is the same before and after;
 * - the live release still serves: `current` resolves to a release whose content is whole;
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
import { runAction, type ActionResult } from '../support/action.ts'
import { expectServes, failure, meta, releasePath, warnings } from '../support/outcome.ts'
import { run, sleep } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  settled,
  writeTree,
  type Fixture,
  type TreeSpec
} from '../support/fixture.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { createUser, removeUser } from '../support/users.ts'
import { parseKnownHosts } from '../../src/ssh/known-hosts.ts'
import { connectSsh } from '../../src/ssh/ssh-remote-host.ts'
import { abortScript, finishScript } from '../../src/server/remote-scripts.ts'
import { parseScriptOutput } from '../../src/server/script-output.ts'
import type { Script } from '../../src/ssh/script-frame.ts'

let sshd: Sshd
/** The other local account: the attacker where an attack needs one. */
let other: TestUser
const fixtures: Fixture[] = []
const undo: (() => Promise<void>)[] = []

beforeAll(async () => {
  sshd = await startSshd()
  other = await createUser(sshd)
})
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u()
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  if (other) await removeUser(other)
  await sshd?.stop()
})

const V1: TreeSpec = {
  'index.html': 'release one\n',
  'assets/app.css': 'body { color: red }\n',
  'ext/secret.txt': 'deployed secret\n',
  'config/app.php': '<?php return [];\n'
}

/** A deployed first release 'one', and a sentinel tree beside the deploy directory. */
async function deployed(spec: TreeSpec = V1, extra: Record<string, string> = {}): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  await writeTree(f.source, spec)
  await writeTree(f.user.home, {
    'outside/secret.txt': 'not part of any release\n',
    'outside/app.css': 'outside css\n',
    'outside/deep/file.txt': 'deep\n',
    'other-app/.env': 'DB_PASSWORD=other\n',
    'other-app/current/index.html': 'the other app\n'
  })
  await own(f, f.user.home)
  const first = await runAction(f.inputs({ 'release-id': 'one', ...extra }))
  expect(first.code, first.log).toBe(0)
  // The copy of 'one' made in the background for the next deploy is complete before a test
  // plants anything in 'one'.
  await settled(f.deployDir)
  return f
}

/** Removes the spare copy of the live release, so the next deploy copies the live release itself. */
async function dropSpare(f: Fixture): Promise<void> {
  const M = path.join(f.deployDir, '.atomic-deploy')
  for (const name of await list(M))
    if (/^base\.\d+/.test(name)) await rm(path.join(M, name), { recursive: true })
}

/** chown -R to the deploy user (the test plants as root). */
async function own(f: Fixture, p: string): Promise<void> {
  await run('chown', ['-R', '-h', `${f.user.name}:`, p])
}

/** The checksum listing of everything in the deploy user's home outside the deploy directory. */
function sentinel(f: Fixture): Promise<string[]> {
  return describeTree(f.user.home, { skip: rel => rel === f.path })
}

/** Deploy v2 as release 'two', checking the sentinel around it. */
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

describe('records in .atomic-deploy/ that lie', () => {
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

  it('a manifest entry beneath a directory that is a symlink in the live release: refused', async () => {
    const f = await deployed()
    await dropSpare(f)
    await rm(path.join(releasePath(f, 'one'), 'ext'), { recursive: true })
    await symlink(path.join(f.user.home, 'outside'), path.join(releasePath(f, 'one'), 'ext'))
    await own(f, f.deployDir)
    // ext/secret.txt changes: the plan removes it from the copy before writing it again.
    const result = await deployTwo(f, {}, { 'ext/secret.txt': 'changed\n' })
    expect(failure(result)).toMatch(/ext is a symlink in the copy of release one/)
    await expectServes(f, 'one', 'release one\n')
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one'])
  })

  it("an appended 'start <live id>' line: the live release is never removed as stale", async () => {
    const f = await deployed()
    await appendFile(meta(f, 'log'), `start\tone\t2026-11-22T10:15:00Z\n`)
    // A deploy that then fails keeps the site up, and says current is untouched: it is.
    const failed = await deployTwo(f, { 'before-switch': 'exit 3' })
    expect(failure(failed)).toMatch(/current is untouched/)
    expect(warnings(failed)).toMatch(
      /calls the live release one incomplete; it is live, so it is kept/
    )
    await expectServes(f, 'one', 'release one\n')
    const ok = await deployTwo(f, { 'release-id': 'three' })
    expect(ok.code, ok.log).toBe(0)
    await expectServes(f, 'three', 'release two\n')
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one', 'three'])
  })

  it('a planted seed record for the next release id: cleanup removes nothing it did not seed', async () => {
    const f = await deployed()
    // shared/storage holds the users' data, and the planted record claims this run seeded it.
    await writeTree(f.deployDir, { 'shared/storage/uploads/photo.jpg': 'users data' })
    await writeFile(
      meta(f, 'seeded.two'),
      'seeded ../../outside\ncreated ../other-app\nseeded storage\nseeded .env\n'
    )
    await writeFile(path.join(f.deployDir, 'shared/.env'), 'DB_PASSWORD=x\n')
    await own(f, f.deployDir)
    const result = await deployTwo(f, {
      'shared-paths': 'storage/\n.env',
      'before-switch': 'exit 4'
    })
    expect(failure(result)).toMatch(/before-switch exited with status 4/)
    await expectServes(f, 'one', 'release one\n')
    expect(await readFile(path.join(f.deployDir, 'shared/storage/uploads/photo.jpg'), 'utf8')).toBe(
      'users data'
    )
    expect(await readFile(path.join(f.deployDir, 'shared/.env'), 'utf8')).toBe('DB_PASSWORD=x\n')
  })

  it('a release log line that is not ours: refused, naming the file, the line and the fix', async () => {
    const f = await deployed()
    await appendFile(meta(f, 'log'), `prune\t../../outside\t2026-11-22T10:15:00Z\n`)
    const result = await deployTwo(f)
    expect(failure(result)).toMatch(
      /\.atomic-deploy\/log line \d+ names "\.\.\/\.\.\/outside", which is not a release id: .*Remove or correct that line/
    )
    await expectServes(f, 'one', 'release one\n')
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
  })

  it('a release log far past its limit: refused without reading it', async () => {
    const f = await deployed()
    // 400 MB, sparse: sending it whole would cost the runner gigabytes.
    await truncate(meta(f, 'log'), 400 * 1024 * 1024)
    const started = Date.now()
    const result = await deployTwo(f)
    expect(failure(result)).toMatch(/\.atomic-deploy\/log is 419\.4 MB, over the limit of 1\.05 MB/)
    expect(Date.now() - started).toBeLessThan(10_000)
    await expectServes(f, 'one', 'release one\n')
  })

  // The view this version keeps of each manifest, and the manifest an older version wrote (read
  // only where there is no view).
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
      const result = await deployTwo(f)
      expect(result.code, result.log).toBe(0)
      expect(warnings(result)).toMatch(warning)
      expect(result.outputs['files-uploaded']).toBe('4')
      await expectServes(f, 'two', 'release two\n')
    }
  )
})

describe('current, and the path it resolves to', () => {
  it('current pointing at a shell payload: refused, and no output carries it', async () => {
    const f = await deployed()
    const payload = 'releases/x"; touch pwned; echo "<img src=x onerror=alert(1)>'
    await rm(path.join(f.deployDir, 'current'))
    await symlink(payload, path.join(f.deployDir, 'current'))
    await own(f, f.deployDir)
    const result = await deployTwo(f)
    expect(failure(result)).toMatch(
      /current points to .*which is not a release of this deploy directory/
    )
    // The outputs the README chains on hold release ids and paths only: the payload is in none.
    for (const name of ['release-id', 'release-path', 'previous-release-id'])
      expect(result.outputs[name]).toBe('')
    // The summary quotes it as text, never as HTML.
    expect(result.summary).not.toContain('<img')
    expect(result.summary).toContain('&lt;img src=x')
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe(payload)
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one'])
  })

  it('a deploy path that resolves through a name with a newline: refused, nothing written', async () => {
    const f = await deployed()
    // `next` resolves to "<home>/real\nnext": cut at the newline, it would be <home>/real.
    await mkdir(path.join(f.user.home, 'real\nnext'))
    await writeTree(f.user.home, { 'real/current/index.html': 'another directory\n' })
    await symlink('real\nnext', path.join(f.user.home, 'next'))
    await own(f, f.user.home)
    const before = await describeTree(f.user.home, { skip: rel => rel === f.path })
    const result = await runAction(f.inputs({ path: 'next', 'release-id': 'two' }))
    expect(failure(result)).toMatch(/contains a newline/)
    expect(await describeTree(f.user.home, { skip: rel => rel === f.path })).toEqual(before)
  })
})

describe('the layout itself', () => {
  it.each(['releases', 'shared', '.atomic-deploy', 'cache'])(
    '%s as a symlink to elsewhere: refused before anything is written, naming it',
    async entry => {
      const f = await deployed()
      const target = path.join(f.user.home, 'outside', 'moved')
      if (await exists(path.join(f.deployDir, entry)))
        await rename(path.join(f.deployDir, entry), target)
      else await mkdir(target)
      await symlink(target, path.join(f.deployDir, entry))
      await own(f, f.user.home)
      const before = await describeTree(f.user.home)
      const result = await runAction(f.inputs({ 'release-id': 'two', reuse: 'cache' }))
      expect(failure(result)).toMatch(new RegExp(`${entry.replace('.', '\\.')} is a symlink`))
      // Nothing at all was written: not in the deploy directory, not where the link points.
      expect(await describeTree(f.user.home)).toEqual(before)
    }
  )

  it('a layout directory owned by another account: refused, naming it and the owner', async () => {
    const f = await deployed()
    await run('chown', [`${other.name}:`, path.join(f.deployDir, 'shared')])
    const before = await describeTree(f.user.home)
    const result = await runAction(f.inputs({ 'release-id': 'two' }))
    expect(failure(result)).toMatch(new RegExp(`shared is owned by ${other.name}`))
    expect(await describeTree(f.user.home)).toEqual(before)
  })

  it('a shared/ entry that is a symlink to elsewhere: nothing is written through it', async () => {
    const f = await deployed()
    await symlink(path.join(f.user.home, 'outside'), path.join(f.deployDir, 'shared/storage'))
    await own(f, f.deployDir)
    // storage/logs/ would be created inside shared/storage, which is the outside directory.
    const result = await deployTwo(f, { 'shared-paths': 'storage/logs/' })
    expect(failure(result)).toMatch(/shared\/storage is a symlink/)
    await expectServes(f, 'one', 'release one\n')
  })

  it('a shared-paths entry beneath a symlink in the source: nothing outside is moved', async () => {
    const f = await deployed()
    // The source's `config` is a symlink to a directory of the server's, outside the release.
    const result = await deployTwo(
      f,
      { 'shared-paths': 'config/secret.txt' },
      { config: { symlink: path.join(f.user.home, 'outside') } }
    )
    expect(failure(result)).toMatch(/config\/secret\.txt lies beneath config, a symlink/)
    await expectServes(f, 'one', 'release one\n')
  })

  it('a directory of the live release replaced by a symlink (drift), with the spare copy made before it: the release starts from the copy, the path sent again', async () => {
    const f = await deployed()
    await rm(path.join(releasePath(f, 'one'), 'assets'), { recursive: true })
    await symlink(path.join(f.user.home, 'outside'), path.join(releasePath(f, 'one'), 'assets'))
    await own(f, f.deployDir)
    const result = await deployTwo(
      f,
      {},
      { 'index.html': 'release two\n', 'assets/app.css': 'changed\n', 'assets/new.css': 'new\n' }
    )
    expect(result.code, result.log).toBe(0)
    expect(warnings(result)).toMatch(/release one was changed on the server .*changed assets/)
    const assets = path.join(releasePath(f, 'two'), 'assets')
    expect((await lstat(assets)).isDirectory()).toBe(true)
    expect(await readFile(path.join(assets, 'app.css'), 'utf8')).toBe('changed\n')
    expect(await readFile(path.join(assets, 'new.css'), 'utf8')).toBe('new\n')
    await expectServes(f, 'two', 'release two\n')
  })

  it('a spare copy that is a symlink to elsewhere: not offered by the inspect, the live release copied instead, nothing written through it', async () => {
    const f = await deployed()
    const M = path.join(f.deployDir, '.atomic-deploy')
    const spare = (await list(M)).find(n => /^base\.\d+$/.test(n))
    expect(spare).toBeDefined()
    // Its records (.from naming the live release, .rc 0) stay: only the copy itself is swapped.
    await rm(path.join(M, spare!), { recursive: true })
    await symlink(path.join(f.user.home, 'outside'), path.join(M, spare!))
    await own(f, f.deployDir)
    const result = await deployTwo(f)
    expect(result.code, result.log).toBe(0)
    expect(result.log).not.toMatch(/starts from the copy/)
    expect((await lstat(releasePath(f, 'two'))).isDirectory()).toBe(true)
    await expectServes(f, 'two', 'release two\n')
  })

  it('a directory replaced by a symlink while the spare copy was being made (in both): nothing is written through it', async () => {
    const f = await deployed()
    const M = path.join(f.deployDir, '.atomic-deploy')
    const spare = (await list(M)).find(n => /^base\.\d+$/.test(n))
    expect(spare).toBeDefined()
    for (const dir of [releasePath(f, 'one'), path.join(M, spare!)]) {
      await rm(path.join(dir, 'assets'), { recursive: true })
      await symlink(path.join(f.user.home, 'outside'), path.join(dir, 'assets'))
    }
    await own(f, f.deployDir)
    const result = await deployTwo(
      f,
      {},
      { 'index.html': 'release two\n', 'assets/app.css': 'changed\n', 'assets/new.css': 'new\n' }
    )
    // The copy is checked as the live release would be: refused, whichever the release starts from.
    expect(failure(result)).toMatch(/assets is a symlink in the copy of release one/)
    await expectServes(f, 'one', 'release one\n')
  })

  it('a directory of the live release replaced by a symlink (drift): nothing is written through it', async () => {
    const f = await deployed()
    await dropSpare(f)
    await rm(path.join(releasePath(f, 'one'), 'assets'), { recursive: true })
    await symlink(path.join(f.user.home, 'outside'), path.join(releasePath(f, 'one'), 'assets'))
    await own(f, f.deployDir)
    const result = await deployTwo(
      f,
      {},
      {
        'assets/app.css': 'changed\n',
        'assets/new.css': 'new\n'
      }
    )
    expect(failure(result)).toMatch(/assets is a symlink in the copy of release one/)
    await expectServes(f, 'one', 'release one\n')
  })

  it('a world-writable directory in the live release is named, and not carried into the next, with on-drift ignore too', async () => {
    const f = await deployed()
    await chmod(path.join(releasePath(f, 'one'), 'assets'), 0o777)
    const result = await deployTwo(f)
    expect(result.code, result.log).toBe(0)
    expect(warnings(result)).toMatch(/release one was changed on the server .*changed assets/)
    expect((await stat(path.join(releasePath(f, 'two'), 'assets'))).mode & 0o777).toBe(0o755)
    // Not looked for: the copy's directories get the release's mode all the same.
    await chmod(path.join(releasePath(f, 'two'), 'assets'), 0o777)
    const ignored = await runAction(f.inputs({ 'release-id': 'three', 'on-drift': 'ignore' }))
    expect(ignored.code, ignored.log).toBe(0)
    expect((await stat(path.join(releasePath(f, 'three'), 'assets'))).mode & 0o777).toBe(0o755)
  })
})

describe('a login umask of 000', () => {
  it('leaves nothing world-writable, and nothing private world-readable, that a hook could be swapped through', async () => {
    const f = await createFixture({ sshd })
    fixtures.push(f)
    // The login shell sets umask 000, then runs what sshd asked for.
    const shell = path.join(f.user.home, '.umask000-shell')
    await writeFile(shell, '#!/bin/sh\numask 000\nexec /bin/sh "$@"\n', { mode: 0o755 })
    await run('usermod', ['-s', shell, f.user.name])
    await writeTree(f.source, V1)
    // Each hook reports its own file's mode and its directory's mode and owner.
    const report = 'stat -c "hook %a %U %n" "$0" "$(dirname "$0")"'
    const result = await runAction(
      f.inputs({
        'before-switch': report,
        'after-switch': report,
        'shared-paths': 'storage/'
      })
    )
    expect(result.code, result.log).toBe(0)
    const hooks = result.log.split('\n').filter(l => / hook \d+ /.test(l))
    expect(hooks).toHaveLength(4)
    for (const line of hooks) {
      const [, mode, owner, file] = / hook (\d+) (\S+) (.*)$/.exec(line)!
      expect(file!.startsWith(path.join(f.deployDir, '.atomic-deploy/'))).toBe(true)
      expect(owner).toBe(f.user.name)
      expect(['600', '700']).toContain(mode)
    }
    // Every path the run created: no world-write anywhere; .atomic-deploy/ private throughout,
    // but for what a copy of a release holds (the spare the next deploy starts from): that
    // keeps the release's modes, for the release it becomes, in a private directory.
    await settled(f.deployDir)
    const found: string[] = []
    const copy = new RegExp(`^${path.join(f.deployDir, '.atomic-deploy')}/base\\.[0-9]+/`)
    const walk = async (dir: string): Promise<void> => {
      for (const name of await list(dir)) {
        const full = path.join(dir, name)
        const st = await lstat(full)
        if (st.isSymbolicLink()) continue
        if (st.mode & 0o002) found.push(`world-writable ${full}`)
        if (
          full.startsWith(path.join(f.deployDir, '.atomic-deploy')) &&
          !copy.test(full) &&
          st.mode & 0o077
        )
          found.push(`not private ${full} ${(st.mode & 0o777).toString(8)}`)
        if (st.isDirectory()) await walk(full)
      }
    }
    await walk(f.deployDir)
    expect(found).toEqual([])
    expect((await stat(path.join(f.deployDir, '.atomic-deploy'))).mode & 0o777).toBe(0o700)
  })
})

describe('text from the server in the log and the summary', () => {
  it('cannot issue workflow commands', async () => {
    const f = await deployed()
    await writeFile(
      path.join(f.deployDir, 'shared/notes.txt'),
      'a\r::error::planted error\n::add-mask::release\n  ::warning::planted\nx ##[error]planted\n'
    )
    await own(f, f.deployDir)
    const result = await deployTwo(f, {
      'before-switch': 'cat "$SHARED_PATH/notes.txt" >&2',
      'shared-paths': 'notes.txt'
    })
    expect(result.code, result.log).toBe(0)
    // As the runner reads it: lines end at \n or \r, commands start with :: after white space,
    // or hold ##[ anywhere.
    const commands = result.log
      .split(/\r\n|\r|\n/)
      .filter(l => /^\s*::/.test(l) || l.includes('##['))
      .filter(l => l.includes('planted') || l.includes('add-mask'))
    expect(commands).toEqual([])
    expect(result.log).toMatch(/planted error/)
  })
})

describe('the guards, told by the runner itself to remove the live release', () => {
  /** Run one server script as the deploy user over a real SSH connection. */
  async function runScript(f: Fixture, script: Script): Promise<string[]> {
    const host = await connectSsh({
      server: { user: f.user.name, host: '127.0.0.1', port: sshd.port, label: f.user.name },
      hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(sshd.knownHosts) },
      privateKey: f.user.privateKey,
      timeoutSeconds: 20
    })
    try {
      const result = await host.run(script)
      return parseScriptOutput(result.stdout).lines
    } finally {
      host.close()
    }
  }

  it('a prune of the live release is refused', async () => {
    const f = await deployed()
    const second = await deployTwo(f)
    expect(second.code, second.log).toBe(0)
    const before = await sentinel(f)
    // A lock of this "run", so that pruning is allowed at all.
    await mkdir(meta(f, 'lock'))
    await writeFile(meta(f, 'lock/owner'), '{"token":"tok-test"}\n')
    await own(f, f.deployDir)
    const lines = await runScript(
      f,
      finishScript({
        deployDir: f.deployDir,
        events: [],
        prune: ['two', 'one'],
        forget: [],
        lockToken: 'tok-test',
        keep: ['one']
      })
    )
    expect(lines).toContain('kept two: releases/two is what current points to')
    expect(lines).toContain('kept one: releases/one is release one, which is kept')
    expect(lines).not.toContain('pruned two')
    await expectServes(f, 'two', 'release two\n')
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one', 'two'])
    expect(await sentinel(f)).toEqual(before)
  })

  it('a cleanup of the live release is refused', async () => {
    const f = await deployed()
    const lines = await runScript(
      f,
      abortScript({ deployDir: f.deployDir, releaseId: 'one', umask: '0022' })
    )
    expect(lines).toContain(
      'warning release one was not removed: releases/one is what current points to'
    )
    await expectServes(f, 'one', 'release one\n')
  })
})

describe('a run that outlives its runner', () => {
  it('acts only on what it owns once its hook ends: the later run goes on undisturbed', async () => {
    const f = await deployed()
    const go = (name: string): string => path.join(f.user.home, name)
    const waitFor = (file: string, what: string): string =>
      `echo ${what}; i=0; while [ ! -e ${file} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done`
    // Run A is killed while its before-switch waits; its server side lives on.
    await writeTree(f.source, { 'index.html': 'release a\n' })
    const a = await runAction(
      f.inputs({ 'release-id': 'a', 'before-switch': waitFor(go('go-a'), 'hook-a-waits') }),
      {
        onStart: (child, log) => {
          const timer = setInterval(() => {
            if (log().includes('] hook-a-waits')) {
              clearInterval(timer)
              child.kill('SIGKILL')
            }
          }, 50)
          child.on('close', () => clearInterval(timer))
        }
      }
    )
    expect(a.signal).toBe('SIGKILL')
    // Its lock is cleared by hand, and run B deploys; B's hook checks its own file afterwards.
    const unlocked = await runAction(f.inputs({ mode: 'unlock' }))
    expect(unlocked.code, unlocked.log).toBe(0)
    await writeTree(f.source, { 'index.html': 'release b\n' })
    let bWaiting!: () => void
    const bIsWaiting = new Promise<void>(resolve => (bWaiting = resolve))
    const b = runAction(
      f.inputs({
        'release-id': 'b',
        'before-switch': `${waitFor(go('go-b'), 'hook-b-waits')}\ntest -f "$0"\nls ../../.atomic-deploy/tmp/b >/dev/null`
      }),
      {
        onStart: (child, log) => {
          const timer = setInterval(() => {
            if (log().includes('] hook-b-waits')) {
              clearInterval(timer)
              bWaiting()
            }
          }, 50)
          child.on('close', () => {
            clearInterval(timer)
            bWaiting()
          })
        }
      }
    )
    await bIsWaiting
    // A's hook ends now, inside B's run: A's script must stop at B's lock and remove only its own.
    await writeFile(go('go-a'), '')
    for (let i = 0; i < 100 && (await exists(releasePath(f, 'a'))); i++) await sleep(100)
    expect(await exists(releasePath(f, 'a'))).toBe(false)
    // B's lock is where it was.
    expect(await exists(meta(f, 'lock/owner'))).toBe(true)
    await writeFile(go('go-b'), '')
    const done = await b
    expect(done.code, done.log).toBe(0)
    await expectServes(f, 'b', 'release b\n')
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['b', 'one'])
  })
})
