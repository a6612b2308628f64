/**
 * What the server has taken of a script's stdin, counted from its SSH window adjustments: what
 * paces the archive's compression. It reads a field of ssh2's channels (`outgoing.window`); this
 * test fails when ssh2 no longer has it, or no longer raises it only on an adjustment.
 */
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseKnownHosts } from '../../src/ssh/known-hosts.ts'
import { connectSsh } from '../../src/ssh/ssh-remote-host.ts'
import { startLatencyProxy, type LatencyProxy } from '../support/proxy.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { authorizeKey, createUser, generateKey, removeUser } from '../support/users.ts'

let sshd: Sshd
let user: TestUser
let proxy: LatencyProxy
let privateKey: string

beforeAll(async () => {
  sshd = await startSshd()
  user = await createUser(sshd)
  const key = await generateKey({ type: 'ed25519', comment: 'adt-meter' })
  privateKey = key.privateKey
  await authorizeKey(sshd, user, key.publicKey)
  proxy = await startLatencyProxy({ host: sshd.host, port: sshd.port })
})

afterAll(async () => {
  await proxy?.close()
  if (user) await removeUser(user)
  await sshd?.stop()
})

describe('the stdin meter', () => {
  it('counts what the server took, as it takes it, through a 2 MiB/s link', async () => {
    proxy.setRate(2 * 1024 * 1024)
    const host = await connectSsh({
      server: { user: user.name, host: sshd.host, port: proxy.port, label: 'meter' },
      hostKeys: {
        kind: 'known-hosts',
        entries: parseKnownHosts(sshd.knownHosts.replaceAll(`]:${sshd.port} `, `]:${proxy.port} `))
      },
      privateKey,
      timeoutSeconds: 20
    })
    const total = 3 * 1024 * 1024
    const samples: number[] = []
    let meter: (() => number | undefined) | undefined
    const timer = setInterval(() => {
      const taken = meter?.()
      if (taken !== undefined) samples.push(taken)
    }, 20)
    try {
      const result = await host.run('wc -c', {
        stdin: Readable.from(
          Array.from({ length: total / 65_536 }, (_, i) => Buffer.alloc(65_536, i))
        ),
        onStdinMeter: taken => (meter = taken)
      })
      expect(result.stdout.toString().trim()).toBe(String(total))
    } finally {
      clearInterval(timer)
      host.close()
      proxy.setRate(undefined)
    }
    expect(meter).toBeDefined()
    // Taken bit by bit, never backwards, never more than was sent.
    for (let i = 1; i < samples.length; i++)
      expect(samples[i]).toBeGreaterThanOrEqual(samples[i - 1]!)
    const between = samples.filter(n => n > 256 * 1024 && n < total - 512 * 1024)
    expect(between.length).toBeGreaterThan(5)
    // sshd adjusts the window every few packets: at the end, all but the last few are counted.
    expect(meter?.()).toBeLessThanOrEqual(total)
    expect(meter?.()).toBeGreaterThan(total - 256 * 1024)
  })
})
