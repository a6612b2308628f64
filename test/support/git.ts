/**
 * Local git repositories for tests: a repository with a few commits, and shallow clones of it
 * over a file:// URL (a plain path would make git hard-link the objects and ignore --depth).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { run } from './exec.ts'
import { writeTree, type TreeSpec } from './fixture.ts'

/** Run git with no user or system configuration and a fixed identity. */
export async function git(cwd: string, args: string[]): Promise<string> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'adt-githome-'))
  try {
    const result = await run('git', args, {
      cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: 'Test',
        GIT_AUTHOR_EMAIL: 'test@example.com',
        GIT_COMMITTER_NAME: 'Test',
        GIT_COMMITTER_EMAIL: 'test@example.com',
        LC_ALL: 'C'
      }
    })
    return result.stdout.trim()
  } finally {
    await rm(home, { recursive: true, force: true })
  }
}

/** A new repository in a temp directory (branch main), with one commit per tree spec. */
export async function createRepo(commits: TreeSpec[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-repo-'))
  await git(dir, ['init', '-q', '-b', 'main'])
  for (const [i, spec] of commits.entries()) await commit(dir, spec, `commit ${i + 1}`)
  return dir
}

/** Write the spec into the work tree and commit everything (deletions too). */
export async function commit(repo: string, spec: TreeSpec, message: string): Promise<void> {
  await writeTree(repo, spec)
  await git(repo, ['add', '-A'])
  await git(repo, ['commit', '-q', '-m', message])
}

/** `git clone --depth 1 file://<repo>` into a new temp directory; returns its path. */
export async function shallowClone(repo: string): Promise<string> {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'adt-clone-'))
  const dest = path.join(parent, 'checkout')
  await git(parent, ['clone', '-q', '--depth', '1', `file://${repo}`, dest])
  return dest
}
