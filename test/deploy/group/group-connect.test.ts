/**
 * The connect phase across servers against hand-written hosts: with one server, the inspect
 * script is handed to the connection to go out during authentication, and it is the script the
 * inspect phase then runs; with more, nothing is handed over, so no server is locked before
 * every one has answered.
 */
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import type { DeployDependencies } from '../../../src/deploy/group-run.ts'
import { connect } from '../../../src/deploy/group/group-connect.ts'
import { inspect, prepareInspectAhead } from '../../../src/deploy/group/group-inspect.ts'
import { GroupState } from '../../../src/deploy/group/group-state.ts'
import type { ScanResult } from '../../../src/release/manifest.ts'
import type {
  RemoteFiles,
  RemoteHost,
  RunOptions,
  RunResult
} from '../../../src/ssh/remote-host.ts'
import { framed, type FirstScript, type Script } from '../../../src/ssh/script-frame.ts'
import type { Server } from '../../../src/ssh/servers.ts'
import type { RunContext, Settings } from '../../../src/settings.ts'
import { memoryLog } from '../../support/fake-switch-host.ts'

/** A host that records the scripts it is asked to run and answers each with a refusal. */
class RecordingHost implements RemoteHost {
  readonly scripts: Buffer[] = []
  readonly exec = true
  constructor(readonly label: string) {}
  get software(): string {
    return 'OpenSSH_9.2p1'
  }
  get pipelined(): boolean {
    return true
  }
  run(script: Script, _options?: RunOptions): Promise<RunResult> {
    this.scripts.push(framed(script, true))
    return Promise.resolve({ code: 1, stdout: Buffer.from(''), stderrTail: 'recorded' })
  }
  probeSftp(): never {
    throw new Error('not used')
  }
  files(): Promise<RemoteFiles> {
    return Promise.reject(new Error('no SFTP here'))
  }
  get connected(): boolean {
    return true
  }
  close(): void {}
}

const context: RunContext = {
  commit: 'c0ffee',
  ref: 'refs/heads/main',
  actor: 'tester',
  repository: 'example/app',
  runUrl: 'https://github.com/example/app/actions/runs/1',
  workflow: 'deploy',
  runner: 'runner-1'
}

function group(names: string[]): {
  run: GroupState
  handed: (Promise<FirstScript | undefined> | undefined)[]
  hosts: RecordingHost[]
} {
  const servers: Server[] = names.map(host => ({
    user: 'deploy',
    host,
    port: 22,
    label: `deploy@${host}:22`
  }))
  const handed: (Promise<FirstScript | undefined> | undefined)[] = []
  const hosts: RecordingHost[] = []
  const scan: ScanResult = { entries: [], skipped: [] }
  const deps = {
    connect: (server: Server, firstScript?: Promise<FirstScript | undefined>) => {
      handed.push(firstScript)
      const host = new RecordingHost(server.label)
      hosts.push(host)
      return Promise.resolve(host)
    },
    serverLog: () => memoryLog(),
    log: memoryLog(),
    group: <T>(_name: string, work: () => Promise<T>) => work(),
    manifest: Promise.resolve(scan),
    context: Promise.resolve(context),
    now: () => new Date('2026-12-03T10:00:00Z'),
    signal: new AbortController().signal,
    saveLocks: () => undefined
  } as unknown as DeployDependencies
  const settings = {
    servers,
    maxParallel: 4,
    dryRun: false,
    mode: 'deploy',
    path: '/srv/app',
    reuse: 'previous',
    copyMethod: 'copy',
    transfer: 'auto',
    shell: 'auto',
    onDrift: 'warn'
  } as unknown as Settings
  return { run: new GroupState(settings, deps), handed, hosts }
}

describe('connect', () => {
  it('hands one server its inspect script, the one the inspect phase runs first', async () => {
    const { run, handed, hosts } = group(['web1'])
    prepareInspectAhead(run, { lock: true, prefetch: true, drift: true })
    await connect(run, run.settings.servers)
    expect(handed).toHaveLength(1)
    const first = await handed[0]
    expect(first).toBeDefined()
    // The lock owner's record of this run is in it.
    const text = (first as FirstScript).script
    const plain = gunzipSync(text.subarray(text.indexOf(10) + 1)).toString()
    const owner = (await run.inspectAhead)?.options.lockOwner
    expect(owner?.json).toContain(context.runUrl)
    expect(plain).toContain(owner?.token)
    // The inspect phase runs exactly those bytes first (its answer, a refusal, fails it).
    await expect(inspect(run, true, true, true)).rejects.toThrow()
    expect(hosts[0]!.scripts[0]!.equals(text)).toBe(true)
  })

  it('hands nothing to a group of servers: none is locked before every one answered', async () => {
    const { run, handed, hosts } = group(['web1', 'web2'])
    prepareInspectAhead(run, { lock: true, prefetch: true, drift: true })
    expect(run.inspectAhead).toBeUndefined()
    await connect(run, run.settings.servers)
    expect(handed).toEqual([undefined, undefined])
    expect(hosts.every(h => h.scripts.length === 0)).toBe(true)
  })
})
