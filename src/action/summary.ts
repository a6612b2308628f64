import * as core from '@actions/core'
import type { DeployResult } from '../deploy/group-run.js'
import { formatBytes, formatCount, formatDuration } from '../logger.js'
import type { Phase, ServerReport } from '../server/server-session.js'

const PHASES: Phase[] = [
  'connect',
  'inspect',
  'upload',
  'switch',
  'after-switch',
  'health-check',
  'finish'
]

/** The `servers` output: JSON keyed by server. */
export function serversOutput(result: DeployResult | undefined): string {
  const out: Record<string, ServerReport> = {}
  for (const s of result?.sessions ?? []) out[s.label] = s.report
  return JSON.stringify(out)
}

const STATUS_TEXT: Record<ServerReport['status'], string> = {
  pending: '⏸️ not reached',
  deployed: '✅ live',
  failed: '❌ failed',
  'rolled-back': '↩️ rolled back',
  aborted: '⏹️ aborted',
  planned: '📝 planned (dry run)',
  unlocked: '🔓 unlocked',
  skipped: '⏭️ skipped'
}

/**
 * A table with one row per server in $GITHUB_STEP_SUMMARY: what went live where, and why not.
 * `core.summary` writes its arguments into the HTML as they are (addHeading, addTable and
 * addCodeBlock escape nothing), and errors carry text a server sent back, so every value is
 * escaped here.
 */
export async function writeSummary(
  title: string,
  result: DeployResult | undefined,
  error?: string
): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  const header = [
    { data: 'Server', header: true },
    { data: 'Status', header: true },
    { data: 'Release', header: true },
    { data: 'Previous', header: true },
    { data: 'Uploaded', header: true },
    { data: 'Deleted', header: true },
    { data: 'Time per phase', header: true },
    { data: 'Reason', header: true }
  ]
  const rows = (result?.sessions ?? []).map(s => {
    const r = s.report
    const phases = PHASES.filter(p => r.phases[p] !== undefined)
      .map(p => `${p} ${formatDuration(r.phases[p] as number)}`)
      .join(', ')
    return [
      s.label,
      STATUS_TEXT[r.status],
      r.release ?? '',
      r.previousRelease ?? '',
      `${formatCount(r.filesUploaded)} files, ${formatBytes(r.bytesUploaded)}`,
      formatCount(r.filesDeleted),
      phases,
      (r.error ?? '').split('\n')[0] ?? ''
    ].map(escapeHtml)
  })
  const summary = core.summary.addHeading(escapeHtml(title), 3)
  if (rows.length > 0) summary.addTable([header, ...rows])
  if (error) {
    summary.addRaw('\n\n**Failed:**\n\n')
    summary.addCodeBlock(escapeHtml(error))
  }
  if (result?.rolledBack)
    summary.addRaw(`\n\n**Rolled back** to ${escapeHtml(result.releaseId ?? '(none)')}.\n`)
  await summary.write()
}

/** Text as HTML character data or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string
  )
}
