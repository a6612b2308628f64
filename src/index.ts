/** The entry point of both steps: the main step deploys, the post step cleans up after a cancel. */
import './esm-shims.js'
import { run } from './main.js'
import { post } from './post.js'
import { isPost } from './state-helper.js'
import { setFlagsFromString } from 'node:v8'

// A deploy allocates a stream of short-lived objects (file reads, archive blocks). By default
// V8 then grows its young generation to tens of megabytes, and the process keeps that memory:
// on a 50,000-file tree this alone took peak memory from about 250 MB to about 400 MB, at no
// gain in speed (measured in bench/). Keep the young generation at its starting size.
setFlagsFromString('--semi-space-growth-factor=1')

if (isPost()) {
  await post()
} else {
  await run()
}
