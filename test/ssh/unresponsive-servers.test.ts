/**
 * Servers that do not behave: a port that accepts and says nothing, one that answers with
 * something other than SSH, one that closes at once, and a real sshd whose login shell never
 * runs the command it is given. Each ends the step in bounded time with exactly one `::error::`
 * line that names the server and the cause: no stack trace, no hang until GitHub's job limit.
 */
import { closeSync, constants, openSync } from 'node:fs'
import { mkdtemp, readlink, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runAction, type ActionResult } from '../support/action.ts'
import { run } from '../support/exec.ts'
import { createFixture, exists, list, writeTree, type Fixture } from '../support/fixture.ts'
import { freePort } from '../support/sshd.ts'
import { generateKey } from '../support/users.ts'

const servers: net.Server[] = []
const sockets = new Set<net.Socket>()

/** A loopback TCP server that treats each connection with `behave`. */
async function listen(behave: (socket: net.Socket) => void): Promise<number> {
  const port = await freePort()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
    behave(socket)
  })
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  servers.push(server)
  return port
}

let source: string
let key: string

beforeAll(async () => {
  source = await mkdtemp(path.join(os.tmpdir(), 'adt-unresp-'))
  await writeTree(source, { 'index.html': 'x' })
  // Any syntactically valid key: none of these servers gets as far as authentication.
  key = (await generateKey()).privateKey
})

afterAll(async () => {
  for (const s of sockets) s.destroy()
  for (const s of servers) await new Promise(resolve => s.close(resolve))
  await rm(source, { recursive: true, force: true })
})

function inputs(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    servers: `deploy@127.0.0.1:${port}`,
    'private-key': key,
    'host-fingerprint': `SHA256:${'A'.repeat(43)}`,
    path: 'app',
    source,
    'connect-timeout': '2',
    ...extra
  }
}

/** Exit code 1, one error line naming the server and matching `cause`, and no stack trace. */
function expectOneError(result: ActionResult, label: string, cause: RegExp): void {
  expect(result.code, result.log).toBe(1)
  const errors = result.log.split('\n').filter(l => l.includes('::error'))
  expect(errors, result.log).toHaveLength(1)
  expect(errors[0]).toContain(label)
  expect(errors[0]).toMatch(cause)
  expect(result.log).not.toMatch(/^\s+at /m)
  expect(result.log).not.toContain('Unhandled')
}

describe('a connection that fails before the handshake', () => {
  it.each<[string, (socket: net.Socket) => void, RegExp]>([
    [
      'accepts and never answers',
      () => undefined,
      /no SSH handshake within 2s \(connect-timeout\)/
    ],
    [
      'answers with something other than SSH, then closes',
      socket => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'),
      /closed the connection before the SSH handshake/
    ],
    [
      'sends a banner of an SSH it does not speak',
      socket => socket.write('SSH-1.5-OldServer\r\n'),
      /does not speak SSH-2/
    ],
    [
      'sends an SSH banner followed by garbage',
      socket => socket.write(`SSH-2.0-x\r\n${'\u00ff'.repeat(64)}`),
      /does not speak SSH-2|closed the connection|no SSH handshake/
    ]
  ])('a server that %s: one error line naming it', async (_what, behave, cause) => {
    const port = await listen(behave)
    for (const mode of ['deploy', 'unlock']) {
      const result = await runAction(inputs(port, { mode }), { timeoutMs: 30_000 })
      expectOneError(result, `deploy@127.0.0.1:${port}`, cause)
    }
  })
})

describe('a server that accepts the command and never answers it', () => {
  let f: Fixture
  const shell = path.join(os.tmpdir(), `adt-hanging-shell-${process.pid}`)

  beforeAll(async () => {
    // A login shell that never runs its command: sshd starts it, the channel stays open, and
    // nothing ever comes back (as on a server whose shell blocks on a dead NFS mount).
    await writeFile(shell, '#!/bin/sh\nexec sleep 3600\n', { mode: 0o755 })
    f = await createFixture()
    await run('usermod', ['-s', shell, f.user.name])
    await writeTree(f.source, { 'index.html': 'x' })
  })

  afterAll(async () => {
    await f?.cleanup()
    await rm(shell, { force: true })
  })

  it('is stopped after command-timeout, with one error line naming it and the input', async () => {
    const started = Date.now()
    const result = await runAction(f.inputs({ 'command-timeout': '10' }), { timeoutMs: 60_000 })
    const label = `${f.user.name}@127.0.0.1:${f.sshd.port}`
    expectOneError(result, label, /no answer from the server for 10s .*\(command-timeout\)/)
    expect(Date.now() - started).toBeLessThan(30_000)
    expect(await exists(f.deployDir)).toBe(false)
  })
})

describe('an SFTP-only server whose sftp-server stops answering a request', () => {
  let f: Fixture

  beforeAll(async () => {
    f = await createFixture({ kind: 'sftp-only' })
    await writeTree(f.source, { 'index.html': 'x' })
  })

  afterAll(async () => {
    await f?.cleanup()
  })

  it('is stopped after command-timeout, with one error line naming it and the request; current untouched', async () => {
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)
    // The release log as a FIFO: sftp-server's open(2) of it blocks until a writer comes, and
    // sftp-server, one request at a time, then answers nothing more on that session.
    const log = path.join(f.deployDir, '.atomic-deploy/log')
    await rm(log)
    await run('mkfifo', [log])
    await run('chown', [`${f.user.name}:`, log])
    const started = Date.now()
    const result = await runAction(f.inputs({ 'command-timeout': '10', 'release-id': 'two' }), {
      timeoutMs: 90_000
    })
    const label = `${f.user.name}@127.0.0.1:${f.sshd.port}`
    expectOneError(
      result,
      label,
      /no answer from the server for 10s while open \S*\.atomic-deploy\/log \(command-timeout\)/
    )
    expect(Date.now() - started).toBeLessThan(40_000)
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/one')
    expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one'])
    // Let the server's blocked open go. The lock's owner record was queued behind it, so the
    // lock is not known to be this run's and stays: mode: unlock clears it.
    closeSync(openSync(log, constants.O_WRONLY | constants.O_NONBLOCK))
    const unlocked = await runAction(f.inputs({ mode: 'unlock' }))
    expect(unlocked.code, unlocked.log).toBe(0)
    expect(await exists(path.join(f.deployDir, '.atomic-deploy/lock'))).toBe(false)
  })
})
