/** The release notes the release workflow publishes: CHANGELOG.md's section for the tag. */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parseTag, releaseNotes } from '../../scripts/release-notes.ts'

const root = path.resolve(import.meta.dirname, '../..')

const CHANGELOG = `# Changelog

Intro text.

## [Unreleased]

### Fixed

- Not released yet.

## [1.10.0] - 2027-02-01

### Added

- A feature.
- Another, with a \`## heading\` in code.

## [1.2.3] - 2026-12-24

### Fixed

- A fix for 1.2.3.

## [1.0.0] - 2026-11-22

- The first release.

## [0.9.0]

[1.10.0]: https://example.com/compare/v1.2.3...v1.10.0
[1.2.3]: https://example.com/compare/v1.0.0...v1.2.3
`

describe('release notes', () => {
  it.each([
    ['1.2.3', '### Fixed\n\n- A fix for 1.2.3.\n'],
    ['1.10.0', '### Added\n\n- A feature.\n- Another, with a `## heading` in code.\n'],
    ['1.0.0', '- The first release.\n']
  ])('are the section for %s, without its heading or the next one', (version, notes) => {
    expect(releaseNotes(CHANGELOG, version)).toBe(notes)
  })

  it('leave out the link definitions at the end of the file, and read CRLF files', () => {
    const last = `## [2.0.0] - 2027-06-01\r\n\r\n- Breaking.\r\n\r\n[2.0.0]: https://example.com/v2.0.0\r\n`
    expect(releaseNotes(last, '2.0.0')).toBe('- Breaking.\n')
  })

  it('refuse a version without a section, or with an empty one, saying what to do', () => {
    expect(() => releaseNotes(CHANGELOG, '1.2.4')).toThrow(
      /^CHANGELOG.md has no section for 1\.2\.4\. Rename \[Unreleased\] to \[1\.2\.4\]/
    )
    // 1.2.3 must not match 1.2.30, nor 11.2.3.
    expect(() => releaseNotes('## [1.2.30]\n\n- x\n## [11.2.3]\n\n- y\n', '1.2.3')).toThrow(
      /no section for 1\.2\.3/
    )
    expect(() => releaseNotes(CHANGELOG, '0.9.0')).toThrow(/section for 0\.9\.0 is empty/)
  })
})

describe('release tags', () => {
  it.each([
    ['v1.2.3', '1.2.3', 'v1'],
    ['v0.1.0', '0.1.0', 'v0'],
    ['v12.0.10', '12.0.10', 'v12']
  ])('%s is version %s and moves %s', (tag, version, majorTag) => {
    expect(parseTag(tag)).toEqual({ version, majorTag })
  })

  it.each([
    '1.2.3',
    'v1',
    'v1.2',
    'v1.2.3-rc.1',
    'v01.2.3',
    'v1.2.3\n',
    ' v1.2.3',
    'v1.2.3; rm -rf /'
  ])('refuses %j with the form expected', tag => {
    expect(() => parseTag(tag)).toThrow(
      /is not a release tag\. Expected v<major>\.<minor>\.<patch>/
    )
  })
})

describe('scripts/release-notes.ts', () => {
  const run = (args: string[]) =>
    promisify(execFile)(process.execPath, [path.join(root, 'scripts/release-notes.ts'), ...args], {
      cwd: root
    }).then(
      r => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e
    )

  it('prints the notes of the version package.json has, and refuses any other in one line', async () => {
    const version = (
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
    ).version
    const changelog = readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8')
    const ok = await run([`v${version}`])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toBe(releaseNotes(changelog, version))
    expect(ok.stdout.length).toBeGreaterThan(20)

    const other = await run(['v999.0.0'])
    expect(other.code).toBe(1)
    expect(other.stdout).toBe('')
    expect(other.stderr).toMatch(
      /^package.json has version \S+, the tag v999\.0\.0\. Run 'npm version --no-git-tag-version 999\.0\.0'.*\n$/
    )

    const bad = await run(['main'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toBe(
      "'main' is not a release tag. Expected v<major>.<minor>.<patch>, e.g. v1.2.3.\n"
    )
  })
})
