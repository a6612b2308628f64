/**
 * What `npm run bundle` leaves in dist/ (the `pretest` script has just rebuilt it): only what
 * runs on the runner.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { bundleFiles, CHUNK } from '../../scripts/dist-files.ts'

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
    expect(files.filter(name => !CHUNK.test(name)).sort()).toEqual([
      'index.js',
      'licenses.txt',
      'package.json'
    ])
  })

  it('holds exactly the chunks the entry imports, and an entry small enough to compile at once', () => {
    // The entry opens the early connections (src/index.ts); everything else is in chunks it
    // imports afterwards, so the connections do not wait for the whole bundle to be compiled.
    const entry = path.join(root, 'dist', 'index.js')
    const imported = bundleFiles(entry)
      .slice(1)
      .map(file => path.basename(file))
    const chunks = readdirSync(path.join(root, 'dist')).filter(name => CHUNK.test(name))
    expect(imported.length).toBeGreaterThan(0)
    expect(imported.sort()).toEqual(chunks.sort())
    const text = readFileSync(entry, 'utf8')
    expect(Buffer.byteLength(text)).toBeLessThan(100 * 1024)
    expect(text).not.toMatch(/ssh-userauth|function getInput\(/)
  })

  it('fails with an annotation naming the missing chunk, not a stack trace, when the entry is alone', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'entry-alone-'))
    try {
      for (const name of ['index.js', 'package.json'])
        copyFileSync(path.join(root, 'dist', name), path.join(dir, name))
      const ran = spawnSync(process.execPath, [path.join(dir, 'index.js')], {
        env: { PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
        input: '',
        timeout: 30_000
      })
      expect(ran.status).toBe(1)
      expect(ran.stdout).toMatch(
        /^::error::atomic-deploy cannot start: \S*\/\d+\.index\.js is missing\. .*keep the whole dist\/ directory/m
      )
      expect(ran.stderr).not.toMatch(/^\s+at /m)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
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
