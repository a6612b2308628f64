/**
 * Phase 7 across servers: the switch. Every server's `current` is swapped at once; if any
 * switch fails, the servers that switched (or may have) are switched back.
 */
import { forEachLimited } from '../concurrency.js'
import { messageOf } from '../../errors.js'
import type { ServerSession } from '../../server/server-session.js'
import { abortAll } from './group-finish.js'
import { type GroupState, describeFailures } from './group-state.js'

/**
 * Phase 7: switch every server at once. If any switch fails, the ones that switched go back to
 * what they had, and the new releases are removed.
 */
export async function switchAll(
  run: GroupState,
  target: (s: ServerSession) => string,
  title: string
): Promise<void> {
  await run.deps.group(title, async () => {
    run.checkAborted()
    const failures = await run.phase(
      run.sessions,
      'switch',
      async s => {
        await s.switchTo(target(s))
        s.log.info(`current -> releases/${target(s)}`)
      },
      run.sessions.length
    )
    if (failures.length > 0) {
      // Servers that switched, and those whose answer was lost and may have, go back.
      const reverted = await revert(
        run,
        run.sessions.filter(s => s.switchedTo !== undefined || s.switchUncertain !== undefined)
      )
      await abortAll(run)
      run.fail(
        `${describeFailures(failures, 'Switch failed')}\n${reverted.length > 0 ? `Switched back: ${reverted.join(', ')}.` : 'No server had switched.'}`,
        failures.map(f => f.error)
      )
    }
  })
}

/** Point switched servers back to the release they had before. Returns the labels reverted. */
export async function revert(run: GroupState, sessions: ServerSession[]): Promise<string[]> {
  const reverted: string[] = []
  await forEachLimited(
    sessions,
    sessions.length,
    async s => {
      if (!s.host.connected) {
        // The connection dropped mid-switch: a new one finds out, and puts current back.
        s.host.close()
        s.host = await run.deps.connect(s.server)
      }
      if (s.liveRelease !== undefined) {
        // Safe whether or not the failed switch happened: it points current at the old release.
        await s.switchTo(s.liveRelease)
      } else {
        // First deploy: there was no current link, and there is none again.
        await s.removeCurrent()
      }
      s.switchedTo = undefined
      s.switchUncertain = undefined
      reverted.push(s.label)
      s.log.info(`switched back to ${s.liveRelease ?? '(no release)'}`)
    },
    { stopOnError: false }
  ).then(failures => {
    for (const f of failures) {
      const id = f.item.switchedTo ?? f.item.switchUncertain
      f.item.log.warning(
        `could not switch back: ${messageOf(f.error)}. current may still point to releases/${id}; check it, and use 'mode: rollback' once the server is reachable.`
      )
    }
  })
  return reverted
}
