import * as core from '@actions/core'
import type { Server } from '../ssh/servers.js'

/**
 * State shared between the main step and the post step. The post step runs even when the job
 * was cancelled, so it is where a lock the main step could not release gets released.
 */
const IS_POST = 'isPost'
const LOCKS = 'locks'

export interface HeldLock {
  server: Server
  deployDir: string
  token: string
}

/** Outside Actions (local runs, the demo) there is no post step and nothing to save. */
function inActions(): boolean {
  return Boolean(process.env.GITHUB_STATE)
}

export const isPost = (): boolean => core.getState(IS_POST) === 'true'

export function markMainStarted(): void {
  if (inActions()) core.saveState(IS_POST, 'true')
}

export function saveHeldLocks(locks: HeldLock[]): void {
  if (inActions()) core.saveState(LOCKS, JSON.stringify(locks))
}

export function heldLocks(): HeldLock[] {
  const raw = core.getState(LOCKS)
  if (!raw) return []
  try {
    const parsed = JSON.parse(raw) as HeldLock[]
    return Array.isArray(parsed) ? parsed : []
  } catch {
    return []
  }
}
