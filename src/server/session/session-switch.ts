/**
 * Phase 7 on one server: the switch. `current` is pointed at the new release atomically (SFTP's
 * posix-rename where the server has it, a rename in the shell elsewhere) and read back; the same
 * swap switches back. A single server's release script may switch on its own (reported here by
 * switchedAndFinished).
 */
import { randomBytes } from 'node:crypto'
import { SwitchRefusedError } from '../../errors.js'
import { switchScript } from '../remote-scripts.js'
import { scriptError, value, values, type ScriptOutput } from '../script-output.js'
import { lastLines } from '../server-messages.js'
import { printable } from '../../ssh/servers.js'
import { switchesOverSftp } from '../capabilities.js'
import type { SessionState } from './session-state.js'

/** Whether `current` is switched over SFTP; by a rename in the shell otherwise. */
async function sftpSwitch(s: SessionState): Promise<boolean> {
  await s.sftpSettling
  return s.capabilities !== undefined && switchesOverSftp(s.capabilities)
}

/**
 * Point `current` at `releases/<id>` atomically, and check it: SFTP's posix-rename where the
 * server has it, a rename by mv in the shell elsewhere.
 */
export async function switchTo(s: SessionState, id: string): Promise<void> {
  const target = `releases/${id}`
  let now: string | undefined
  try {
    if (await sftpSwitch(s)) {
      const files = await s.host.files()
      now = await files.swapSymlink(
        `${s.deployDir}/current`,
        target,
        `.current.tmp-${randomBytes(6).toString('hex')}`
      )
    } else {
      now = await shellSwitch(s, id)
    }
  } catch (error) {
    if (!(error instanceof SwitchRefusedError)) s.switchUncertain = id
    throw error
  }
  s.switchUncertain = undefined
  if (now?.replace(/\/$/, '') !== target) {
    throw new Error(
      `${s.label}: current reads back as '${printable(now ?? '(nothing)')}', expected '${target}'`
    )
  }
  s.switchedTo = id
}

/** Remove `current` (undoing a first deploy's switch). */
export async function removeCurrent(s: SessionState): Promise<void> {
  if (await sftpSwitch(s)) {
    const files = await s.host.files()
    await files.unlink(`${s.deployDir}/current`).catch(() => undefined)
    return
  }
  await shellSwitch(s, undefined)
}

/**
 * The switch by the shell (switchScript): what `current` reads back as. An answer without
 * `switched` means the rename did not happen; no answer at all (a lost connection) means it
 * may have, which the caller finds out.
 */
async function shellSwitch(s: SessionState, id: string | undefined): Promise<string | undefined> {
  const { result, output } = await s.script(
    switchScript({ deployDir: s.deployDir, ...(id !== undefined ? { releaseId: id } : {}) })
  )
  if (!output.lines.includes('switched')) {
    const error = scriptError(output)
    throw new SwitchRefusedError(
      `${s.label}: switch failed: ${error?.message ?? `exit ${result.code}`}: ${lastLines(result.stderrTail)}`
    )
  }
  return value(output, 'current')
}

/** What a release script that switched and finished reported after `ready`. */
export function switchedAndFinished(s: SessionState, id: string, final: ScriptOutput): void {
  const now = value(final, 'current')
  if (!final.lines.includes('switched') || now?.replace(/\/$/, '') !== `releases/${id}`) {
    s.switchUncertain = id
    throw new Error(
      `${s.label}: current reads back as '${printable(now ?? '(nothing)')}', expected 'releases/${id}'`
    )
  }
  s.switchedTo = id
  s.log.info(`current -> releases/${id}`)
  for (const line of values(final, 'pruned')) s.log.info(`pruned release ${line}`)
  if (final.lines.includes('unlocked')) s.lockToken = undefined
  s.prepared = undefined
  if (!final.lines.includes('finished'))
    s.log.warning(
      `finishing failed after the switch. The release is live; the lock may still be held: the post step tries to release it, or run 'mode: unlock'.`
    )
}
