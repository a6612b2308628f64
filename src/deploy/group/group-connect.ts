/**
 * Phase 1 across servers: connect to every server and verify its host key, before anything is
 * written anywhere.
 */
import { forEachLimited } from '../concurrency.js'
import { ConnectionError, messageOf } from '../../errors.js'
import { formatDuration } from '../../logger.js'
import type { Server } from '../../ssh/servers.js'
import { ServerSession } from '../../server/server-session.js'
import type { GroupState } from './group-state.js'

/** Connect to every server (phase 1). Nothing is written on any server before all answered. */
export async function connect(run: GroupState, servers: Server[]): Promise<void> {
  await run.deps.group('Connect and verify host keys', async () => {
    const results = await forEachLimited(
      servers,
      Math.max(run.settings.maxParallel, 1),
      async server => {
        const started = Date.now()
        // One server: its inspect script goes during authentication, if ready by then.
        const host = await run.deps.connect(
          server,
          servers.length === 1 ? run.inspectAhead?.then(ahead => ahead?.script) : undefined
        )
        const session = new ServerSession(server, host, run.deps.serverLog(server.label))
        session.report.phases.connect = Date.now() - started
        run.sessions.push(session)
        session.log.info(`connected (${formatDuration(Date.now() - started)})`)
      },
      { stopOnError: false }
    )
    // Keep the sessions in the order the servers were given.
    run.sessions.sort((a, b) => servers.indexOf(a.server) - servers.indexOf(b.server))
    if (results.length > 0) {
      run.close()
      // With one server, its inspect script may have gone with the authentication request.
      const mayHaveRun = results.some(
        f => f.error instanceof ConnectionError && f.error.scriptMayHaveRun === true
      )
      run.fail(
        `Cannot reach ${results.length} of ${servers.length} server${servers.length === 1 ? '' : 's'}; ${mayHaveRun ? 'nothing was changed but perhaps the lock (see below)' : 'nothing was changed anywhere'}:\n${results.map(f => `  ${messageOf(f.error)}`).join('\n')}`,
        results.map(f => f.error)
      )
    }
  })
}
