/**
 * What `npm run bundle` leaves in dist/ (the `pretest` script has just rebuilt it): only what
 * runs on the runner.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../..')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry =>
    entry.isDirectory()
      ? sourceFiles(path.join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [path.join(dir, entry.name)]
        : []
  )
}

describe('dist/', () => {
  it('holds the bundle, its package.json and the licenses, and no executable', () => {
    const files = readdirSync(path.join(root, 'dist'))
    expect(files.filter(name => /\.(exe|dll|node|bat|cmd)$/i.test(name))).toEqual([])
    expect(files.sort()).toEqual(['index.js', 'licenses.txt', 'package.json'])
  })

  it('leaves out pagent.exe only because no ssh2 agent is ever configured', () => {
    // ssh2 spawns pagent.exe only for `agent: 'pageant'` on Windows (lib/agent.js createAgent);
    // scripts/bundle.ts drops the file on the grounds that src/ never sets an agent.
    const offenders = sourceFiles(path.join(root, 'src')).filter(file =>
      /\b(agent|agentForward)\s*:/.test(readFileSync(file, 'utf8'))
    )
    expect(offenders).toEqual([])
  })
})
