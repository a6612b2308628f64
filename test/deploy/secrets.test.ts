/**
 * Credentials and host keys end to end: secrets never reach the log, the outputs, the job summary
 * or the saved state; passphrase-protected keys and passwords work, and wrong ones fail clearly;
 * host keys are checked (hashed and [host]:port known_hosts entries, every key type, SHA256
 * fingerprints) before any authentication is attempted.
 *
 * The sshd here logs at DEBUG1, which records the negotiated host key algorithm and every
 * authentication request (`userauth-request for user <name>`), so a test can tell what the
 * server saw.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction, token, type ActionResult } from '../support/action.ts'
import { run } from '../support/exec.ts'
import { createFixture, exists, writeTree, type Fixture } from '../support/fixture.ts'
import { startSshd, type HostKeyType, type Sshd } from '../support/sshd.ts'
import { authorizeKey, generateKey } from '../support/users.ts'

let sshd: Sshd
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  sshd = await startSshd({
    hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'],
    extraConfig: ['LogLevel DEBUG1', 'PasswordAuthentication yes']
  })
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

async function fixture(): Promise<Fixture> {
  const f = await createFixture({ sshd })
  cleanups.push(() => f.cleanup())
  await writeTree(f.source, { 'index.php': '<?php echo 1;' })
  return f
}

/** A fixture whose account also has a password (a distinctive one, to be searched for). */
async function passwordFixture(): Promise<Fixture & { password: string }> {
  const f = await fixture()
  const password = `pw-${token()}-'"$(x)-${token()}`
  await run('chpasswd', [], { input: `${f.user.name}:${password}\n` })
  return Object.assign(f, { password })
}

/** An encrypted key authorized for the fixture's account. */
async function encryptedKey(
  f: Fixture,
  options: { type: 'ed25519' | 'ecdsa' | 'rsa'; format: 'openssh' | 'pem' }
): Promise<{ 'private-key': string; passphrase: string }> {
  const passphrase = `pass-${token()}-${token()}`
  const key = await generateKey({ ...options, passphrase })
  await authorizeKey(sshd, f.user, key.publicKey)
  return { 'private-key': key.privateKey, passphrase }
}

/** What the sshd logged from now on (its buffer keeps only the newest 64 KB). */
function sshdLogFromNow(): () => string {
  const before = sshd.log()
  return () => {
    const now = sshd.log()
    if (now.startsWith(before)) return now.slice(before.length)
    const tail = before.slice(-400)
    const at = now.lastIndexOf(tail)
    return at >= 0 ? now.slice(at + tail.length) : now
  }
}

/** The pieces of a secret that must never be printed: the whole, and every long line of it. */
function fragments(secret: string): string[] {
  const lines = secret
    .split(/\r?\n/)
    .map(l => l.trim())
    .filter(l => l.length >= 16 && !l.startsWith('-----') && !/^(Proc-Type|DEK-Info):/.test(l))
  return [secret.trim(), ...lines]
}

/** Where any fragment of any secret shows up in what the step leaves behind. */
function leaks(
  result: ActionResult,
  secrets: string[],
  options: { allowMaskCommands?: boolean } = {}
): string[] {
  const log = options.allowMaskCommands
    ? result.log
        .split('\n')
        .filter(l => !l.startsWith('::add-mask::'))
        .join('\n')
    : result.log
  const places: Record<string, string> = {
    log,
    outputs: JSON.stringify(result.outputs),
    summary: result.summary,
    state: JSON.stringify(result.state)
  }
  const found: string[] = []
  for (const secret of secrets) {
    for (const fragment of fragments(secret)) {
      for (const [place, text] of Object.entries(places)) {
        if (text.includes(fragment)) found.push(`${place}: ${fragment.slice(0, 12)}...`)
      }
    }
  }
  return found
}

const DEBUG = { ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1' }
const IN_ACTIONS = { ...DEBUG, GITHUB_ACTIONS: 'true' }

/**
 * Run the step outside Actions and in Actions (where secrets are registered with ::add-mask::,
 * the only place they may appear), both with step debug on, and check for leaks.
 */
async function runBothWays(
  inputs: Record<string, string>,
  secrets: string[]
): Promise<[ActionResult, ActionResult]> {
  const plain = await runAction(inputs, { env: DEBUG })
  expect(leaks(plain, secrets)).toEqual([])
  const actions = await runAction(inputs, { env: IN_ACTIONS })
  expect(leaks(actions, secrets, { allowMaskCommands: true })).toEqual([])
  // Every secret is registered with the runner as a whole, so the runner masks it.
  const masks = actions.log.split('\n').filter(l => l.startsWith('::add-mask::'))
  for (const secret of secrets) {
    // Inputs reach the action trimmed, as the runner passes them.
    const escaped = secret.trim().replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
    expect(masks).toContain(`::add-mask::${escaped}`)
  }
  return [plain, actions]
}

const errorText = (result: ActionResult): string =>
  result.log
    .split('\n')
    .filter(l => l.startsWith('::error::'))
    .map(l => l.replace(/%0A/g, '\n').replace(/%25/g, '%'))
    .join('\n')

describe('secrets in the output', () => {
  it("never appear through a jump host either: the jump host's own key, passphrase and password", async () => {
    const f = await passwordFixture()
    // The server itself is the jump host here: a hop to itself, with its own credentials.
    const jumpKey = await encryptedKey(f, { type: 'ed25519', format: 'openssh' })
    const inputs = f.inputs({
      'jump-host': `${f.user.name}@127.0.0.1:${sshd.port}`,
      'jump-private-key': jumpKey['private-key'],
      'jump-passphrase': jumpKey.passphrase
    })
    const [plain] = await runBothWays(inputs, [
      jumpKey['private-key'],
      jumpKey.passphrase,
      f.user.privateKey
    ])
    expect(plain.code, plain.log).toBe(0)
    expect(plain.log).toMatch(/Connecting through jump host/)
    // A jump password the hop refuses: the failure names the jump host, and nothing leaks.
    const wrong = `jump-${token()}-'"$(x)-${token()}`
    const [refused] = await runBothWays(
      f.inputs({ 'jump-host': `${f.user.name}@127.0.0.1:${sshd.port}`, 'jump-password': wrong }),
      [wrong, f.user.privateKey]
    )
    expect(refused.code).toBe(1)
    expect(errorText(refused)).toMatch(/\(jump host\): authentication failed/)
  })

  it('never appear on success, with step debug, in Actions or not', async () => {
    const f = await passwordFixture()
    const key = await encryptedKey(f, { type: 'ed25519', format: 'openssh' })
    const inputs = f.inputs({ ...key, password: f.password })
    const [plain, actions] = await runBothWays(inputs, [
      key['private-key'],
      key.passphrase,
      f.password
    ])
    expect(plain.code, plain.log).toBe(0)
    expect(actions.code, actions.log).toBe(0)
  })

  it.each([
    ['a wrong passphrase', 'passphrase'],
    ['a wrong password', 'password'],
    ['a host key mismatch', 'host'],
    ['a failing hook that prints its environment', 'hook'],
    ['a damaged private key', 'damaged']
  ])('never appear on failure: %s', async (_, kind) => {
    const f = await passwordFixture()
    const key = await encryptedKey(f, { type: 'rsa', format: 'pem' })
    let inputs: Record<string, string>
    let secrets: string[]
    switch (kind) {
      case 'passphrase':
        inputs = f.inputs({ ...key, passphrase: `wrong-${key.passphrase}` })
        secrets = [key['private-key'], inputs.passphrase!]
        break
      case 'password':
        inputs = f.inputs({ 'private-key': '', password: `${f.password}-wrong` })
        secrets = [inputs.password!]
        break
      case 'host': {
        const other = await generateKey()
        inputs = f.inputs({
          ...key,
          password: f.password,
          'known-hosts': `[127.0.0.1]:${sshd.port} ${other.publicKey.split(' ').slice(0, 2).join(' ')}`
        })
        secrets = [key['private-key'], key.passphrase, f.password]
        break
      }
      case 'hook':
        inputs = f.inputs({ ...key, password: f.password, 'before-switch': 'env\nexit 4' })
        secrets = [key['private-key'], key.passphrase, f.password]
        break
      default: {
        // One base64 line of the key body changed: the key can no longer be parsed.
        const lines = key['private-key'].split('\n')
        const i = lines.findIndex(l => /^[A-Za-z0-9+/]{40,}$/.test(l))
        lines[i] = lines[i]!.replace(/^.{8}/, '!!!!!!!!')
        const damaged = lines.join('\n')
        inputs = f.inputs({ 'private-key': damaged, passphrase: key.passphrase })
        secrets = [damaged, key.passphrase]
      }
    }
    const [plain, actions] = await runBothWays(inputs, secrets)
    for (const result of [plain, actions]) {
      expect(result.code, result.log).toBe(1)
      expect(errorText(result)).not.toBe('')
    }
    if (kind === 'hook') expect(plain.log).toMatch(/RELEASE_ID=/)
    expect(await exists(path.join(f.deployDir, 'current'))).toBe(false)
  })
})

describe('passphrase-protected keys', () => {
  it.each([
    ['OpenSSH', 'ed25519', 'openssh'],
    ['OpenSSH', 'rsa', 'openssh'],
    ['PEM', 'rsa', 'pem'],
    ['PEM', 'ecdsa', 'pem']
  ] as const)('work in %s format (%s)', async (_, type, format) => {
    const f = await fixture()
    const key = await encryptedKey(f, { type, format })
    expect(key['private-key']).toMatch(
      format === 'pem' ? /Proc-Type: 4,ENCRYPTED/ : /BEGIN OPENSSH PRIVATE KEY/
    )
    const result = await runAction(f.inputs(key))
    expect(result.code, result.log).toBe(0)
    expect(await exists(path.join(f.deployDir, 'current/index.php'))).toBe(true)
  })

  it.each([
    ['OpenSSH', 'ed25519', 'openssh'],
    ['PEM', 'rsa', 'pem']
  ] as const)(
    'fail clearly in %s format (%s) with a wrong or missing passphrase',
    async (_, type, format) => {
      const f = await fixture()
      const key = await encryptedKey(f, { type, format })
      const log = sshdLogFromNow()
      for (const passphrase of [`${key.passphrase}x`, '']) {
        const result = await runAction(f.inputs({ ...key, passphrase }))
        expect(result.code, result.log).toBe(1)
        const error = errorText(result)
        expect(error).toMatch(/passphrase/)
        expect(error).toContain(f.user.name)
        expect(result.log).not.toMatch(/^\s+at /m)
      }
      expect(await exists(f.deployDir)).toBe(false)
      // The key was never offered: nothing reached authentication.
      expect(log()).not.toContain(`userauth-request for user ${f.user.name}`)
    }
  )
})

describe('password authentication', () => {
  it('works without a private key, and a wrong password fails with an authentication error', async () => {
    const f = await passwordFixture()
    const ok = await runAction(f.inputs({ 'private-key': '', password: f.password }))
    expect(ok.code, ok.log).toBe(0)
    expect(await exists(path.join(f.deployDir, 'current/index.php'))).toBe(true)

    const wrong = await runAction(f.inputs({ 'private-key': '', password: `${f.password}x` }))
    expect(wrong.code).toBe(1)
    const error = errorText(wrong)
    expect(error).toMatch(/authentication failed/i)
    expect(error).toContain(f.user.name)
    expect(error).toMatch(/password/)
    expect(wrong.log).not.toMatch(/^\s+at /m)
  })
})

describe('host keys', () => {
  const keyLine = (type: HostKeyType): string =>
    sshd.knownHosts
      .split('\n')
      .find(l =>
        l
          .split(' ')[1]!
          .startsWith(type === 'rsa' ? 'ssh-rsa' : type === 'ecdsa' ? 'ecdsa-' : 'ssh-ed25519')
      )!

  const ALGORITHM: Record<HostKeyType, RegExp> = {
    ed25519: /^ssh-ed25519$/,
    ecdsa: /^ecdsa-sha2-nistp\d+$/,
    rsa: /^rsa-sha2-(256|512)$/
  }

  /** The host key algorithms the server used, one per connection, in order. */
  const algorithms = (log: string): string[] =>
    [...log.matchAll(/kex: host key algorithm: (\S+)/g)].map(m => m[1]!)

  it.each(['rsa', 'ecdsa', 'ed25519'] as const)(
    'known-hosts with only the %s line makes the server use that key',
    async type => {
      const f = await fixture()
      const log = sshdLogFromNow()
      const result = await runAction(f.inputs({ 'known-hosts': keyLine(type) }))
      expect(result.code, result.log).toBe(0)
      const used = algorithms(log())
      expect(used.length).toBeGreaterThan(0)
      for (const algorithm of used) expect(algorithm).toMatch(ALGORITHM[type])
    }
  )

  it.each(['rsa', 'ecdsa', 'ed25519'] as const)(
    'a SHA256 fingerprint of the %s key is verified',
    async type => {
      const f = await fixture()
      const log = sshdLogFromNow()
      const fingerprint = sshd.fingerprints[type]!
      expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
      const result = await runAction(
        f.inputs({ 'known-hosts': '', 'host-fingerprint': fingerprint })
      )
      expect(result.code, result.log).toBe(0)
      // The connection that authenticated used the fingerprinted key.
      const text = log()
      const lastAuth = text.lastIndexOf(`userauth-request for user ${f.user.name}`)
      expect(lastAuth).toBeGreaterThan(0)
      const used = algorithms(text.slice(0, lastAuth))
      expect(used.at(-1)).toMatch(ALGORITHM[type])
    }
  )

  it('a hashed known_hosts file (ssh-keygen -H) is understood', async () => {
    const f = await fixture()
    const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-kh-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const file = path.join(dir, 'known_hosts')
    await writeFile(file, `${sshd.knownHosts}\n`)
    await run('ssh-keygen', ['-q', '-H', '-f', file])
    const hashed = (await readFile(file, 'utf8')).trim()
    const lines = hashed.split('\n')
    expect(lines).toHaveLength(3)
    for (const line of lines) expect(line).toMatch(/^\|1\|[^ ]+\|[^ ]+ \S+ AAAA/)
    expect(hashed).not.toContain('127.0.0.1')

    const all = await runAction(f.inputs({ 'known-hosts': hashed }))
    expect(all.code, all.log).toBe(0)
    // Only the hashed RSA line: the server is asked for its RSA key.
    const log = sshdLogFromNow()
    const rsaOnly = lines.find(l => l.split(' ')[1] === 'ssh-rsa')!
    const rsa = await runAction(f.inputs({ 'known-hosts': rsaOnly }))
    expect(rsa.code, rsa.log).toBe(0)
    for (const algorithm of algorithms(log())) expect(algorithm).toMatch(ALGORITHM.rsa)
  })

  it('a [host]:port entry applies to that port only, never to the bare host', async () => {
    const f = await fixture()
    expect(sshd.knownHosts.split('\n')[0]).toMatch(
      new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} `)
    )
    // The same key written for the bare host (port 22) must not vouch for this port.
    const bare = keyLine('ed25519').replace(/^\S+/, '127.0.0.1')
    const wrongPort = keyLine('ed25519').replace(/^\S+/, `[127.0.0.1]:${sshd.port + 1}`)
    for (const line of [bare, wrongPort]) {
      const result = await runAction(f.inputs({ 'known-hosts': line }))
      expect(result.code).toBe(1)
      expect(errorText(result)).toMatch(/known-hosts has no usable host key for 127\.0\.0\.1:\d+/)
    }
    expect(await exists(f.deployDir)).toBe(false)
  })

  it('a server missing from known-hosts is refused with how to get and check its key', async () => {
    const f = await fixture()
    const other = await generateKey()
    const log = sshdLogFromNow()
    const result = await runAction(
      f.inputs({
        'known-hosts': `other.example.com ${other.publicKey.split(' ').slice(0, 2).join(' ')}`
      })
    )
    expect(result.code).toBe(1)
    const error = errorText(result)
    expect(error).toContain(`ssh-keyscan -p ${sshd.port} 127.0.0.1`)
    expect(error).toMatch(/out-of-band/)
    expect(result.log).not.toMatch(/^\s+at /m)
    expect(await exists(f.deployDir)).toBe(false)
    expect(log()).not.toContain(f.user.name)
  })

  it.each([
    ['a known-hosts line', 'known-hosts'],
    ['a fingerprint', 'host-fingerprint']
  ])('a mismatch with %s is refused before any authentication attempt', async (_, input) => {
    // A control account first: the log shows its authentication, so its absence means something.
    const control = await fixture()
    const controlLog = sshdLogFromNow()
    expect((await runAction(control.inputs())).code).toBe(0)
    expect(controlLog()).toContain(`userauth-request for user ${control.user.name}`)

    const f = await passwordFixture()
    const other = await generateKey({ type: 'ed25519' })
    const otherLine = `[127.0.0.1]:${sshd.port} ${other.publicKey.split(' ').slice(0, 2).join(' ')}`
    const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-pub-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeFile(path.join(dir, 'key.pub'), `${other.publicKey}\n`)
    const listed = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'key.pub')])
    const otherFingerprint = listed.stdout.split(/\s+/)[1]!
    expect(otherFingerprint).toMatch(/^SHA256:/)
    const log = sshdLogFromNow()
    const result = await runAction(
      f.inputs({
        password: f.password,
        ...(input === 'known-hosts'
          ? { 'known-hosts': otherLine }
          : { 'known-hosts': '', 'host-fingerprint': otherFingerprint })
      })
    )
    expect(result.code).toBe(1)
    const error = errorText(result)
    expect(error).toMatch(/host key verification failed/)
    expect(error).toContain(sshd.fingerprints.ed25519!)
    expect(error).toContain(otherFingerprint)
    const seen = log()
    // The server was reached, and never heard from this user.
    expect(seen).toMatch(/Connection from 127\.0\.0\.1/)
    expect(seen).not.toContain(f.user.name)
    expect(seen).not.toMatch(/Accepted|Failed (publickey|password)|Postponed/)
    expect(await exists(f.deployDir)).toBe(false)
  })
})
