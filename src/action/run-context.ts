import { getExecOutput } from '@actions/exec'
import { context } from '@actions/github'
import { hostname } from 'node:os'
import type { RunContext } from '../settings.js'

/**
 * Read the run from the Actions context. Outside Actions (local runs, the demo) the commit
 * comes from git in the source directory, when it is a checkout.
 */
export async function readRunContext(source: string): Promise<RunContext> {
  const repository = repositoryName()
  const runUrl =
    repository && context.runId > 0
      ? `${context.serverUrl}/${repository}/actions/runs/${context.runId}`
      : 'local run'
  const commit = context.sha || (await gitHead(source))
  return {
    commit,
    ref: context.ref ?? '',
    actor: context.actor || process.env.USER || '',
    repository,
    runUrl,
    workflow: context.workflow ?? '',
    runner: hostname()
  }
}

/** `owner/repo`, or '' outside Actions: `context.repo` throws when it has no repository. */
function repositoryName(): string {
  try {
    const { owner, repo } = context.repo
    return owner && repo ? `${owner}/${repo}` : ''
  } catch {
    return ''
  }
}

/** How long `git rev-parse` may take before the commit is recorded as unknown. */
const GIT_TIMEOUT_MS = 10_000

/** The checkout's commit, or '' when the source is not in a git work tree (or git is absent). */
async function gitHead(cwd: string): Promise<string> {
  const head = getExecOutput('git', ['rev-parse', 'HEAD'], {
    cwd,
    silent: true,
    ignoreReturnCode: true
  }).then(
    result => (result.exitCode === 0 ? result.stdout.trim() : ''),
    // io.which throws when git is not installed.
    () => ''
  )
  // @actions/exec has no timeout: the deploy does not wait for a git that hangs.
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>(resolve => {
    timer = setTimeout(() => resolve(''), GIT_TIMEOUT_MS)
    timer.unref()
  })
  try {
    return await Promise.race([head, timeout])
  } finally {
    clearTimeout(timer)
  }
}
