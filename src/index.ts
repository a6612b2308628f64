/** The entry point of both steps: the main step deploys, the post step cleans up after a cancel. */
import './esm-shims.js'
import { run } from './main.js'
import { post } from './post.js'
import { isPost } from './state-helper.js'

if (isPost()) {
  await post()
} else {
  await run()
}
