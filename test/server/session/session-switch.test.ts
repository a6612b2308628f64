/**
 * One server's switch (session-switch.ts) against a hand-written host: what the session knows
 * of `current` after each way a switch can end, which is what the group run's revert relies on.
 */
import { describe, expect, it } from 'vitest'
import { SwitchRefusedError } from '../../../src/errors.ts'
import { ServerSession } from '../../../src/server/server-session.ts'
import type { RemoteFiles } from '../../../src/sftp/remote-files.ts'
import { FakeSwitchHost, memoryLog, type SwitchAnswer } from '../../support/fake-switch-host.ts'

function session(answers: SwitchAnswer[]): { s: ServerSession; host: FakeSwitchHost } {
  const host = new FakeSwitchHost('deploy@web1:22', 'releases/old', answers)
  const s = new ServerSession(
    { user: 'deploy', host: 'web1', port: 22, label: 'deploy@web1:22' },
    host,
    memoryLog()
  )
  s.deployDir = '/srv/app'
  s.liveRelease = 'old'
  return { s, host }
}

describe('switchTo', () => {
  it('points current at the release by the shell and records it once it reads back', async () => {
    const { s, host } = session(['switch'])
    await s.switchTo('new')
    expect(host.asked).toEqual(['new'])
    expect(host.current).toBe('releases/new')
    expect(s.switchedTo).toBe('new')
    expect(s.switchUncertain).toBeUndefined()
  })

  it('a refused switch leaves current known untouched: neither switched nor uncertain', async () => {
    const { s, host } = session(['refuse'])
    const error = await s.switchTo('new').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SwitchRefusedError)
    expect((error as Error).message).toMatch(
      /^deploy@web1:22: switch failed: cannot rename the new link over \/srv\/app\/current: /
    )
    expect(host.current).toBe('releases/old')
    expect(s.switchedTo).toBeUndefined()
    expect(s.switchUncertain).toBeUndefined()
  })

  it('a switch whose answer is lost may have happened: it is marked uncertain', async () => {
    const { s, host } = session(['lost'])
    await expect(s.switchTo('new')).rejects.toThrow('connection lost')
    // The fake did switch: only a switch back (the revert) can say where current is.
    expect(host.current).toBe('releases/new')
    expect(s.switchedTo).toBeUndefined()
    expect(s.switchUncertain).toBe('new')
  })

  it('fails when current reads back as another release, and does not call it switched', async () => {
    const { s } = session(['misread'])
    await expect(s.switchTo('new')).rejects.toThrow(
      "deploy@web1:22: current reads back as 'releases/elsewhere', expected 'releases/new'"
    )
    expect(s.switchedTo).toBeUndefined()
    expect(s.switchUncertain).toBeUndefined()
  })

  it('removeCurrent asks the shell to remove the link (a first deploy undone)', async () => {
    const { s, host } = session([])
    await s.removeCurrent()
    expect(host.asked).toEqual([''])
    expect(host.current).toBeUndefined()
  })

  it("waits for SFTP's start, which the inspect phase did not wait for, before choosing how to switch", async () => {
    const { s, host } = session([])
    const swapped: string[] = []
    // Only the swap is asked for: anything else the switch did over SFTP would be a failure.
    const files = {
      swapSymlink: (link: string, target: string) => {
        swapped.push(`${link} -> ${target}`)
        return Promise.resolve(target)
      }
    } as unknown as RemoteFiles
    host.files = () => Promise.resolve(files)
    // As inspect leaves it when the files go by tar and SFTP's start has not ended yet.
    s.capabilities = {
      software: 'OpenSSH_9.2p1',
      pipelined: true,
      exec: { available: true },
      sftp: { state: 'unknown', reason: 'still starting' },
      loginShell: '/bin/sh',
      tools: new Set(['tar']),
      toolset: 'gnu'
    }
    const capabilities = s.capabilities
    let started: () => void = () => undefined
    s.sftpSettling = new Promise<void>(resolve => (started = resolve)).then(() => {
      capabilities.sftp = { state: 'available', extensions: ['posix-rename@openssh.com'] }
    })
    const switching = s.switchTo('new')
    await new Promise(resolve => setTimeout(resolve, 20))
    // Nothing chosen while SFTP is still starting.
    expect(host.asked).toEqual([])
    expect(swapped).toEqual([])
    started()
    await switching
    expect(swapped).toEqual(['/srv/app/current -> releases/new'])
    expect(host.asked).toEqual([])
    expect(s.switchedTo).toBe('new')
  })
})
