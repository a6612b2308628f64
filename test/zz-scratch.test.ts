import { randomBytes } from 'node:crypto'
import { symlink, rm, readlink, chmod } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, it, expect } from 'vitest'
import { runAction } from './support/action.ts'
import { createFixture, describeTree, writeTree } from './support/fixture.ts'
import { startLatencyProxy } from './support/proxy.ts'
import { startSshd, type Sshd } from './support/sshd.ts'
let sshd: Sshd
beforeAll(async () => { sshd = await startSshd() })
afterAll(async () => { await sshd?.stop() })

it('single big file progress', { timeout: 120_000 }, async () => {
  const f = await createFixture({ sshd })
  await writeTree(f.source, { 'big.bin': { content: randomBytes(60 * 1024 * 1024) } })
  const proxy = await startLatencyProxy({ host: '127.0.0.1', port: sshd.port }, { delayMsEachWay: 60 })
  const t = Date.now()
  const r = await runAction(f.inputs({ servers: `${f.user.name}@127.0.0.1:${proxy.port}`, 'known-hosts': sshd.knownHosts.replaceAll(`]:${sshd.port} `, `]:${proxy.port} `) }), { timeoutMs: 110_000 })
  console.log('BIG', r.code, Date.now() - t, r.log.split('\n').filter(l => /upload/.test(l)).join('\n'))
  await proxy.close(); await f.cleanup()
})

it('symlink same-length retarget with verify full', async () => {
  const f = await createFixture({ sshd })
  await writeTree(f.source, { 'a.txt': 'a', 'b.txt': 'b', 'l': { symlink: 'a.txt' }, 'x.txt': 'x' })
  let r = await runAction(f.inputs({ 'release-id': 'one' }))
  expect(r.code, r.log).toBe(0)
  const l = path.join(f.deployDir, 'current/l')
  await rm(l); await symlink('b.txt', l)
  await writeTree(f.source, { 'x.txt': 'y' })
  r = await runAction(f.inputs({ 'release-id': 'two', verify: 'full' }))
  console.log('SYM', r.code, await readlink(l), await readlink(path.join(f.deployDir, 'releases/two/l')).catch(e => String(e)))
  await f.cleanup()
})

it('cache + hardlink', async () => {
  const f = await createFixture({ sshd })
  await writeTree(f.source, { 'a.txt': 'a', 'b.txt': 'b', 'm.sh': 'x' })
  let r = await runAction(f.inputs({ 'release-id': 'one', reuse: 'cache', 'copy-method': 'hardlink' }))
  expect(r.code, r.log).toBe(0)
  const before = await describeTree(path.join(f.deployDir, 'releases/one'))
  await writeTree(f.source, { 'a.txt': 'a2' }); await chmod(path.join(f.source, 'm.sh'), 0o755)
  r = await runAction(f.inputs({ 'release-id': 'two', reuse: 'cache', 'copy-method': 'hardlink' }))
  expect(r.code, r.log).toBe(0)
  console.log('CACHEHL', JSON.stringify(before) === JSON.stringify(await describeTree(path.join(f.deployDir, 'releases/one'))), JSON.stringify(await describeTree(path.join(f.deployDir, 'current'))) === JSON.stringify(await describeTree(f.source)))
  await f.cleanup()
})
