import * as core from '@actions/core'
import { ExecRefusedError, messageOf } from '../errors.js'
import { getSettings } from './input-helper.js'
import { finishScript } from '../server/remote-scripts.js'
import { parseScriptOutput } from '../server/script-output.js'
import { releaseLockOverSftp } from '../server/sftp-finish.js'
import { JumpChain } from '../ssh/jump-hosts.js'
import type { RemoteHost } from '../ssh/remote-host.js'
import { connectSsh } from '../ssh/ssh-remote-host.js'
import { heldLocks } from './state-helper.js'

/**
 * The post step. It runs even when the job was cancelled, after the main step was interrupted:
 * if the main step still held a lock, release it here (only if our token still holds it). The
 * incomplete release, if any, is removed by the next deploy.
 */
export async function post(): Promise<void> {
  const locks = heldLocks()
  if (locks.length === 0) return
  let settings
  try {
    settings = getSettings()
  } catch (error) {
    core.warning(`post: cannot read inputs to release the lock: ${messageOf(error)}`)
    return
  }
  const jumps =
    settings.jumpHosts.length > 0
      ? new JumpChain(settings.jumpHosts, {
          hostKeys: settings.hostKeys,
          timeoutSeconds: settings.connectTimeout
        })
      : undefined
  for (const lock of locks) {
    try {
      const host = await connectSsh({
        server: lock.server,
        hostKeys: settings.hostKeys,
        privateKey: settings.privateKey,
        passphrase: settings.passphrase,
        password: settings.password,
        timeoutSeconds: settings.connectTimeout,
        commandTimeoutSeconds: settings.commandTimeout,
        ...(jumps ? { tunnel: jumps.tunnel } : {}),
        exec: settings.shell !== 'none'
      })
      try {
        if (await releaseLock(host, lock.deployDir, lock.token))
          core.info(`[${lock.server.label}] released the lock left by the main step`)
      } finally {
        host.close()
      }
    } catch (error) {
      core.warning(
        `[${lock.server.label}] could not release the lock: ${messageOf(error)}. Run the action with 'mode: unlock'.`
      )
    }
  }
  jumps?.close()
}

/** Release the lock if `token` still holds it: with a script, or over SFTP alone. */
async function releaseLock(host: RemoteHost, deployDir: string, token: string): Promise<boolean> {
  const sftp = async (): Promise<boolean> =>
    releaseLockOverSftp(await host.files(), deployDir, token)
  if (!host.exec) return sftp()
  let lines: string[]
  try {
    const result = await host.run(
      finishScript({ deployDir, events: [], prune: [], forget: [], lockToken: token })
    )
    lines = parseScriptOutput(result.stdout).lines
  } catch (error) {
    if (error instanceof ExecRefusedError) return sftp()
    throw error
  }
  // No line of ours: no shell ran it (an SFTP-only account).
  if (lines.length === 0) return sftp()
  return lines.includes('unlocked')
}
