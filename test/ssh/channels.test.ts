/**
 * sshd's MaxSessions caps the channels of one connection (10 by default, 2 or 1 on some hosts).
 * A deploy must work at the cap, including the SFTP switch and the rollback path.
 */
import { readlink } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runAction } from '../support/action.ts'
import { createFixture, describeTree, writeTree, type Fixture } from '../support/fixture.ts'

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
