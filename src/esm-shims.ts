/**
 * ssh2's Poly1305 module is Emscripten output that reads `__dirname` at load time (it only uses
 * it to locate files, and its WebAssembly is inlined). An ES module has no `__dirname`, so the
 * bundle would throw before doing anything. Defining it globally, before ssh2 loads, is enough.
 */
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const scope = globalThis as { __dirname?: string; __filename?: string }
scope.__filename ??= fileURLToPath(import.meta.url)
scope.__dirname ??= dirname(scope.__filename)
