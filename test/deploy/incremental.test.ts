/**
 * Incremental deploys end to end: the manifest of each release, the plan against the live one,
 * the starting copy (previous, cache, none; copy or hard links), tar and SFTP transfers, and the
 * verification that stands between a prepared release and the switch.
 */
import { randomBytes } from 'node:crypto'
import {
  appendFile,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile
} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionResult } from '../support/action.ts'
import { run } from '../support/exec.ts'
import {
  createFixture,
  describeTree,
  exists,
  list,
  settled,
  worldWritable,
  writeTree,
  type Fixture,
  type TreeSpec
} from '../support/fixture.ts'
import { commit, createRepo, git, shallowClone } from '../support/git.ts'
import { startLatencyProxy, type LatencyProxy } from '../support/proxy.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'

let sshd: Sshd
const fixtures: Fixture[] = []
const temporary: string[] = []
const proxies: LatencyProxy[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close()
  for (const f of fixtures.splice(0)) await f.cleanup()
  for (const dir of temporary.splice(0)) await rm(dir, { recursive: true, force: true })
})
afterAll(async () => {
  await sshd?.stop()
})

const BASE: TreeSpec = {
  'index.php': '<?php echo "v1";',
  'public/app.css': 'body { color: red }',
  'public/js/app.js': 'console.log(1)',
  'bin/console': { content: '#!/bin/sh\necho console\n', mode: 0o755 },
  'config/app.php': '<?php return [];',
  'docs/readme.md': '# readme',
  'docs/link-to-index': { symlink: '../index.php' },
  'empty-dir': { dir: true }
}

async function fixture(
  spec: TreeSpec = BASE,
  kind: 'default' | 'notar' = 'default'
): Promise<Fixture> {
  const f = await createFixture({ sshd, kind })
  fixtures.push(f)
  await writeTree(f.source, spec)
  return f
}

/** Run a deploy that must succeed. */
async function deploy(
  f: Fixture,
  extra: Record<string, string> = {},
  options: Parameters<typeof runAction>[1] = {}
): Promise<ActionResult> {
  const result = await runAction(f.inputs(extra), options)
  expect(result.code, result.log).toBe(0)
  return result
}

const current = (f: Fixture): string => path.join(f.deployDir, 'current')
const release = (f: Fixture, id: string): string => path.join(f.deployDir, 'releases', id)
const meta = (f: Fixture, ...parts: string[]): string =>
  path.join(f.deployDir, '.atomic-deploy', ...parts)

async function expectExact(f: Fixture): Promise<void> {
  expect(await describeTree(current(f))).toEqual(await describeTree(f.source))
}

const fileCount = async (root: string): Promise<number> =>
  (await describeTree(root)).filter(l => l.startsWith('f ')).length

/** The `::error::` line(s) of a failed step: what the user sees as the failure. */
const errorLines = (log: string): string =>
  log
    .split('\n')
    .filter(l => l.startsWith('::error::'))
    .map(l => l.replace(/%0A/g, '\n').replace(/%0D/g, '\r').replace(/%25/g, '%'))
    .join('\n')

/** Everything a failed deploy must leave as it was. */
async function expectUntouched(f: Fixture, liveId: string): Promise<void> {
  expect(await readlink(current(f))).toBe(`releases/${liveId}`)
  expect(await list(path.join(f.deployDir, 'releases'))).toEqual([liveId])
  expect(await exists(meta(f, 'lock'))).toBe(false)
  expect(await list(meta(f, 'tmp'))).toEqual([])
  expect(await list(meta(f, 'manifests'))).toEqual([
    `${liveId}.digest`,
    `${liveId}.links`,
    `${liveId}.listing`,
    `${liveId}.m2`,
    `${liveId}.ready`,
    `${liveId}.view.gz`
  ])
  expect(await list(meta(f, 'revisions'))).toEqual([`${liveId}.json`])
}

describe('the plan sends only what changed', () => {
  it('adds, changes and deletes files in nested directories, uploading only the changed ones', async () => {
    const f = await fixture({
      ...BASE,
      'old.txt': 'to be deleted',
      'gone/x.txt': 'x',
      'gone/deep/y.txt': 'y'
    })
    const first = await deploy(f, { 'release-id': 'one' })
    expect(Number(first.outputs['files-uploaded'])).toBe(await fileCount(f.source))
    await expectExact(f)

    await rm(path.join(f.source, 'old.txt'))
    await rm(path.join(f.source, 'gone'), { recursive: true })
    await writeTree(f.source, {
      'index.php': '<?php echo "v2";', // changed, same directory level
      'public/js/app.js': 'console.log(2) // longer', // changed, nested
      'public/js/vendor/new.js': 'new()', // added in a new nested directory
      'added.txt': 'added'
    })
    const second = await deploy(f, { 'release-id': 'two' })
    expect(second.outputs['files-uploaded']).toBe('4')
    expect(second.outputs['bytes-uploaded']).toBe(
      String(
        ['<?php echo "v2";', 'console.log(2) // longer', 'new()', 'added'].reduce(
          (n, s) => n + Buffer.byteLength(s),
          0
        )
      )
    )
    // old.txt, gone, gone/x.txt, gone/deep, gone/deep/y.txt
    expect(second.outputs['files-deleted']).toBe('5')
    await expectExact(f)

    // Unchanged files came from the previous release with the same content and mode.
    const unchanged = ['public/app.css', 'bin/console', 'config/app.php', 'docs/readme.md']
    const pick = (lines: string[]): string[] =>
      lines.filter(l => unchanged.some(u => l.startsWith(`f ${JSON.stringify(u)} `)))
    const inTwo = pick(await describeTree(release(f, 'two')))
    expect(inTwo).toHaveLength(unchanged.length)
    expect(inTwo).toEqual(pick(await describeTree(release(f, 'one'))))
    expect(await readFile(path.join(release(f, 'one'), 'index.php'), 'utf8')).toBe(
      '<?php echo "v1";'
    )
    expect(await exists(path.join(release(f, 'one'), 'gone/deep/y.txt'))).toBe(true)
  })

  it('replaces a file by a directory and a directory by a file', async () => {
    const f = await fixture({
      ...BASE,
      thing: 'a file first',
      'folder/a.txt': 'a',
      'folder/sub/b.txt': 'b'
    })
    await deploy(f)
    await rm(path.join(f.source, 'thing'))
    await rm(path.join(f.source, 'folder'), { recursive: true })
    await writeTree(f.source, {
      'thing/inner.txt': 'now a directory',
      'thing/deeper/more.txt': 'more',
      folder: 'now a file'
    })
    const second = await deploy(f)
    expect(second.outputs['files-uploaded']).toBe('3')
    await expectExact(f)
    expect((await lstat(path.join(current(f), 'thing'))).isDirectory()).toBe(true)
    expect((await lstat(path.join(current(f), 'folder'))).isFile()).toBe(true)

    // And back again.
    await rm(path.join(f.source, 'thing'), { recursive: true })
    await rm(path.join(f.source, 'folder'))
    await writeTree(f.source, { thing: 'a file again', 'folder/a.txt': 'a' })
    await deploy(f)
    await expectExact(f)
  })

  it('deploys a symlink whose target changed', async () => {
    const f = await fixture({
      ...BASE,
      'public/current-asset': { symlink: 'app.css' },
      dirlink: { symlink: 'public' }
    })
    await deploy(f)
    await writeTree(f.source, {
      'public/current-asset': { symlink: 'js/app.js' },
      dirlink: { symlink: 'docs' }
    })
    const second = await deploy(f)
    expect(second.outputs['files-uploaded']).toBe('0')
    await expectExact(f)
    expect(await readlink(path.join(current(f), 'public/current-asset'))).toBe('js/app.js')
    expect(await readlink(path.join(current(f), 'dirlink'))).toBe('docs')
    expect(await readFile(path.join(current(f), 'dirlink/readme.md'), 'utf8')).toBe('# readme')
  })

  it('deploys a mode change of an otherwise unchanged file', async () => {
    const f = await fixture({ ...BASE, 'bin/migrate': '#!/bin/sh\necho migrate\n' })
    const first = await deploy(f)
    expect((await stat(path.join(current(f), 'bin/migrate'))).mode & 0o111).toBe(0)

    await chmod(path.join(f.source, 'bin/migrate'), 0o755)
    const second = await deploy(f)
    expect(second.outputs['files-uploaded']).toBe('1')
    expect((await stat(path.join(current(f), 'bin/migrate'))).mode & 0o777).toBe(0o755)
    await expectExact(f)
    // The previous release keeps its own mode.
    const old = path.join(release(f, first.outputs['release-id']), 'bin/migrate')
    expect((await stat(old)).mode & 0o111).toBe(0)

    await chmod(path.join(f.source, 'bin/migrate'), 0o644)
    await deploy(f)
    expect((await stat(path.join(current(f), 'bin/migrate'))).mode & 0o777).toBe(0o644)
    await expectExact(f)
  })
})

describe('directory modes', () => {
  it('deploys when only a directory mode changed in the source: the server decides them', async () => {
    const f = await fixture({ ...BASE, 'private/notes.txt': 'n' })
    await chmod(path.join(f.source, 'private'), 0o700)
    await deploy(f)
    await chmod(path.join(f.source, 'private'), 0o755)
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    // The manifest put together on the server must still be the source's: a directory's line
    // carries no mode, or a mode change the plan rightly ignores would break it.
    const second = await deploy(f, { 'release-id': 'two' })
    expect(second.code, second.log).toBe(0)
    expect(second.outputs['files-uploaded']).toBe('1')
    await expectExact(f)
  })
})

describe('what the manifest covers', () => {
  it('leaves out excluded paths and .git', async () => {
    const f = await fixture({
      ...BASE,
      'node_modules/left-pad/index.js': 'module.exports = 1',
      'node_modules/.bin/tool': { symlink: '../left-pad/index.js' },
      'app/node_modules/nested/index.js': 'nested',
      'debug.log': 'log',
      'storage/logs/laravel.log': 'log',
      'storage/logs/keep.txt': 'kept',
      '.env.local': 'SECRET=1',
      'config/.env.testing': 'SECRET=2',
      '.env.example': 'EXAMPLE=1',
      '.htaccess': 'kept',
      '.git/HEAD': 'ref: refs/heads/main',
      '.git/objects/ab/cdef': 'object',
      'vendor/pkg/.git': 'gitdir: ../../.git/modules/pkg'
    })
    const excludes = ['node_modules/**', '*.log', '.env*']
    const first = await deploy(f, { exclude: excludes.join('\n') })
    const isExcluded = (rel: string): boolean =>
      rel === 'node_modules' ||
      rel.startsWith('node_modules/') ||
      rel.endsWith('.log') ||
      /(^|\/)\.env[^/]*$/.test(rel) ||
      rel === '.git' ||
      rel.startsWith('.git/') ||
      rel === 'vendor/pkg/.git'
    expect(await describeTree(current(f))).toEqual(
      await describeTree(f.source, { skip: isExcluded })
    )
    expect(await exists(path.join(current(f), 'node_modules'))).toBe(false)
    expect(await exists(path.join(current(f), '.git'))).toBe(false)
    expect(await exists(path.join(current(f), 'vendor/pkg/.git'))).toBe(false)
    expect(await exists(path.join(current(f), 'storage/logs/keep.txt'))).toBe(true)
    expect(await exists(path.join(current(f), '.htaccess'))).toBe(true)
    // 'node_modules/**' has no slash-free form, so a nested node_modules is deployed.
    expect(await exists(path.join(current(f), 'app/node_modules/nested/index.js'))).toBe(true)
    const deployed = await fileCount(current(f))
    expect(Number(first.outputs['files-uploaded'])).toBe(deployed)

    // Changing only excluded paths changes nothing.
    await writeTree(f.source, {
      'node_modules/left-pad/index.js': 'module.exports = 2',
      'debug.log': 'more log',
      '.git/HEAD': 'ref: refs/heads/other'
    })
    const second = await deploy(f, { exclude: excludes.join('\n') })
    expect(second.outputs['files-uploaded']).toBe('0')
    expect(second.outputs['files-deleted']).toBe('0')
  })

  it('deploys a shallow clone with untracked build output exactly, without git history', async () => {
    const repo = await createRepo([
      { 'index.php': 'v1', 'src/a.php': 'a1', '.gitignore': 'build/\n*.cache\n' },
      { 'src/a.php': 'a2', 'src/b.php': 'b' }
    ])
    temporary.push(repo)
    const clone = await shallowClone(repo)
    temporary.push(path.dirname(clone))
    expect(await git(clone, ['rev-parse', '--is-shallow-repository'])).toBe('true')
    expect(await git(clone, ['rev-list', '--count', 'HEAD'])).toBe('1')
    const buildOutput: TreeSpec = {
      'build/app.js': 'bundle()',
      'build/app.css': 'css',
      'routes.cache': 'cached routes',
      'untracked.txt': 'never added'
    }
    await writeTree(clone, buildOutput)

    const f = await fixture({})
    const first = await deploy(f, { source: clone })
    const withoutGit = (rel: string): boolean => rel === '.git' || rel.startsWith('.git/')
    expect(await describeTree(current(f))).toEqual(await describeTree(clone, { skip: withoutGit }))
    expect(first.outputs['files-uploaded']).toBe('8')

    // A later commit in a fresh shallow clone (new mtimes on every file, one commit of history,
    // the build output regenerated): only the changed file crosses.
    await commit(repo, { 'index.php': 'v2' }, 'commit 3')
    const next = await shallowClone(repo)
    temporary.push(path.dirname(next))
    await writeTree(next, buildOutput)
    const second = await deploy(f, { source: next })
    expect(second.outputs['files-uploaded']).toBe('1')
    expect(second.outputs['files-deleted']).toBe('0')
    expect(await describeTree(current(f))).toEqual(await describeTree(next, { skip: withoutGit }))
    expect(await readFile(path.join(current(f), 'index.php'), 'utf8')).toBe('v2')
  })
})

describe('changes made on the server, and verification before the switch', () => {
  const drifts: [string, string, (release: string) => Promise<void>][] = [
    [
      'bytes appended to a file',
      'public/app.css',
      r => appendFile(path.join(r, 'public/app.css'), '\n/* hotfix */')
    ],
    [
      'an extra file',
      'public/extra.txt',
      r => writeFile(path.join(r, 'public/extra.txt'), 'extra')
    ],
    ['a mode change', 'config/app.php', r => chmod(path.join(r, 'config/app.php'), 0o755)],
    ['a removed file', 'docs/readme.md', r => rm(path.join(r, 'docs/readme.md'))],
    [
      // More files than the server lists one by one: named as one directory, not a full upload.
      'a plugin of 80 files installed by hand',
      'added public/plugins',
      async r => {
        await mkdir(path.join(r, 'public/plugins/hand-made'), { recursive: true })
        for (let i = 0; i < 80; i++)
          await writeFile(path.join(r, `public/plugins/hand-made/p${i}.php`), 'p')
      }
    ]
  ]

  it.each(drifts)(
    'names %s in the live release: on-drift fail refuses, changing nothing; the default warns and deploys exactly the source',
    async (_, drifted, drift) => {
      const f = await fixture()
      await deploy(f, { 'release-id': 'one' })
      // Someone edits the live release by hand between deploys.
      await drift(current(f))
      await writeTree(f.source, { 'index.php': '<?php echo "v2";' })

      const refused = await runAction(f.inputs({ 'release-id': 'two', 'on-drift': 'fail' }))
      expect(refused.code).toBe(1)
      const error = errorLines(refused.log)
      expect(error).toContain(drifted)
      expect(error).toMatch(/changed on the server since it was deployed/)
      expect(error).not.toContain('index.php')
      await expectUntouched(f, 'one')

      const warned = await deploy(f, { 'release-id': 'three' })
      const warnings = warned.log.split('\n').filter(l => l.startsWith('::warning::'))
      expect(warnings.join('\n')).toContain(drifted)
      expect(warnings.join('\n')).toMatch(/release one was changed on the server/)
      await expectExact(f)
      // Only what changed in the source and what drifted on the server were sent.
      expect(Number(warned.outputs['files-uploaded'])).toBeLessThanOrEqual(2)
      // The old release keeps what was changed in it, for whoever wants it back.
      expect(await exists(release(f, 'one'))).toBe(true)
    }
  )

  it('names a same-size edit of a live file (only its time tells), a name with a line break included, and sends only those again', async () => {
    const f = await fixture({ ...BASE, 'docs/new\nline.txt': 'line break' })
    await deploy(f, { 'release-id': 'one' })
    for (const rel of ['config/app.php', 'docs/new\nline.txt']) {
      const edited = path.join(current(f), rel)
      const bytes = await readFile(edited)
      bytes[bytes.length - 1] ^= 0x20
      await writeFile(edited, bytes) // same inode, same size, same mode
    }
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })

    const second = await deploy(f, { 'release-id': 'two' })
    expect(second.log).toMatch(/::warning::.*changed config\/app\.php, docs\/new\\x0aline\.txt\./)
    expect(second.outputs['files-uploaded']).toBe('3')
    await expectExact(f)
  })

  it.each(['warn', 'ignore'])(
    'reports what before-switch writes or edits in place on that deploy; the next copy leaves it out, however much it wrote, and the deploy succeeds (on-drift %s)',
    async onDrift => {
      const f = await fixture()
      const compile = 'mkdir -p cache && echo "compiled for $RELEASE_ID" > cache/config.php'
      // More files than the record lists one by one, and an edit that keeps the size.
      const first = await deploy(f, {
        'release-id': 'one',
        'on-drift': onDrift,
        'before-switch': [
          compile,
          'mkdir cache/views && i=0 && while [ $i -lt 1100 ]; do : > cache/views/v$i.php; i=$((i + 1)); done',
          "sed -i 's/return/RETURN/' config/app.php"
        ].join('\n')
      })
      expect(first.log).toMatch(
        /before-switch changed release one after verification: added cache; changed config\/app\.php\. Recorded: the next deploy's copy of this release leaves these out/
      )
      await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
      // reuse: previous (the default) starts from a copy of release one, cache/ and all; this
      // before-switch no longer edits config/app.php.
      const second = await deploy(f, {
        'release-id': 'two',
        'on-drift': onDrift,
        'before-switch': compile
      })
      expect(second.log).not.toContain('::warning::')
      expect(second.log).not.toContain('full upload')
      // index.php, and config/app.php as the source has it.
      expect(second.outputs['files-uploaded']).toBe('2')
      expect(await readFile(path.join(current(f), 'cache/config.php'), 'utf8')).toBe(
        'compiled for two\n'
      )
      expect(await describeTree(current(f), { skip: p => p.startsWith('cache') })).toEqual(
        await describeTree(f.source)
      )
    }
  )

  it('with reuse cache and hard links, sends again a file edited in place in the live release, which cache/ shares', async () => {
    const f = await fixture()
    const cache = { reuse: 'cache', 'copy-method': 'hardlink' }
    await deploy(f, { 'release-id': 'one', ...cache })
    // Written in place (same inode, same size), as an editor in an admin page does: the file
    // is cache/'s too.
    const edited = path.join(current(f), 'config/app.php')
    const bytes = await readFile(edited)
    bytes[bytes.length - 1] ^= 0x20
    await writeFile(edited, bytes)
    expect(await readFile(path.join(f.deployDir, 'cache/config/app.php'))).toEqual(bytes)

    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    const second = await deploy(f, { 'release-id': 'two', ...cache })
    expect(second.log).toMatch(/::warning::.*release one was changed.*changed config\/app\.php/)
    expect(second.outputs['files-uploaded']).toBe('2')
    await expectExact(f)
    expect(await describeTree(path.join(f.deployDir, 'cache'))).toEqual(
      await describeTree(f.source)
    )
  })

  it('with reuse cache: names changes made in the live release; a deploy failing after the upload keeps the cache manifest, so the next sends only what changed', async () => {
    const f = await fixture()
    await deploy(f, { 'release-id': 'one', reuse: 'cache' })
    await writeFile(path.join(current(f), 'public/upload-by-hand.txt'), 'x')

    // The source now also holds .env, which shared/ holds too: the deploy fails after the upload.
    await mkdir(path.join(f.deployDir, 'shared'), { recursive: true })
    await writeFile(path.join(f.deployDir, 'shared/.env'), 'APP_KEY=real')
    await run('chown', ['-R', `${f.user.name}:`, path.join(f.deployDir, 'shared')])
    await writeTree(f.source, { 'index.php': '<?php echo "v2";', '.env': 'APP_KEY=committed' })
    const failed = await runAction(f.inputs({ 'release-id': 'two', reuse: 'cache' }))
    expect(failed.code).toBe(1)
    expect(failed.log).toMatch(
      /::warning::.*release one was changed.*added public\/upload-by-hand\.txt/
    )
    expect(errorLines(failed.log)).toMatch(/\.env is both in shared\/ and in the release/)
    expect(await exists(meta(f, 'cache.m2'))).toBe(true)

    await rm(path.join(f.source, '.env'))
    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    const next = await deploy(f, { 'release-id': 'three', reuse: 'cache' })
    // index.php (and the removed .env) changed in cache/ since its manifest: nothing else is sent.
    expect(next.outputs['files-uploaded']).toBe('1')
    expect(next.log).not.toMatch(/full upload/)
    // The release is the source, and shared/.env linked in.
    expect(await describeTree(current(f), { skip: p => p === '.env' })).toEqual(
      await describeTree(f.source)
    )
  })

  it('with reuse cache, distrusts a cache.pending that names a path leaving cache/: a full upload, nothing outside removed', async () => {
    const f = await fixture()
    await deploy(f, { 'release-id': 'one', reuse: 'cache' })
    // What a hostile or broken server could hold: a path out of cache/ into the deploy directory.
    await writeFile(meta(f, 'cache.pending'), '"../keep-me.txt"\n')
    await writeFile(path.join(f.deployDir, 'keep-me.txt'), 'not the cache')
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    const next = await deploy(f, { 'release-id': 'two', reuse: 'cache' })
    expect(next.log).toMatch(
      /::warning::.*cache\.pending, the record of an interrupted update of cache\/, is not one path a line; cache\/ is rebuilt from scratch/
    )
    expect(await readFile(path.join(f.deployDir, 'keep-me.txt'), 'utf8')).toBe('not the cache')
    await expectExact(f)
  })

  it('never lets a record read back from the server remove a path through a symlink of the release', async () => {
    const victim = await mkdtemp(path.join(os.tmpdir(), 'adt-victim-'))
    temporary.push(victim)
    await writeFile(path.join(victim, 'keep.txt'), 'outside the deploy directory')
    const f = await fixture({ ...BASE, outside: { symlink: victim } })
    await run('chown', ['-R', `${f.user.name}:`, victim])
    await deploy(f, { 'release-id': 'one' })
    // A doctored record of what before-switch changed: a path through the link.
    await writeFile(
      meta(f, 'manifests/one.hook'),
      '!hook-added f 644 1 ./outside/keep.txt\n!hook 1 0 0\n'
    )
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    await deploy(f, { 'release-id': 'two' })
    expect(await readFile(path.join(victim, 'keep.txt'), 'utf8')).toBe(
      'outside the deploy directory'
    )
  })

  it('with on-drift ignore, verification still catches an extra file, names it, switches nothing; reuse none recovers', async () => {
    const f = await fixture()
    await deploy(f, { 'release-id': 'one' })
    await writeFile(path.join(current(f), 'public/extra.txt'), 'extra')
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })

    const failed = await runAction(f.inputs({ 'release-id': 'two', 'on-drift': 'ignore' }))
    expect(failed.code).toBe(1)
    const error = errorLines(failed.log)
    expect(error).toContain('public/extra.txt')
    expect(error).toMatch(/does not match/)
    expect(error).toMatch(
      /on-drift: ignore let them through \(on-drift: warn, the default, names such changes and leaves them out of the copy\), deploy once with 'reuse: none'/
    )
    expect(failed.log).not.toContain('::warning::')
    await expectUntouched(f, 'one')

    const recovered = await deploy(f, { 'release-id': 'three', reuse: 'none' })
    expect(Number(recovered.outputs['files-uploaded'])).toBe(await fileCount(f.source))
    await expectExact(f)
  })

  it('with on-drift ignore and verify full, catches a same-size content change on the server', async () => {
    const f = await fixture()
    await deploy(f, { 'release-id': 'one' })
    const edited = path.join(current(f), 'config/app.php')
    const bytes = await readFile(edited)
    bytes[bytes.length - 1] ^= 0x20
    await writeFile(edited, bytes)
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })

    const failed = await runAction(
      f.inputs({ 'release-id': 'two', verify: 'full', 'on-drift': 'ignore' })
    )
    expect(failed.code).toBe(1)
    const error = errorLines(failed.log)
    expect(error).toContain('config/app.php')
    expect(error).not.toContain('index.php')
    await expectUntouched(f, 'one')
  })

  it('falls back to a full upload when the previous manifest is corrupt, and says why', async () => {
    const f = await fixture()
    await deploy(f, { 'release-id': 'one' })
    await writeFile(meta(f, 'manifests/one.view.gz'), 'this is not gzip')
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })

    const second = await deploy(f, { 'release-id': 'two' })
    expect(second.log).toMatch(
      /::warning::.*manifests\/one\.view\.gz is not a valid manifest view .*this deploy uploads everything/
    )
    expect(Number(second.outputs['files-uploaded'])).toBe(await fileCount(f.source))
    await expectExact(f)
    // The new release has a good manifest again: the next deploy is incremental.
    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    const third = await deploy(f, { 'release-id': 'three' })
    expect(third.outputs['files-uploaded']).toBe('1')
    await expectExact(f)
  })
})

describe('hard-linked releases', () => {
  it('never changes the previous release, and shares only unchanged files with it', async () => {
    const f = await fixture({
      ...BASE,
      'change.txt': 'v1 content',
      'mode.sh': '#!/bin/sh\n',
      'nested/deep/keep.txt': 'keep'
    })
    await deploy(f, { 'release-id': 'v1', 'copy-method': 'hardlink' })
    const v1Before = await describeTree(release(f, 'v1'))

    await writeTree(f.source, { 'change.txt': 'v2 content, longer' })
    await chmod(path.join(f.source, 'mode.sh'), 0o755)
    const second = await deploy(f, {
      'release-id': 'v2',
      'copy-method': 'hardlink',
      // A hook that writes into the release, as build steps on the server do.
      'before-switch': "printf ' hooked' >> change.txt\necho generated > generated.txt"
    })
    expect(second.outputs['files-uploaded']).toBe('2')

    expect(await describeTree(release(f, 'v1'))).toEqual(v1Before)
    expect(await readFile(path.join(current(f), 'change.txt'), 'utf8')).toBe(
      'v2 content, longer hooked'
    )
    const skip = (rel: string): boolean => rel === 'change.txt' || rel === 'generated.txt'
    expect(await describeTree(current(f), { skip })).toEqual(await describeTree(f.source, { skip }))

    const ino = async (id: string, rel: string): Promise<number> =>
      (await lstat(path.join(release(f, id), rel))).ino
    for (const rel of ['index.php', 'bin/console', 'public/js/app.js', 'nested/deep/keep.txt'])
      expect(await ino('v2', rel), rel).toBe(await ino('v1', rel))
    for (const rel of ['change.txt', 'mode.sh'])
      expect(await ino('v2', rel), rel).not.toBe(await ino('v1', rel))
  })
})

describe('the copy the next deploy starts from', () => {
  /** The spare copies under .atomic-deploy, once each has ended: name -> release copied. */
  async function spares(f: Fixture): Promise<Map<string, string>> {
    const M = path.join(f.deployDir, '.atomic-deploy')
    const found = new Map<string, string>()
    for (let i = 0; i < 200; i++) {
      found.clear()
      let running = false
      for (const name of await readdir(M)) {
        if (!/^base\.\d+$/.test(name)) continue
        if (!(await exists(path.join(M, `${name}.rc`)))) running = true
        else found.set(name, (await readFile(path.join(M, `${name}.from`), 'utf8')).trim())
      }
      if (!running) return found
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    throw new Error('a spare copy did not end within 5 s')
  }

  it('is made after each deploy, taken by the next one, and is a copy: no file shared with the live release', async () => {
    const f = await fixture({ ...BASE, 'change.txt': 'v1 content' })
    await deploy(f, { 'release-id': 'v1' })
    const after1 = await spares(f)
    expect([...after1.values()]).toEqual(['v1 copy'])
    const spare = path.join(f.deployDir, '.atomic-deploy', [...after1.keys()][0] as string)
    expect(await describeTree(spare)).toEqual(await describeTree(release(f, 'v1')))

    await writeTree(f.source, { 'change.txt': 'v2 content, longer' })
    const second = await deploy(f, {
      'release-id': 'v2',
      'before-switch': "printf ' hooked' >> index.php"
    })
    expect(second.log).toContain('the new release starts from the copy of v1 made after the deploy')
    expect(second.outputs['files-uploaded']).toBe('1')
    // The spare became v2: v1 is untouched by the hook that wrote into v2 in place.
    expect(await readFile(path.join(release(f, 'v1'), 'index.php'), 'utf8')).toBe(
      '<?php echo "v1";'
    )
    const ino = async (id: string, rel: string): Promise<number> =>
      (await lstat(path.join(release(f, id), rel))).ino
    for (const rel of ['index.php', 'bin/console', 'public/js/app.js', 'config/app.php'])
      expect(await ino('v2', rel), rel).not.toBe(await ino('v1', rel))
    expect([...(await spares(f)).values()]).toEqual(['v2 copy'])
  })

  it('is taken when the live release changed since, where the drift check named the change: that path is sent again', async () => {
    const f = await fixture({ ...BASE, 'change.txt': 'v1 content' })
    await deploy(f, { 'release-id': 'v1' })
    expect([...(await spares(f)).values()]).toEqual(['v1 copy'])
    // Changed on the server after the spare was made: the drift check names it.
    await writeFile(path.join(release(f, 'v1'), 'config/app.php'), 'edited on the server')
    await writeTree(f.source, { 'change.txt': 'v2 content, longer' })
    const second = await deploy(f, { 'release-id': 'v2' })
    expect(second.log).toContain('the new release starts from the copy of v1 made after the deploy')
    expect(second.log).toMatch(/::warning::.*config\/app\.php/)
    // The changed file and the edited one.
    expect(second.outputs['files-uploaded']).toBe('2')
    await expectExact(f)
  })

  it('with copy-method hardlink is hard-linked, and taken by the next hardlink deploy; never by a copy deploy, which shares no file with the live release', async () => {
    const f = await fixture({ ...BASE, 'change.txt': 'v1 content' })
    const hardlink = { 'copy-method': 'hardlink' }
    await deploy(f, { ...hardlink, 'release-id': 'v1' })
    const after1 = await spares(f)
    expect([...after1.values()]).toEqual(['v1 hardlink'])
    const spare = path.join(f.deployDir, '.atomic-deploy', [...after1.keys()][0] as string)
    expect((await lstat(path.join(spare, 'index.php'))).ino).toBe(
      (await lstat(path.join(release(f, 'v1'), 'index.php'))).ino
    )
    const spareIno = (await lstat(spare)).ino
    const ino = async (id: string, rel: string): Promise<number> =>
      (await lstat(path.join(release(f, id), rel))).ino

    await writeTree(f.source, { 'change.txt': 'v2 content, longer' })
    const second = await deploy(f, { ...hardlink, 'release-id': 'v2' })
    expect(second.log).toContain('the new release starts from the copy of v1 made after the deploy')
    expect(second.outputs['files-uploaded']).toBe('1')
    // Taken over, not hard-linked again: v2 is the spare's directory, moved into place.
    expect((await lstat(release(f, 'v2'))).ino).toBe(spareIno)
    expect(await ino('v2', 'index.php')).toBe(await ino('v1', 'index.php'))
    expect(await ino('v2', 'change.txt')).not.toBe(await ino('v1', 'change.txt'))
    expect([...(await spares(f)).values()]).toEqual(['v2 hardlink'])
    await expectExact(f)

    // copy-method copy now: the hard-linked spare is dropped, the live release copied whole.
    await writeTree(f.source, { 'change.txt': 'v3 content, longer still' })
    const third = await deploy(f, { 'release-id': 'v3' })
    expect(third.log).not.toContain('made after the deploy')
    for (const rel of ['index.php', 'bin/console', 'public/js/app.js', 'config/app.php'])
      expect(await ino('v3', rel), rel).not.toBe(await ino('v2', rel))
    expect([...(await spares(f)).values()]).toEqual(['v3 copy'])
    await expectExact(f)
  })

  it('is not taken when current moved to another release since', async () => {
    const f = await fixture()
    await deploy(f, { 'release-id': 'v1' })
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    await deploy(f, { 'release-id': 'v2' })
    expect([...(await spares(f)).values()]).toEqual(['v2 copy'])
    // current moved back by hand (or by a run killed after its switch): the spare is of v2.
    await symlink('releases/v1', path.join(f.deployDir, 'current.tmp'))
    await rename(path.join(f.deployDir, 'current.tmp'), path.join(f.deployDir, 'current'))
    await writeTree(f.source, { 'index.php': '<?php echo "v3";' })
    const third = await deploy(f, { 'release-id': 'v3' })
    expect(third.log).not.toContain('made after the deploy')
    await expectExact(f)
  })
})

describe('the SFTP transfer', () => {
  async function sftpDeploys(f: Fixture, extra: Record<string, string>): Promise<ActionResult> {
    await writeTree(f.source, {
      'open.txt': { content: 'world-writable in the source', mode: 0o666 },
      'script.sh': { content: '#!/bin/sh\n', mode: 0o755 },
      'big.bin': { content: randomBytes(300_000) }
    })
    const first = await deploy(f, extra)
    // open.txt arrives without its world-write bit; everything else exactly as in the source.
    const skip = (rel: string): boolean => rel === 'open.txt'
    expect(await describeTree(current(f), { skip })).toEqual(await describeTree(f.source, { skip }))
    expect((await stat(path.join(current(f), 'open.txt'))).mode & 0o777).toBe(0o664)
    expect((await stat(path.join(current(f), 'script.sh'))).mode & 0o777).toBe(0o755)
    expect((await stat(path.join(current(f), 'bin/console'))).mode & 0o777).toBe(0o755)
    expect(await worldWritable(f.deployDir)).toEqual([])
    expect(Number(first.outputs['files-uploaded'])).toBe(await fileCount(f.source))

    await chmod(path.join(f.source, 'open.txt'), 0o644)
    await rm(path.join(f.source, 'public/app.css'))
    await writeTree(f.source, {
      'bin/console': { content: '#!/bin/sh\necho console v2\n', mode: 0o755 },
      'new/dir/file.txt': 'new',
      'docs/link-to-index': { symlink: 'readme.md' }
    })
    await chmod(path.join(f.source, 'config/app.php'), 0o755)
    const second = await deploy(f, extra)
    // bin/console, new/dir/file.txt, config/app.php (mode), open.txt (mode)
    expect(second.outputs['files-uploaded']).toBe('4')
    expect(second.outputs['files-deleted']).toBe('1')
    await expectExact(f)
    expect(await worldWritable(f.deployDir)).toEqual([])
    expect(await list(path.join(current(f), 'bin'))).toEqual(['console'])
    return second
  }

  it('deploys exactly and incrementally to a server without tar', async () => {
    const f = await fixture(BASE, 'notar')
    const second = await sftpDeploys(f, {})
    expect(second.log).toMatch(/no tar/)
  })

  it('deploys exactly and incrementally with transfer sftp on a server that has tar', async () => {
    const f = await fixture()
    await sftpDeploys(f, { transfer: 'sftp' })
  })
})

describe('hostile file names', () => {
  const names: TreeSpec = {
    'with space/file name.txt': 'space',
    'quote\'s "double".txt': 'quotes',
    '$(touch pwned-dollar).txt': 'dollar',
    '`touch pwned-tick`.txt': 'tick',
    '日本語/ü ñ 🚀.txt': 'unicode',
    'new\nline.txt': 'newline',
    'dir with\nnewline/inner.txt': 'inner',
    'back\\slash.txt': 'backslash',
    '-leading-dash.txt': 'dash',
    '--rf': 'double dash',
    '-dir/-x': 'dash dir',
    '* star ?.txt': 'glob',
    'link $(x) `y`': { symlink: 'quote\'s "double".txt' }
  }

  /** Names anywhere under `root` that a command injection would have created. */
  async function pwned(root: string): Promise<string[]> {
    const found: string[] = []
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.name.startsWith('pwned')) found.push(path.join(dir, entry.name))
        if (entry.isDirectory()) await walk(path.join(dir, entry.name))
      }
    }
    await walk(root)
    return found
  }

  it.each(['tar', 'sftp'])(
    'survive byte for byte over %s, in a second incremental deploy too',
    async transfer => {
      const f = await fixture({ ...BASE, ...names })
      const first = await deploy(f, { transfer })
      await expectExact(f)
      expect(Number(first.outputs['files-uploaded'])).toBe(await fileCount(f.source))

      await rm(path.join(f.source, 'new\nline.txt'))
      await rm(path.join(f.source, '--rf'))
      await writeTree(f.source, {
        '$(touch pwned-dollar).txt': 'dollar v2',
        'back\\slash.txt': 'backslash v2',
        'added \\ `x`\n$(y).txt': 'added'
      })
      const second = await deploy(f, { transfer })
      expect(second.outputs['files-uploaded']).toBe('3')
      expect(second.outputs['files-deleted']).toBe('2')
      await expectExact(f)
      expect(await pwned(f.user.home)).toEqual([])
    }
  )
})

describe('starting points', () => {
  it('with reuse cache, keeps cache/ equal to the source and the release exact', async () => {
    const f = await fixture()
    await deploy(f, { reuse: 'cache' })
    expect(await describeTree(path.join(f.deployDir, 'cache'))).toEqual(
      await describeTree(f.source)
    )
    await expectExact(f)

    // A shared entry is linked into the release but must never reach the cache.
    await mkdir(path.join(f.deployDir, 'shared/uploads'))
    await run('chown', [`${f.user.name}:`, path.join(f.deployDir, 'shared/uploads')])
    await rm(path.join(f.source, 'docs'), { recursive: true })
    await writeTree(f.source, { 'index.php': '<?php echo "v2";', 'public/new.css': 'new' })
    const second = await deploy(f, { reuse: 'cache' })
    expect(second.outputs['files-uploaded']).toBe('2')
    expect(second.outputs['files-deleted']).toBe('3')
    expect(await describeTree(path.join(f.deployDir, 'cache'))).toEqual(
      await describeTree(f.source)
    )
    const notShared = (rel: string): boolean => rel === 'uploads'
    expect(await describeTree(current(f), { skip: notShared })).toEqual(
      await describeTree(f.source)
    )
    expect(await readlink(path.join(current(f), 'uploads'))).toMatch(/shared\/uploads$/)
  })

  it('with reuse none, uploads every file', async () => {
    const f = await fixture()
    await deploy(f)
    await writeTree(f.source, { 'index.php': '<?php echo "v2";' })
    const second = await deploy(f, { reuse: 'none' })
    expect(Number(second.outputs['files-uploaded'])).toBe(await fileCount(f.source))
    expect(second.outputs['files-deleted']).toBe('0')
    await expectExact(f)
  })
})

describe('dry run', () => {
  it('prints the plan of a first deploy and does not create the deploy directory', async () => {
    const many: TreeSpec = {}
    for (let i = 0; i < 30; i++) many[`many/file-${String(i).padStart(2, '0')}.txt`] = `${i}`
    const f = await fixture({ ...BASE, ...many })
    const total = await fileCount(f.source)
    const result = await runAction(f.inputs({ 'dry-run': 'true' }))
    expect(result.code, result.log).toBe(0)
    expect(result.log).toMatch(new RegExp(`uploading ${total} files`))
    const shown = Object.keys(many).filter(p => result.log.includes(p))
    expect(shown.length).toBeGreaterThan(0)
    expect(shown.length).toBeLessThan(Object.keys(many).length)
    expect(await exists(f.deployDir)).toBe(false)
    expect(JSON.parse(result.outputs.servers)[`${f.user.name}@127.0.0.1:${sshd.port}`].status).toBe(
      'planned'
    )
  })

  it('prints counts and paths of an incremental deploy and writes nothing', async () => {
    const f = await fixture()
    const first = await deploy(f)
    await rm(path.join(f.source, 'docs/readme.md'))
    await writeTree(f.source, { 'index.php': '<?php echo "v2";', 'public/added.js': 'added()' })
    await settled(f.deployDir)
    const before = await describeTree(f.deployDir)

    const result = await runAction(f.inputs({ 'dry-run': 'true' }))
    expect(result.code, result.log).toBe(0)
    expect(result.log).toMatch(/uploading 2 files .*deleting 1 file\b/)
    // The Done line names the release the deploy would make, not the live one.
    const planned = /^Done: dry run planned release (\S+) /m.exec(result.log)?.[1]
    expect(planned, result.log).toBeDefined()
    expect(planned).not.toBe(first.outputs['release-id'])
    expect(result.log).toContain(`plan for release ${planned}:`)
    // The first paths of each kind, under their kind.
    const section = (title: string): string =>
      new RegExp(`${title} \\(\\d+\\):\\n((?:.*\\]   .*\\n)*)`).exec(result.log)?.[1] ?? ''
    expect(section('would add')).toContain('public/added.js')
    expect(section('would change')).toContain('index.php')
    expect(section('would delete')).toContain('docs/readme.md')
    expect(section('would add')).not.toContain('index.php')
    expect(result.log).not.toContain('public/app.css')

    expect(await describeTree(f.deployDir)).toEqual(before)
    expect(await exists(meta(f, 'lock'))).toBe(false)
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual([first.outputs['release-id']])
    expect(await readlink(current(f))).toBe(`releases/${first.outputs['release-id']}`)
  })
})

describe('a dry run that the deploy would fail', () => {
  it('fails on a shared-path conflict, naming it, and writes nothing', async () => {
    const f = await fixture({ ...BASE, '.env': 'APP_KEY=committed' })
    await mkdir(path.join(f.deployDir, 'shared'), { recursive: true })
    await writeFile(path.join(f.deployDir, 'shared/.env'), 'APP_KEY=real')
    await run('chown', ['-R', `${f.user.name}:`, f.deployDir])
    const before = await describeTree(f.deployDir)
    const result = await runAction(f.inputs({ 'dry-run': 'true' }))
    expect(result.code).toBe(1)
    expect(errorLines(result.log)).toMatch(
      /would fail.*\n.*\.env is both in shared\/ and in the release/
    )
    expect(await describeTree(f.deployDir)).toEqual(before)
    const missing = await runAction(
      f.inputs({
        'dry-run': 'true',
        'shared-paths': 'config/app.ini',
        'shared-conflict': 'replace'
      })
    )
    expect(missing.code).toBe(1)
    expect(errorLines(missing.log)).toContain('config/app.ini is listed in shared-paths')
    const fine = await runAction(f.inputs({ 'dry-run': 'true', 'shared-conflict': 'replace' }))
    expect(fine.code, fine.log).toBe(0)
    expect(await describeTree(f.deployDir)).toEqual(before)
  })
})

describe('the upload stream', () => {
  async function proxied(delayMsEachWay: number): Promise<LatencyProxy> {
    const proxy = await startLatencyProxy(
      { host: '127.0.0.1', port: sshd.port },
      { delayMsEachWay }
    )
    proxies.push(proxy)
    return proxy
  }
  const through = (f: Fixture, proxy: LatencyProxy, extra: Record<string, string> = {}) =>
    f.inputs({
      servers: `${f.user.name}@127.0.0.1:${proxy.port}`,
      'known-hosts': sshd.knownHosts.replaceAll(`]:${sshd.port} `, `]:${proxy.port} `),
      ...extra
    })

  it('deploys exactly with compression none, gzip and auto, and the compressed ones send fewer bytes', async () => {
    const text = 'a line of very compressible text, repeated many times\n'.repeat(40_000)
    const f = await fixture({ ...BASE, 'big.txt': text })
    const proxy = await proxied(0)

    const plain = await runAction(through(f, proxy, { compression: 'none' }))
    expect(plain.code, plain.log).toBe(0)
    await expectExact(f)
    const plainBytes = proxy.stats().up
    expect(plainBytes).toBeGreaterThan(text.length)

    await writeTree(f.source, { 'big.txt': text.replaceAll('very', 'VERY') })
    const zipped = await runAction(through(f, proxy, { compression: 'gzip' }))
    expect(zipped.code, zipped.log).toBe(0)
    expect(zipped.outputs['files-uploaded']).toBe('1')
    await expectExact(f)
    expect(proxy.stats().up - plainBytes).toBeLessThan(text.length / 4)

    // compression: auto, the default, compresses an upload of this size too.
    const zippedBytes = proxy.stats().up
    await writeTree(f.source, { 'big.txt': text.replaceAll('line', 'LINE') })
    const auto = await runAction(through(f, proxy))
    expect(auto.code, auto.log).toBe(0)
    expect(auto.outputs['files-uploaded']).toBe('1')
    await expectExact(f)
    expect(proxy.stats().up - zippedBytes).toBeLessThan(text.length / 4)
  })

  it('compression: auto goes to gzip level 1 on a fast link and stays at level 6 on a slow one', async () => {
    // Source-like text, 24 MB of lines drawn from a pool of 3,000 (as code repeats idioms): gzip
    // level 6 finds the repeats level 1 misses (for 8 MB of it, 0.77 MB against 1.07 MB). The
    // bytes each level sends are checked in test/server/archive-stream.test.ts.
    const words = 'user order cart invoice payment session request response model view'.split(' ')
    let seed = 1
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
    const pool = Array.from({ length: 3000 }, () => {
      const n = next()
      return `    $${words[n % 10]}->${words[(n >> 4) % 10]}(${n % 100_003}, '${words[(n >> 8) % 10]}${words[(n >> 12) % 10]}');\n`
    })
    const lines: string[] = []
    for (let size = 0; size < 24 * 1024 * 1024;) {
      const line = pool[next() % 3000] as string
      lines.push(line)
      size += line.length
    }
    // Twice that through the fast link: the level is chosen once the server takes the stream,
    // and the stream must still be going then, however busy the machine running the test.
    const f = await fixture({ ...BASE, 'big.php': lines.join('') + lines.join('') })
    const proxy = await proxied(5)
    const fast = await runAction(through(f, proxy))
    expect(fast.code, fast.log).toBe(0)
    expect(fast.log).toMatch(/compression: gzip level 1 \(the link keeps up\)/)
    await expectExact(f)

    // A third of it, reversed, through 256 KiB/s: level 6 makes its 0.8 MB far faster than the
    // link takes them, even on a machine busy enough to give the compressor a tenth of a core.
    await writeTree(f.source, {
      'big.php': lines
        .slice(0, lines.length / 3)
        .reverse()
        .join('')
    })
    proxy.setRate(256 * 1024)
    const slow = await runAction(through(f, proxy))
    proxy.setRate(undefined)
    expect(slow.code, slow.log).toBe(0)
    expect(slow.log).not.toMatch(/compression: gzip level 1/)
    await expectExact(f)
  })

  it('logs progress during a long upload', { timeout: 180_000 }, async () => {
    const spec: TreeSpec = {}
    for (let i = 0; i < 12; i++)
      spec[`assets/blob-${i}.bin`] = { content: randomBytes(5 * 1024 * 1024) }
    const f = await fixture({ 'index.php': 'x', ...spec })
    const proxy = await proxied(60)
    const started = Date.now()
    const result = await runAction(through(f, proxy), { timeoutMs: 170_000 })
    expect(result.code, result.log).toBe(0)
    expect(Date.now() - started).toBeGreaterThan(3000)
    expect(result.log).toMatch(/upload \d+%/)
    await expectExact(f)
  })
})

describe('the revision record', () => {
  it('holds commit, ref, actor, run URL, time and release', async () => {
    const f = await fixture()
    const env = {
      GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
      GITHUB_REF: 'refs/heads/main',
      GITHUB_ACTOR: 'octocat',
      GITHUB_REPOSITORY: 'octo/shop',
      GITHUB_RUN_ID: '987654321',
      GITHUB_SERVER_URL: 'https://github.example.com'
    }
    const before = Date.now()
    const result = await deploy(f, {}, { env })
    const after = Date.now()
    const id = result.outputs['release-id']
    const revision = JSON.parse(await readFile(meta(f, `revisions/${id}.json`), 'utf8'))
    expect(revision).toMatchObject({
      release: id,
      commit: env.GITHUB_SHA,
      ref: env.GITHUB_REF,
      actor: env.GITHUB_ACTOR,
      runUrl: 'https://github.example.com/octo/shop/actions/runs/987654321'
    })
    const time = Date.parse(revision.time)
    expect(time).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000)
    expect(time).toBeLessThanOrEqual(after)
    // The record lives in the metadata, not in the release.
    await expectExact(f)
  })
})
