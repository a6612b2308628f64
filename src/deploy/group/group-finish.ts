/**
 * Phase 9 across servers, and the way out before it: finish (record, prune, unlock) everywhere,
 * or abort (remove the prepared releases, release the locks) after a failure before the switch.
 */
import { forEachLimited } from '../concurrency.js'
import { messageOf } from '../../errors.js'
import type { ServerSession } from '../../server/server-session.js'
import type { GroupState } from './group-state.js'
import type { FinishParams } from '../../server/remote-scripts.js'

/** Phase 9 everywhere; a failure here is reported but changes nothing live. */
export async function finishAll(
  run: GroupState,
  plan: (s: ServerSession) => {
    events: [string, string][]
    prune: string[]
    spare?: FinishParams['spare']
  }
): Promise<void> {
  await run.deps.group('Prune and unlock', async () => {
    const failures = await run.phase(run.sessions, 'finish', s => {
      const { events, prune, spare } = plan(s)
      return s.finish(events, prune, spare)
    })
    run.saveLocks()
    for (const f of failures) {
      f.item.log.warning(
        `finishing failed: ${messageOf(f.error)}. The release is live; the lock may still be held: the post step tries to release it, or run 'mode: unlock'.`
      )
    }
  })
}

/** Remove prepared releases and release locks: the way out of any failure before the switch. */
export async function abortAll(run: GroupState): Promise<void> {
  await forEachLimited(
    run.sessions.filter(s => s.prepared !== undefined || s.lockToken !== undefined),
    run.settings.maxParallel,
    async s => {
      try {
        await s.abort()
        if (s.report.status === 'pending') s.report.status = 'aborted'
      } catch (error) {
        s.log.warning(
          `cleanup failed: ${messageOf(error)}. The next deploy removes the incomplete release; 'mode: unlock' clears the lock.`
        )
      }
    },
    { stopOnError: false }
  )
  run.saveLocks()
}
