/**
 * The run a deploy comes from, as @actions/github's context and @actions/exec's git see it.
 * The context is read from the environment when @actions/github loads, so each case loads the
 * module afresh with its own environment (and without the one of a CI runner running these tests).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { RunContext } from '../../src/settings.ts'
import { createRepo, git } from '../support/git.ts'

async function readWith(env: Record<string, string>, source: string): Promise<RunContext> {
  for (const name of Object.keys(process.env))
    if (name.startsWith('GITHUB_')) vi.stubEnv(name, undefined)
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value)
  vi.resetModules()
  const { readRunContext } = await import('../../src/action/run-context.ts')
  return readRunContext(source)
}

describe('run context', () => {
  const dirs: string[] = []
  beforeEach(() => vi.unstubAllEnvs())
  afterEach(async () => {
    vi.unstubAllEnvs()
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  })

  it('reads the commit, ref, actor, workflow and run URL from the Actions context', async () => {
    const context = await readWith(
      {
        GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
        GITHUB_REF: 'refs/tags/v1.2.3',
        GITHUB_ACTOR: 'octocat',
        GITHUB_WORKFLOW: 'Deploy',
        GITHUB_REPOSITORY: 'octo/shop',
        GITHUB_RUN_ID: '987654321',
        GITHUB_SERVER_URL: 'https://github.example.com'
      },
      '/nonexistent'
    )
    expect(context).toEqual({
      commit: '0123456789abcdef0123456789abcdef01234567',
      ref: 'refs/tags/v1.2.3',
      actor: 'octocat',
      repository: 'octo/shop',
      runUrl: 'https://github.example.com/octo/shop/actions/runs/987654321',
      workflow: 'Deploy',
      runner: os.hostname()
    })
  })

  it('outside Actions, takes the commit from git in the source directory, or none', async () => {
    const repo = await createRepo([{ 'index.html': 'v1' }])
    dirs.push(repo)
    const head = await git(repo, ['rev-parse', 'HEAD'])
    const inRepo = await readWith({}, repo)
    expect(inRepo.commit).toMatch(/^[0-9a-f]{40}$/)
    expect(inRepo.commit).toBe(head)
    expect(inRepo.runUrl).toBe('local run')
    expect(inRepo.repository).toBe('')
    expect(inRepo.ref).toBe('')

    const plain = await mkdtemp(path.join(os.tmpdir(), 'adt-plain-'))
    dirs.push(plain)
    expect((await readWith({}, plain)).commit).toBe('')
    // No git on the PATH at all: still no commit, and no failure.
    vi.stubEnv('PATH', plain)
    vi.resetModules()
    const { readRunContext } = await import('../../src/action/run-context.ts')
    expect((await readRunContext(repo)).commit).toBe('')
  })
})
