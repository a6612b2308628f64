/**
 * How a connection fails, against real servers on loopback: a server that throttles (closes
 * every connection before its banner, as OpenSSH's PerSourcePenalties and MaxStartups do), and
 * one that stops answering once connected (every channel open and SFTP start is bounded).
 */
import { existsSync, rmSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConnectionError } from '../../src/errors.ts'
import { parseKnownHosts } from '../../src/ssh/known-hosts.ts'
import { connectSsh } from '../../src/ssh/ssh-remote-host.ts'
import { PIPELINED_SOFTWARE } from '../../src/ssh/ssh2-internals.ts'
import { createDropbearUser, startDropbear } from '../support/dropbear.ts'
import { startLatencyProxy, type LatencyProxy } from '../support/proxy.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { createUser, generateKey, removeUser } from '../support/users.ts'

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

function options(port: number, timeoutSeconds: number) {
  return {
    server: { user: user.name, host: '127.0.0.1', port, label: `${user.name}@127.0.0.1:${port}` },
    hostKeys: {
      kind: 'known-hosts' as const,
      entries: parseKnownHosts(sshd.knownHosts.replace(`:${sshd.port} `, `:${port} `))
    },
    privateKey: user.privateKey,
    timeoutSeconds
  }
}

describe('a connection', () => {
  // One proxy for the tests that delay, freeze or cut the link; each puts it back as it was.
  let proxy: LatencyProxy
  beforeAll(async () => {
    proxy = await startLatencyProxy({ host: sshd.host, port: sshd.port })
  })
  afterAll(async () => {
    await proxy?.close()
  })

  it('closed by the server before its banner is reported as throttling, with what to do', async () => {
    // What sshd does to an address it penalises: accept, then close at once.
    const throttling = net.createServer(socket => socket.destroy())
    await new Promise<void>(resolve => throttling.listen(0, '127.0.0.1', resolve))
    const port = (throttling.address() as net.AddressInfo).port
    try {
      const error = await connectSsh(options(port, 5)).then(
        () => undefined,
        (e: Error) => e
      )
      expect(error?.message).toMatch(/closed the connection before the SSH handshake/)
      expect(error?.message).toMatch(/PerSourcePenalties/)
      expect(error?.message).toMatch(/try again in a minute/)
    } finally {
      await new Promise(resolve => throttling.close(resolve))
    }
  })

  it('refused by Dropbear, which closes it on channel opens behind the refused key, ends as authentication failed, every time', async () => {
    const dropbear = await startDropbear()
    const dropbearUser = await createDropbearUser(dropbear)
    // The savings forced on for Dropbear, as for a server they were not tested with: the opens
    // behind the refused key make Dropbear close the connection ("Received message 90 before
    // userauth"), and ssh2 reports the reset as a second error on the same connection.
    const tested = PIPELINED_SOFTWARE as RegExp[]
    tested.push(/^dropbear/)
    try {
      const stranger = await generateKey({ comment: 'adt-connection-stranger' })
      for (let i = 0; i < 5; i++) {
        const error = await connectSsh({
          server: {
            user: dropbearUser.name,
            host: dropbear.host,
            port: dropbear.port,
            label: `${dropbearUser.name}@${dropbear.host}:${dropbear.port}`
          },
          hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(dropbear.knownHosts) },
          privateKey: stranger.privateKey,
          timeoutSeconds: 10
        }).then(
          () => undefined,
          (e: Error) => e
        )
        // Either the refusal itself, or the connection Dropbear closed under it: both name the
        // user and say what to check.
        expect(error?.message).toMatch(
          new RegExp(
            `(authentication failed for user|closed the connection while authenticating user) '${dropbearUser.name}'`
          )
        )
        expect(error?.message).toMatch(/authorized_keys/)
      }
      // Any late error event would have ended this process by now.
      await new Promise(resolve => setTimeout(resolve, 200))
    } finally {
      tested.pop()
      await removeUser(dropbearUser)
      await dropbear.stop()
    }
  })

  it("at sshd's MaxSessions, makes room for SFTP by closing the idle spare, and waits only for that", async () => {
    const limited = await startSshd({ extraConfig: ['MaxSessions 2'] })
    const limitedUser = await createUser(limited)
    try {
      const host = await connectSsh({
        server: {
          user: limitedUser.name,
          host: limited.host,
          port: limited.port,
          label: `${limitedUser.name}@${limited.host}:${limited.port}`
        },
        hostKeys: { kind: 'known-hosts', entries: parseKnownHosts(limited.knownHosts) },
        privateKey: limitedUser.privateKey,
        timeoutSeconds: 20
      })
      try {
        host.warmUp()
        // The first command's channel and the spare took both sessions: SFTP was refused.
        expect(await host.probeSftp()).toMatchObject({ state: 'unknown' })
        const started = Date.now()
        await host.files()
        expect(await host.probeSftp()).toMatchObject({ state: 'available' })
        // The spare's close is seen at once (a channel nothing reads must be drained for ssh2
        // to report it closed), not after connect-timeout.
        expect(Date.now() - started).toBeLessThan(5000)
        expect((await host.run('echo after')).stdout.toString()).toBe('after\n')
      } finally {
        host.close()
      }
    } finally {
      await removeUser(limitedUser)
      await limited.stop()
    }
  })

  describe('lost between running a script and answering its exec request', () => {
    // The script goes right behind the exec request, so the server runs it before its answer
    // has come back. ssh2 answers a request pending at the close as a refusal ('Unable to
    // exec'); the script ran (it could have switched a release), so the run must fail as a lost
    // connection, which the deploy checks the server for, and never as a script that did not run.
    it('fails as a lost connection, not as a refused exec', async () => {
      const host = await connectSsh(options(proxy.port, 10))
      const mark = path.join(user.home, `ran-${process.pid}`)
      try {
        proxy.setDelay(300)
        const run = host.run(`touch '${mark}'`).then(
          () => undefined,
          (e: Error) => e
        )
        // Cut once the script has run on the server: its answer is still in the delay line.
        const started = Date.now()
        while (!existsSync(mark) && Date.now() - started < 5000)
          await new Promise(resolve => setTimeout(resolve, 2))
        expect(existsSync(mark)).toBe(true)
        proxy.cutAll()
        const error = await run
        expect(error).toBeInstanceOf(ConnectionError)
        expect(error?.message).toMatch(/connection lost/)
        expect(error?.message).not.toMatch(/Unable to exec|refused/)
      } finally {
        proxy.setDelay(0)
        host.close()
        rmSync(mark, { force: true })
      }
    })
  })

  describe('to a server that stops answering once connected', () => {
    it('gives up each channel open, exec request and SFTP start after connect-timeout', async () => {
      const host = await connectSsh(options(proxy.port, 1))
      try {
        proxy.freezeAll()
        const started = Date.now()
        await expect(host.run('true')).rejects.toThrow(
          /no answer to (a channel open|an exec request) within 1s \(connect-timeout\)/
        )
        await expect(host.files()).rejects.toThrow(/no answer to .* within 1s/)
        expect(await host.probeSftp()).toMatchObject({ state: 'unknown' })
        // Each bounded by the timeout, not by ssh2's keepalive (30 s) or forever.
        expect(Date.now() - started).toBeLessThan(10_000)
      } finally {
        proxy.thawAll()
        host.close()
      }
    })
  })
})
