/** The job summary written through @actions/core's summary: one row per server, escaped. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { serversOutput, writeSummary } from '../../src/action/summary.ts'
import type { DeployResult } from '../../src/deploy/group-run.ts'
import type { ServerReport, ServerSession } from '../../src/server/server-session.ts'

function session(label: string, report: Partial<ServerReport>): ServerSession {
  const full: ServerReport = {
    status: 'pending',
    filesUploaded: 0,
    filesDeleted: 0,
    bytesUploaded: 0,
    phases: {},
    ...report
  }
  return { label, report: full } as unknown as ServerSession
}

describe('job summary', () => {
  let dir: string
  let file: string
  const saved = process.env.GITHUB_STEP_SUMMARY

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'adt-summary-'))
    file = path.join(dir, 'summary')
    await writeFile(file, '')
    process.env.GITHUB_STEP_SUMMARY = file
  })

  afterEach(async () => {
    if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY
    else process.env.GITHUB_STEP_SUMMARY = saved
    await rm(dir, { recursive: true, force: true })
  })

  it('writes one row per server and escapes what servers sent back', async () => {
    const hostile = '<img src=x onerror=alert(1)> & </td></tr><script>x</script>'
    const result: DeployResult = {
      releaseId: 'r1',
      rolledBack: true,
      sessions: [
        session('deploy@web1:22', {
          status: 'rolled-back',
          release: 'r2',
          previousRelease: 'r1',
          filesUploaded: 1234,
          bytesUploaded: 2_500_000,
          filesDeleted: 3,
          phases: { connect: 120, upload: 1500 },
          error: `after-switch failed with status 4: ${hostile}\nsecond line`
        }),
        session('deploy@web2:22', { status: 'deployed', release: 'r2', previousRelease: 'r1' })
      ]
    }
    await writeSummary('atomic-deploy: deploy failed', result, `web1: ${hostile}`)
    const html = await readFile(file, 'utf8')

    expect(html).toContain('<h3>atomic-deploy: deploy failed</h3>')
    const rows = [...html.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map(m => m[1])
    expect(rows).toHaveLength(3)
    expect(rows[0]).toContain('<th>Server</th>')
    expect(rows[1]).toContain(
      '<td>deploy@web1:22</td><td>↩️ rolled back</td><td>r2</td><td>r1</td>'
    )
    expect(rows[1]).toContain('<td>1,234 files, 2.50 MB</td><td>3</td>')
    expect(rows[1]).toContain('<td>connect 0.12s, upload 1.50s</td>')
    expect(rows[1]).toContain(
      '<td>after-switch failed with status 4: &lt;img src=x onerror=alert(1)&gt; &amp; &lt;/td&gt;&lt;/tr&gt;&lt;script&gt;x&lt;/script&gt;</td>'
    )
    expect(rows[1]).not.toContain('second line')
    expect(rows[2]).toContain('<td>deploy@web2:22</td><td>✅ live</td>')
    expect(html).toContain(
      '<pre><code>web1: &lt;img src=x onerror=alert(1)&gt; &amp; &lt;/td&gt;&lt;/tr&gt;&lt;script&gt;x&lt;/script&gt;</code></pre>'
    )
    expect(html).toContain('**Rolled back** to r1.')
    expect(html).not.toMatch(/<(img|script)\b/)
  })

  it('writes nothing outside Actions, and the servers output is JSON keyed by server', async () => {
    delete process.env.GITHUB_STEP_SUMMARY
    const result: DeployResult = {
      rolledBack: false,
      sessions: [session('a@h:22', { status: 'deployed', release: 'x' })]
    }
    await writeSummary('t', result)
    expect(await readFile(file, 'utf8')).toBe('')
    expect(JSON.parse(serversOutput(result))).toEqual({
      'a@h:22': expect.objectContaining({ status: 'deployed', release: 'x' })
    })
  })
})
