import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import ssh2 from 'ssh2'
import { afterAll, describe, expect, it } from 'vitest'
import { HostKeyError, InputError } from '../../src/errors.js'
import {
  fingerprintSha256,
  hostKeyAlgorithmsFor,
  hostVerifierFor,
  keyTypeOfBlob,
  matchKnownHosts,
  parseFingerprint,
  parseFingerprints,
  parseKnownHosts,
  type HostKeyPolicy
} from '../../src/ssh/known-hosts.js'

// Every expected value below comes from OpenSSH itself (ssh-keygen), not from the module under
// test. Keys are generated synchronously at load time because it.each tables are built then.

const dir = mkdtempSync(join(tmpdir(), 'known-hosts-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Key {
  type: string
  base64: string
  blob: Buffer
  /** `type base64`, the part of a known_hosts line after the hosts. */
  pub: string
  /** From `ssh-keygen -l -f`. */
  sha256: string
  /** From `ssh-keygen -l -E md5 -f`. */
  md5: string
  privatePath: string
}

function sshKeygen(args: string[]): string {
  return execFileSync('ssh-keygen', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function generateKey(name: string, args: string[]): Key {
  const privatePath = join(dir, name)
  sshKeygen(['-q', '-N', '', '-C', `${name}@test`, '-f', privatePath, ...args])
  const [type, base64] = readFileSync(`${privatePath}.pub`, 'utf8').trim().split(' ') as [
    string,
    string
  ]
  const sha256 = sshKeygen(['-l', '-f', `${privatePath}.pub`]).split(' ')[1]!
  const md5 = sshKeygen(['-l', '-E', 'md5', '-f', `${privatePath}.pub`]).split(' ')[1]!
  return {
    type,
    base64,
    blob: Buffer.from(base64, 'base64'),
    pub: `${type} ${base64}`,
    sha256,
    md5,
    privatePath
  }
}

const ed = generateKey('ed25519', ['-t', 'ed25519'])
const ed2 = generateKey('ed25519-other', ['-t', 'ed25519'])
const ec = generateKey('ecdsa', ['-t', 'ecdsa', '-b', '256'])
const rsa = generateKey('rsa', ['-t', 'rsa', '-b', '2048'])
const rsaPem = generateKey('rsa-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'])

let fileCounter = 0
function writeTemp(text: string): string {
  const path = join(dir, `known_hosts_${fileCounter++}`)
  writeFileSync(path, text)
  return path
}

/** The line `ssh-keygen -H` writes for `host key`. */
function hashedLine(host: string, key: Key): string {
  const path = writeTemp(`${host} ${key.pub}\n`)
  sshKeygen(['-H', '-f', path])
  const [line] = readFileSync(path, 'utf8').split('\n')
  expect(line).toMatch(/^\|1\|/)
  return line!
}

/**
 * What `ssh-keygen -F` finds for host:port in `text`, as line numbers by kind. ssh lowercases
 * the host and writes port 22 bare, so it is queried the same way ([host]:22 too, which the
 * module accepts).
 */
function opensshLookup(text: string, host: string, port: number) {
  const path = writeTemp(text)
  const name = host.toLowerCase()
  const queries = port === 22 ? [name, `[${name}]:22`] : [`[${name}]:${port}`]
  const found = { keys: new Set<number>(), revoked: new Set<number>(), ca: new Set<number>() }
  for (const query of queries) {
    const result = spawnSync('ssh-keygen', ['-F', query, '-f', path], { encoding: 'utf8' })
    expect([0, 1]).toContain(result.status)
    for (const m of result.stdout.matchAll(/^# Host .* found: line (\d+) ?(REVOKED|CA)?\s*$/gm)) {
      const line = Number(m[1])
      if (m[2] === 'REVOKED') found.revoked.add(line)
      else if (m[2] === 'CA') found.ca.add(line)
      else found.keys.add(line)
    }
  }
  const sorted = (set: Set<number>) => [...set].sort((a, b) => a - b)
  return { keys: sorted(found.keys), revoked: sorted(found.revoked), ca: sorted(found.ca) }
}

function ourLookup(text: string, host: string, port: number) {
  const { keys, revoked } = matchKnownHosts(parseKnownHosts(text), host, port)
  return { keys: keys.map(e => e.line), revoked: revoked.map(e => e.line) }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected the call to throw')
}

describe('parseKnownHosts', () => {
  it('decodes the base64 field to the same blob ssh-keygen wrote, for every key type', () => {
    const text = [ed, ec, rsa].map(k => `example.com ${k.pub} comment words`).join('\n')
    const entries = parseKnownHosts(text)
    expect(entries.map(e => [e.keyType, e.key.toString('base64'), e.line])).toEqual([
      [ed.type, ed.base64, 1],
      [ec.type, ec.base64, 2],
      [rsa.type, rsa.base64, 3]
    ])
  })

  it('skips comments and blank lines, keeps real line numbers, and accepts CRLF and tabs', () => {
    const text = [
      '# a comment',
      '',
      '   ',
      `a.example.com ${ed.pub}`,
      '   # indented comment',
      `b.example.com\t${ec.type}\t${ec.base64}`,
      ''
    ].join('\r\n')
    const entries = parseKnownHosts(text)
    expect(entries.map(e => [e.patterns, e.keyType, e.line])).toEqual([
      [['a.example.com'], ed.type, 4],
      [['b.example.com'], ec.type, 6]
    ])
    expect(entries[1]!.key.equals(ec.blob)).toBe(true)
  })

  it('splits comma lists into raw patterns, keeping negations and hashed entries', () => {
    const hashed = hashedLine('example.com', ed).split(' ')[0]!
    const [entry] = parseKnownHosts(`*.example.com,!db.example.com,${hashed} ${ed.pub}`)
    expect(entry!.patterns).toEqual(['*.example.com', '!db.example.com', hashed])
  })

  it.each([
    ['@revoked', `@revoked * ${ed.pub}`],
    ['@cert-authority', `@cert-authority *.example.com ${ed.pub}`]
  ])('records the %s marker', (marker, line) => {
    const [entry] = parseKnownHosts(line)
    expect(entry!.marker).toBe(marker)
    expect(entry!.key.equals(ed.blob)).toBe(true)
  })

  it('keeps lines with unknown key types as written', () => {
    const [entry] = parseKnownHosts(`example.com sk-ssh-ed25519@openssh.com ${ed.base64}`)
    expect(entry!.keyType).toBe('sk-ssh-ed25519@openssh.com')
    expect(entry!.marker).toBeUndefined()
  })

  it.each([
    [
      'a host with no key',
      'example.com',
      /line 1: expected '<hosts> <key-type> <base64-key>', found 1 field$/
    ],
    [
      'a host and type with no key, after comments',
      `# c\n\nexample.com ${ed.type}`,
      /line 3: expected '<hosts> <key-type> <base64-key>', found 2 fields/
    ],
    ['a marker with nothing after it', '@revoked', /line 1: .*found 0 fields/],
    [
      'a key that is not base64',
      `example.com ${ed.type} not*base64!`,
      /line 1: .*not valid base64/
    ],
    [
      'a truncated base64 key',
      `example.com ${ed.type} ${ed.base64.slice(0, -1)}`,
      /line 1: .*not valid base64/
    ],
    ['a NUL byte', `example.com\0 ${ed.pub}`, /line 1: .*NUL byte/],
    ['another control character', `example.com\x1b ${ed.pub}`, /line 1: .*control character 0x1b/],
    [
      'a key-type field that contradicts the key',
      `example.com ssh-rsa ${ed.base64}`,
      /line 1: .*says ssh-rsa while the base64 key is ssh-ed25519/
    ],
    [
      'base64 that is not an SSH public key',
      `example.com ssh-ed25519 ${Buffer.from('hello world!').toString('base64')}`,
      /line 1: .*not an SSH public key/
    ],
    [
      'an unknown marker',
      `@revoke example.com ${ed.pub}`,
      /line 1: .*'@revoke' is not a known marker/
    ],
    [
      'a public key pasted without host names',
      readFileSync(`${ed.privatePath}.pub`, 'utf8'),
      /line 1: .*looks like a bare public key with no host names/
    ],
    ['a malformed hashed host', `|1|abc|def ${ed.pub}`, /line 1: .*hashed host is malformed/],
    ['an empty host list', `, ${ed.pub}`, /line 1: .*host list is empty/]
  ])('rejects %s with an InputError naming the line', (_what, text, message) => {
    const error = thrown(() => parseKnownHosts(text))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe('known-hosts')
    expect((error as InputError).message).toMatch(message)
  })

  it.each([
    ['an OpenSSH-format private key', ed.privatePath, 1, 'BEGIN OPENSSH PRIVATE KEY'],
    ['a PEM RSA private key after a valid line', rsaPem.privatePath, 2, 'BEGIN RSA PRIVATE KEY']
  ])('says %s looks like a private key, without echoing it', (_what, path, line, header) => {
    const secret = readFileSync(path, 'utf8')
    expect(secret).toContain(header)
    const text = line === 1 ? secret : `example.com ${ed.pub}\n${secret}`
    const error = thrown(() => parseKnownHosts(text))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe('known-hosts')
    expect((error as Error).message).toMatch(
      new RegExp(`^known-hosts line ${line} looks like a private key`)
    )
    const body = secret.split('\n').filter(l => l !== '' && !l.startsWith('-----'))
    for (const chunk of body) expect((error as Error).message).not.toContain(chunk)
  })
})

describe('matchKnownHosts agrees with ssh-keygen -F', () => {
  const hashedPlain = hashedLine('example.com', ed)
  const hashedPort = hashedLine('[example.com]:2222', ed)
  const hashedUpper = hashedLine('Mixed.Example.COM', ed)

  it.each([
    // [what, known_hosts text, host, port, lines that must match]
    ['a plain host on port 22', `example.com ${ed.pub}`, 'example.com', 22, [1]],
    ['a plain host not on another port', `example.com ${ed.pub}`, 'example.com', 2222, []],
    ['a different plain host', `example.com ${ed.pub}`, 'example.org', 22, []],
    ['[host]:port on that port', `[example.com]:2222 ${ed.pub}`, 'example.com', 2222, [1]],
    ['[host]:port not on another port', `[example.com]:2222 ${ed.pub}`, 'example.com', 2200, []],
    ['[host]:port not on port 22', `[example.com]:2222 ${ed.pub}`, 'example.com', 22, []],
    ['[host]:22 on port 22', `[example.com]:22 ${ed.pub}`, 'example.com', 22, [1]],
    ['an IPv6 [host]:port', `[::1]:2222 ${ed.pub}`, '::1', 2222, [1]],
    ['a hashed host on port 22', hashedPlain, 'example.com', 22, [1]],
    ['a hashed host, other name', hashedPlain, 'example.org', 22, []],
    ['a hashed host, not on another port', hashedPlain, 'example.com', 2222, []],
    ['a hashed [host]:port on that port', hashedPort, 'example.com', 2222, [1]],
    ['a hashed [host]:port, not on port 22', hashedPort, 'example.com', 22, []],
    ['a hashed host, queried in upper case', hashedPlain, 'EXAMPLE.Com', 22, [1]],
    ['a hashed host written in mixed case', hashedUpper, 'mixed.example.com', 22, [1]],
    ['a plain host written in mixed case', `Web.Example.COM ${ed.pub}`, 'web.example.com', 22, [1]],
    ['a plain host queried in upper case', `web.example.com ${ed.pub}`, 'WEB.EXAMPLE.COM', 22, [1]],
    ['a * wildcard', `*.example.com ${ed.pub}`, 'web.example.com', 22, [1]],
    ['a * wildcard needing the dot', `*.example.com ${ed.pub}`, 'example.com', 22, []],
    ['a ? wildcard', `web?.example.com ${ed.pub}`, 'web1.example.com', 22, [1]],
    ['a ? wildcard is one character', `web?.example.com ${ed.pub}`, 'web10.example.com', 22, []],
    ['a wildcard inside [host]:port', `[*.example.com]:2222 ${ed.pub}`, 'a.example.com', 2222, [1]],
    [
      'a negation that does not apply',
      `*.example.com,!db.example.com ${ed.pub}`,
      'web.example.com',
      22,
      [1]
    ],
    [
      'a negation vetoing a wildcard',
      `*.example.com,!db.example.com ${ed.pub}`,
      'db.example.com',
      22,
      []
    ],
    [
      'a negation written first',
      `!db.example.com,*.example.com ${ed.pub}`,
      'db.example.com',
      22,
      []
    ],
    ['a negated wildcard', `*.example.com,!db*.example.com ${ed.pub}`, 'db2.example.com', 22, []],
    ['a lone negation (no positive match)', `!db.example.com ${ed.pub}`, 'web.example.com', 22, []],
    [
      'the second name of a comma list',
      `a.example.com,b.example.com,10.0.0.1 ${ed.pub}`,
      'b.example.com',
      22,
      [1]
    ],
    [
      'an IP in a comma list',
      `a.example.com,b.example.com,10.0.0.1 ${ed.pub}`,
      '10.0.0.1',
      22,
      [1]
    ],
    [
      'a name absent from a comma list',
      `a.example.com,b.example.com ${ed.pub}`,
      'c.example.com',
      22,
      []
    ],
    [
      'several key types for one host, among comments',
      `# keys\nexample.com ${ed.pub}\n\nexample.com ${ec.pub}\nother.com ${rsa.pub}\nexample.com ${rsa.pub}`,
      'example.com',
      22,
      [2, 4, 6]
    ]
  ])('%s', (_what, text, host, port, lines) => {
    const openssh = opensshLookup(text, host, port)
    expect(openssh.keys).toEqual(lines)
    expect(ourLookup(text, host, port).keys).toEqual(openssh.keys)
  })

  it.each([
    [
      'a @revoked line for the host',
      `example.com ${ed.pub}\n@revoked example.com ${ed2.pub}`,
      [1],
      [2]
    ],
    ['a @revoked wildcard line', `example.com ${ed.pub}\n@revoked * ${ed2.pub}`, [1], [2]],
    [
      'a @revoked line for another host',
      `example.com ${ed.pub}\n@revoked other.com ${ed2.pub}`,
      [1],
      []
    ]
  ])('reports %s as revoked, not as a key', (_what, text, keys, revoked) => {
    const openssh = opensshLookup(text, 'example.com', 22)
    expect([openssh.keys, openssh.revoked]).toEqual([keys, revoked])
    const ours = ourLookup(text, 'example.com', 22)
    expect([ours.keys, ours.revoked]).toEqual([openssh.keys, openssh.revoked])
  })

  it('ignores @cert-authority lines that OpenSSH would use as CAs for the host', () => {
    const text = `@cert-authority *.example.com ${ed.pub}`
    expect(opensshLookup(text, 'web.example.com', 22).ca).toEqual([1])
    expect(ourLookup(text, 'web.example.com', 22)).toEqual({ keys: [], revoked: [] })
  })
})

describe('fingerprints', () => {
  it.each([
    ['ed25519', ed],
    ['ecdsa', ec],
    ['rsa', rsa]
  ])('fingerprintSha256 of an %s blob equals ssh-keygen -lf', (_type, key) => {
    expect(fingerprintSha256(key.blob)).toBe(key.sha256)
  })

  it.each([
    ['the form ssh-keygen prints', ed.sha256],
    ['trailing = padding', `${ed.sha256}=`],
    ['surrounding whitespace', `  ${ed.sha256}\n`],
    ['a lower-case prefix', `sha256:${ed.sha256.slice('SHA256:'.length)}`]
  ])('parseFingerprint accepts %s', (_what, text) => {
    expect(parseFingerprint(text)).toBe(ed.sha256)
  })

  it.each([
    ['an MD5 fingerprint from ssh-keygen -E md5', ed.md5, /MD5 fingerprints are not accepted/],
    [
      'a bare MD5 hex fingerprint',
      ed.md5.replace(/^MD5:/, ''),
      /MD5 fingerprints are not accepted/
    ],
    ['an empty string', '', /^Invalid host-fingerprint ''/],
    ['the hash without the SHA256: prefix', ed.sha256.slice('SHA256:'.length), /^Invalid/],
    ['a truncated hash', ed.sha256.slice(0, -2), /^Invalid/],
    ['double padding', `${ed.sha256}==`, /^Invalid/],
    ['a whole public key line', ed.pub, /^Invalid host-fingerprint 'ssh-ed25519 AAAA/],
    [
      'a private key, without echoing it',
      readFileSync(ed.privatePath, 'utf8'),
      /^Invalid host-fingerprint \(\d+ characters, not shown\)/
    ]
  ])('parseFingerprint rejects %s', (_what, text, message) => {
    const error = thrown(() => parseFingerprint(text))
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).input).toBe('host-fingerprint')
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).toContain(
      'Expected the SHA256 form printed by `ssh-keygen -lf`, e.g. SHA256:'
    )
  })

  it('parseFingerprints splits on commas and whitespace', () => {
    expect(parseFingerprints(`${ed.sha256}, ${ec.sha256}=\n${rsa.sha256}`)).toEqual([
      ed.sha256,
      ec.sha256,
      rsa.sha256
    ])
  })
})

describe('keyTypeOfBlob', () => {
  it.each([
    ['ed25519', ed],
    ['ecdsa', ec],
    ['rsa', rsa]
  ])('reads the type ssh-keygen wrote for an %s key', (_what, key) => {
    expect(keyTypeOfBlob(key.blob)).toBe(key.type)
  })

  it.each([
    ['an empty buffer', Buffer.alloc(0)],
    ['a length past the end', Buffer.from([0, 0, 0, 200, 0x61])],
    ['non-printable type bytes', Buffer.from([0, 0, 0, 2, 0x00, 0x01, 0xff])]
  ])('throws on %s', (_what, blob) => {
    expect(() => keyTypeOfBlob(blob)).toThrow(/Malformed SSH public key blob/)
  })
})

describe('hostKeyAlgorithmsFor', () => {
  it.each([
    [['ssh-ed25519'], ['ssh-ed25519']],
    [['ssh-rsa'], ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']],
    [['ecdsa-sha2-nistp384'], ['ecdsa-sha2-nistp384']],
    [
      ['ssh-rsa', 'ecdsa-sha2-nistp521', 'ssh-ed25519', 'ecdsa-sha2-nistp256'],
      [
        'ssh-ed25519',
        'ecdsa-sha2-nistp256',
        'ecdsa-sha2-nistp521',
        'rsa-sha2-512',
        'rsa-sha2-256',
        'ssh-rsa'
      ]
    ],
    [
      ['ssh-ed25519', 'ssh-ed25519', 'ssh-dss', 'ssh-ed25519-cert-v01@openssh.com'],
      ['ssh-ed25519']
    ],
    [['ssh-dss'], []]
  ])('maps %j to %j', (types, algorithms) => {
    expect(hostKeyAlgorithmsFor(types)).toEqual(algorithms)
  })
})

describe('hostVerifierFor', () => {
  const knownHosts = (text: string): HostKeyPolicy => ({
    kind: 'known-hosts',
    entries: parseKnownHosts(text)
  })

  it.each([
    ['ed25519', ed],
    ['ecdsa', ec],
    ['rsa', rsa]
  ])('accepts the %s key when the host has several key types', (_what, key) => {
    const policy = knownHosts(
      `example.com ${ed.pub}\nexample.com ${ec.pub}\nexample.com ${rsa.pub}`
    )
    const verifier = hostVerifierFor(policy, 'example.com', 22)
    expect(verifier.algorithms).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa'
    ])
    expect(verifier.verify(key.blob)).toEqual({ ok: true })
  })

  it('pins the algorithms to the one type held for a hashed [host]:port entry', () => {
    const verifier = hostVerifierFor(
      knownHosts(hashedLine('[example.com]:2222', ec)),
      'example.com',
      2222
    )
    expect(verifier.algorithms).toEqual(['ecdsa-sha2-nistp256'])
    expect(verifier.verify(ec.blob)).toEqual({ ok: true })
  })

  it.each([
    ['a different key of the same type', `example.com ${ed.pub}`, ed2, [ed.sha256]],
    [
      'a key of a type not held',
      `example.com ${ed.pub}\nexample.com ${ec.pub}`,
      rsa,
      [ed.sha256, ec.sha256]
    ],
    [
      'a key held only for another host',
      `example.com ${ed.pub}\nother.com ${ed2.pub}`,
      ed2,
      [ed.sha256]
    ]
  ])(
    'rejects %s, naming the offered and expected fingerprints',
    (_what, text, offered, expected) => {
      const result = hostVerifierFor(knownHosts(text), 'example.com', 22).verify(offered.blob)
      expect(result.ok).toBe(false)
      const reason = (result as { reason: string }).reason
      expect(reason).toContain('example.com:22')
      expect(reason).toContain(`offered ${offered.type} key ${offered.sha256}`)
      for (const fp of expected) expect(reason).toContain(fp)
    }
  )

  it('rejects a key marked @revoked even though it is also listed as the host key', () => {
    const text = `example.com ${ed.pub}\nexample.com ${ec.pub}\n@revoked * ${ec.pub}`
    const verifier = hostVerifierFor(knownHosts(text), 'example.com', 22)
    // Not offered, so a server that also holds the ed25519 key is asked for that one.
    expect(verifier.algorithms).toEqual(['ssh-ed25519'])
    const result = verifier.verify(ec.blob)
    expect(result.ok).toBe(false)
    expect((result as { reason: string }).reason).toMatch(/revoked/)
    expect((result as { reason: string }).reason).toContain(ec.sha256)
    expect(verifier.verify(ed.blob)).toEqual({ ok: true })
  })

  it('rejects a malformed blob instead of throwing', () => {
    const result = hostVerifierFor(knownHosts(`example.com ${ed.pub}`), 'example.com', 22).verify(
      Buffer.from([1, 2, 3])
    )
    expect(result.ok).toBe(false)
  })

  it.each([
    ['no line for the host', `other.com ${ed.pub}`, /no usable host key for example\.com:2222/],
    [
      'a line for the host on port 22 only',
      `example.com ${ed.pub}`,
      /no usable host key for example\.com:2222/
    ],
    [
      'only a @revoked line for the host',
      `@revoked [example.com]:2222 ${ed.pub}`,
      /no usable host key/
    ],
    [
      'every key for the host revoked',
      `[example.com]:2222 ${ed.pub}\n@revoked * ${ed.pub}`,
      /every known-hosts key for example\.com:2222 is marked @revoked/
    ],
    [
      'only key types that cannot be checked',
      `[example.com]:2222 sk-ssh-ed25519@openssh.com ${ed.base64}`,
      /only key types that cannot be verified here: sk-ssh-ed25519@openssh\.com/
    ],
    [
      'only a @cert-authority line',
      `@cert-authority * ${ed.pub}`,
      /@cert-authority lines are not supported/
    ],
    ['an empty known-hosts', '', /no usable host key for example\.com:2222/]
  ])('refuses to build a verifier with %s', (_what, text, message) => {
    const error = thrown(() => hostVerifierFor(knownHosts(text), 'example.com', 2222))
    expect(error).toBeInstanceOf(HostKeyError)
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).toContain('`ssh-keyscan -p 2222 example.com`')
    expect((error as Error).message).toMatch(/out-of-band/)
  })

  it.each([
    ['the matching fingerprint', [ed.sha256], ed, true],
    ['a padded fingerprint', [`${ed.sha256}=`], ed, true],
    ['one of several fingerprints', [ec.sha256, rsa.sha256], rsa, true],
    ['a different key', [ed.sha256], ed2, false]
  ])('with host-fingerprint, checks %s', (_what, fingerprints, offered, ok) => {
    const verifier = hostVerifierFor({ kind: 'fingerprint', fingerprints }, 'example.com', 22)
    expect(verifier.algorithms).toBeUndefined()
    const result = verifier.verify(offered.blob)
    expect(result.ok).toBe(ok)
    if (!result.ok) {
      expect(result.reason).toContain(offered.sha256)
      expect(result.reason).toContain(ed.sha256)
    }
  })

  it('with host-fingerprint, checks a server only against the fingerprints bound to it', () => {
    const fingerprints = parseFingerprints(
      `web1.example.com=${ed.sha256}, web2.example.com:2222=${ed2.sha256}\n[2001:db8::1]:22=${ec.sha256}`
    )
    const web1 = hostVerifierFor({ kind: 'fingerprint', fingerprints }, 'WEB1.example.com', 22)
    expect(web1.verify(ed.blob).ok).toBe(true)
    // web2's key is not accepted for web1, though it is in the same input.
    expect(web1.verify(ed2.blob).ok).toBe(false)
    const web2 = hostVerifierFor({ kind: 'fingerprint', fingerprints }, 'web2.example.com', 2222)
    expect(web2.verify(ed2.blob).ok).toBe(true)
    expect(web2.verify(ed.blob).ok).toBe(false)
    // Bound to port 2222: another port of the same host has no fingerprint.
    expect(() =>
      hostVerifierFor({ kind: 'fingerprint', fingerprints }, 'web2.example.com', 22)
    ).toThrow(/No host fingerprint given for web2.example.com:22/)
    const v6 = hostVerifierFor({ kind: 'fingerprint', fingerprints }, '2001:db8::1', 22)
    expect(v6.verify(ec.blob).ok).toBe(true)
  })

  it.each(['web1=SHA256:short', '=SHA256:x', 'web1:99999=' + 'SHA256:' + 'A'.repeat(43), '[::1=x'])(
    'with host-fingerprint, refuses the item %j',
    item => {
      expect(() => parseFingerprints(item)).toThrow(InputError)
    }
  )

  it('with host-fingerprint, refuses an empty fingerprint list', () => {
    expect(() => hostVerifierFor({ kind: 'fingerprint', fingerprints: [] }, 'h', 22)).toThrow(
      HostKeyError
    )
  })

  it('with host-fingerprint, refuses an MD5 fingerprint', () => {
    expect(() => hostVerifierFor({ kind: 'fingerprint', fingerprints: [ed.md5] }, 'h', 22)).toThrow(
      /MD5 fingerprints are not accepted/
    )
  })

  it('insecure accepts any key and pins nothing', () => {
    const verifier = hostVerifierFor({ kind: 'insecure' }, 'example.com', 22)
    expect(verifier.algorithms).toBeUndefined()
    expect(verifier.verify(ed2.blob)).toEqual({ ok: true })
  })
})

describe('hostVerifierFor against a real ssh2 handshake', () => {
  /**
   * Runs a handshake against an in-process ssh2 server holding ed25519 and RSA host keys and
   * reports the blob ssh2 handed to hostVerifier and how the connection ended. Authentication
   * is always refused; only the host-key step matters here.
   */
  async function handshake(knownHostsFor: (port: number) => string, pin: boolean) {
    const server = new ssh2.Server(
      { hostKeys: [readFileSync(ed.privatePath), readFileSync(rsa.privatePath)] },
      client => {
        client.on('authentication', ctx => ctx.reject())
        client.on('error', () => {})
      }
    )
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      const verifier = hostVerifierFor(
        { kind: 'known-hosts', entries: parseKnownHosts(knownHostsFor(port)) },
        '127.0.0.1',
        port
      )
      let offered: Buffer | undefined
      const error = await new Promise<Error>(resolve => {
        const client = new ssh2.Client()
        client.on('error', resolve)
        client.on('ready', () => resolve(new Error('unexpectedly authenticated')))
        client.connect({
          host: '127.0.0.1',
          port,
          username: 'nobody',
          password: 'wrong',
          readyTimeout: 10_000,
          ...(pin && verifier.algorithms
            ? {
                algorithms: {
                  serverHostKey: verifier.algorithms as ssh2.ServerHostKeyAlgorithm[]
                }
              }
            : {}),
          hostVerifier: (key: Buffer) => {
            offered = key
            return verifier.verify(key).ok
          }
        })
      })
      return { offered, error }
    } finally {
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }

  it('hands hostVerifier exactly the blob in the known_hosts base64 field', async () => {
    const { offered, error } = await handshake(port => `[127.0.0.1]:${port} ${ed.pub}`, true)
    expect(offered?.equals(ed.blob)).toBe(true)
    // Past the host-key check: the failure is authentication, not host denial.
    expect(error.message).toMatch(/authentication methods failed/)
  })

  it('gets the RSA key from a server that prefers ed25519 once the algorithms are pinned', async () => {
    const { offered, error } = await handshake(port => `[127.0.0.1]:${port} ${rsa.pub}`, true)
    expect(offered?.equals(rsa.blob)).toBe(true)
    expect(error.message).toMatch(/authentication methods failed/)
  })

  it('without pinning, the server presents a type the known_hosts line cannot vouch for', async () => {
    const { offered, error } = await handshake(port => `[127.0.0.1]:${port} ${rsa.pub}`, false)
    expect(offered?.equals(ed.blob)).toBe(true)
    expect(error.message).toMatch(/Host denied/)
  })

  it('denies a server whose key differs from the known_hosts line', async () => {
    const { offered, error } = await handshake(port => `[127.0.0.1]:${port} ${ed2.pub}`, true)
    expect(offered?.equals(ed.blob)).toBe(true)
    expect(error.message).toMatch(/Host denied/)
  })
})
