import * as core from '@actions/core'
import { messageOf } from '../errors.js'
import { getSettings } from './input-helper.js'
import { finishScript } from '../server/remote-scripts.js'
import { JumpChain } from '../ssh/jump-hosts.js'
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
        ...(jumps ? { tunnel: jumps.tunnel } : {})
      })
      try {
        const result = await host.run(
          finishScript({
            deployDir: lock.deployDir,
            events: [],
            prune: [],
            forget: [],
            lockToken: lock.token
          })
        )
        if (result.stdout.toString().includes('!unlocked'))
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
