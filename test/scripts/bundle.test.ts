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
    expect(files.filter(name => !/^\d+\.index\.js$/.test(name)).sort()).toEqual([
      'index.js',
      'licenses.txt',
      'package.json'
    ])
  })

  it('holds exactly the chunks the entry imports, and an entry small enough to compile at once', () => {
    // The entry opens the early connections (src/index.ts); everything else is in chunks it
    // imports afterwards, so the connections do not wait for the whole bundle to be compiled.
    const entry = readFileSync(path.join(root, 'dist', 'index.js'), 'utf8')
    const imported = [...entry.matchAll(/__nccwpck_require__\.e\((\d+)\)/g)].map(
      m => `${m[1]}.index.js`
    )
    const chunks = readdirSync(path.join(root, 'dist')).filter(name =>
      /^\d+\.index\.js$/.test(name)
    )
    expect(imported.length).toBeGreaterThan(0)
    expect([...new Set(imported)].sort()).toEqual(chunks.sort())
    expect(Buffer.byteLength(entry)).toBeLessThan(100 * 1024)
    expect(entry).not.toMatch(/ssh-userauth|function getInput\(/)
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
