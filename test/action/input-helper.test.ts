/**
 * input-helper.ts: every input of action.yml, read through a Map-backed reader. Defaults are read
 * from action.yml itself; host keys and fingerprints come from ssh-keygen.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { getSettings } from '../../src/action/input-helper.js'
import { systemDirectoryProblem } from '../../src/server/system-directories.js'
import { Inputs, type InputName, type Settings } from '../../src/settings.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const dir = mkdtempSync(path.join(tmpdir(), 'input-helper-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// The workspace: a checkout with a build/ directory.
const workspace = path.join(dir, 'workspace')
mkdirSync(path.join(workspace, 'build'), { recursive: true })
writeFileSync(path.join(workspace, 'README.md'), '# app\n')

// Real keys from ssh-keygen, generated at load time because it.each tables are built then.
function keygen(
  name: string,
  type: string
): { pub: string; type: string; base64: string; fingerprint: string; privateText: string } {
  const file = path.join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', file], {
    stdio: 'ignore'
  })
  const pub = readFileSync(`${file}.pub`, 'utf8').trim()
  const [keyType, base64] = pub.split(' ') as [string, string]
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${file}.pub`], {
    encoding: 'utf8'
  }).split(' ')[1]!
  return { pub, type: keyType, base64, fingerprint, privateText: readFileSync(file, 'utf8') }
}
const ed25519 = keygen('host-ed25519', 'ed25519')
const ecdsa = keygen('host-ecdsa', 'ecdsa')
const KNOWN_HOSTS_LINE = `[127.0.0.1]:2222 ${ed25519.type} ${ed25519.base64}`
const FAKE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----'

/** The smallest valid set of inputs. */
const BASE: Partial<Record<InputName, string>> = {
  servers: 'deploy@web1.example.com',
  'private-key': FAKE_KEY,
  'known-hosts': KNOWN_HOSTS_LINE,
  path: '/var/www/app'
}

/** A reader backed by a Map of input name -> value, like core.getInput with an unset input as ''. */
function reader(overrides: Partial<Record<InputName, string>> = {}): (name: InputName) => string {
  const map = new Map<string, string>(Object.entries({ ...BASE, ...overrides }))
  return name => map.get(name) ?? ''
}

function settings(overrides: Partial<Record<InputName, string>> = {}): Settings {
  return getSettings(reader(overrides), workspace)
}

function inputErrorOf(fn: () => unknown): InputError {
  try {
    fn()
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('expected an InputError, nothing was thrown')
}

/** getSettings must fail on `overrides` with a one-line InputError about `input`. */
function refusal(input: InputName, overrides: Partial<Record<InputName, string>>): InputError {
  const error = inputErrorOf(() => settings(overrides))
  expect(error.input).toBe(input)
  expect(error.message).not.toMatch(/[\r\n]/)
  expect(error.message).not.toMatch(/^\s+at /m)
  expect(error.message).not.toContain('\0')
  return error
}

// -------------------------------------------------------------------------------------------
// action.yml, read without the code under test

interface ActionInput {
  name: string
  required: boolean
  default?: string
}

/** The `inputs:` section of action.yml (two-space keys, four-space properties). */
function actionInputs(): ActionInput[] {
  const lines = readFileSync(path.join(repo, 'action.yml'), 'utf8').split('\n')
  const result: ActionInput[] = []
  let inInputs = false
  for (const line of lines) {
    if (/^\S/.test(line)) {
      inInputs = line.startsWith('inputs:')
      continue
    }
    if (!inInputs) continue
    const key = /^ {2}([a-z0-9-]+):\s*$/.exec(line)
    if (key) {
      result.push({ name: key[1]!, required: false })
      continue
    }
    const current = result.at(-1)
    const def = /^ {4}default:\s*(.*?)\s*$/.exec(line)
    if (def && current)
      current.default = def[1]!.replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1')
    const req = /^ {4}required:\s*(true|false)\s*$/.exec(line)
    if (req && current) current.required = req[1] === 'true'
  }
  return result
}

const ACTION_INPUTS = actionInputs()
const camel = (name: string): string =>
  name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())

describe('action.yml and the Inputs table', () => {
  it('name the same inputs', () => {
    expect(ACTION_INPUTS.length).toBeGreaterThan(25)
    expect(ACTION_INPUTS.map(i => i.name).sort()).toEqual(Object.values(Inputs).sort())
  })

  it('mark servers and path as the only required inputs, and getSettings refuses them empty', () => {
    expect(
      ACTION_INPUTS.filter(i => i.required)
        .map(i => i.name)
        .sort()
    ).toEqual(['path', 'servers'])
    expect(refusal('servers', { servers: '' }).message).toContain('servers')
    expect(refusal('path', { path: '' }).message).toContain('path')
  })
})

describe('defaults', () => {
  const withDefaults = ACTION_INPUTS.filter(i => i.default !== undefined)

  it('action.yml has defaults to check', () => {
    expect(withDefaults.map(i => i.name)).toEqual(
      expect.arrayContaining(['port', 'keep-releases', 'mode', 'reuse', 'strategy'])
    )
  })

  it.each(withDefaults.map(i => [i.name, i.default!] as const))(
    'an empty %s behaves exactly like its action.yml default %j',
    (name, value) => {
      const input = name as InputName
      if (input === 'insecure-ignore-host-key') {
        // No Settings field: the default 'false' means host keys must be verifiable.
        const none = { 'known-hosts': '' }
        expect(refusal('known-hosts', { ...none, [input]: '' }).message).toEqual(
          refusal('known-hosts', { ...none, [input]: value }).message
        )
        return
      }
      // Source must exist: give the default a directory to be.
      const empty = settings({ [input]: '' })
      const explicit = settings({ [input]: value })
      expect(empty).toEqual(explicit)
    }
  )

  it.each(
    withDefaults
      .map(i => [i.name, i.default!] as const)
      .filter(([n]) => n !== 'insecure-ignore-host-key')
  )('the value getSettings gives an empty %s is the default %j', (name, value) => {
    const s = settings({ servers: 'deploy@web1.example.com' })
    let actual: unknown
    if (name === 'port') actual = s.servers[0]!.port
    else if (name === 'source') actual = s.source
    else actual = (s as unknown as Record<string, unknown>)[camel(name)]
    let expected: unknown
    if (name === 'source') expected = path.resolve(workspace, value)
    else if (typeof actual === 'number') expected = Number(value)
    else if (typeof actual === 'boolean') expected = value === 'true'
    else expected = value
    expect(actual).toEqual(expected)
  })

  it('leaves optional inputs without a default unset', () => {
    const s = settings()
    expect(s.passphrase).toBeUndefined()
    expect(s.password).toBeUndefined()
    expect(s.releaseId).toBeUndefined()
    expect(s.beforeSwitch).toBeUndefined()
    expect(s.afterSwitch).toBeUndefined()
    expect(s.rollbackTo).toBeUndefined()
    expect(s.sharedPaths).toBeUndefined()
    expect(s.healthCheckUrl).toBeUndefined()
    expect(s.exclude).toEqual([])
  })
})

// -------------------------------------------------------------------------------------------
// One invalid value for every input

const NO_KEY = { 'private-key': '', password: 'pw' }
const NO_HOST_KEYS = { 'known-hosts': '' }

/** [input, invalid value, the expected form the message must show, other inputs needed]. */
const invalid: [InputName, string, RegExp, Partial<Record<InputName, string>>][] = [
  ['servers', 'deploy@::1', /\[user@\]host\[:port\]/, {}],
  ['username', '-oProxyCommand=x', /letters, digits/, { servers: 'web1' }],
  ['port', '0', /1 to 65535/, {}],
  ['private-key', 'not a key at all', /-----BEGIN/, {}],
  ['passphrase', 'secret', /private-key/, NO_KEY],
  ['known-hosts', 'web1.example.com ssh-ed25519', /<hosts> <key-type> <base64-key>/, {}],
  [
    'host-fingerprint',
    'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48',
    /SHA256/,
    NO_HOST_KEYS
  ],
  ['insecure-ignore-host-key', 'yes', /true or false/, NO_HOST_KEYS],
  ['jump-host', 'bastion:0', /\[user@\]host\[:port\]/, {}],
  ['jump-private-key', 'not a key at all', /-----BEGIN/, { 'jump-host': 'a@j1' }],
  ['jump-passphrase', 'secret', /jump-private-key/, { 'jump-host': 'a@j1' }],
  ['jump-password', 'secret', /jump-host/, {}],
  ['path', '/etc', /absolute .*relative/, {}],
  ['source', 'no-such-dir', /directory in the workspace/, {}],
  ['exclude', 'node_modules/**\n\0', /pattern|glob/i, {}],
  ['release-id', 'a/b', /letters, digits/, {}],
  ['keep-releases', '0', /1 to 100/, {}],
  ['before-switch', 'echo \0', /script|command/i, {}],
  ['after-switch', 'echo \0', /script|command/i, {}],
  ['after-rollback', 'echo \0', /script|command/i, {}],
  ['mode', 'redeploy', /deploy, rollback, unlock/, {}],
  ['rollback-to', '../x', /letters, digits/, { mode: 'rollback' }],
  ['dry-run', 'yes', /true or false/, {}],
  ['reuse', 'last', /previous, cache, none/, {}],
  ['copy-method', 'symlink', /copy, hardlink/, {}],
  ['compression', 'zstd', /auto, gzip, none/, {}],
  ['transfer', 'rsync', /auto, tar, sftp/, {}],
  ['shell', 'bash', /auto, none/, {}],
  // What needs commands on the server is refused with shell: none, before anything connects.
  ['before-switch', 'php artisan migrate', /needs a shell.*'shell' is none/, { shell: 'none' }],
  ['after-switch', 'sudo systemctl reload php-fpm', /needs a shell/, { shell: 'none' }],
  ['after-rollback', 'sudo systemctl reload php-fpm', /needs a shell/, { shell: 'none' }],
  ['transfer', 'tar', /needs a shell.*auto or sftp/, { shell: 'none' }],
  ['verify', 'none', /standard, full/, {}],
  ['shared-paths', '/etc/passwd', /relative to shared\//, {}],
  ['shared-conflict', 'ignore', /fail, replace/, {}],
  ['rollback-on-failure', 'maybe', /true or false/, {}],
  ['health-check-url', 'ftp://example.com/health', /http:\/\/ or https:\/\//, {}],
  ['health-check-timeout', '3601', /1 to 3600/, {}],
  [
    'health-check-expect',
    'ok\nversion 2',
    /one line/,
    { 'health-check-url': 'https://example.com/health' }
  ],
  ['on-drift', 'error', /warn, fail, ignore/, {}],
  ['strategy', 'rolling', /parallel, sequential/, {}],
  ['max-parallel', '0', /1 to 100/, {}],
  ['connect-timeout', '301', /1 to 300/, {}],
  ['command-timeout', '5', /10 to 21600/, {}]
]

describe('an invalid value', () => {
  it('is covered for every input of action.yml but password, which accepts any text', () => {
    const covered = new Set(invalid.map(([name]) => name))
    expect(ACTION_INPUTS.map(i => i.name).filter(n => !covered.has(n as InputName))).toEqual([
      'password'
    ])
  })

  it.each(invalid)(
    'of %s (%j) is an InputError naming it and the expected form, on one line',
    (input, value, form, extra) => {
      const error = refusal(input, { ...extra, [input]: value })
      expect(error.message).toContain(input)
      expect(error.message).toMatch(form)
    }
  )

  it('is never reported for password: any text is taken verbatim', () => {
    const hostile = `p@ss w0rd 'quoted' "double" $(touch x) \`id\` é🚀 -rf`
    const s = settings({ ...NO_KEY, password: hostile })
    expect(s.password).toBe(hostile)
    expect(s.privateKey).toBeUndefined()
  })
})

describe('credentials', () => {
  it('refuses no private-key and no password, naming both', () => {
    const error = refusal('private-key', { 'private-key': '', password: '' })
    expect(error.message).toContain('private-key')
    expect(error.message).toContain('password')
  })

  it('refuses a private-key of only white space like a missing one', () => {
    refusal('private-key', { 'private-key': ' \n\t\n' })
  })

  it.each([
    ['an ed25519 public key', ed25519.pub],
    ['an ECDSA public key', ecdsa.pub],
    ['a public key after blank lines', `\n\n  ${ed25519.pub}\n`],
    ['a public key without its comment', `${ed25519.type} ${ed25519.base64}`]
  ])('refuses %s pasted as private-key, saying it is a public key', (_label, text) => {
    const error = refusal('private-key', { 'private-key': text })
    expect(error.message).toMatch(/public key/)
    expect(error.message).toContain('-----BEGIN')
    // The key material is not echoed.
    expect(error.message).not.toContain(ed25519.base64)
  })

  it('refuses a known_hosts line pasted as private-key', () => {
    refusal('private-key', { 'private-key': KNOWN_HOSTS_LINE })
  })

  it.each([
    ['an OpenSSH key from ssh-keygen', ed25519.privateText],
    ['a fake but well-formed OpenSSH key', FAKE_KEY],
    [
      'a PEM RSA key header',
      '-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n'
    ],
    ['a PKCS#8 key header', '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----'],
    [
      'an encrypted PKCS#8 key header',
      '-----BEGIN ENCRYPTED PRIVATE KEY-----\nabc\n-----END ENCRYPTED PRIVATE KEY-----'
    ]
  ])('accepts %s verbatim', (_label, text) => {
    expect(settings({ 'private-key': text }).privateKey).toBe(text)
  })

  it('accepts a passphrase with a private key', () => {
    expect(settings({ passphrase: "it's a secret" }).passphrase).toBe("it's a secret")
  })

  it('refuses a passphrase without a private key', () => {
    refusal('passphrase', { ...NO_KEY, passphrase: 'x' })
  })
})

describe('host key policy', () => {
  it('uses known-hosts when given', () => {
    const s = settings()
    expect(s.hostKeys.kind).toBe('known-hosts')
    if (s.hostKeys.kind !== 'known-hosts') return
    expect(s.hostKeys.entries).toHaveLength(1)
    expect(s.hostKeys.entries[0]!.patterns).toEqual(['[127.0.0.1]:2222'])
    expect(s.hostKeys.entries[0]!.keyType).toBe(ed25519.type)
    expect(s.hostKeys.entries[0]!.key.equals(Buffer.from(ed25519.base64, 'base64'))).toBe(true)
  })

  it('uses host-fingerprint when given (as ssh-keygen -lf prints it), several separated by commas or newlines', () => {
    const s = settings({
      ...NO_HOST_KEYS,
      'host-fingerprint': `${ed25519.fingerprint},\n${ecdsa.fingerprint}`
    })
    expect(s.hostKeys).toEqual({
      kind: 'fingerprint',
      fingerprints: [ed25519.fingerprint, ecdsa.fingerprint]
    })
  })

  it('binds fingerprints to servers as host=, host:port= or [IPv6]:port=', () => {
    const s = settings({
      ...NO_HOST_KEYS,
      servers: 'deploy@web1.example.com, deploy@web2.example.com:2222, deploy@[2001:db8::1]',
      'host-fingerprint': `web1.example.com=${ed25519.fingerprint}\nweb2.example.com:2222=${ecdsa.fingerprint}\n[2001:db8::1]:22=${ed25519.fingerprint}`
    })
    expect(s.hostKeys).toEqual({
      kind: 'fingerprint',
      fingerprints: [
        { host: 'web1.example.com', fingerprint: ed25519.fingerprint },
        { host: 'web2.example.com', port: 2222, fingerprint: ecdsa.fingerprint },
        { host: '2001:db8::1', port: 22, fingerprint: ed25519.fingerprint }
      ]
    })
  })

  it.each([
    [
      'a bare fingerprint with several servers',
      'deploy@web1.example.com, deploy@web2.example.com',
      () => ed25519.fingerprint,
      /a bare SHA256:\.\.\. would accept any of the 2 servers' keys for every other/
    ],
    [
      'a server with no fingerprint of its own',
      'deploy@web1.example.com, deploy@web2.example.com',
      () => `web1.example.com=${ed25519.fingerprint}`,
      /none is given for deploy@web2.example.com:22/
    ],
    [
      'a fingerprint for a host that is not a server',
      'deploy@web1.example.com',
      () => `web1.example.com=${ed25519.fingerprint} web9.example.com=${ecdsa.fingerprint}`,
      /'web9.example.com' is not one of the servers/
    ]
  ])('refuses %s', (_what, servers, fingerprints, message) => {
    const error = refusal('host-fingerprint', {
      ...NO_HOST_KEYS,
      servers,
      'host-fingerprint': fingerprints()
    })
    expect(error.message).toMatch(message)
  })

  it('skips verification only with insecure-ignore-host-key: true', () => {
    expect(settings({ ...NO_HOST_KEYS, 'insecure-ignore-host-key': 'true' }).hostKeys).toEqual({
      kind: 'insecure'
    })
  })

  it('still verifies with known-hosts when insecure-ignore-host-key is also true', () => {
    expect(settings({ 'insecure-ignore-host-key': 'true' }).hostKeys.kind).toBe('known-hosts')
  })

  it('refuses to run with no way to verify host keys, naming the three inputs', () => {
    const error = refusal('known-hosts', NO_HOST_KEYS)
    expect(error.message).toContain('known-hosts')
    expect(error.message).toContain('host-fingerprint')
    expect(error.message).toContain('insecure-ignore-host-key')
  })

  it('refuses a known-hosts of only white space like a missing one', () => {
    refusal('known-hosts', { 'known-hosts': '  \n \n' })
  })

  it('refuses known-hosts and host-fingerprint together', () => {
    refusal('host-fingerprint', { 'host-fingerprint': ed25519.fingerprint })
  })

  it('refuses a private key pasted as known-hosts', () => {
    refusal('known-hosts', { 'known-hosts': ed25519.privateText })
  })
})

// -------------------------------------------------------------------------------------------
// jump-host and its credentials

describe('jump-host', () => {
  const KEY_A = '-----BEGIN OPENSSH PRIVATE KEY-----\naaa\n-----END OPENSSH PRIVATE KEY-----'
  const KEY_B = '-----BEGIN RSA PRIVATE KEY-----\nbbb\n-----END RSA PRIVATE KEY-----'

  it('is empty by default', () => {
    expect(settings().jumpHosts).toEqual([])
  })

  it("reads a chain in order, with port 22 and the username input as defaults, and the servers' credentials", () => {
    const s = settings({
      'jump-host': 'bastion.example.com, ops@inner:2200',
      username: 'ci',
      port: '2222',
      passphrase: 'pp'
    })
    expect(s.jumpHosts.map(h => h.server.label)).toEqual([
      'ci@bastion.example.com:22',
      'ops@inner:2200'
    ])
    for (const hop of s.jumpHosts) {
      expect(hop.privateKey).toBe(FAKE_KEY)
      expect(hop.passphrase).toBe('pp')
    }
  })

  it('gives every hop jump-private-key, or one key per hop in order, the last for the rest', () => {
    const one = settings({ 'jump-host': 'a@j1,a@j2', 'jump-private-key': KEY_A })
    expect(one.jumpHosts.map(h => h.privateKey)).toEqual([KEY_A, KEY_A])
    const two = settings({
      'jump-host': 'a@j1,a@j2,a@j3',
      'jump-private-key': `${KEY_A}\n${KEY_B}\n`,
      'jump-passphrase': 'jp'
    })
    expect(two.jumpHosts.map(h => h.privateKey)).toEqual([KEY_A, KEY_B, KEY_B])
    expect(two.jumpHosts.map(h => h.passphrase)).toEqual(['jp', 'jp', 'jp'])
    // The servers keep their own key.
    expect(two.privateKey).toBe(FAKE_KEY)
  })

  it('uses jump-password alone on the hops when it is the only jump credential', () => {
    const s = settings({ 'jump-host': 'a@j1', 'jump-password': 'hop secret' })
    expect(s.jumpHosts[0]).toMatchObject({ password: 'hop secret' })
    expect(s.jumpHosts[0]!.privateKey).toBeUndefined()
  })

  it.each([
    ['a user-less hop without username', { 'jump-host': 'bastion' }, 'jump-host'],
    ['a hop with command substitution', { 'jump-host': 'a@$(id)' }, 'jump-host'],
    ['a hop listed twice', { 'jump-host': 'a@j1,a@J1:22' }, 'jump-host'],
    [
      'more keys than hops',
      { 'jump-host': 'a@j1', 'jump-private-key': `${KEY_A}\n${KEY_A}` },
      'jump-private-key'
    ],
    [
      'a public key as jump-private-key',
      { 'jump-host': 'a@j1', 'jump-private-key': ed25519.pub },
      'jump-private-key'
    ],
    ['jump-private-key without jump-host', { 'jump-private-key': KEY_A }, 'jump-private-key'],
    ['jump-password without jump-host', { 'jump-password': 'x' }, 'jump-password'],
    [
      'jump-passphrase without jump-private-key',
      { 'jump-host': 'a@j1', 'jump-passphrase': 'x' },
      'jump-passphrase'
    ]
  ])('refuses %s, naming the input', (_label, overrides, input) => {
    const error = refusal(input as InputName, overrides as Partial<Record<InputName, string>>)
    expect(error.message).toContain(input)
  })
})

// -------------------------------------------------------------------------------------------
// servers, username, port

describe('servers, username and port', () => {
  it('applies username and port to servers that do not name them', () => {
    const s = settings({ servers: 'web1\nroot@web2:2022\n[::1]', username: 'ci', port: '2222' })
    expect(s.servers.map(x => x.label)).toEqual(['ci@web1:2222', 'root@web2:2022', 'ci@[::1]:2222'])
  })

  it.each([
    ['IPv6 with port', '[::1]:22', 'ci@[::1]:22'],
    ['IPv6 with user and port', 'user@[2001:db8::1]:2222', 'user@[2001:db8::1]:2222'],
    ['CRLF-separated', 'a@web1\r\nb@web2', 'a@web1:22,b@web2:22'],
    ['comma-separated with spaces', ' a@web1 ,  b@web2 ', 'a@web1:22,b@web2:22']
  ])('reads servers %s', (_label, text, labels) => {
    expect(
      settings({ servers: text, username: 'ci' })
        .servers.map(x => x.label)
        .join(',')
    ).toBe(labels)
  })

  it.each([
    ['bare IPv6', '::1'],
    ['a duplicate', 'a@web1,a@web1:22'],
    ['a NUL', 'a@web1\0'],
    ['a newline inside an entry is a separator, so a lone port is refused', 'a@web1\n:22'],
    ['command substitution', 'a@$(id)'],
    ['a leading dash', '-oProxyCommand=x'],
    ['unicode', 'a@wéb'],
    ['empty', '']
  ])('refuses servers with %s', (_label, text) => {
    refusal('servers', { servers: text, username: 'ci' })
  })

  it.each([
    ['a leading dash', '-o'],
    ['a space', 'de ploy'],
    ['a single quote', "it's"],
    ['command substitution', '$(id)'],
    ['unicode', 'dëploy'],
    ['an @', 'a@b'],
    ['65 characters', 'u'.repeat(65)],
    ['a newline', 'a\nb']
  ])('refuses a username with %s', (_label, username) => {
    refusal('username', { servers: 'web1', username })
  })

  it.each(['0', '65536', '-22', 'ssh', '22 22', '0x16', '1e3', '２２'])('refuses port %j', port => {
    refusal('port', { port })
  })

  it.each([
    ['1', 1],
    ['65535', 65535],
    [' 2222 ', 2222]
  ])('accepts port %j', (port, expected) => {
    expect(settings({ port }).servers[0]!.port).toBe(expected)
  })
})

// -------------------------------------------------------------------------------------------
// path

describe('path', () => {
  it.each([
    ['an absolute path', '/var/www/app', '/var/www/app'],
    ['a trailing slash', '/var/www/app/', '/var/www/app'],
    ['doubled slashes', '//var//www///app', '/var/www/app'],
    ['a . segment', '/var/www/./app', '/var/www/app'],
    ['a .. inside', '/var/www/x/../app', '/var/www/app'],
    ['a relative path', 'apps/site', 'apps/site'],
    ['a relative path with a trailing slash', 'apps/site/', 'apps/site'],
    ['a relative path leading up', '../shared-host/app', '../shared-host/app'],
    ['a home directory', '/home/deploy/app', '/home/deploy/app'],
    ['a name that starts like a system directory', '/etcetera', '/etcetera'],
    ['a path below an exact-only system directory', '/usr/local/app', '/usr/local/app'],
    ['/srv/app', '/srv/app', '/srv/app'],
    ['/opt/app', '/opt/app', '/opt/app'],
    ['a single quote', "/srv/it's", "/srv/it's"],
    ['command substitution', '/srv/$(touch pwned)', '/srv/$(touch pwned)'],
    ['backticks', '/srv/`id`', '/srv/`id`'],
    ['unicode and spaces', '/srv/ünï côdé 🚀', '/srv/ünï côdé 🚀'],
    ['a leading dash', '-rf', '-rf'],
    ['surrounding white space', '  /var/www/app  ', '/var/www/app']
  ])('accepts %s', (_label, value, expected) => {
    expect(settings({ path: value }).path).toBe(expected)
  })

  it.each([
    ['empty', ''],
    ['only white space', '   '],
    ['/', '/'],
    ['//', '//'],
    ['/etc', '/etc'],
    ['/etc/', '/etc/'],
    ['//etc', '//etc'],
    ['/etc/nginx', '/etc/nginx'],
    ['/usr', '/usr'],
    ['/usr/bin/x', '/usr/bin/x'],
    ['/usr/lib/app', '/usr/lib/app'],
    ['/var', '/var'],
    ['/var/', '/var/'],
    ['/var/lib', '/var/lib'],
    ['.. escaping to /etc', '/var/www/../../etc'],
    ['/proc/self', '/proc/self'],
    ['/sys/x', '/sys/x'],
    ['/dev/shm/x', '/dev/shm/x'],
    ['/boot', '/boot'],
    ['/home', '/home'],
    ['/root', '/root'],
    ['/tmp', '/tmp'],
    ['/bin/x', '/bin/x'],
    ['.', '.'],
    ['./', './'],
    ['~', '~'],
    ['~/app', '~/app'],
    ['~deploy/app', '~deploy/app'],
    ['a newline', '/var/www/a\nb'],
    ['a carriage return', '/var/www/a\rb'],
    ['a NUL', '/var/www/a\0b']
  ])('refuses %s', (_label, value) => {
    const error = refusal('path', { path: value })
    expect(error.message).toContain('path')
  })

  it('names the system directory it refused', () => {
    expect(refusal('path', { path: '/usr/bin/x' }).message).toContain('/usr/bin')
  })
})

describe('systemDirectoryProblem', () => {
  it.each([
    '/',
    '/etc',
    '/etc/',
    '/usr',
    '/usr/bin',
    '/usr/bin/x',
    '/usr/lib/x/y',
    '/var',
    '/var/log',
    '/var/tmp',
    '/home',
    '/root',
    '/tmp',
    '/proc/1',
    '/sys/kernel',
    '/dev/null',
    '/boot',
    '/bin/sh',
    '/sbin/init',
    '/lib/modules',
    '/run/user'
  ])('refuses %s', p => {
    const problem = systemDirectoryProblem(p)
    expect(problem).toBeTypeOf('string')
    expect(problem).not.toMatch(/[\r\n]/)
  })

  it.each([
    '/var/www',
    '/var/www/app',
    '/home/deploy',
    '/home/deploy/app',
    '/srv/app',
    '/opt/app',
    '/tmp/deploy',
    '/etcetera',
    '/usr/binary',
    '/usr/local/app',
    '/var/lib2',
    '/binaries',
    '/data/www'
  ])('accepts %s', p => {
    expect(systemDirectoryProblem(p)).toBeUndefined()
  })
})

// -------------------------------------------------------------------------------------------
// source, exclude, scripts

describe('source', () => {
  it('resolves a relative source against the workspace', () => {
    expect(settings({ source: 'build' }).source).toBe(path.join(workspace, 'build'))
    expect(settings({ source: './build/' }).source).toBe(path.join(workspace, 'build'))
  })

  it('refuses a source that is a file', () => {
    expect(refusal('source', { source: 'README.md' }).message).toContain('not a directory')
  })

  it.each([
    ['a missing directory', 'dist'],
    ['a newline', 'build\nx'],
    ['a NUL', 'build\0']
  ])('refuses %s', (_label, source) => {
    refusal('source', { source })
  })

  it('does not require source to exist for a rollback or an unlock', () => {
    expect(settings({ mode: 'rollback', source: 'dist' }).mode).toBe('rollback')
    expect(settings({ mode: 'unlock', source: 'dist' }).mode).toBe('unlock')
  })
})

describe('exclude', () => {
  it('reads one glob a line, trimmed, without blank lines and # comments, CRLF or LF', () => {
    const s = settings({ exclude: 'node_modules/**\r\n  tests/**  \r\n# a comment\n\n*.log\n' })
    expect(s.exclude).toEqual(['node_modules/**', 'tests/**', '*.log'])
  })
})

describe('before-switch and after-switch', () => {
  it.each(['before-switch', 'after-switch'] as const)('%s: strips CR from CRLF line ends', name => {
    const s = settings({ [name]: 'php artisan migrate --force\r\nphp artisan cache:clear\r\n' })
    const script = name === 'before-switch' ? s.beforeSwitch : s.afterSwitch
    expect(script).toBe('php artisan migrate --force\nphp artisan cache:clear\n')
    expect(script).not.toContain('\r')
  })

  it.each(['before-switch', 'after-switch'] as const)(
    '%s: keeps the script otherwise verbatim',
    name => {
      const text = `  if [ -f "$RELEASE_PATH/x" ]; then\n    echo 'it''s' \`date\` $(pwd)\n  fi\n`
      const s = settings({ [name]: text })
      expect(name === 'before-switch' ? s.beforeSwitch : s.afterSwitch).toBe(text)
    }
  )

  it.each(['before-switch', 'after-switch'] as const)(
    '%s: treats only white space as no script',
    name => {
      const s = settings({ [name]: ' \r\n\t\n' })
      expect(name === 'before-switch' ? s.beforeSwitch : s.afterSwitch).toBeUndefined()
    }
  )
})

// -------------------------------------------------------------------------------------------
// release-id, rollback-to, mode

describe('release-id and rollback-to', () => {
  it.each(['v1.2.3', '20261122101500', 'release_2026-11-22', '-rf'])(
    'accepts release-id %j',
    id => {
      expect(settings({ 'release-id': id }).releaseId).toBe(id)
    }
  )

  it.each([
    ['.', '.'],
    ['..', '..'],
    ['a slash', 'a/b'],
    ['a parent path', '../x'],
    ['a space', 'a b'],
    ['a single quote', "it's"],
    ['command substitution', '$(id)'],
    ['backticks', '`id`'],
    ['a newline', 'a\nb'],
    ['a NUL', 'a\0b'],
    ['unicode', 'rélease'],
    ['a leading dot', '.hidden'],
    ['129 characters', 'x'.repeat(129)]
  ])('refuses a release-id with %s', (_label, id) => {
    refusal('release-id', { 'release-id': id })
  })

  it('accepts rollback-to with mode rollback', () => {
    const s = settings({ mode: 'rollback', 'rollback-to': 'v1.2.3' })
    expect(s.rollbackTo).toBe('v1.2.3')
  })

  it('refuses rollback-to with another mode', () => {
    const error = refusal('rollback-to', { 'rollback-to': 'v1.2.3' })
    expect(error.message).toContain('rollback')
  })

  it.each(['..', 'a/b', '$(id)', 'a\nb'])('refuses rollback-to %j', id => {
    refusal('rollback-to', { mode: 'rollback', 'rollback-to': id })
  })
})

// -------------------------------------------------------------------------------------------
// enumerations, booleans, numbers, URL

describe('enumerations', () => {
  it.each<[InputName, string[], keyof Settings]>([
    ['mode', ['deploy', 'rollback', 'unlock'], 'mode'],
    ['reuse', ['previous', 'cache', 'none'], 'reuse'],
    ['copy-method', ['copy', 'hardlink'], 'copyMethod'],
    ['compression', ['auto', 'gzip', 'none'], 'compression'],
    ['transfer', ['auto', 'tar', 'sftp'], 'transfer'],
    ['verify', ['standard', 'full'], 'verify'],
    ['shared-conflict', ['fail', 'replace'], 'sharedConflict'],
    ['strategy', ['parallel', 'sequential'], 'strategy']
  ])('%s accepts each documented value, trimmed, and refuses others', (input, values, key) => {
    for (const value of values) expect(settings({ [input]: ` ${value} ` })[key]).toBe(value)
    refusal(input, { [input]: `${values[0]}x` })
    refusal(input, { [input]: values.join(',') })
  })
})

describe('booleans', () => {
  const booleans: InputName[] = ['dry-run', 'rollback-on-failure', 'insecure-ignore-host-key']
  const read = (s: Settings, name: InputName): boolean =>
    name === 'dry-run'
      ? s.dryRun
      : name === 'rollback-on-failure'
        ? s.rollbackOnFailure
        : s.hostKeys.kind === 'insecure'

  it.each(
    booleans.flatMap(name =>
      (['true', 'True', 'TRUE', ' true '] as const).map(v => [name, v] as const)
    )
  )('%s %j is true', (name, value) => {
    expect(
      read(
        settings({ ...(name === 'insecure-ignore-host-key' ? NO_HOST_KEYS : {}), [name]: value }),
        name
      )
    ).toBe(true)
  })

  it.each(
    booleans.flatMap(name => (['false', 'False', 'FALSE'] as const).map(v => [name, v] as const))
  )('%s %j is false', (name, value) => {
    if (name === 'insecure-ignore-host-key') {
      refusal('known-hosts', { ...NO_HOST_KEYS, [name]: value })
      return
    }
    expect(read(settings({ [name]: value }), name)).toBe(false)
  })

  it.each(
    booleans.flatMap(name =>
      (['yes', 'no', '1', '0', 'on', 'tRue', 't'] as const).map(v => [name, v] as const)
    )
  )('%s refuses %j', (name, value) => {
    const error = refusal(name, { [name]: value })
    expect(error.message).toContain(name)
  })
})

describe('whole numbers', () => {
  it.each<[InputName, keyof Settings, number, number]>([
    ['keep-releases', 'keepReleases', 1, 100],
    ['health-check-timeout', 'healthCheckTimeout', 1, 3600],
    ['max-parallel', 'maxParallel', 1, 100],
    ['connect-timeout', 'connectTimeout', 1, 300],
    ['command-timeout', 'commandTimeout', 10, 21600]
  ])('%s accepts %d to %d and refuses the rest', (input, key, min, max) => {
    expect(settings({ [input]: String(min) })[key]).toBe(min)
    expect(settings({ [input]: String(max) })[key]).toBe(max)
    expect(settings({ [input]: ` ${max} ` })[key]).toBe(max)
    for (const bad of [
      String(min - 1),
      String(max + 1),
      '-1',
      '+1',
      '1.5',
      '1e2',
      '0x10',
      '３',
      'ten',
      '9'.repeat(30)
    ]) {
      const error = refusal(input, { [input]: bad })
      expect(error.message).toContain(`${min} to ${max}`)
    }
  })
})

describe('health-check-url', () => {
  it.each(['https://example.com/health', 'http://127.0.0.1:8080/', 'https://[::1]:8443/up?x=1'])(
    'accepts %s',
    url => {
      expect(settings({ 'health-check-url': url }).healthCheckUrl).toBe(url)
    }
  )

  it.each([
    'ftp://example.com/',
    'example.com/health',
    'javascript:alert(1)',
    'file:///etc/passwd',
    'http://',
    'https://exa mple.com/'
  ])('refuses %s', url => {
    refusal('health-check-url', { 'health-check-url': url })
  })
})

describe('health-check-expect', () => {
  const url = { 'health-check-url': 'https://example.com/health' }

  it.each<[string, string, string | undefined]>([
    ['empty: any 2xx passes', '', undefined],
    ['only spaces: any 2xx passes', '   ', undefined],
    ['text kept verbatim, spaces included', ' status: ok ', ' status: ok '],
    ['the line break of a YAML block scalar dropped', 'build 42\n', 'build 42'],
    ['quotes, $() and unicode kept', `"ok" $(id) ✓`, `"ok" $(id) ✓`]
  ])('%s', (_label, text, expected) => {
    expect(settings({ ...url, 'health-check-expect': text }).healthCheckExpect).toBe(expected)
  })

  it('is refused without health-check-url, naming both', () => {
    const error = refusal('health-check-expect', { 'health-check-expect': 'ok' })
    expect(error.message).toContain('health-check-url')
  })
})

describe('after-rollback and on-drift', () => {
  it('default to no script (after-switch runs after a rollback) and warn', () => {
    const s = settings({ 'after-switch': 'echo reload' })
    expect(s.afterSwitch).toBe('echo reload')
    expect(s.afterRollback).toBeUndefined()
    expect(s.onDrift).toBe('warn')
  })

  it.each(['warn', 'fail', 'ignore'] as const)('on-drift accepts %s', value => {
    expect(settings({ 'on-drift': value }).onDrift).toBe(value)
  })

  it('reads after-rollback as a script, CRLF normalised', () => {
    expect(settings({ 'after-rollback': 'echo a\r\necho b\r\n' }).afterRollback).toBe(
      'echo a\necho b\n'
    )
  })
})

// -------------------------------------------------------------------------------------------
// shared-paths

describe('shared-paths', () => {
  it.each<[string, string, string[] | undefined]>([
    ['empty means automatic', '', undefined],
    ['only comments and blank lines mean automatic', '# none\n\n  \n', undefined],
    [
      'files and directories',
      '.env\nstorage/\npublic/uploads/',
      ['.env', 'storage/', 'public/uploads/']
    ],
    ['./ prefixes removed', './.env\n././storage/', ['.env', 'storage/']],
    ['repeated trailing slashes folded', 'storage//', ['storage/']],
    ['white space and CRLF trimmed', '  .env  \r\n\tstorage/\r\n', ['.env', 'storage/']],
    ['comments dropped', '# shared\n.env', ['.env']],
    [
      'names with quotes and shell syntax kept verbatim',
      "it's\n$(id)\ndir with space/",
      ["it's", '$(id)', 'dir with space/']
    ],
    ['unicode and a leading dash', 'ünï/\n-rf', ['ünï/', '-rf']],
    [
      'siblings with a common prefix',
      'storage\nstorage-old\nstorage.bak',
      ['storage', 'storage-old', 'storage.bak']
    ]
  ])('%s', (_label, text, expected) => {
    expect(settings({ 'shared-paths': text }).sharedPaths).toEqual(expected)
  })

  it.each([
    ['an absolute path', '/etc/passwd'],
    ['an absolute directory', '/storage/'],
    ['..', '..'],
    ['a path leading up', '../secrets'],
    ['.. in the middle', 'storage/../../etc'],
    ['.', '.'],
    ['./', './'],
    ['a . segment', 'storage/./app'],
    ['an empty segment', 'storage//app'],
    ['a nested pair', 'storage\nstorage/app/public'],
    ['a nested pair, child first', 'storage/app/public/\nstorage/'],
    ['a duplicate', '.env\n.env'],
    ['a duplicate with and without a slash', 'storage\nstorage/'],
    ['a duplicate after ./', 'storage\n./storage'],
    ['a tab', 'a\tb'],
    ['an escape character', 'a\x1bb'],
    ['a NUL', 'a\0b']
  ])('refuses %s', (_label, text) => {
    const error = refusal('shared-paths', { 'shared-paths': text })
    expect(error.message).toContain('shared-paths')
  })
})
