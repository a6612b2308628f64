import { execFile } from 'node:child_process'
import { hostname } from 'node:os'
import type { RunContext } from '../settings.js'

/**
 * Read the run from the Actions environment. Outside Actions (local runs, the demo) the commit
 * comes from git in the source directory, when it is a checkout.
 */
export async function readRunContext(source: string): Promise<RunContext> {
  const env = process.env
  const repository = env.GITHUB_REPOSITORY ?? ''
  const runId = env.GITHUB_RUN_ID ?? ''
  const serverUrl = env.GITHUB_SERVER_URL || 'https://github.com'
  const runUrl =
    repository && runId ? `${serverUrl}/${repository}/actions/runs/${runId}` : 'local run'
  const commit = env.GITHUB_SHA || (await gitHead(source))
  return {
    commit,
    ref: env.GITHUB_REF ?? '',
    actor: env.GITHUB_ACTOR || env.USER || '',
    repository,
    runUrl,
    workflow: env.GITHUB_WORKFLOW ?? '',
    runner: hostname()
  }
}

/** The checkout's commit, or '' when the source is not in a git work tree (or git is absent). */
function gitHead(cwd: string): Promise<string> {
  return new Promise(resolve => {
    execFile('git', ['rev-parse', 'HEAD'], { cwd, timeout: 10_000 }, (error, stdout) => {
      resolve(error ? '' : String(stdout).trim())
    })
  })
}
