/**
 * server-data.ts: what the runner accepts from a server. Every value here was read back from a
 * server and may have been planted there; each either passes as what atomic-deploy wrote, or is
 * refused with a message that names the file.
 */
import { describe, expect, it } from 'vitest'
import { ServerDataError } from '../../src/errors.js'
import {
  liveReleaseOf,
  parseLinkList,
  parsePrefetch,
  parseUmask,
  relativePathProblem,
  releaseDirectories,
  resolvedDeployDir,
  shown
} from '../../src/server/server-data.js'

const D = '/srv/app'

describe('liveReleaseOf: the release current points to', () => {
  it.each([
    ['releases/20261122101500', '20261122101500'],
    ['releases/v1.2_3-rc/', 'v1.2_3-rc'],
    [`${D}/releases/v1`, 'v1']
  ])('reads %j as %j', (target, id) => {
    expect(liveReleaseOf(target, D)).toBe(id)
  })

  it.each([
    'releases/x"; touch pwned; echo "',
    "releases/x'$(id)'",
    'releases/../../etc',
    'releases/..',
    'releases/a/b',
    'releases/x\nreleases/y',
    '/etc',
    '../other-app/releases/v1',
    '/srv/other/releases/v1',
    'current',
    '',
    'releases/'
  ])('refuses %j, naming current and the fix', target => {
    expect(() => liveReleaseOf(target, D)).toThrow(ServerDataError)
    expect(() => liveReleaseOf(target, D)).toThrow(
      /\/srv\/app\/current points to .* not a release of this deploy directory .*ln -sfn releases\/<id>/
    )
  })

  it('shows a hostile target with its control characters made visible', () => {
    expect(() => liveReleaseOf('releases/a\r::error::x', D)).toThrow("'releases/a\\x0d::error::x'")
  })
})

describe('releaseDirectories', () => {
  it('keeps release ids and drops every other name', () => {
    expect([
      ...releaseDirectories(['v1', '20261122101500', '.hidden', 'a b', 'x\ny', '..'])
    ]).toEqual(['v1', '20261122101500'])
  })
})

describe('relativePathProblem', () => {
  it.each([
    ['storage', undefined],
    ['public/uploads', undefined],
    ['.env', undefined],
    ['', 'it is empty'],
    ['/etc/passwd', 'it is absolute'],
    ['../../../../srv/other-app/.env', "it has a '..' segment"],
    ['a/../../b', "it has a '..' segment"],
    ['./a', "it has a '.' segment"],
    ['a//b', 'it has an empty segment'],
    ['a/', 'it has an empty segment'],
    ['a/..', "it has a '..' segment"],
    ['..', "it has a '..' segment"],
    ['.', "it has a '.' segment"],
    ['a/./b', "it has a '.' segment"],
    ['.../a/..b/b../.x', undefined],
    [`${'é'.repeat(2048)}x`, 'it is longer than 4096 bytes'],
    [`${'a/'.repeat(1365)}a`, undefined],
    ['a\0b', 'it contains a NUL byte'],
    ['a\nb', 'it contains a line break']
  ])('%j: %s', (rel, problem) => {
    expect(relativePathProblem(rel)).toBe(problem)
  })

  it('allows a newline where names may hold one', () => {
    expect(relativePathProblem('a\nb', { newline: true })).toBeUndefined()
  })
})

describe('parseLinkList', () => {
  const file = `${D}/.atomic-deploy/manifests/v1.links`

  it('reads one relative path a line', () => {
    expect(parseLinkList(Buffer.from('storage\n.env\npublic/uploads\n'), file)).toEqual([
      'storage',
      '.env',
      'public/uploads'
    ])
  })

  it.each(['../../../../srv/other-app/.env', '/etc/passwd', 'storage/../../x', 'a//b'])(
    'refuses a line %j, naming the file and the line',
    line => {
      expect(() => parseLinkList(Buffer.from(`storage\n${line}\n`), file)).toThrow(
        new RegExp(`^${file.replace(/[./]/g, '\\$&')} line 2 .* is not a path inside the release`)
      )
    }
  )

  it('refuses a list past its limit', () => {
    expect(() => parseLinkList(Buffer.alloc(1024 * 1024 + 1, 0x61), file)).toThrow(
      /over the limit of 1048576/
    )
  })
})

describe('the inspect script lines', () => {
  it('accepts a plain absolute deploy directory', () => {
    expect(resolvedDeployDir('/home/deploy/app', 'app')).toBe('/home/deploy/app')
  })

  it.each([undefined, 'app', '/home/../etc', '/home//x', '/a/./b'])(
    'refuses a resolved path %j',
    line => {
      expect(() => resolvedDeployDir(line, 'app')).toThrow(ServerDataError)
    }
  )

  it('reads an octal umask and refuses anything else', () => {
    expect(parseUmask('0022')).toBe(0o022)
    expect(parseUmask('002')).toBe(0o002)
    expect(parseUmask('000')).toBe(0)
    for (const bad of [undefined, '', '0x12', '9', '022; rm', '00022']) {
      expect(() => parseUmask(bad)).toThrow(ServerDataError)
    }
  })

  it('reads a base copy record and refuses one that could name another path', () => {
    expect(parsePrefetch(undefined)).toBeUndefined()
    expect(parsePrefetch('base.1234 v1')).toEqual({ name: 'base.1234', from: 'v1', spare: false })
    // The copy the previous deploy left (the spare) carries a third word.
    expect(parsePrefetch('base.1234 v1 spare')).toEqual({
      name: 'base.1234',
      from: 'v1',
      spare: true
    })
    for (const bad of [
      'base.1 ../x',
      '../../x v1',
      'base.* v1',
      'base.1 v1 extra',
      'base.1 v1 spare extra',
      'base. v1'
    ]) {
      expect(() => parsePrefetch(bad)).toThrow(ServerDataError)
    }
  })
})

describe('shown', () => {
  it('makes control characters visible and cuts long text', () => {
    expect(shown('a\rb\nc\u0085d\u2028')).toBe('a\\x0db\\x0ac\\x85d\\u2028')
    expect(shown('x'.repeat(300), 10)).toBe('xxxxxxxxxx...')
  })
})

describe('parseLinkList and names with a line break or a %', () => {
  it('decodes what record_link encodes, and nothing else', () => {
    const file = '/srv/app/.atomic-deploy/manifests/v1.links'
    expect(parseLinkList(Buffer.from('line%0Abreak\n100%25.txt\nplain\na%41b\n'), file)).toEqual([
      'line\nbreak',
      '100%.txt',
      'plain',
      'a%41b'
    ])
    expect(() => parseLinkList(Buffer.from('x%0A/../y\n'), file)).toThrow(/'\.\.' segment/)
  })
})
