/**
 * The files of a build in dist/: the entry, `index.js`, and the chunks ncc splits off at
 * src/index.ts's dynamic import (the action past the early connections), named by webpack's
 * numeric ids, which derive from module paths: the same on every build from a clean install.
 * Used by scripts/bundle.ts (what to keep), the benchmark (a build's size and hash) and the test
 * of dist/.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

/** A chunk's file name. */
export const CHUNK = /^\d+\.index\.js$/

/** The build whose entry is `entry`: the entry, then each chunk it imports (beside it). */
export function bundleFiles(entry: string): string[] {
  const text = readFileSync(entry, 'latin1')
  const ids = new Set([...text.matchAll(/__nccwpck_require__\.e\((\d+)\)/g)].map(m => m[1]))
  return [entry, ...[...ids].map(id => path.join(path.dirname(entry), `${id}.index.js`))]
}
