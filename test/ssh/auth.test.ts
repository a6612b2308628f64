/**
 * Public-key authentication sends its signature in the first request (no "would you accept this
 * key?" query first), and sends it right behind the request for the auth service instead of
 * waiting for the server's accept; the first channels (the first command's, a spare, SFTP) are
 * opened right behind that, and the first script follows its exec request in the same flight:
 * three round trips fewer on every deploy. Checked against a real sshd for each key type, through
 * ssh2's own protocol trace, for a key the server refuses, and with the savings switched off.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseKnownHosts } from '../../src/ssh/known-hosts.ts'
import { BOOTSTRAP } from '../../src/ssh/bootstrap.ts'
import { framed, type FirstScript } from '../../src/ssh/script-frame.ts'
import type { RunResult } from '../../src/ssh/remote-host.ts'
import { privateKeyOf } from '../../src/ssh/ssh-connect.ts'
import { connectSsh } from '../../src/ssh/ssh-remote-host.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { authorizeKey, createUser, generateKey, removeUser } from '../support/users.ts'

let sshd: Sshd
let user: TestUser

beforeAll(async () => {
  sshd = await startSshd()
  user = await createUser(sshd)
})

afterAll(async () => {
  if (user) await removeUser(user)
  await sshd?.stop()
})

async function connectTraced(
  privateKey: string,
  passphrase?: string,
  password?: string,
  on: { sshd: Sshd; user: TestUser } = { sshd, user },
  allowPipelining = true,
  firstScript?: Promise<FirstScript | undefined>
) {
  const trace: string[] = []
  const connecting = connectSsh({
    ...(firstScript ? { firstScript } : {}),
    server: {
      user: on.user.name,
      host: on.sshd.host,
      port: on.sshd.port,
      label: `${on.user.name}@${on.sshd.host}:${on.sshd.port}`
    },
    hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(on.sshd.knownHosts) },
    privateKey,
    ...(passphrase !== undefined ? { passphrase } : {}),
    ...(password !== undefined ? { password } : {}),
    timeoutSeconds: 20,
    allowPipelining,
    debug: line => trace.push(line)
  })
  return { connecting, trace }
}

/** A fresh ed25519 key, authorized for the test user, and a traced connection with it. */
async function connectWithNewKey(comment: string) {
  const key = await generateKey({ type: 'ed25519', comment })
  await authorizeKey(sshd, user, key.publicKey)
  const { connecting, trace } = await connectTraced(key.privateKey)
  return { host: await connecting, trace }
}

const sentQuery = (trace: string[]): boolean =>
  trace.some(l => l.includes('Sending USERAUTH_REQUEST (publickey -- check)'))
const sentSigned = (trace: string[]): number =>
  trace.filter(l => l.includes('Sending USERAUTH_REQUEST (publickey)')).length
const at = (trace: string[], text: string): number => trace.findIndex(l => l.includes(text))
const opens = (trace: string[]): number[] =>
  trace.flatMap((l, i) => (l.includes('Sending CHANNEL_OPEN (') ? [i] : []))
const execs = (trace: string[]): string[] =>
  trace.filter(l => l.includes('Sending CHANNEL_REQUEST') && l.includes('exec:'))
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex')
/** The local channel number of a `(r:N, ...)` trace line. */
const channelOf = (line: string): string => /\(r:(\d+)/.exec(line)?.[1] ?? '?'

describe('public-key authentication', () => {
  it.each([
    { name: 'ed25519', type: 'ed25519' },
    { name: 'ecdsa', type: 'ecdsa' },
    { name: 'RSA', type: 'rsa', format: 'openssh' as const },
    { name: 'RSA in PEM form', type: 'rsa', format: 'pem' as const },
    { name: 'passphrase-protected ed25519', type: 'ed25519', passphrase: 'correct horse' }
  ])(
    'authenticates in one round trip with a signed request, key: $name',
    async ({ name: _name, ...options }) => {
      const key = await generateKey({ ...options, comment: 'adt-auth-test' })
      await authorizeKey(sshd, user, key.publicKey)
      const { connecting, trace } = await connectTraced(key.privateKey, options.passphrase)
      const host = await connecting
      try {
        const result = await host.run('echo signed-in-as "$(id -un)"')
        expect(result.code).toBe(0)
        expect(result.stdout.toString()).toBe(`signed-in-as ${user.name}\n`)
      } finally {
        host.close()
      }
      expect(sentQuery(trace)).toBe(false)
      expect(sentSigned(trace)).toBe(1)
      expect(trace.some(l => l.includes('USERAUTH_SUCCESS'))).toBe(true)
      // Sent right behind the service request, before the server's accept came back.
      const signedAt = trace.findIndex(l => l.includes('Sending USERAUTH_REQUEST (publickey)'))
      const acceptedAt = trace.findIndex(l => l.includes('Received SERVICE_ACCEPT'))
      expect(signedAt).toBeGreaterThan(-1)
      expect(acceptedAt).toBeGreaterThan(signedAt)
    }
  )

  it('decrypts a passphrase-protected key once for all the connections of a run', async () => {
    const passphrase = 'battery staple'
    const key = await generateKey({ type: 'ed25519', passphrase, comment: 'adt-auth-once' })
    await authorizeKey(sshd, user, key.publicKey)
    const credentials = { privateKey: key.privateKey, passphrase }
    const parsed = privateKeyOf(credentials)
    // Every connection signs with this object: one that parsed the key text anew would sign
    // with its own.
    const sign = parsed.sign.bind(parsed)
    let signed = 0
    parsed.sign = (...args: Parameters<typeof sign>) => {
      signed++
      return sign(...args)
    }
    try {
      for (let i = 0; i < 2; i++) {
        const { connecting } = await connectTraced(key.privateKey, passphrase)
        const host = await connecting
        try {
          expect((await host.run('id -un')).stdout.toString()).toBe(`${user.name}\n`)
        } finally {
          host.close()
        }
      }
    } finally {
      parsed.sign = sign
    }
    expect(signed).toBe(2)
    // The same object as before the connections: none of them decrypted the key again.
    expect(privateKeyOf({ ...credentials })).toBe(parsed)
    expect(parsed.isPrivateKey()).toBe(true)
    // A wrong passphrase fails the same way each time, without another decryption.
    const wrong = { privateKey: key.privateKey, passphrase: 'wrong' }
    const thrown = (): unknown => {
      try {
        privateKeyOf(wrong)
      } catch (error) {
        return error
      }
      return undefined
    }
    const first = thrown()
    expect(String(first)).toMatch(/Cannot parse privateKey/)
    expect(thrown()).toBe(first)
  })

  it('fails cleanly with a key the server does not accept, naming authentication', async () => {
    const stranger = await generateKey({ type: 'ed25519', comment: 'adt-auth-stranger' })
    const { connecting, trace } = await connectTraced(stranger.privateKey)
    await expect(connecting).rejects.toThrow(/authentication/i)
    // The signed request was refused as a whole, and nothing else was tried.
    expect(sentQuery(trace)).toBe(false)
    expect(sentSigned(trace)).toBe(1)
    expect(trace.some(l => l.includes('USERAUTH_FAILURE'))).toBe(true)
    expect(trace.join('\n')).not.toContain(stranger.privateKey.split('\n')[1]!)
  })

  it('opens the first channels behind the signed request, and sends the first script right behind its exec request', async () => {
    const { host, trace } = await connectWithNewKey('adt-auth-early')
    try {
      // Three opens (the first command, a spare, SFTP) went out after the signed request and
      // before the server's success came back.
      expect(opens(trace)).toHaveLength(3)
      for (const open of opens(trace)) {
        expect(open).toBeGreaterThan(at(trace, 'Sending USERAUTH_REQUEST (publickey)'))
        expect(open).toBeLessThan(at(trace, 'Received USERAUTH_SUCCESS'))
      }
      const first = await host.run('echo first "$(id -un)"')
      expect(first.code).toBe(0)
      expect(first.stdout.toString()).toBe(`first ${user.name}\n`)
      // The script's channel, and the spare made ready behind it: both opened early.
      expect(execs(trace)).toHaveLength(2)
      expect(opens(trace)).toHaveLength(3)
      // The script went out right behind the exec request, before the server's answer to it:
      // one round trip for the whole first script.
      const exec = execs(trace).find(l =>
        trace.some(d => d.includes(`Sending CHANNEL_DATA (r:${channelOf(l)},`))
      )!
      const r = channelOf(exec)
      const execAt = trace.indexOf(exec)
      const dataAt = trace.findIndex(l => l.includes(`Sending CHANNEL_DATA (r:${r},`))
      const successAt = trace.findIndex(l => l.includes(`Inbound: CHANNEL_SUCCESS (r:${r})`))
      expect(dataAt).toBeGreaterThan(execAt)
      expect(successAt).toBeGreaterThan(dataAt)
      // The spare and the SFTP session start on the other two, with no open of their own; the
      // only open after authentication is the spare that replaces the one the script took.
      const afterAuth = (): number =>
        opens(trace).filter(i => i > at(trace, 'Received USERAUTH_SUCCESS')).length
      host.warmUp()
      const files = await host.files()
      await files.mkdir(`${user.home}/early-sftp-${Date.now()}`, 0o755)
      expect(trace.filter(l => l.includes('subsystem: sftp'))).toHaveLength(1)
      // SFTP's INIT went out right behind the subsystem request too.
      const subsystem = trace.find(l => l.includes('subsystem: sftp'))!
      const s = channelOf(subsystem)
      expect(trace.findIndex(l => l.includes(`Sending CHANNEL_DATA (r:${s}, 9)`))).toBeLessThan(
        trace.findIndex(l => l.includes(`Inbound: CHANNEL_SUCCESS (r:${s})`))
      )
      // So did the request for limits@openssh.com (31 bytes), whose answer, right behind
      // VERSION, is the one ssh2 takes: the answer to ssh2's own request, made on VERSION, is
      // dropped as unknown (nothing waits for it: a round trip saved), and the limits are the
      // server's (sftp-server: its descriptor limit), not the engine's default of 64 handles.
      const limitsAt = trace.findIndex(l => l.includes(`Sending CHANNEL_DATA (r:${s}, 31)`))
      expect(limitsAt).toBeGreaterThan(-1)
      expect(limitsAt).toBeLessThan(
        trace.findIndex(l => l.includes(`Inbound: CHANNEL_SUCCESS (r:${s})`))
      )
      const replies = trace.filter(l => l.includes('Received EXTENDED_REPLY'))
      expect(replies[0]).toMatch(/\(id:\d+, limits@openssh\.com\)/)
      expect(replies[1]).toMatch(/\(id:\d+, \?\?\?\)/)
      expect((files as unknown as { limits: { handles: number } }).limits.handles).not.toBe(64)
      const second = await host.run('printf second')
      expect(second.stdout.toString()).toBe('second')
      expect(afterAuth()).toBe(1)
      const third = await host.run('echo third; exit 3')
      expect(third.code).toBe(3)
      expect(third.stdout.toString()).toBe('third\n')
      expect(afterAuth()).toBe(2)
      // Every command line sent was the one-line bootstrap: no script on a command line.
      expect(execs(trace).length).toBeGreaterThanOrEqual(3)
      for (const line of execs(trace)) expect(line.endsWith(`exec: ${BOOTSTRAP})`)).toBe(true)
      expect(BOOTSTRAP).not.toMatch(/[\n\\!]/)
    } finally {
      host.close()
    }
  })

  it('opens no spare behind a script marked last, and a script after it still runs on a channel of its own', async () => {
    const { host, trace } = await connectWithNewKey('adt-auth-last')
    try {
      const afterAuth = (): number =>
        opens(trace).filter(i => i > at(trace, 'Received USERAUTH_SUCCESS')).length
      await host.run('printf first')
      // The first script took the command channel, and the early spare was made ready for the
      // next: no open of their own.
      expect(execs(trace)).toHaveLength(2)
      expect(afterAuth()).toBe(0)
      const last = await host.run('printf last', { last: true })
      expect(last.stdout.toString()).toBe('last')
      // The last script ran on that spare, and nothing was opened or started behind it.
      expect(execs(trace)).toHaveLength(2)
      expect(afterAuth()).toBe(0)
      // A script after all (an abort after a failure): a channel of its own, on demand (and,
      // not being last, a spare behind it).
      const after = await host.run('printf after; exit 4')
      expect(after.code).toBe(4)
      expect(after.stdout.toString()).toBe('after')
      expect(execs(trace).length).toBeGreaterThanOrEqual(3)
      expect(afterAuth()).toBe(2)
    } finally {
      host.close()
    }
  })

  it('runs the first script on an early channel when no spare is open', async () => {
    const { host, trace } = await connectWithNewKey('adt-auth-early-stdin')
    try {
      const result = await host.run('printf "on stdin %s" "$(id -un)"')
      expect(result.code).toBe(0)
      expect(result.stdout.toString()).toBe(`on stdin ${user.name}`)
      // The early channels carried it and the spare made ready behind it: nothing else opened.
      expect(execs(trace)).toHaveLength(2)
      expect(opens(trace)).toHaveLength(3)
      expect(Math.max(...opens(trace))).toBeLessThan(at(trace, 'Received USERAUTH_SUCCESS'))
    } finally {
      host.close()
    }
  })

  it('sends what follows the first script with it when known, else before the exec answer, and the script reads it after itself', async () => {
    // `follow` carries the source's digest behind the inspect script: never a round trip of
    // its own, whether the runner knows it before the script goes out or only just after.
    const script = 'IFS= read -r a || a=none; IFS= read -r b || b=eof; printf "%s|%s" "$a" "$b"'
    const dataBeforeSuccess = (trace: string[]): number => {
      const exec = execs(trace)[0]!
      const r = channelOf(exec)
      const success = at(trace, `Inbound: CHANNEL_SUCCESS (r:${r})`)
      expect(success).toBeGreaterThan(-1)
      return trace.filter((l, i) => i < success && l.includes(`Sending CHANNEL_DATA (r:${r},`))
        .length
    }
    // Known before the script goes out: one packet, the script and the line together.
    const known = await connectWithNewKey('adt-auth-follow-known')
    try {
      const result = await known.host.run(script, {
        follow: Promise.resolve(Buffer.from('digest-1\n'))
      })
      expect(result.stdout.toString()).toBe('digest-1|eof')
      expect(dataBeforeSuccess(known.trace)).toBe(1)
    } finally {
      known.host.close()
    }
    // Known only once the exec request is on its way: sent then, still before its answer.
    const key = await generateKey({ type: 'ed25519', comment: 'adt-auth-follow-late' })
    await authorizeKey(sshd, user, key.publicKey)
    let resolve: (b: Buffer) => void = () => undefined
    const late = new Promise<Buffer>(r => (resolve = r))
    const trace: string[] = []
    const host = await connectSsh({
      server: { user: user.name, host: sshd.host, port: sshd.port, label: 'follow-late' },
      hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(sshd.knownHosts) },
      privateKey: key.privateKey,
      timeoutSeconds: 20,
      allowPipelining: true,
      debug: line => {
        trace.push(line)
        if (line.includes('Sending CHANNEL_REQUEST') && line.includes('exec:'))
          queueMicrotask(() => resolve(Buffer.from('digest-2\n')))
      }
    })
    try {
      const result = await host.run(script, { follow: late })
      expect(result.stdout.toString()).toBe('digest-2|eof')
      expect(dataBeforeSuccess(trace)).toBe(2)
      // A later script on another channel: the line after it all the same.
      const again = await host.run(script, { follow: Promise.resolve(Buffer.from('three\n')) })
      expect(again.stdout.toString()).toBe('three|eof')
    } finally {
      host.close()
    }
  })

  it("sends a script's stdin and its end behind the spare's exec request, before the answer, as far as there is room; the rest after it", async () => {
    // The release script's tar stream: with a small archive the server has all of it, and its
    // end, when the script starts reading, not a round trip later.
    const { host, trace } = await connectWithNewKey('adt-auth-stdin-ahead')
    try {
      const script = 'sha256sum | cut -c1-64'
      const run = (stdin: Readable): Promise<RunResult> => {
        host.warmUp()
        const first = host.run('printf first')
        const second = host.run(script, { stdin })
        return first.then(() => second)
      }
      // The spare's channel: the one that carried the first chunk (6 bytes).
      const spareOf = (): string =>
        channelOf(trace.find(l => /Sending CHANNEL_DATA \(r:\d+, 6\)/.test(l))!)
      const small = [Buffer.from('alpha '), Buffer.from('beta '), Buffer.from('gamma')]
      const result = await run(Readable.from(small))
      expect(result.code).toBe(0)
      expect(result.stdout.toString().trim()).toBe(sha256(Buffer.concat(small)))
      const r = spareOf()
      const success = at(trace, `Inbound: CHANNEL_SUCCESS (r:${r})`)
      expect(success).toBeGreaterThan(-1)
      const sent = trace.flatMap((l, i) => (l.includes(`Sending CHANNEL_DATA (r:${r},`) ? [i] : []))
      // The script, then the three chunks; then the end: all before the answer.
      expect(sent).toHaveLength(4)
      for (const i of sent) expect(i).toBeLessThan(success)
      const eof = at(trace, `Sending CHANNEL_EOF (r:${r})`)
      expect(eof).toBeGreaterThan(sent[3]!)
      expect(eof).toBeLessThan(success)
      expect(trace.filter(l => l.includes(`Sending CHANNEL_EOF (r:${r})`))).toHaveLength(1)
    } finally {
      host.close()
    }
    // More than the room behind the request (256 kB): the rest goes once the answer came, in
    // order.
    const big = await connectWithNewKey('adt-auth-stdin-ahead-big')
    try {
      const chunks = Array.from({ length: 12 }, (_, i) => Buffer.alloc(64 * 1024, 97 + i))
      big.host.warmUp()
      const first = big.host.run('printf first')
      const second = big.host.run('sha256sum | cut -c1-64', { stdin: Readable.from(chunks) })
      await first
      const result = await second
      expect(result.code).toBe(0)
      expect(result.stdout.toString().trim()).toBe(sha256(Buffer.concat(chunks)))
      const r = channelOf(big.trace.find(l => /Sending CHANNEL_DATA \(r:\d+, 32768\)/.test(l))!)
      const success = at(big.trace, `Inbound: CHANNEL_SUCCESS (r:${r})`)
      const before = big.trace.filter(
        (l, i) => i < success && l.includes(`Sending CHANNEL_DATA (r:${r},`)
      )
      const after = big.trace.filter(
        (l, i) => i > success && l.includes(`Sending CHANNEL_DATA (r:${r},`)
      )
      expect(before.length).toBeGreaterThan(1)
      expect(after.length).toBeGreaterThan(0)
      expect(at(big.trace, `Sending CHANNEL_EOF (r:${r})`)).toBeGreaterThan(success)
    } finally {
      big.host.close()
    }
  })

  it("with the savings switched off, does each step as ssh2's public API does, and still deploys its scripts", async () => {
    const key = await generateKey({ type: 'ed25519', comment: 'adt-auth-public' })
    await authorizeKey(sshd, user, key.publicKey)
    const { connecting, trace } = await connectTraced(
      key.privateKey,
      undefined,
      undefined,
      { sshd, user },
      false
    )
    const host = await connecting
    try {
      expect(host.pipelined).toBe(false)
      expect(host.software).toBe('OpenSSH_9.2p1')
      const result = await host.run('echo public "$(id -un)"')
      expect(result.stdout.toString()).toBe(`public ${user.name}\n`)
      const followed = await host.run('IFS= read -r d; printf "%s" "$d"', {
        follow: new Promise(r => setTimeout(() => r(Buffer.from('late digest\n')), 50))
      })
      expect(followed.stdout.toString()).toBe('late digest')
      expect(await host.probeSftp()).toMatchObject({ state: 'available' })
      // The query first, authentication after the accept, channels after the success.
      expect(sentQuery(trace)).toBe(true)
      expect(at(trace, 'Sending USERAUTH_REQUEST (publickey')).toBeGreaterThan(
        at(trace, 'Received SERVICE_ACCEPT')
      )
      for (const open of opens(trace))
        expect(open).toBeGreaterThan(at(trace, 'Received USERAUTH_SUCCESS'))
      // The script waited for the exec request's answer.
      const exec = execs(trace)[0]!
      const r = channelOf(exec)
      expect(trace.findIndex(l => l.includes(`Sending CHANNEL_DATA (r:${r},`))).toBeGreaterThan(
        trace.findIndex(l => l.includes(`Inbound: CHANNEL_SUCCESS (r:${r})`))
      )
    } finally {
      host.close()
    }
  })

  it('a refused key: the channel sent behind it is given up, and the error names authentication', async () => {
    const stranger = await generateKey({ type: 'ed25519', comment: 'adt-auth-stranger-2' })
    const { connecting, trace } = await connectTraced(stranger.privateKey)
    await expect(connecting).rejects.toThrow(/authentication failed/i)
    expect(opens(trace)).toHaveLength(3)
    expect(at(trace, 'USERAUTH_FAILURE')).toBeGreaterThan(Math.max(...opens(trace)))
    // OpenSSH answers an open before authentication with UNIMPLEMENTED, and nothing worse.
    expect(trace.join('\n')).not.toMatch(/Inbound: Received DISCONNECT/)
  })

  it.each([
    { only: 'rsa-sha2-512', requests: 1 },
    { only: 'rsa-sha2-256', requests: 2 }
  ])(
    'an RSA key on a server that takes $only only: signed as the server accepts it, in $requests request(s)',
    async ({ only, requests }) => {
      const rsaSshd = await startSshd({ extraConfig: [`PubkeyAcceptedAlgorithms ${only}`] })
      const rsaUser = await createUser(rsaSshd)
      try {
        const key = await generateKey({ type: 'rsa', comment: 'adt-auth-rsa' })
        await authorizeKey(rsaSshd, rsaUser, key.publicKey)
        // The first script goes behind each signed request, and runs once: behind the accepted one.
        const script = 'echo ran >> "$HOME/rsa-runs"; echo rsa "$(id -un)"'
        const { connecting, trace } = await connectTraced(
          key.privateKey,
          undefined,
          undefined,
          { sshd: rsaSshd, user: rsaUser },
          true,
          Promise.resolve({ script: framed(script, true) })
        )
        const host = await connecting
        try {
          // rsa-sha2-512 first, as OpenSSH's client does; rsa-sha2-256 when that is refused.
          expect(sentSigned(trace)).toBe(requests)
          expect(sentQuery(trace)).toBe(false)
          const result = await host.run(script)
          expect(result.stdout.toString()).toBe(`rsa ${rsaUser.name}\n`)
          expect(execs(trace).filter(l => channelOf(l) === '0')).toHaveLength(requests)
          const runs = await readFile(path.join(rsaUser.home, 'rsa-runs'), 'utf8')
          expect(runs).toBe('ran\n')
          // The channels sent behind the refused request were given up, and those behind the
          // accepted one carried the first script: no open after the success.
          expect(opens(trace)).toHaveLength(3 * requests)
          expect(Math.max(...opens(trace))).toBeLessThan(at(trace, 'Received USERAUTH_SUCCESS'))
          expect(trace.join('\n')).not.toMatch(/Received DISCONNECT/)
        } finally {
          host.close()
        }
      } finally {
        await removeUser(rsaUser)
        await rsaSshd.stop()
      }
    }
  )

  it('with a password to fall back on, sends no channel before authentication succeeds', async () => {
    const pwSshd = await startSshd({ extraConfig: ['PasswordAuthentication yes'] })
    const pwUser = await createUser(pwSshd, { password: 'adt-early-pw' })
    try {
      const stranger = await generateKey({ type: 'ed25519', comment: 'adt-auth-stranger-3' })
      const { connecting, trace } = await connectTraced(
        stranger.privateKey,
        undefined,
        'adt-early-pw',
        { sshd: pwSshd, user: pwUser }
      )
      const host = await connecting
      try {
        const result = await host.run('echo via-password')
        expect(result.stdout.toString()).toBe('via-password\n')
        expect(at(trace, 'USERAUTH_FAILURE')).toBeGreaterThan(-1)
        expect(opens(trace).length).toBeGreaterThan(0)
        for (const open of opens(trace))
          expect(open).toBeGreaterThan(at(trace, 'Received USERAUTH_SUCCESS'))
      } finally {
        host.close()
      }
    } finally {
      await removeUser(pwUser)
      await pwSshd.stop()
    }
  })
})

describe('the first script, sent during authentication', () => {
  /** A traced connection with a fresh key, given `first` as its first script. */
  async function connectAhead(
    comment: string,
    first: Promise<FirstScript | undefined>,
    extra: { firstServerChannel?: number; debug?: (line: string) => void } = {}
  ) {
    const key = await generateKey({ type: 'ed25519', comment })
    await authorizeKey(sshd, user, key.publicKey)
    const trace: string[] = []
    const connecting = connectSsh({
      server: { user: user.name, host: sshd.host, port: sshd.port, label: comment },
      hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(sshd.knownHosts) },
      privateKey: key.privateKey,
      timeoutSeconds: 20,
      firstScript: first,
      ...(extra.firstServerChannel !== undefined
        ? { firstServerChannel: extra.firstServerChannel }
        : {}),
      debug: line => {
        trace.push(line)
        extra.debug?.(line)
      }
    })
    return { connecting, trace }
  }

  /** A script that counts its runs in a file of the test user's and prints `word`. */
  function counting(word: string): { script: string; runs: () => Promise<number> } {
    const file = `ahead-${word}-${Date.now()}`
    return {
      script: `echo ran >> "$HOME/${file}"; IFS= read -r d || d=none; printf "${word} %s %s" "$(id -un)" "$d"`,
      runs: () =>
        readFile(path.join(user.home, file), 'utf8').then(
          text => text.split('\n').filter(Boolean).length,
          () => 0
        )
    }
  }

  it('goes with its exec request right behind its channel open, before the success, and runs once', async () => {
    const { script, runs } = counting('ahead')
    const { connecting, trace } = await connectAhead(
      'adt-ahead',
      Promise.resolve({
        script: framed(script, true),
        follow: Promise.resolve(Buffer.from('digest-a\n'))
      })
    )
    const host = await connecting
    try {
      // The exec request on the server's first channel, the script and what follows it: all
      // sent before the server's success, with the opens.
      const exec = execs(trace)[0]!
      expect(channelOf(exec)).toBe('0')
      const success = at(trace, 'Received USERAUTH_SUCCESS')
      expect(trace.indexOf(exec)).toBeLessThan(success)
      expect(trace.indexOf(exec)).toBeGreaterThan(opens(trace)[0]!)
      const data = trace.flatMap((l, i) => (l.includes('Sending CHANNEL_DATA (r:0,') ? [i] : []))
      expect(data).toHaveLength(2)
      for (const i of data) expect(i).toBeLessThan(success)
      const result = await host.run(script, { follow: Promise.resolve(Buffer.from('digest-a\n')) })
      expect(result.code).toBe(0)
      expect(result.stdout.toString()).toBe(`ahead ${user.name} digest-a`)
      expect(await runs()).toBe(1)
      // Sent once: run() sent neither the script nor the line again.
      expect(trace.filter(l => l.includes('Sending CHANNEL_DATA (r:0,'))).toHaveLength(2)
      // The next script goes on the spare, behind its exec request, as before.
      const next = await host.run('printf next')
      expect(next.stdout.toString()).toBe('next')
    } finally {
      host.close()
    }
  })

  it('ready only after the channel is confirmed, goes on it as without, and runs once', async () => {
    const { script, runs } = counting('late')
    let ready: (first: FirstScript) => void = () => undefined
    const first = new Promise<FirstScript>(r => (ready = r))
    const { connecting, trace } = await connectAhead('adt-ahead-late', first, {
      debug: line => {
        if (line.includes('CHANNEL_OPEN_CONFIRMATION'))
          queueMicrotask(() => ready({ script: framed(script, true) }))
      }
    })
    const host = await connecting
    try {
      const result = await host.run(script)
      expect(result.stdout.toString()).toBe(`late ${user.name} none`)
      expect(await runs()).toBe(1)
      const exec = execs(trace)[0]!
      expect(trace.indexOf(exec)).toBeGreaterThan(at(trace, 'Received USERAUTH_SUCCESS'))
    } finally {
      host.close()
    }
  })

  it('must be the first script run: another one fails the run, and is not sent', async () => {
    const sent = counting('sent')
    const other = counting('other')
    const { connecting } = await connectAhead(
      'adt-ahead-other',
      Promise.resolve({ script: framed(sent.script, true) })
    )
    const host = await connecting
    try {
      await expect(host.run(other.script)).rejects.toThrow(/not the first script run/)
      expect(await other.runs()).toBe(0)
    } finally {
      host.close()
    }
  })

  it('behind a refused key never runs, and the error names authentication', async () => {
    const { script, runs } = counting('refused')
    const stranger = await generateKey({ type: 'ed25519', comment: 'adt-ahead-stranger' })
    const trace: string[] = []
    const connecting = connectSsh({
      server: { user: user.name, host: sshd.host, port: sshd.port, label: 'adt-ahead-stranger' },
      hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(sshd.knownHosts) },
      privateKey: stranger.privateKey,
      timeoutSeconds: 20,
      firstScript: Promise.resolve({ script: framed(script, true) }),
      debug: line => trace.push(line)
    })
    await expect(connecting).rejects.toThrow(/authentication failed/i)
    // It went, before the refusal came back: the server answered it UNIMPLEMENTED, unrun.
    expect(execs(trace)).toHaveLength(1)
    expect(at(trace, 'USERAUTH_FAILURE')).toBeGreaterThan(trace.indexOf(execs(trace)[0]!))
    expect(trace.join('\n')).not.toMatch(/Inbound: Received DISCONNECT/)
    expect(await runs()).toBe(0)
  })

  it('closes the connection when the server numbered the channel otherwise than assumed', async () => {
    const { script } = counting('numbered')
    const { connecting } = await connectAhead(
      'adt-ahead-numbered',
      Promise.resolve({ script: framed(script, true) }),
      { firstServerChannel: 1 }
    )
    const outcome = connecting.then(host => host.run(script).finally(() => host.close()))
    await expect(outcome).rejects.toThrow(/numbered the first channel 0, not 1/)
  })
})
