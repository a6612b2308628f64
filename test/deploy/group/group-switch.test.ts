/**
 * The switch across servers (group-switch.ts) against hand-written hosts: either every server
 * switches, or every server that did (or may have) goes back to the release it had.
 */
import { describe, expect, it } from 'vitest'
import { GroupError, type DeployDependencies } from '../../../src/deploy/group-run.ts'
import { switchAll } from '../../../src/deploy/group/group-switch.ts'
import { GroupState } from '../../../src/deploy/group/group-state.ts'
import { ServerSession } from '../../../src/server/server-session.ts'
import type { Settings } from '../../../src/settings.ts'
import { FakeSwitchHost, memoryLog, type SwitchAnswer } from '../../support/fake-switch-host.ts'

/** A group of servers, `old` live on each, whose switches are answered as given. */
function group(servers: Record<string, SwitchAnswer[]>): {
  run: GroupState
  hosts: Map<string, FakeSwitchHost>
  logs: string[]
} {
  const logs: string[] = []
  const deps = {
    log: memoryLog(logs),
    group: <T>(_name: string, work: () => Promise<T>) => work(),
    signal: new AbortController().signal,
    saveLocks: () => undefined
  } as unknown as DeployDependencies
  const run = new GroupState({ maxParallel: 4, dryRun: false } as Settings, deps)
  const hosts = new Map<string, FakeSwitchHost>()
  for (const [name, answers] of Object.entries(servers)) {
    const label = `deploy@${name}:22`
    const host = new FakeSwitchHost(label, 'releases/old', answers)
    const s = new ServerSession({ user: 'deploy', host: name, port: 22, label }, host, {
      ...memoryLog(logs),
      info: m => logs.push(`${label} ${m}`)
    })
    s.deployDir = '/srv/app'
    s.liveRelease = 'old'
    run.sessions.push(s)
    hosts.set(name, host)
  }
  return { run, hosts, logs }
}

describe('switchAll', () => {
  it('switches every server to the new release', async () => {
    const { run, hosts } = group({ web1: [], web2: [] })
    await switchAll(run, () => 'new', 'Switch to new')
    for (const host of hosts.values()) expect(host.current).toBe('releases/new')
    expect(run.sessions.map(s => s.switchedTo)).toEqual(['new', 'new'])
  })

  it.each([
    {
      what: 'refused',
      answers: { web1: [], web2: ['refuse'], web3: [] } as Record<string, SwitchAnswer[]>,
      back: 'web1, web3'
    },
    {
      // No answer: the switch may have happened, so web2 goes back too.
      what: 'lost',
      answers: { web1: [], web2: ['lost'], web3: [] } as Record<string, SwitchAnswer[]>,
      back: 'web1, web2, web3'
    }
  ])('one switch $what: the servers that switched go back to old', async ({ answers, back }) => {
    const { run, hosts } = group(answers)
    const error = await switchAll(run, () => 'new', 'Switch to new').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(GroupError)
    const message = (error as GroupError).message
    expect(message).toMatch(/^Switch failed on 1 server:\n {2}deploy@web2:22: /)
    expect(message).toContain(
      `Switched back: ${back
        .split(', ')
        .map(n => `deploy@${n}:22`)
        .join(', ')}.`
    )
    // current is where it was on every server, and no session thinks otherwise.
    for (const host of hosts.values()) expect(host.current).toBe('releases/old')
    expect(run.sessions.map(s => [s.switchedTo, s.switchUncertain])).toEqual([
      [undefined, undefined],
      [undefined, undefined],
      [undefined, undefined]
    ])
    expect((error as GroupError).result.releaseId).toBe('old')
    expect(run.sessions[1]?.report.status).toBe('failed')
  })
})
