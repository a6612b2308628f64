/**
 * drift.ts and shared-check.ts: what the server reported, turned into paths for the log and the
 * plan; and the shared-path rules a dry run applies on the runner.
 */
import { describe, expect, it } from 'vitest'
import {
  describeDrift,
  isReleasePath,
  listingPath,
  notUnderLinks,
  parseListingDiff,
  summarizeDiff,
  topMost
} from '../../src/release/drift.js'
import type { ManifestEntry } from '../../src/release/manifest.js'
import { parseSharedListing, sharedDepth, sharedProblems } from '../../src/release/shared-check.js'
import { shown } from '../../src/server/server-data.js'

describe('summarizeDiff', () => {
  it('tells added, changed and removed apart and condenses added directories', () => {
    const diff = parseListingDiff('drift', [
      'drift-added d ./wp-content/plugins/akismet',
      'drift-added f 644 6 ./wp-content/plugins/akismet/akismet.php',
      'drift-added f 644 21 ./index.php',
      'drift-missing f 644 13 ./index.php',
      'drift-missing f 644 15 ./gone.txt',
      'drift-newer wp-config.php',
      'drift-newer wp-content/plugins/akismet/akismet.php',
      'drift 3 2 2'
    ])
    const drift = summarizeDiff(diff)
    expect(drift).toEqual({
      added: ['wp-content/plugins/akismet'],
      changed: ['index.php', 'wp-config.php'],
      removed: ['gone.txt'],
      paths: [
        'gone.txt',
        'index.php',
        'wp-config.php',
        'wp-content/plugins/akismet',
        'wp-content/plugins/akismet/akismet.php'
      ],
      complete: true
    })
    expect(describeDrift(drift)).toBe(
      'added wp-content/plugins/akismet; changed index.php, wp-config.php; removed gone.txt'
    )
  })

  it('is incomplete when the server listed fewer than it counted, or named a path that is not safe', () => {
    expect(
      summarizeDiff(parseListingDiff('drift', ['drift-newer a', 'drift 0 0 60'])).complete
    ).toBe(false)
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../b', 'a//b', './a', 'a\tb'])
      expect(
        summarizeDiff(parseListingDiff('drift', [`drift-newer ${bad}`, 'drift 0 0 1'])),
        bad
      ).toMatchObject({ complete: false, paths: [] })
    expect(summarizeDiff(parseListingDiff('drift', ['drift 0 0 0']))).toMatchObject({
      complete: true,
      paths: []
    })
    // No summary line at all (a cut-off answer): not complete.
    expect(summarizeDiff(parseListingDiff('drift', [])).complete).toBe(false)
  })

  it('reads names holding a line break or a % (percent-encoded, one result a line) and shows them escaped', () => {
    const drift = summarizeDiff(
      parseListingDiff('drift', [
        'drift-added f 644 2 ./docs/new%0Aline.txt',
        'drift-newer 100%25.txt',
        'drift 1 0 1'
      ])
    )
    expect(drift).toMatchObject({
      added: ['docs/new\nline.txt'],
      changed: ['100%.txt'],
      complete: true
    })
    expect(describeDrift(drift, 20, shown)).toBe('added docs/new\\x0aline.txt; changed 100%.txt')
  })

  it('reads hook lines with the same rules', () => {
    const drift = summarizeDiff(
      parseListingDiff('hook', ['hook-added f 600 900 ./bootstrap/cache/config.php', 'hook 1 0 0'])
    )
    expect(drift.added).toEqual(['bootstrap/cache/config.php'])
  })

  it('shortens a long description and counts the rest', () => {
    const many = Array.from({ length: 30 }, (_, i) => `f${i}`)
    const text = describeDrift(
      { added: many, changed: ['c'], removed: [], paths: [], complete: true },
      5
    )
    expect(text).toBe('added f0, f1, f2, f3, f4, and 25 more; changed 1 more')
  })
})

describe('listingPath, isReleasePath, topMost', () => {
  it.each([
    ['f 644 12 ./a/b c', 'a/b c'],
    ['d ./dir', 'dir'],
    ['l 9 ./link', 'link'],
    ['line2 of a name with a newline', undefined],
    ['f 644 5 ./new\nline', 'new\nline']
  ])('%s -> %s', (line, p) => {
    expect(listingPath(line)).toBe(p)
  })

  it('keeps only paths whose ancestors are not listed', () => {
    expect(topMost(['a/b/c', 'a', 'ab', 'x/y', 'x/y/z', 'a/b'])).toEqual(['a', 'ab', 'x/y'])
  })

  it.each(['a', 'a/b', '.env', 'ünï', 'a b'])('accepts %s', p =>
    expect(isReleasePath(p)).toBe(true)
  )

  it('drops paths that lie under a symlink of the tree, whatever the server reported', () => {
    const entries = [
      { path: 'vendor', type: 'symlink' },
      { path: 'public', type: 'dir' },
      { path: 'public/storage', type: 'symlink' }
    ]
    expect(
      notUnderLinks(['vendor', 'vendor/x', 'public/a', 'public/storage/f', 'vendorx/y'], entries)
    ).toEqual(['vendor', 'public/a', 'vendorx/y'])
  })
})

const e = (p: string, type: ManifestEntry['type'] = 'file'): ManifestEntry => ({
  path: p,
  type,
  mode: 0o644,
  size: 0,
  mtime: 0
})

describe('sharedProblems (a dry run)', () => {
  const source = [e('.env'), e('storage', 'dir'), e('storage/app', 'dir'), e('index.php')]
  const shared = parseSharedListing([
    'f ./.env',
    'd ./storage',
    'd ./storage/app',
    'd ./storage/app/public',
    'f ./storage/app/x',
    'line2 of a name with a newline'
  ])

  it('finds what the automatic linking would refuse, descending where both have a directory', () => {
    expect(sharedProblems(shared, source, undefined, 'fail')).toEqual([
      { kind: 'conflict', path: '.env' }
    ])
    const withX = [...source, e('storage/app/x')]
    expect(sharedProblems(shared, withX, undefined, 'fail').map(p => p.path)).toEqual([
      '.env',
      'storage/app/x'
    ])
    expect(sharedProblems(shared, withX, undefined, 'replace')).toEqual([])
  })

  it('finds conflicts and missing paths of an explicit list', () => {
    expect(
      sharedProblems(shared, source, ['.env', 'uploads', 'logs/', 'storage/app/public'], 'fail')
    ).toEqual([
      { kind: 'conflict', path: '.env' },
      { kind: 'missing', path: 'uploads' }
    ])
    expect(sharedProblems(shared, source, ['.env'], 'replace')).toEqual([])
  })

  it('lists shared/ as deep as the rules look', () => {
    expect(sharedDepth(source, undefined)).toBe(3)
    expect(sharedDepth(source, ['.env', 'storage/app/public/'])).toBe(3)
    expect(sharedDepth([e('index.php')], undefined)).toBe(1)
  })
})
