/**
 * sshd's MaxSessions caps the channels of one connection (10 by default, 2 or 1 on some hosts).
 * A deploy must work at the cap, including the SFTP switch and the rollback path. And a deploy
 * opens no channel it does not use: each costs an open, an exec request (a shell on the server)
 * and a close, on every server.
 */
import { mkdtemp, readlink, rm } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runAction } from '../support/action.ts'
import { createFixture, describeTree, writeTree, type Fixture } from '../support/fixture.ts'
import { startSshd, type Sshd, type TestUser } from '../support/sshd.ts'
import { authorizeKey, createUser, generateKey, removeUser } from '../support/users.ts'

const fixtures: Fixture[] = []
afterAll(async () => {
  for (const f of fixtures) await f.cleanup()
})

describe.each([1, 2])('with MaxSessions %i', maxSessions => {
  it('deploys, rolls back after a failing after-switch, and deploys again over SFTP', async () => {
    const f = await createFixture({ sshdOptions: { extraConfig: [`MaxSessions ${maxSessions}`] } })
    fixtures.push(f)
    await writeTree(f.source, {
      'index.html': 'one',
      'bin/run': { content: '#!/bin/sh\n', mode: 0o755 }
    })
    const first = await runAction(f.inputs({ 'release-id': 'one' }))
    expect(first.code, first.log).toBe(0)

    await writeTree(f.source, { 'index.html': 'two' })
    const failed = await runAction(f.inputs({ 'release-id': 'two', 'after-switch': 'exit 9' }))
    expect(failed.code).toBe(1)
    expect(failed.outputs['rolled-back']).toBe('true')
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/one')

    await writeTree(f.source, { 'index.html': 'three' })
    const third = await runAction(f.inputs({ 'release-id': 'three', transfer: 'sftp' }))
    expect(third.code, third.log).toBe(0)
    expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/three')
    expect(await describeTree(path.join(f.deployDir, 'current'))).toEqual(
      await describeTree(f.source)
    )
  })
})

describe('the channels of a deploy', () => {
  const cleanups: (() => Promise<unknown>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  it('are the ones it uses: three for one server, four on each server of a group', async () => {
    // DEBUG1 logs each channel open ("server_input_channel_open: ctype session").
    const sshd: Sshd = await startSshd({ extraConfig: ['LogLevel DEBUG1'] })
    cleanups.push(() => sshd.stop())
    const key = await generateKey()
    const users: TestUser[] = []
    for (let i = 0; i < 3; i++) {
      const user = await createUser(sshd)
      cleanups.push(() => removeUser(user))
      await authorizeKey(sshd, user, key.publicKey)
      users.push(user)
    }
    const source = await mkdtemp('/tmp/adt-channels-src-')
    cleanups.push(() => rm(source, { recursive: true, force: true }))
    await writeTree(source, { 'index.html': 'one', 'css/site.css': 'body {}' })
    const inputs = (group: TestUser[]) => ({
      servers: group.map(u => `${u.name}@127.0.0.1:${sshd.port}`).join('\n'),
      'private-key': key.privateKey,
      'known-hosts': sshd.knownHosts,
      path: 'app',
      source
    })
    const opens = async (group: TestUser[]): Promise<number> => {
      const from = sshd.log().length
      const run = await runAction(inputs(group))
      expect(run.code, run.log).toBe(0)
      // The connections' own processes log too: wait until every one has said goodbye.
      const lines = (): string[] => sshd.log().slice(from).split('\n')
      for (let i = 0; i < 100; i++) {
        if (
          lines().filter(l => /Connection closed|Disconnected from/.test(l)).length >= group.length
        )
          break
        await new Promise(r => setTimeout(r, 50))
      }
      return lines().filter(l => l.includes('server_input_channel_open: ctype session')).length
    }
    for (const group of [users.slice(0, 1), users.slice(1)]) {
      await opens(group)
      await writeTree(source, { 'index.html': `two ${group.length}` })
      // Lock and inspect, the release script, the SFTP session; a group also switches over SFTP
      // and then finishes on a channel of its own, behind which no other is opened.
      expect(await opens(group)).toBe(group.length === 1 ? 3 : 4 * group.length)
    }
  })
})
