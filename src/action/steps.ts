/** Both steps: the main step deploys, the post step cleans up after a cancel (see src/index.ts). */
import { run } from './main.js'
import { post } from './post.js'
import { isPost } from './state-helper.js'
import { setFlagsFromString } from 'node:v8'
import * as core from '@actions/core'

// A deploy allocates a stream of short-lived objects (file reads, archive blocks). By default
// V8 then grows its young generation to tens of megabytes, and the process keeps that memory:
// on a 50,000-file tree, keeping it at its starting size took the peak from about 390 MB to
// about 260 MB, and scanning that tree was no slower (measured with bench/'s large tree).
setFlagsFromString('--semi-space-growth-factor=1')

if (isPost()) {
  await post()
} else {
  await run()
}

// The step is over once its outcome is written. Whatever is still open then (a timer, the
// socket of a server that stopped answering) must not hold the job until its own timeout: the
// process exits after a short grace, which only a handle left open ever waits for.
const GRACE_MS = 2000
setTimeout(() => {
  core.debug(
    `still open ${GRACE_MS} ms after the step ended: ${process.getActiveResourcesInfo().join(', ')}; exiting`
  )
  process.exit()
}, GRACE_MS).unref()
