/**
 * Phase 8 on one server: the hook that runs in the release once it is live (after-switch, or
 * after-rollback for a release a rollback restored). The health check runs from the runner
 * (src/deploy/health-check.ts).
 */
import { DeployRefusedError, RemoteCommandError } from '../../errors.js'
import { hookScript } from '../remote-scripts.js'
import { value } from '../script-output.js'
import type { SessionState } from './session-state.js'

/**
 * Run a hook (after-switch, after-rollback) in the release that is now live, `id`, with
 * `previous` as the release that was live before it.
 */
export async function afterSwitch(
  s: SessionState,
  script: string,
  id: string,
  previous: string | undefined,
  name = 'after-switch'
): Promise<void> {
  if (s.access === 'sftp')
    throw new DeployRefusedError(`${s.label}: ${name} needs a shell on the server`)
  const env = s.hookEnv(id)
  env.PREVIOUS_RELEASE_ID = previous ?? ''
  env.PREVIOUS_RELEASE_PATH = previous ? `${s.deployDir}/releases/${previous}` : ''
  const { result, output } = await s.script(
    hookScript({
      deployDir: s.deployDir,
      releaseId: id,
      name,
      script,
      env,
      umask: s.contentUmask
    })
  )
  const exit = value(output, 'hook-exit')
  if (result.code !== 0) {
    throw new RemoteCommandError(
      `${s.label}: ${name} failed with ${exit ? `status ${exit.split(' ')[1]}` : `exit ${result.code}`} (release ${id})`,
      result.code,
      result.stderrTail
    )
  }
  s.log.info(`${name} exited with status ${exit?.split(' ')[1] ?? '0'} (release ${id})`)
}
