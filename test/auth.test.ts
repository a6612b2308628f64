/**
 * Public-key authentication sends its signature in the first request (no "would you accept this
 * key?" query first), and sends it right behind the request for the auth service instead of
 * waiting for the server's accept: two round trips fewer on every deploy. Checked against a real
 * sshd for each key type, through ssh2's own protocol trace, and for a key the server refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseKnownHosts } from '../src/known-hosts.ts'
import { connectSsh } from '../src/ssh-remote-host.ts'
import { startSshd, type Sshd, type TestUser } from './support/sshd.ts'
import { authorizeKey, createUser, generateKey, removeUser } from './support/users.ts'

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

async function connectTraced(privateKey: string, passphrase?: string) {
  const trace: string[] = []
  const connecting = connectSsh({
    server: {
      user: user.name,
      host: sshd.host,
      port: sshd.port,
      label: `${user.name}@${sshd.host}:${sshd.port}`
    },
    hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(sshd.knownHosts) },
    privateKey,
    ...(passphrase !== undefined ? { passphrase } : {}),
    timeoutSeconds: 20,
    debug: line => trace.push(line)
  })
  return { connecting, trace }
}

const sentQuery = (trace: string[]): boolean =>
  trace.some(l => l.includes('Sending USERAUTH_REQUEST (publickey -- check)'))
const sentSigned = (trace: string[]): number =>
  trace.filter(l => l.includes('Sending USERAUTH_REQUEST (publickey)')).length

describe('public-key authentication', () => {
  it.each([
    { name: 'ed25519', type: 'ed25519' },
    { name: 'ecdsa', type: 'ecdsa' },
    { name: 'RSA (rsa-sha2-256)', type: 'rsa', format: 'openssh' as const },
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
})
