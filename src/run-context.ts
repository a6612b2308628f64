import * as exec from '@actions/exec'
import * as github from '@actions/github'
import { hostname } from 'node:os'

/** Where this deploy comes from: recorded in the lock and in each release's revision record. */
export interface RunContext {
  commit: string
  ref: string
  actor: string
  repository: string
  runUrl: string
  workflow: string
  runner: string
}

/**
 * Read the run from the Actions environment. Outside Actions (local runs, the demo) the commit
 * comes from git in the source directory, when it is a checkout.
 */
export async function readRunContext(source: string): Promise<RunContext> {
  const ctx = github.context
  const repository = process.env.GITHUB_REPOSITORY ?? ''
  const runUrl =
    repository && ctx.runId
      ? `${ctx.serverUrl}/${repository}/actions/runs/${ctx.runId}`
      : 'local run'
  let commit = ctx.sha ?? ''
  if (!commit) commit = await gitHead(source)
  return {
    commit,
    ref: ctx.ref ?? '',
    actor: ctx.actor ?? process.env.USER ?? '',
    repository,
    runUrl,
    workflow: ctx.workflow ?? '',
    runner: hostname()
  }
}

async function gitHead(cwd: string): Promise<string> {
  try {
    const result = await exec.getExecOutput('git', ['rev-parse', 'HEAD'], {
      cwd,
      silent: true,
      ignoreReturnCode: true
    })
    return result.exitCode === 0 ? result.stdout.trim() : ''
  } catch {
    return ''
  }
}
