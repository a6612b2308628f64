/**
 * One server's side of a deploy, as the group run sees it. Each phase's logic lives in its own
 * module under session/, over the state the phases share (session/session-state.ts):
 *
 *   session-inspect.ts       lock, and read and check the server's state (phases 2 and 3)
 *   session-plan.ts          the starting point and the diff against it (phase 3)
 *   session-archive.ts       the release's metadata and tar stream (phase 4, on the runner)
 *   session-prepare.ts       the release script: build, transfer, verify, shared, before-switch
 *   session-switch.ts        `current` swapped atomically, and back (phase 7)
 *   session-after-switch.ts  the hook in the live release (phase 8)
 *   session-finish.ts        record, prune, unlock (phase 9), and abort
 */
import * as afterSwitchPhase from './session/session-after-switch.js'
import * as archivePhase from './session/session-archive.js'
import * as finishPhase from './session/session-finish.js'
import * as inspectPhase from './session/session-inspect.js'
import * as planPhase from './session/session-plan.js'
import * as preparePhase from './session/session-prepare.js'
import { SessionState } from './session/session-state.js'
import * as switchPhase from './session/session-switch.js'

export type {
  AccessOptions,
  ArchiveFeed,
  Base,
  Phase,
  ReleaseArchive,
  ReleaseOptions,
  ServerReport
} from './session/session-state.js'

/** A phase function's parameters after the session. */
type Rest<F> = F extends (s: SessionState, ...rest: infer A) => unknown ? A : never

/**
 * One server's side of a deploy: the phases as methods, the state they learn on the way, and a
 * report. The group runner decides when each phase runs; this class decides what it does.
 */
export class ServerSession extends SessionState {
  /** See session-inspect.ts. */
  inspect(...a: Rest<typeof inspectPhase.inspect>) {
    return inspectPhase.inspect(this, ...a)
  }

  /** See session-plan.ts. */
  makePlan(...a: Rest<typeof planPhase.makePlan>) {
    return planPhase.makePlan(this, ...a)
  }

  planLine() {
    return planPhase.planLine(this)
  }

  sharedProblems(...a: Rest<typeof planPhase.sharedProblems>) {
    return planPhase.sharedProblems(this, ...a)
  }

  /** See session-archive.ts. */
  releaseArchive(...a: Rest<typeof archivePhase.releaseArchive>) {
    return archivePhase.releaseArchive(this, ...a)
  }

  /** See session-prepare.ts. */
  prepareRelease(...a: Rest<typeof preparePhase.prepareRelease>) {
    return preparePhase.prepareRelease(this, ...a)
  }

  /** See session-switch.ts. */
  switchTo(...a: Rest<typeof switchPhase.switchTo>) {
    return switchPhase.switchTo(this, ...a)
  }

  removeCurrent() {
    return switchPhase.removeCurrent(this)
  }

  /** See session-after-switch.ts. */
  afterSwitch(...a: Rest<typeof afterSwitchPhase.afterSwitch>) {
    return afterSwitchPhase.afterSwitch(this, ...a)
  }

  /** See session-finish.ts. */
  finish(...a: Rest<typeof finishPhase.finish>) {
    return finishPhase.finish(this, ...a)
  }

  finishParams(...a: Rest<typeof finishPhase.finishParams>) {
    return finishPhase.finishParams(this, ...a)
  }

  abort() {
    return finishPhase.abort(this)
  }
}
