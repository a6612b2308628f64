/**
 * ssh2-internals.ts reaches into ssh2's private fields. These tests fail loudly when the
 * installed ssh2 no longer has the shape the module relies on (an upgrade would otherwise turn
 * the savings off without a word), and pin the switch to the server software it was tested with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseKnownHosts } from '../../src/ssh/known-hosts.ts'
import { openConnection } from '../../src/ssh/ssh-connect.ts'
import { KeyObject, randomBytes } from 'node:crypto'
import {
  PIPELINED_SOFTWARE,
  clientShapeProblems,
  keyObjectsForGcm,
  shapeProblems
} from '../../src/ssh/ssh2-internals.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { createUser, removeUser } from '../support/users.ts'

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

/** A connection to this file's sshd, as the action opens one. */
function connectToSshd(): ReturnType<typeof openConnection> {
  return openConnection({
    server: {
      user: user.name,
      host: sshd.host,
      port: sshd.port,
      label: `${user.name}@${sshd.host}:${sshd.port}`
    },
    hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(sshd.knownHosts) },
    privateKey: user.privateKey,
    timeoutSeconds: 20
  })
}

describe('the installed ssh2', () => {
  it('has every prototype method and constant the savings use', () => {
    expect(shapeProblems()).toEqual([])
  })

  it('has, on a live connection, the protocol object, handlers and channel manager they use, and the switch is on for this sshd', async () => {
    const opened = await connectToSshd()
    try {
      expect(clientShapeProblems(opened.client)).toEqual([])
      expect(opened.internals.problems).toEqual([])
      expect(opened.internals.software).toBe('OpenSSH_9.2p1')
      expect(opened.internals.pipelined).toBe(true)
      expect(opened.internals.serverSigAlgs).toContain('rsa-sha2-512')
    } finally {
      opened.client.end()
      opened.socket.destroy()
    }
  })

  it('names what is missing when a field is gone, which turns the switch off', () => {
    const client = { _protocol: { authPK() {}, _handlers: {} }, _chanMgr: {} }
    const problems = clientShapeProblems(client as never)
    expect(problems).toEqual(
      expect.arrayContaining([
        'client._protocol.service',
        'client._protocol.channelData',
        'handler EXT_INFO',
        'client._chanMgr'
      ])
    )
  })
})

/** Run `cat` on the connection with `input` on stdin; what came back. */
function echo(client: import('ssh2').Client, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.exec('cat', (error, channel) => {
      if (error) return reject(error)
      const out: Buffer[] = []
      channel.on('data', (d: Buffer) => out.push(d))
      channel.on('close', () => resolve(Buffer.concat(out)))
      channel.end(input)
    })
  })
}

describe('AES-GCM keys as KeyObjects', () => {
  it('are in use on both directions of a connection, which carries data both ways intact, before and after a rekey', async () => {
    const opened = await connectToSshd()
    try {
      const proto = (
        opened.client as unknown as {
          _protocol: { _cipher: Record<string, unknown>; _decipher: Record<string, unknown> }
        }
      )._protocol
      // OpenSSH and ssh2 both put aes128-gcm@openssh.com first among what they share.
      expect(keyObjectsForGcm(opened.client)).toBe(2)
      const input = randomBytes(300 * 1024)
      expect((await echo(opened.client, input)).equals(input)).toBe(true)
      expect(proto._cipher['_encKey']).toBeInstanceOf(KeyObject)
      expect(proto._decipher['_decipherKey']).toBeInstanceOf(KeyObject)
      // A rekey (ssh2's own, as at its byte limits) makes new cipher objects.
      const before = { cipher: proto._cipher, decipher: proto._decipher }
      ;(proto as unknown as { rekey(): void }).rekey()
      for (
        let i = 0;
        i < 200 && (proto._cipher === before.cipher || proto._decipher === before.decipher);
        i++
      )
        await new Promise(resolve => setTimeout(resolve, 10))
      expect(proto._cipher).not.toBe(before.cipher)
      expect(proto._decipher).not.toBe(before.decipher)
      expect(proto._cipher['_encKey']).not.toBeInstanceOf(KeyObject)
      expect((await echo(opened.client, input)).equals(input)).toBe(true)
      expect(proto._cipher['_encKey']).toBeInstanceOf(KeyObject)
      expect(proto._decipher['_decipherKey']).toBeInstanceOf(KeyObject)
    } finally {
      opened.client.end()
      opened.socket.destroy()
    }
  })

  it('leave a connection of another cipher as it is', () => {
    const cipher = { _encKeyMain: Buffer.alloc(32), encrypt() {} }
    const client = { _protocol: { _cipher: cipher, _decipher: {} } }
    expect(keyObjectsForGcm(client as never)).toBe(0)
  })
})

describe('the switch', () => {
  it.each([
    ['OpenSSH_9.2p1', true],
    ['OpenSSH_9.3p1', false],
    ['OpenSSH_10.0p2', false],
    ['OpenSSH_9.2p1x', false],
    ['dropbear_2022.83', false],
    ['dropbear', false]
  ])('for server software %s is %s', (software, on) => {
    expect(PIPELINED_SOFTWARE.some(re => re.test(software))).toBe(on)
  })
})
