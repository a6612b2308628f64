/** The entry point of both steps: the main step deploys, the post step cleans up after a cancel. */
import './esm-shims.js'
import { openEarlyConnections } from './ssh/early-connect.js'

// The servers' TCP connections start before the rest of the action loads (80 to 200 ms of a
// runner's CPU), and one turn of the event loop sends what can go at once (early-connect.ts).
// The rest is a chunk of its own (dist/<n>.index.js, loaded by this import): Node compiles a
// module's whole text before running any of it, so with the rest inside this file the
// connections would wait for 2.7 MB to be compiled (about 100 ms), not for 40 kB.
if (openEarlyConnections() > 0) await new Promise(resolve => setImmediate(resolve))
try {
  await import('./action/steps.js')
} catch (error) {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_MODULE_NOT_FOUND') throw error
  failWithoutChunks(error as Error)
}

/**
 * A copy of dist/index.js alone (vendored into a repository, say) cannot load the rest of the
 * action. The step fails with an annotation that says what to keep, not with Node's stack trace.
 * Written by hand: @actions/core is in the chunks that did not load. The message is escaped as
 * the toolkit escapes a command's data (`%`, CR and LF).
 */
function failWithoutChunks(error: Error): void {
  const missing = /Cannot find (?:module|package) '([^']+)'/.exec(error.message)?.[1]
  const message = `atomic-deploy cannot start: ${missing ?? 'a file of its dist/ directory'} is missing. dist/index.js loads the rest of the action from the files beside it (dist/<n>.index.js): keep the whole dist/ directory of the release with the action, as 'uses: <owner>/atomic-deploy@<version>' does.`
  const data = message.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
  process.stdout.write(`::error::${data}\n`)
  process.exitCode = 1
}
