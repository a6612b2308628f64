/**
 * The plan phase on one server (session-plan.ts): where the release starts from, decided from
 * the records the inspect phase kept in the session's state, and what that leaves to send.
 */
import { describe, expect, it } from 'vitest'
import type { ManifestEntry } from '../../../src/release/manifest.ts'
import { ServerSession } from '../../../src/server/server-session.ts'
import { FakeSwitchHost, memoryLog } from '../../support/fake-switch-host.ts'

const source: ManifestEntry[] = [
  { path: 'index.html', type: 'file', mode: 0o644, size: 5, mtime: 1, sha256: 'a'.repeat(64) },
  { path: 'uploads', type: 'dir', mode: 0o755, size: 0, mtime: 1 },
  { path: 'uploads/a.png', type: 'file', mode: 0o644, size: 7, mtime: 1, sha256: 'b'.repeat(64) }
]

/** A session as the inspect phase leaves it: release `old` live, its manifest the source's. */
function inspected(): { s: ServerSession; lines: string[] } {
  const log = memoryLog()
  const s = new ServerSession(
    { user: 'deploy', host: 'web1', port: 22, label: 'deploy@web1:22' },
    // The plan of a shell deploy reads nothing more from the server.
    new FakeSwitchHost('deploy@web1:22', 'releases/old'),
    log
  )
  s.deployDir = '/srv/app'
  s.liveRelease = 'old'
  s.releaseDirs = new Set(['old'])
  // The server said its manifest has the source's digest.
  s.same = true
  return { s, lines: log.lines }
}

describe('makePlan', () => {
  it('sends nothing when the live release has the source manifest', async () => {
    const { s } = inspected()
    const plan = await s.makePlan(source, 'previous')
    expect(s.base).toMatchObject({ kind: 'release', id: 'old', sharedLinks: [], remove: [] })
    expect(plan.uploadFiles).toBe(0)
    expect(plan.unchangedFiles).toBe(2)
    expect(s.planLine()).toBe('uploading 0 files (0 B), deleting 0 files, keeping 2 files')
  })

  it("sends again what the live release's shared links and drift cover, removing it from the copy", async () => {
    const { s } = inspected()
    s.linksBlob = Buffer.from('uploads\n')
    s.drift = {
      added: [],
      changed: ['index.html'],
      removed: [],
      paths: ['index.html'],
      complete: true
    }
    const plan = await s.makePlan(source, 'previous')
    expect(s.base).toMatchObject({
      kind: 'release',
      sharedLinks: ['uploads'],
      remove: ['index.html']
    })
    expect(plan.upload.map(e => e.path)).toEqual(['index.html', 'uploads', 'uploads/a.png'])
    expect(plan.remove).toContain('index.html')
  })

  it.each([
    {
      what: 'reuse: none',
      set: () => undefined,
      reuse: 'none' as const,
      reason: 'reuse is none'
    },
    {
      what: 'current naming no release directory',
      set: (s: ServerSession) => (s.releaseDirs = new Set()),
      reuse: 'previous' as const,
      reason: 'current points to old, which is not a directory in releases/'
    },
    {
      what: 'a links record past its limit',
      set: (s: ServerSession) => s.tooLarge.set('links', 5_000_000),
      reuse: 'previous' as const,
      reason: 'the records of old are not valid',
      warning:
        /\/srv\/app\/\.atomic-deploy\/manifests\/old\.links is .* over the limit .* Release old is not used as the starting point/
    },
    {
      what: 'drift past what could be listed',
      set: (s: ServerSession) =>
        (s.drift = { added: [], changed: [], removed: [], paths: [], complete: false }),
      reuse: 'previous' as const,
      reason: 'the live release old differs from its manifest in more paths than were listed'
    }
  ])('$what: everything is sent, and the log says why', async ({ set, reuse, reason, warning }) => {
    const { s, lines } = inspected()
    set(s)
    const plan = await s.makePlan(source, reuse)
    expect(s.base).toEqual({ kind: 'none', reason })
    expect(plan.uploadFiles).toBe(2)
    expect(lines).toContain(`info full upload: ${reason}`)
    if (warning) expect(lines.some(l => l.startsWith('warning ') && warning.test(l))).toBe(true)
  })
})
