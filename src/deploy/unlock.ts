import { forEachLimited } from './concurrency.js'
import type { DeployDependencies, DeployResult } from './group-run.js'
import { GroupError } from './group-run.js'
import { ExecRefusedError, messageOf } from '../errors.js'
import { unlockScript } from '../server/remote-scripts.js'
import { parseScriptOutput } from '../server/script-output.js'
import { unlockOverSftp } from '../server/sftp-finish.js'
import type { RemoteHost } from '../ssh/remote-host.js'
import { describeLockOwner } from '../server/server-messages.js'
import { liveReleaseOf, resolvedDeployDir } from '../server/server-data.js'
import { ServerSession } from '../server/server-session.js'
import type { Settings } from '../settings.js'

/** mode: unlock — remove a stale lock on every server, saying who held it and since when. */
export class UnlockRun {
  constructor(
    private readonly settings: Settings,
    private readonly deps: DeployDependencies
  ) {}

  async unlock(): Promise<DeployResult> {
    const sessions: ServerSession[] = []
    const failures = await forEachLimited(
      this.settings.servers,
      this.settings.maxParallel,
      async server => {
        const host = await this.deps.connect(server)
        const session = new ServerSession(server, host, this.deps.serverLog(server.label))
        sessions.push(session)
        try {
          const { locked, owner, deployDir, current } = await this.unlockOn(host)
          // For the outputs only, and checked like everything a server sends: a `current` that
          // is not a release of this directory is reported, and no release is named.
          try {
            session.deployDir = resolvedDeployDir(deployDir, this.settings.path)
            session.liveRelease =
              current === undefined ? undefined : liveReleaseOf(current, session.deployDir)
          } catch (error) {
            session.log.warning(messageOf(error))
          }
          session.report.release = session.liveRelease
          if (!locked) {
            session.log.info('no lock was held')
          } else {
            session.log.info(`removed the lock held by ${describeLockOwner(owner)}`)
          }
          session.report.status = 'unlocked'
        } catch (error) {
          session.report.status = 'failed'
          session.report.error = messageOf(error)
          throw error
        } finally {
          host.close()
        }
      },
      { stopOnError: false }
    )
    // The outputs say what is live, as after any other mode.
    sessions.sort(
      (a, b) => this.settings.servers.indexOf(a.server) - this.settings.servers.indexOf(b.server)
    )
    const first = sessions[0]
    const result: DeployResult = {
      rolledBack: false,
      sessions,
      releaseId: first?.liveRelease,
      releasePath: first?.liveRelease
        ? `${first.deployDir}/releases/${first.liveRelease}`
        : undefined,
      previousReleaseId: first?.liveRelease
    }
    if (failures.length > 0) {
      throw new GroupError(
        `Unlock failed:\n${failures.map(f => `  ${messageOf(f.error)}`).join('\n')}`,
        failures.map(f => f.error),
        result
      )
    }
    return result
  }

  /** Remove the lock with the unlock script, or over SFTP when the account runs no commands. */
  private async unlockOn(host: RemoteHost): Promise<Unlocked> {
    const sftp = async (): Promise<Unlocked> =>
      unlockOverSftp(await host.files(), this.settings.path)
    if (this.settings.shell === 'none' || !host.exec) return sftp()
    let result
    try {
      result = await host.run(unlockScript(this.settings.path))
    } catch (error) {
      if (error instanceof ExecRefusedError) return sftp()
      throw error
    }
    const output = parseScriptOutput(result.stdout)
    // No line of ours: no shell ran it (an SFTP-only account).
    if (output.lines.length === 0) return sftp()
    // The owner record and current's target come as blobs: they may hold anything.
    const found = {
      owner: output.blobs.get('owner')?.toString('utf8'),
      current: output.blobs.get('current')?.toString('utf8'),
      deployDir: output.lines.find(l => l.startsWith('path '))?.slice(5)
    }
    if (output.lines.includes('not-locked')) return { locked: false, ...found }
    if (output.lines.includes('unlocked')) return { locked: true, ...found }
    throw new Error(`${host.label}: could not remove the lock: ${result.stderrTail.trim()}`)
  }
}

/** What an unlock found: whether a lock was there (and its owner record), and the layout. */
interface Unlocked {
  locked: boolean
  owner?: string
  deployDir?: string
  /** What `current` points to, as read back (unchecked: see liveReleaseOf). */
  current?: string
}
