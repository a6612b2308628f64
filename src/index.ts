/** The entry point of both steps: the main step deploys, the post step cleans up after a cancel. */
import './esm-shims.js'
import { openEarlyConnections } from './ssh/early-connect.js'

// The servers' TCP connections start before the rest of the action loads (80 to 200 ms of a
// runner's CPU), and one turn of the event loop sends what can go at once (early-connect.ts).
if (openEarlyConnections() > 0) await new Promise(resolve => setImmediate(resolve))
await import(/* webpackMode: "eager" */ './action/steps.js')
