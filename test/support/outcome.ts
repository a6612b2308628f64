/**
 * What a step left behind, as the hostile-server tests check it: its one error, its warnings,
 * and the release a deploy directory serves.
 */
import { readFile, readlink } from 'node:fs/promises'
import path from 'node:path'
import { expect } from 'vitest'
import type { ActionResult } from './action.ts'
import type { Fixture } from './fixture.ts'

/** The step's error, decoded from its `::error::` line; exactly one such line, no stack trace. */
export function failure(r: ActionResult): string {
  expect(r.code, r.log).toBe(1)
  const lines = r.log.split('\n').filter(l => l.startsWith('::error::'))
  expect(lines, r.log).toHaveLength(1)
  expect(r.log).not.toMatch(/^\s+at /m)
  return lines[0]!
    .slice('::error::'.length)
    .replace(/%0A/g, '\n')
    .replace(/%0D/g, '\r')
    .replace(/%25/g, '%')
}

/** The step's `::warning::` lines, as logged. */
export const warnings = (r: ActionResult): string =>
  r.log
    .split('\n')
    .filter(l => l.startsWith('::warning::'))
    .join('\n')

/** A path in the deploy directory's metadata, `.atomic-deploy/`. */
export const meta = (f: Fixture, rel: string): string =>
  path.join(f.deployDir, '.atomic-deploy', rel)

export const releasePath = (f: Fixture, id: string): string =>
  path.join(f.deployDir, 'releases', id)

/** `current` resolves to release `id`, whose index.html is `content`. */
export async function expectServes(f: Fixture, id: string, content: string): Promise<void> {
  expect(await readlink(path.join(f.deployDir, 'current'))).toBe(`releases/${id}`)
  expect(await readFile(path.join(f.deployDir, 'current/index.html'), 'utf8')).toBe(content)
}
