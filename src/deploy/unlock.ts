import { forEachLimited } from './concurrency.js'
import type { DeployDependencies, DeployResult } from './group-run.js'
import { GroupError } from './group-run.js'
import { messageOf } from '../errors.js'
import { unlockScript } from '../server/remote-scripts.js'
import { parseScriptOutput } from '../server/script-output.js'
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
          const result = await host.run(unlockScript(this.settings.path))
          const output = parseScriptOutput(result.stdout)
          const owner = output.blobs.get('owner')?.toString('utf8')
          // For the outputs only, and checked like everything a server sends: a `current` that
          // is not a release of this directory is reported, and no release is named.
          const current = output.blobs.get('current')?.toString('utf8')
          try {
            session.deployDir = resolvedDeployDir(
              output.lines.find(l => l.startsWith('path '))?.slice(5),
              this.settings.path
            )
            session.liveRelease =
              current === undefined ? undefined : liveReleaseOf(current, session.deployDir)
          } catch (error) {
            session.log.warning(messageOf(error))
          }
          session.report.release = session.liveRelease
          if (output.lines.includes('not-locked')) {
            session.log.info('no lock was held')
          } else if (output.lines.includes('unlocked')) {
            session.log.info(`removed the lock held by ${describeLockOwner(owner)}`)
          } else {
            throw new Error(
              `${server.label}: could not remove the lock: ${result.stderrTail.trim()}`
            )
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
}
