/**
 * release-id.ts: custom release ids are one safe path segment (DESIGN.md: letters, digits, '.',
 * '_' and '-', never '.' or '..'); default ids are the UTC time as YYYYMMDDHHMMSS.
 */
import { describe, expect, it } from 'vitest'
import { nextFreeTimestampId, releaseIdProblem, timestampId } from '../../src/release/release-id.js'

describe('releaseIdProblem', () => {
  it.each([
    ['a timestamp', '20261122101500'],
    ['a version', 'v1.2.3'],
    ['underscores and hyphens', 'release_2026-11-22'],
    ['one letter', 'a'],
    ['one digit', '7'],
    ['upper case', 'RELEASE'],
    ['a leading hyphen (always used under releases/, never as an argument)', '-rf'],
    ['two dots inside a name', '1..2'],
    ['a trailing dot', 'v1.'],
    ['128 characters', 'x'.repeat(128)]
  ])('accepts %s', (_label, id) => {
    expect(releaseIdProblem(id)).toBeUndefined()
  })

  it.each([
    ['an empty id', ''],
    ['.', '.'],
    ['..', '..'],
    ['a leading dot (the tool`s own temporary names)', '.hidden'],
    ['a slash', 'a/b'],
    ['a parent path', '../x'],
    ['an absolute path', '/tmp/x'],
    ['a backslash', 'a\\b'],
    ['a space', 'a b'],
    ['a single quote', "it's"],
    ['a double quote', 'a"b'],
    ['command substitution', '$(id)'],
    ['backticks', '`id`'],
    ['a variable', '$HOME'],
    ['a newline', 'a\nb'],
    ['a trailing newline', 'v1\n'],
    ['a carriage return', 'v1\r'],
    ['a tab', 'a\tb'],
    ['a NUL', 'a\0b'],
    ['unicode letters', 'rélease'],
    ['an emoji', '🚀'],
    ['a glob', 'v*'],
    ['a tilde', '~v1'],
    ['a colon', 'a:b'],
    ['129 characters', 'x'.repeat(129)]
  ])('refuses %s, with a one-line reason', (_label, id) => {
    const problem = releaseIdProblem(id)
    expect(problem).toBeTypeOf('string')
    expect(problem).not.toMatch(/[\r\n]/)
  })
})

/** The expected id, derived from the ISO form of the same instant. */
function fromIso(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/[-:T]/g, '')
}

describe('timestampId', () => {
  it.each([
    '2026-11-22T10:15:00.000Z',
    '2026-11-22T10:15:00.999Z',
    '2028-02-29T23:59:59.000Z',
    '2026-12-31T23:59:59.500Z',
    '2027-01-01T00:00:00.000Z',
    '2001-09-09T01:46:40.000Z'
  ])('names the instant %s by its UTC time', iso => {
    const date = new Date(iso)
    expect(timestampId(date)).toBe(fromIso(date))
    expect(timestampId(date)).toMatch(/^[0-9]{14}$/)
    expect(releaseIdProblem(timestampId(date))).toBeUndefined()
  })

  it('does not depend on the time zone the instant was written in', () => {
    expect(timestampId(new Date('2026-11-22T12:15:00+02:00'))).toBe('20261122101500')
    expect(timestampId(new Date('2026-11-21T23:15:00-11:00'))).toBe('20261122101500')
  })

  it('names a later instant with an id that sorts after the earlier one', () => {
    const a = timestampId(new Date('2026-01-09T23:59:59Z'))
    const b = timestampId(new Date('2026-01-10T00:00:00Z'))
    expect(a < b).toBe(true)
  })
})

describe('nextFreeTimestampId', () => {
  const now = new Date('2026-11-22T10:15:00.900Z')

  it('uses the current second when it is free', () => {
    expect(nextFreeTimestampId(now, new Set())).toBe('20261122101500')
  })

  it('ignores taken ids that are not this second', () => {
    expect(nextFreeTimestampId(now, new Set(['20261122101459', 'v1', '20261122101501']))).toBe(
      '20261122101500'
    )
  })

  it('moves to the next free second', () => {
    expect(nextFreeTimestampId(now, new Set(['20261122101500', '20261122101501']))).toBe(
      '20261122101502'
    )
  })

  it('carries over minutes, hours, days and years', () => {
    const end = new Date('2026-12-31T23:59:59Z')
    expect(nextFreeTimestampId(end, new Set(['20261231235959']))).toBe('20270101000000')
  })
})
