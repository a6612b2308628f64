/**
 * The foundation, end to end: `node dist/index.js` driven by INPUT_* variables against a real
 * OpenSSH sshd on loopback.
 */
import { existsSync } from 'node:fs'
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile
} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction } from '../support/action.ts'
import { sleep } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  settled,
  worldWritable,
  writeTree,
  type Fixture
} from '../support/fixture.ts'
import { DEFAULT_USER_PATH, startSshd, type Sshd } from '../support/sshd.ts'
import { generateKey } from '../support/users.ts'

let sshd: Sshd
const fixtures: Fixture[] = []

beforeAll(async () => {
  sshd = await startSshd({ hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] })
})
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

async function fixture(): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  await writeTree(f.source, {
    'index.php': '<?php echo "v1";',
    'public/app.css': 'body { color: red }',
    'bin/console': { content: '#!/bin/sh\necho console\n', mode: 0o755 },
    'storage/.gitkeep': '',
    'empty-dir': { dir: true },
    'docs/link-to-index': { symlink: '../index.php' },
    "names/it's a $(name) `x`.txt": 'hostile but fine',
    'names/日本語 ü.txt': 'unicode',
    'names/-leading-dash': 'dash'
  })
  return f
}

const releaseDirs = async (f: Fixture): Promise<string[]> =>
  list(path.join(f.deployDir, 'releases'))

/**
 * The copies of a release under .atomic-deploy (`base.<pid>` and its markers), once made, as
 * their records name them (the release each is of, and its kind): only the spare of the live
 * release, made after a deploy for the next one to start from, may be there between runs.
 */
async function copies(f: Fixture): Promise<string[]> {
  await settled(f.deployDir)
  const M = path.join(f.deployDir, '.atomic-deploy')
  const names = (await list(M)).filter(n => /^base\.\d+$/.test(n))
  return Promise.all(
    names.map(async n => (await readFile(path.join(M, `${n}.from`), 'utf8')).trim())
  )
}

describe('a first deploy', () => {
  it('creates the layout, a release equal to the source, a relative current link, and the outputs', async () => {
    const f = await fixture()
    const run = await runAction(f.inputs())
    expect(run.code, run.log).toBe(0)

    expect(await list(f.deployDir)).toEqual(['.atomic-deploy', 'current', 'releases', 'shared'])
    const id = run.outputs['release-id']
    expect(id).toMatch(/^\d{14}$/)
    expect(await releaseDirs(f)).toEqual([id])
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe(`releases/${id}`)
    // The last line says which release is live and how long it took.
    expect(run.log.trimEnd().split('\n').at(-1)).toMatch(
      new RegExp(`^Done: release ${id} is live \\(\\d+\\.\\d+s\\)\\.$`)
    )
    expect(run.outputs['release-path']).toBe(path.join(f.deployDir, 'releases', id))
    expect(run.outputs['previous-release-id']).toBe('')
    expect(Number(run.outputs['files-uploaded'])).toBe(7)
    expect(JSON.parse(run.outputs.servers)[`${f.user.name}@127.0.0.1:${sshd.port}`].status).toBe(
      'deployed'
    )

    expect(await describeTree(path.join(f.deployDir, 'releases', id))).toEqual(
      await describeTree(f.source)
    )
    expect((await stat(path.join(f.deployDir, 'current/bin/console'))).mode & 0o777).toBe(0o755)
    expect(await worldWritable(f.deployDir)).toEqual([])
    // The lock is released, and metadata stays outside the release.
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
    const revision = JSON.parse(
      await readFile(path.join(f.deployDir, `.atomic-deploy/revisions/${id}.json`), 'utf8')
    )
    expect(revision.release).toBe(id)
  })

  it('writes no world-writable file even when the source has one', async () => {
    const f = await fixture()
    await writeTree(f.source, { 'open.txt': { content: 'x', mode: 0o666 } })
    const run = await runAction(f.inputs())
    expect(run.code, run.log).toBe(0)
    expect((await stat(path.join(f.deployDir, 'current/open.txt'))).mode & 0o777).toBe(0o664)
    expect(await worldWritable(f.deployDir)).toEqual([])
  })
})

describe('a tree of thousands of files', () => {
  it('deploys 3,300 files, then only the 115 that changed, and the live tree equals the source', async () => {
    const f = await fixture()
    const spec: Record<string, string> = {}
    for (let i = 0; i < 3300; i++) {
      spec[`src/module-${i % 40}/file-${i}.php`] = `<?php // file ${i}\n${'x'.repeat(i % 700)}\n`
    }
    await writeTree(f.source, spec)
    const first = await runAction(f.inputs())
    expect(first.code, first.log).toBe(0)
    expect(Number(first.outputs['files-uploaded'])).toBe(3300 + 7)

    const changed: Record<string, string> = {}
    for (let i = 0; i < 3300; i += 29)
      changed[`src/module-${i % 40}/file-${i}.php`] = `<?php // changed ${i}\n`
    await writeTree(f.source, changed)
    await rm(path.join(f.source, 'src/module-1/file-1.php'))
    const second = await runAction(f.inputs())
    expect(second.code, second.log).toBe(0)
    expect(Number(second.outputs['files-uploaded'])).toBe(Object.keys(changed).length)
    expect(second.outputs['files-deleted']).toBe('1')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
  })
})

describe('a second deploy', () => {
  it('creates a new release from the changes and switches to it', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs())
    expect(first.code, first.log).toBe(0)
    await writeTree(f.source, { 'index.php': '<?php echo "v2";', 'public/new.js': 'new()' })
    const second = await runAction(f.inputs({ 'release-id': 'second' }))
    expect(second.code, second.log).toBe(0)
    expect(second.outputs['release-id']).toBe('second')
    expect(second.outputs['previous-release-id']).toBe(first.outputs['release-id'])
    expect(second.outputs['files-uploaded']).toBe('2')
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/second')
    expect(await readFile(path.join(f.deployDir, 'current/index.php'), 'utf8')).toBe(
      '<?php echo "v2";'
    )
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
    // The copy of the live release made at lock time became this release: none is left over
    // but the spare of this one.
    expect(await copies(f)).toEqual(['second copy'])
    // The previous release is still whole, for rollback.
    expect(
      await readFile(
        path.join(f.deployDir, 'releases', first.outputs['release-id'], 'index.php'),
        'utf8'
      )
    ).toBe('<?php echo "v1";')
  })

  it('switches and finishes in the release script on one server with nothing after the switch, and in scripts of their own otherwise', async () => {
    const f = await fixture()
    for (const id of ['first', 'second']) {
      await writeTree(f.source, { 'index.php': `<?php echo "${id}";` })
      const run = await runAction(f.inputs({ 'release-id': id }))
      expect(run.code, run.log).toBe(0)
    }
    await writeTree(f.source, { 'index.php': '<?php echo "third";' })
    const combined = await runAction(f.inputs({ 'release-id': 'third', 'keep-releases': '1' }))
    expect(combined.code, combined.log).toBe(0)
    // One group, one script: the round trips of the switch and of the finish saved.
    expect(combined.log).toContain('::group::Prepare release third, switch to it and finish')
    expect(combined.log).not.toContain('::group::Switch to')
    expect(combined.log).not.toContain('::group::Prune and unlock')
    expect(combined.log).toContain('current -> releases/third')
    expect(combined.log).toContain('pruned release first')
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/third')
    // The release it replaced stays, for rollback.
    expect(await releaseDirs(f)).toEqual(['second', 'third'])
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
    expect(await copies(f)).toEqual(['third copy'])

    // With a command to run after the switch, the switch is its own step, as with two servers.
    await writeTree(f.source, { 'index.php': '<?php echo "fourth";' })
    const separate = await runAction(
      f.inputs({ 'release-id': 'fourth', 'keep-releases': '1', 'after-switch': 'true' })
    )
    expect(separate.code, separate.log).toBe(0)
    expect(separate.log).toContain('::group::Prepare release fourth\n')
    expect(separate.log).toContain('::group::Switch to fourth')
    expect(separate.log).toContain('::group::Prune and unlock')
    expect(separate.log).toContain('pruned release second')
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/fourth')
    expect(await releaseDirs(f)).toEqual(['fourth', 'third'])
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
    expect(await copies(f)).toEqual(['fourth copy'])
  })

  it('takes the next free second when the timestamp id is taken', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs())
    expect(first.code, first.log).toBe(0)
    const second = await runAction(f.inputs())
    expect(second.code, second.log).toBe(0)
    expect(second.outputs['release-id']).toMatch(/^\d{14}$/)
    expect(Number(second.outputs['release-id'])).toBeGreaterThan(
      Number(first.outputs['release-id'])
    )
  })
})

describe('pruning', () => {
  it('keeps keep-releases complete releases after five deploys', async () => {
    const f = await fixture()
    const ids: string[] = []
    for (let i = 1; i <= 5; i++) {
      await writeTree(f.source, { 'version.txt': `v${i}` })
      // Custom ids that do not sort by name: the order comes from the release log.
      const run = await runAction(
        f.inputs({ 'keep-releases': '2', 'release-id': `r${6 - i}-${i}` })
      )
      expect(run.code, run.log).toBe(0)
      ids.push(run.outputs['release-id'])
    }
    expect(await releaseDirs(f)).toEqual(ids.slice(-2).sort())
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe(`releases/${ids[4]}`)
    expect(await list(path.join(f.deployDir, '.atomic-deploy/manifests'))).toEqual(
      ids
        .slice(-2)
        .flatMap(id =>
          ['digest', 'links', 'listing', 'm2', 'ready', 'view.gz'].map(kind => `${id}.${kind}`)
        )
        .sort()
    )
  })
})

describe('pruning in the background', () => {
  /** How long the server's rm waits before it removes a tree a prune set aside. */
  const DELAY_MS = 20_000
  let slowSshd: Sshd
  let wrapperDir: string

  beforeAll(async () => {
    // An rm for the deploy accounts of this sshd only (first in their PATH, by sshd's SetEnv),
    // which takes DELAY_MS over a tree a prune set aside (and leaves a mark that it did), and is
    // the real rm at once for anything else.
    wrapperDir = await mkdtemp(path.join(os.tmpdir(), 'adt-slow-rm-'))
    await chmod(wrapperDir, 0o755)
    const realRm = ['/usr/bin/rm', '/bin/rm'].find(existsSync)
    if (realRm === undefined) throw new Error('no rm in /usr/bin or /bin')
    await writeFile(
      path.join(wrapperDir, 'rm'),
      [
        '#!/bin/sh',
        'for a; do',
        '  case $a in',
        `    */releases/.pruning.*) : > "$HOME/rm-slowed"; sleep ${DELAY_MS / 1000}; break ;;`,
        '  esac',
        'done',
        `exec ${realRm} "$@"`,
        ''
      ].join('\n'),
      { mode: 0o755 }
    )
    slowSshd = await startSshd({
      matchBlocks: ['Match User adtu*', `    SetEnv PATH=${wrapperDir}:${DEFAULT_USER_PATH}`]
    })
  })
  afterAll(async () => {
    await slowSshd?.stop()
    if (wrapperDir) await rm(wrapperDir, { recursive: true, force: true })
  })

  it('a deploy that prunes does not wait for the pruned tree to be removed, which is gone soon after', async () => {
    const f = await createFixture({ sshd: slowSshd })
    fixtures.push(f)
    const R = path.join(f.deployDir, 'releases')
    const aside = async (): Promise<string[]> =>
      (await readdir(R)).filter(name => name.startsWith('.pruning.'))
    for (const id of ['first', 'second']) {
      await writeTree(f.source, { 'index.php': id, [`pages/${id}/a.html`]: id })
      const run = await runAction(f.inputs({ 'release-id': id, 'keep-releases': '1' }))
      expect(run.code, run.log).toBe(0)
    }
    await writeTree(f.source, { 'index.php': 'third' })
    const started = performance.now()
    const third = await runAction(f.inputs({ 'release-id': 'third', 'keep-releases': '1' }))
    const took = performance.now() - started
    expect(third.code, third.log).toBe(0)
    expect(third.log).toContain('pruned release first')
    // The tree of the release pruned is set aside, and its removal (slowed by DELAY_MS) is under
    // way: the deploy ended well before it could.
    expect(await exists(path.join(f.user.home, 'rm-slowed'))).toBe(true)
    expect(await aside()).toEqual([expect.stringMatching(/^\.pruning\.first\.[0-9]+$/)])
    expect(took).toBeLessThan(DELAY_MS / 2)
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/third')
    // And it goes by itself, the deploy long over (bounded: DELAY_MS and half a minute).
    const until = performance.now() + DELAY_MS + 30_000
    while ((await aside()).length > 0 && performance.now() < until) await sleep(250)
    expect(await aside()).toEqual([])
    expect((await readdir(R)).sort()).toEqual(['second', 'third'])
  }, 120_000)
})

describe('a failing before-switch', () => {
  it('leaves current untouched, removes the failed release and releases the lock', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs())
    expect(first.code, first.log).toBe(0)
    await writeTree(f.source, { 'index.php': 'broken' })
    const failed = await runAction(
      f.inputs({ 'before-switch': 'echo migrating\nexit 3', 'release-id': 'broken' })
    )
    expect(failed.code).toBe(1)
    expect(failed.log).toContain('migrating')
    expect(failed.log).toMatch(/before-switch exited with status 3/)
    // What was sent is counted, though the release went no further.
    expect(failed.log).toMatch(
      /plan for release broken: uploading 1 file \(6 B\), deleting 0 files, keeping \d+ files/
    )
    expect(failed.outputs['files-uploaded']).toBe('1')
    expect(Number(failed.outputs['bytes-uploaded'])).toBe('broken'.length)
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe(
      `releases/${first.outputs['release-id']}`
    )
    expect(await releaseDirs(f)).toEqual([first.outputs['release-id']])
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
    expect(await list(path.join(f.deployDir, '.atomic-deploy/tmp'))).toEqual([])
    // The spare the first deploy left became the failed release, and went with it.
    expect(await copies(f)).toEqual([])
    // And the next deploy works.
    const again = await runAction(f.inputs())
    expect(again.code, again.log).toBe(0)
  })

  it('gets the documented variables, runs in the release under sh -e', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs())
    const run = await runAction(
      f.inputs({
        'release-id': 'vars',
        'before-switch': [
          'echo "cwd=$(pwd)"',
          'echo "RELEASE_ID=$RELEASE_ID RELEASE_PATH=$RELEASE_PATH DEPLOY_PATH=$DEPLOY_PATH"',
          'echo "SHARED_PATH=$SHARED_PATH PREVIOUS_RELEASE_ID=$PREVIOUS_RELEASE_ID PREVIOUS_RELEASE_PATH=$PREVIOUS_RELEASE_PATH"',
          'false',
          'echo "not reached"'
        ].join('\n')
      })
    )
    expect(run.code).toBe(1)
    const prev = first.outputs['release-id']
    expect(run.log).toContain(`cwd=${f.deployDir}/releases/vars`)
    expect(run.log).toContain(
      `RELEASE_ID=vars RELEASE_PATH=${f.deployDir}/releases/vars DEPLOY_PATH=${f.deployDir}`
    )
    expect(run.log).toContain(
      `SHARED_PATH=${f.deployDir}/shared PREVIOUS_RELEASE_ID=${prev} PREVIOUS_RELEASE_PATH=${f.deployDir}/releases/${prev}`
    )
    expect(run.log).not.toContain('not reached')
  })

  it('streams both hooks with the server prefix and reports their exit status on success', async () => {
    const f = await fixture()
    const run = await runAction(
      f.inputs({ 'before-switch': 'echo building', 'after-switch': 'echo reloading' })
    )
    expect(run.code, run.log).toBe(0)
    const prefix = `[${f.inputs().servers}]`
    const lines = run.log.split('\n')
    for (const text of [
      'building',
      'before-switch exited with status 0',
      'reloading',
      `after-switch exited with status 0 (release ${run.outputs['release-id']})`
    ]) {
      expect(
        lines.some(l => l.includes(prefix) && l.endsWith(text)),
        text
      ).toBe(true)
    }
  })
})

describe('refusals write nothing', () => {
  it('refuses a host key mismatch before authenticating', async () => {
    const f = await fixture()
    const other = await generateKey({ type: 'ed25519' })
    const wrong = `[127.0.0.1]:${sshd.port} ${other.publicKey.split(' ').slice(0, 2).join(' ')}`
    const run = await runAction(f.inputs({ 'known-hosts': wrong }))
    expect(run.code).toBe(1)
    expect(run.log).toMatch(/host key verification failed/)
    expect(run.log).toContain('SHA256:')
    expect(await exists(f.deployDir)).toBe(false)
  })

  it('refuses to connect with no host key configuration', async () => {
    const f = await fixture()
    const run = await runAction(f.inputs({ 'known-hosts': '' }))
    expect(run.code).toBe(1)
    expect(run.log).toMatch(/known-hosts/)
    expect(run.log).not.toMatch(/\n\s+at /)
    expect(await exists(f.deployDir)).toBe(false)
  })

  it('accepts a host-fingerprint instead of known-hosts', async () => {
    const f = await fixture()
    const run = await runAction(
      f.inputs({ 'known-hosts': '', 'host-fingerprint': sshd.fingerprints.ecdsa })
    )
    expect(run.code, run.log).toBe(0)
  })

  it('refuses a non-empty directory of another shape and touches nothing in it', async () => {
    const f = await fixture()
    await mkdir(f.deployDir, { recursive: true })
    await writeFile(path.join(f.deployDir, 'index.html'), 'old site')
    const before = await describeTree(f.deployDir)
    const run = await runAction(f.inputs())
    expect(run.code).toBe(1)
    expect(run.log).toMatch(/refusing to deploy/)
    expect(run.log).toContain('index.html')
    expect(run.log).toMatch(/new, empty path|empty it/)
    expect(await describeTree(f.deployDir)).toEqual(before)
  })

  it('refuses when the lock is held and names the holder', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs())
    expect(first.code, first.log).toBe(0)
    const lock = path.join(f.deployDir, '.atomic-deploy/lock')
    await mkdir(lock)
    const started = new Date(Date.now() - 5 * 60_000).toISOString()
    await writeFile(
      path.join(lock, 'owner'),
      JSON.stringify({
        token: 'x',
        runUrl: 'https://github.com/o/r/actions/runs/42',
        commit: 'abcdef1234567890',
        started
      })
    )
    const run = await runAction(f.inputs())
    expect(run.code).toBe(1)
    expect(run.log).toContain('https://github.com/o/r/actions/runs/42')
    expect(run.log).toMatch(/5m ago/)
    expect(run.log).toContain('mode: unlock')
    expect(await releaseDirs(f)).toEqual([first.outputs['release-id']])
    expect(await exists(lock)).toBe(true)
  })

  it('refuses a custom release-id that exists', async () => {
    const f = await fixture()
    expect((await runAction(f.inputs({ 'release-id': 'one' }))).code).toBe(0)
    const run = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(run.code).toBe(1)
    expect(run.log).toMatch(/release-id 'one' already exists/)
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
  })

  it('refuses to put an empty release live when exclude leaves nothing', async () => {
    const f = await fixture()
    const first = await runAction(f.inputs())
    expect(first.code, first.log).toBe(0)
    const run = await runAction(f.inputs({ exclude: '**' }))
    expect(run.code).toBe(1)
    expect(run.log).toMatch(/nothing to deploy after exclude/)
    expect(await releaseDirs(f)).toEqual([first.outputs['release-id']])
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe(
      `releases/${first.outputs['release-id']}`
    )
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
  })

  it('refuses a bad input with one line naming it, before connecting', async () => {
    const f = await fixture()
    const run = await runAction(f.inputs({ 'keep-releases': 'many' }))
    expect(run.code).toBe(1)
    const errors = run.log.split('\n').filter(l => l.startsWith('::error::'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/keep-releases 'many'.*whole number/)
    expect(await exists(f.deployDir)).toBe(false)
  })
})

describe('secrets', () => {
  it('never prints the private key, even with step debug on', async () => {
    const f = await fixture()
    const run = await runAction(f.inputs(), {
      env: { ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1' }
    })
    expect(run.code, run.log).toBe(0)
    const body = f.user.privateKey.split('\n').filter(l => l.length > 20 && !l.startsWith('-----'))
    for (const line of body) expect(run.log).not.toContain(line)
  })

  it('registers the key with the runner mask and prints it nowhere else, in Actions', async () => {
    const f = await fixture()
    const run = await runAction(f.inputs(), {
      env: { GITHUB_ACTIONS: 'true', ACTIONS_STEP_DEBUG: 'true' }
    })
    expect(run.code, run.log).toBe(0)
    const body = f.user.privateKey.split('\n').filter(l => l.length > 20 && !l.startsWith('-----'))
    const outsideMaskCommands = run.log
      .split('\n')
      .filter(l => !l.startsWith('::add-mask::'))
      .join('\n')
    for (const line of body) {
      expect(run.log).toContain(`::add-mask::${line}`)
      expect(outsideMaskCommands).not.toContain(line)
    }
  })
})
