/** The entry point of both steps: the main step deploys, the post step cleans up after a cancel. */
import './esm-shims.js'
import { openEarlyConnections } from './ssh/early-connect.js'

// The servers' TCP connections start before the rest of the action loads (80 to 200 ms of a
// runner's CPU), and one turn of the event loop sends what can go at once (early-connect.ts).
// The rest is a chunk of its own (dist/<n>.index.js, loaded by this import): Node compiles a
// module's whole text before running any of it, so with the rest inside this file the
// connections would wait for 2.7 MB to be compiled (about 100 ms), not for 40 kB.
if (openEarlyConnections() > 0) await new Promise(resolve => setImmediate(resolve))
await import('./action/steps.js')
