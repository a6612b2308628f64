/**
 * A release's abort is logged once, even when two cleanups run at once: the runner sends its
 * abort as soon as it gives up (a signal, a lost channel) while the release script may still be
 * cleaning up after itself. Real abort scripts under dash, on a release big enough that removing
 * it takes a while.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { abortScript } from '../../src/server/remote-scripts.js'
import { scriptText, type Script } from '../../src/ssh/script-frame.js'

const work = mkdtempSync(join(tmpdir(), 'abort-once-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

function runDash(script: Script, cwd: string): Promise<number | null> {
  return new Promise(resolve => {
    const child = spawn('dash', ['-c', scriptText(script)], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd },
      stdio: ['ignore', 'ignore', 'ignore']
    })
    child.on('close', code => resolve(code))
  })
}

describe('abortScript', () => {
  it('logs the abort once when two cleanups of the same release run at the same time', async () => {
    for (let round = 0; round < 3; round++) {
      const D = join(work, `d${round}`)
      const R = join(D, 'releases/two')
      for (let dir = 0; dir < 40; dir++) {
        mkdirSync(join(R, `d${dir}`), { recursive: true })
        for (let f = 0; f < 50; f++) writeFileSync(join(R, `d${dir}/f${f}`), 'x')
      }
      mkdirSync(join(D, '.atomic-deploy/manifests'), { recursive: true })
      writeFileSync(join(D, '.atomic-deploy/log'), 'start\ttwo\t2026-11-22T10:00:00Z\n')
      const script = abortScript({ deployDir: D, releaseId: 'two', umask: '0022' })
      await Promise.all([runDash(script, D), runDash(script, D)])
      const aborts = readFileSync(join(D, '.atomic-deploy/log'), 'utf8')
        .split('\n')
        .filter(l => l.startsWith('abort\ttwo\t'))
      expect(aborts, `round ${round}`).toHaveLength(1)
      expect(readdirSync(join(D, 'releases'))).toEqual([])
    }
  })
})
