/**
 * plan.ts: the diff between what will be deployed and what the new release starts from. Entries
 * are built with real sha256 digests of their content; expected arrays are written out by hand.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { ManifestEntry } from '../../src/release/manifest.js'
import { makePlan, writtenDirectories, type Plan } from '../../src/release/plan.js'

const MTIME = 1_700_000_000

function file(path: string, content: string, mode = 0o644, mtime = MTIME): ManifestEntry {
  const bytes = Buffer.from(content)
  return {
    path,
    type: 'file',
    mode,
    size: bytes.length,
    mtime,
    sha256: createHash('sha256').update(bytes).digest('hex')
  }
}

function dir(path: string, mode = 0o755): ManifestEntry {
  return { path, type: 'dir', mode, size: 0, mtime: MTIME }
}

function link(path: string, target: string): ManifestEntry {
  return {
    path,
    type: 'symlink',
    mode: 0o777,
    size: Buffer.byteLength(target),
    mtime: MTIME,
    target
  }
}

const paths = (entries: ManifestEntry[]): string[] => entries.map(e => e.path)

/** The invariants every plan keeps, whatever the inputs. */
function checkInvariants(plan: Plan, local: ManifestEntry[], base: ManifestEntry[]): void {
  const localPaths = new Set(paths(local))
  const basePaths = new Set(paths(base))
  // Every deleted path was in the base and is not in the new release.
  for (const p of plan.deleted) {
    expect(basePaths.has(p)).toBe(true)
    expect(localPaths.has(p)).toBe(false)
  }
  // Every base path that is not in the new release is deleted.
  for (const p of basePaths) if (!localPaths.has(p)) expect(plan.deleted).toContain(p)
  // Nothing removed lies inside another removed path (rm -rf of the parent covers it).
  for (const a of plan.remove)
    for (const b of plan.remove) expect(b.startsWith(`${a}/`)).toBe(false)
  // Every local entry is either uploaded or counted unchanged, never both.
  expect(plan.upload.length + plan.unchanged).toBe(local.length)
  // Uploads keep the local order (parents before children).
  const order = paths(local)
  const uploaded = paths(plan.upload)
  expect(uploaded).toEqual(order.filter(p => uploaded.includes(p)))
  // The counters agree with the upload list.
  const files = plan.upload.filter(e => e.type === 'file')
  expect(plan.uploadFiles).toBe(files.length)
  expect(plan.uploadBytes).toBe(files.reduce((n, e) => n + e.size, 0))
}

const tree = (): ManifestEntry[] => [
  file('index.php', '<?php echo 1;'),
  dir('src'),
  file('src/a.php', 'a'),
  dir('src/lib'),
  file('src/lib/b.php', 'b'),
  link('public', 'src')
]

describe('makePlan', () => {
  it('uploads nothing and removes nothing when nothing changed', () => {
    const plan = makePlan(tree(), tree())
    expect(plan).toEqual({
      upload: [],
      remove: [],
      deleted: [],
      unchanged: 6,
      unchangedFiles: 3,
      deletedFiles: 0,
      uploadFiles: 0,
      uploadBytes: 0
    })
  })

  it('uploads everything against an empty base (full upload)', () => {
    const local = tree()
    const plan = makePlan(local, [])
    expect(paths(plan.upload)).toEqual([
      'index.php',
      'src',
      'src/a.php',
      'src/lib',
      'src/lib/b.php',
      'public'
    ])
    expect(plan.remove).toEqual([])
    expect(plan.deleted).toEqual([])
    expect(plan.unchanged).toBe(0)
    expect(plan.uploadFiles).toBe(3)
    expect(plan.uploadBytes).toBe(Buffer.byteLength('<?php echo 1;') + 2)
    checkInvariants(plan, local, [])
  })

  it('uploads added files and directories in nested directories, parents first', () => {
    const local = [
      ...tree(),
      dir('src/lib/deep'),
      file('src/lib/deep/c.php', 'ccc'),
      file('src/new.php', 'n')
    ]
    const plan = makePlan(local, tree())
    expect(paths(plan.upload)).toEqual(['src/lib/deep', 'src/lib/deep/c.php', 'src/new.php'])
    expect(plan.remove).toEqual([])
    expect(plan.deleted).toEqual([])
    expect(plan.unchanged).toBe(6)
    expect(plan.uploadFiles).toBe(2)
    expect(plan.uploadBytes).toBe(4)
    checkInvariants(plan, local, tree())
  })

  it('removes and re-uploads a changed file in a nested directory (a new inode)', () => {
    const local = tree().map(e =>
      e.path === 'src/lib/b.php' ? file('src/lib/b.php', 'b, changed') : e
    )
    const plan = makePlan(local, tree())
    expect(paths(plan.upload)).toEqual(['src/lib/b.php'])
    expect(plan.upload[0]?.sha256).toBe(createHash('sha256').update('b, changed').digest('hex'))
    expect(plan.remove).toEqual(['src/lib/b.php'])
    expect(plan.deleted).toEqual([])
    expect(plan.unchanged).toBe(5)
    expect(plan.uploadBytes).toBe(Buffer.byteLength('b, changed'))
    checkInvariants(plan, local, tree())
  })

  it('notices a change of content that keeps the size', () => {
    const base = [file('a.txt', 'abc')]
    const local = [file('a.txt', 'abd')]
    const plan = makePlan(local, base)
    expect(paths(plan.upload)).toEqual(['a.txt'])
    expect(plan.remove).toEqual(['a.txt'])
  })

  it('deletes a removed nested file', () => {
    const local = tree().filter(e => e.path !== 'src/lib/b.php')
    const plan = makePlan(local, tree())
    expect(plan.upload).toEqual([])
    expect(plan.remove).toEqual(['src/lib/b.php'])
    expect(plan.deleted).toEqual(['src/lib/b.php'])
    expect(plan.unchanged).toBe(5)
    checkInvariants(plan, local, tree())
  })

  it('removes a deleted directory once, and lists everything in it as deleted', () => {
    const base = [
      ...tree(),
      dir('old'),
      file('old/a', '1'),
      dir('old/sub'),
      file('old/sub/b', '2'),
      link('old/sub/l', '../a'),
      dir('old/empty')
    ]
    const plan = makePlan(tree(), base)
    expect(plan.remove).toEqual(['old'])
    expect(plan.deleted).toEqual(['old', 'old/a', 'old/sub', 'old/sub/b', 'old/sub/l', 'old/empty'])
    expect(plan.upload).toEqual([])
    expect(plan.unchanged).toBe(6)
    checkInvariants(plan, tree(), base)
  })

  it('does not take a sibling whose name starts with a removed directory`s name for its child', () => {
    const base = [
      dir('app'),
      file('app/x', 'x'),
      dir('app-assets'),
      file('app-assets/y', 'y'),
      file('app.json', '{}'),
      dir('application'),
      file('application/z', 'z')
    ]
    const local = [
      dir('app-assets'),
      file('app-assets/y', 'y'),
      file('app.json', '{}'),
      dir('application'),
      file('application/z', 'z')
    ]
    const plan = makePlan(local, base)
    expect(plan.remove).toEqual(['app'])
    expect(plan.deleted).toEqual(['app', 'app/x'])
    expect(plan.upload).toEqual([])
    expect(plan.unchanged).toBe(5)
    checkInvariants(plan, local, base)
  })

  it('replaces a file by a directory: removes the file, uploads the directory and its content', () => {
    const base = [dir('conf'), file('conf/app', 'single file')]
    const local = [
      dir('conf'),
      dir('conf/app'),
      file('conf/app/main.ini', 'x=1'),
      file('conf/app/extra.ini', 'y=2')
    ]
    const plan = makePlan(local, base)
    expect(plan.remove).toEqual(['conf/app'])
    expect(paths(plan.upload)).toEqual(['conf/app', 'conf/app/main.ini', 'conf/app/extra.ini'])
    expect(plan.upload[0]?.type).toBe('dir')
    expect(plan.deleted).toEqual([])
    expect(plan.unchanged).toBe(1)
    expect(plan.uploadFiles).toBe(2)
    checkInvariants(plan, local, base)
  })

  it('replaces a directory by a file: removes the directory only, lists its children as deleted', () => {
    const base = [
      dir('conf'),
      dir('conf/app'),
      file('conf/app/main.ini', 'x=1'),
      dir('conf/app/d'),
      file('conf/app/d/e', 'e')
    ]
    const local = [dir('conf'), file('conf/app', 'single file')]
    const plan = makePlan(local, base)
    expect(plan.remove).toEqual(['conf/app'])
    expect(plan.deleted).toEqual(['conf/app/main.ini', 'conf/app/d', 'conf/app/d/e'])
    expect(paths(plan.upload)).toEqual(['conf/app'])
    expect(plan.upload[0]?.type).toBe('file')
    expect(plan.unchanged).toBe(1)
    checkInvariants(plan, local, base)
  })

  it('replaces a directory by a symlink, and a symlink by a directory', () => {
    const base = [dir('a'), file('a/f', 'f'), link('b', 'a')]
    const local = [link('a', 'b'), dir('b'), file('b/f', 'f')]
    const plan = makePlan(local, base)
    expect(plan.remove).toEqual(['a', 'b'])
    expect(plan.deleted).toEqual(['a/f'])
    expect(paths(plan.upload)).toEqual(['a', 'b', 'b/f'])
    expect(plan.unchanged).toBe(0)
    checkInvariants(plan, local, base)
  })

  it('replaces a symlink whose target changed, and keeps one whose target did not', () => {
    const base = [link('current-config', 'config/v1'), link('docs', '../docs')]
    const local = [link('current-config', 'config/v2'), link('docs', '../docs')]
    const plan = makePlan(local, base)
    expect(plan.remove).toEqual(['current-config'])
    expect(plan.upload).toEqual([link('current-config', 'config/v2')])
    expect(plan.unchanged).toBe(1)
    expect(plan.uploadFiles).toBe(0)
    expect(plan.uploadBytes).toBe(0)
  })

  it('re-uploads a file whose mode flipped (now executable), and the other way', () => {
    const base = [file('bin/run', '#!/bin/sh\n', 0o644), file('bin/old', '#!/bin/sh\n', 0o755)]
    const local = [file('bin/run', '#!/bin/sh\n', 0o755), file('bin/old', '#!/bin/sh\n', 0o644)]
    const plan = makePlan(local, base)
    expect(plan.remove).toEqual(['bin/run', 'bin/old'])
    expect(plan.upload).toEqual(local)
    expect(plan.uploadBytes).toBe(20)
  })

  it('counts a file with the same content and a new mtime (a fresh clone) as unchanged', () => {
    const base = [file('a.txt', 'same', 0o644, MTIME)]
    const local = [file('a.txt', 'same', 0o644, MTIME + 86_400)]
    const plan = makePlan(local, base)
    expect(plan).toEqual({
      upload: [],
      remove: [],
      deleted: [],
      unchanged: 1,
      unchangedFiles: 1,
      deletedFiles: 0,
      uploadFiles: 0,
      uploadBytes: 0
    })
  })

  it('counts a directory whose mode differs as unchanged (the server`s umask decides it)', () => {
    const plan = makePlan([dir('d', 0o775), file('d/f', 'x')], [dir('d', 0o755), file('d/f', 'x')])
    expect(plan).toEqual({
      upload: [],
      remove: [],
      deleted: [],
      unchanged: 2,
      unchangedFiles: 1,
      deletedFiles: 0,
      uploadFiles: 0,
      uploadBytes: 0
    })
  })

  it('deletes everything when nothing is deployed', () => {
    const plan = makePlan([], tree())
    expect(plan.remove).toEqual(['index.php', 'src', 'public'])
    // The log counts files: three files, whatever the directories and links.
    expect(plan.deletedFiles).toBe(3)
    expect(plan.deleted).toEqual([
      'index.php',
      'src',
      'src/a.php',
      'src/lib',
      'src/lib/b.php',
      'public'
    ])
    expect(plan.upload).toEqual([])
    expect(plan.unchanged).toBe(0)
  })

  it('plans a mixed deploy exactly', () => {
    const base = [
      file('README.md', 'readme'),
      dir('app'),
      file('app/keep.php', 'keep'),
      file('app/change.php', 'v1'),
      file('app/gone.php', 'gone'),
      dir('app/legacy'),
      file('app/legacy/x.php', 'x'),
      dir('assets'),
      link('assets/logo.svg', '../img/logo-v1.svg'),
      file('run.sh', 'echo', 0o644)
    ]
    const local = [
      file('README.md', 'readme'),
      dir('app'),
      file('app/change.php', 'v2'),
      file('app/keep.php', 'keep'),
      dir('app/new'),
      file('app/new/y.php', 'yy'),
      dir('assets'),
      link('assets/logo.svg', '../img/logo-v2.svg'),
      file('run.sh', 'echo', 0o755)
    ]
    const plan = makePlan(local, base)
    expect(plan.remove).toEqual([
      'app/change.php',
      'app/gone.php',
      'app/legacy',
      'assets/logo.svg',
      'run.sh'
    ])
    expect(plan.deleted).toEqual(['app/gone.php', 'app/legacy', 'app/legacy/x.php'])
    expect(paths(plan.upload)).toEqual([
      'app/change.php',
      'app/new',
      'app/new/y.php',
      'assets/logo.svg',
      'run.sh'
    ])
    expect(plan.unchanged).toBe(4)
    expect(plan.uploadFiles).toBe(3)
    expect(plan.uploadBytes).toBe(2 + 2 + 4)
    checkInvariants(plan, local, base)
  })
})

describe('writtenDirectories', () => {
  it('lists every parent of what is removed or uploaded, and uploaded directories, parents first', () => {
    const file = (p: string): ManifestEntry => ({
      path: p,
      type: 'file',
      mode: 0o644,
      size: 1,
      mtime: 0,
      sha256: 'a'.repeat(64)
    })
    const dir = (p: string): ManifestEntry => ({
      path: p,
      type: 'dir',
      mode: 0o755,
      size: 0,
      mtime: 0
    })
    const plan: Plan = {
      upload: [dir('new'), file('new/x'), file('a/b/c.txt'), file('top.txt')],
      remove: ['ext/secret', 'a/b/old.txt', 'gone'],
      deleted: [],
      unchanged: 0,
      unchangedFiles: 0,
      deletedFiles: 0,
      uploadFiles: 3,
      uploadBytes: 3
    }
    expect(writtenDirectories(plan)).toEqual(['a', 'ext', 'new', 'a/b'])
    // Worked out once for servers that share the plan's arrays, but a server whose plan removes
    // more (its own drift) gets the directories of its own removals too.
    const shared = { ...plan }
    expect(writtenDirectories(shared)).toEqual(['a', 'ext', 'new', 'a/b'])
    const more = { ...plan, remove: ['drift/deep/x', ...plan.remove] }
    expect(writtenDirectories(more)).toEqual(['a', 'drift', 'ext', 'new', 'a/b', 'drift/deep'])
    // A caller may change its copy; the next server's is whole.
    writtenDirectories(shared).pop()
    expect(writtenDirectories(plan)).toEqual(['a', 'ext', 'new', 'a/b'])
  })

  it('lists nothing for a plan that touches only the top level', () => {
    const plan: Plan = {
      upload: [],
      remove: ['x'],
      deleted: ['x'],
      unchanged: 0,
      unchangedFiles: 0,
      deletedFiles: 1,
      uploadFiles: 0,
      uploadBytes: 0
    }
    expect(writtenDirectories(plan)).toEqual([])
  })
})
