/**
 * Verification is a guard, and a guard needs a test that fails without it. A stand-in `tar` on
 * the server extracts the upload with the real tar and then damages what it wrote, the way a
 * faulty disk, a broken tar or a hostile account could: one file's content (same size, so only
 * its sha256 tells), a file whose name holds a newline, a symlink's target (same length), a
 * directory's mode. Each must be refused before the switch, with the live release untouched.
 */
import { readFile, readlink, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { runAction } from '../support/action.ts'
import { run } from '../support/exec.ts'
import { createFixture, list, writeTree, type Fixture, type TreeSpec } from '../support/fixture.ts'
import { startSshd, type Sshd } from '../support/sshd.ts'

let sshd: Sshd
const fixtures: Fixture[] = []

beforeAll(async () => {
  sshd = await startSshd()
})
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.cleanup()
})
afterAll(async () => {
  await sshd?.stop()
})

const TREE: TreeSpec = {
  'index.html': 'live release\n',
  'victim.txt': 'a file of forty bytes, every one counts\n',
  'odd\nname.txt': 'a name with a newline in it\n',
  'assets/app.css': 'body {}\n',
  link: { symlink: 'assets/app.css' }
}

/**
 * A deployed release 'one', and a login shell that puts `damage` (sh run after the real tar
 * has extracted, with $D the deploy directory) in front of every tar the scripts start.
 */
async function withDamagingTar(damage: string): Promise<Fixture> {
  const f = await createFixture({ sshd })
  fixtures.push(f)
  await writeTree(f.source, TREE)
  const first = await runAction(f.inputs({ 'release-id': 'one' }))
  expect(first.code, first.log).toBe(0)

  const bin = path.join(f.user.home, '.fake-bin')
  await writeTree(bin, {
    tar: {
      content: `#!/bin/sh\n/usr/bin/tar "$@" || exit $?\nD=${JSON.stringify(f.deployDir)}\nR="$D/releases/two"\n[ -d "$R" ] || exit 0\n${damage}\n`,
      mode: 0o755
    }
  })
  const shell = path.join(f.user.home, '.fake-tar-shell')
  await writeFile(shell, `#!/bin/sh\nPATH=${bin}:$PATH\nexport PATH\nexec /bin/sh "$@"\n`, {
    mode: 0o755
  })
  await run('chown', ['-R', `${f.user.name}:`, f.user.home])
  await run('usermod', ['-s', shell, f.user.name])
  return f
}

/** Deploy the same tree again, fully (verify: full checks every file), as release 'two'. */
async function expectRefused(f: Fixture, message: RegExp): Promise<void> {
  await writeTree(f.source, { 'index.html': 'new release\n' })
  const result = await runAction(f.inputs({ 'release-id': 'two', reuse: 'none' }))
  expect(result.code, result.log).toBe(1)
  const error = result.log.split('\n').find(l => l.startsWith('::error::')) ?? ''
  expect(error.replace(/%0A/g, '\n')).toMatch(
    /release two does not match the manifest; nothing was switched/
  )
  expect(error.replace(/%0A/g, '\n')).toMatch(message)
  expect(await readlink(path.join(f.deployDir, 'current'))).toBe('releases/one')
  expect(await readFile(path.join(f.deployDir, 'current/index.html'), 'utf8')).toBe(
    'live release\n'
  )
  expect(await list(path.join(f.deployDir, 'releases'))).toEqual(['one'])
}

describe('a tar on the server that damages what it extracts', () => {
  it('one file changed in content, same size: refused by its sha256', async () => {
    const f = await withDamagingTar(
      `printf X | dd of="$R/victim.txt" bs=1 count=1 conv=notrunc 2>/dev/null`
    )
    await expectRefused(f, /content differs: \.\/victim\.txt/)
  })

  it('a file whose name holds a newline, same size: refused by its sha256', async () => {
    const f = await withDamagingTar(
      `printf X | dd of="$R/odd\n` + `name.txt" bs=1 count=1 conv=notrunc 2>/dev/null`
    )
    await expectRefused(f, /content differs: odd\\x0aname\.txt/)
  })

  it('a symlink pointing elsewhere, same length: refused by reading it back', async () => {
    const f = await withDamagingTar(`rm "$R/link" && ln -s /etc/passwd.xy "$R/link"`)
    await expectRefused(f, /symlink target differs: link$/m)
  })

  it('a directory made world-writable: refused by its mode', async () => {
    const f = await withDamagingTar(`chmod 777 "$R/assets"`)
    await expectRefused(f, /assets \(directory, mode 777\)/)
  })
})

describe('the stand-in tar itself', () => {
  it('extracts what the real tar does when it damages nothing', async () => {
    const f = await withDamagingTar(':')
    await writeTree(f.source, { 'index.html': 'new release\n' })
    const result = await runAction(f.inputs({ 'release-id': 'two', reuse: 'none' }))
    expect(result.code, result.log).toBe(0)
    expect(await readFile(path.join(f.deployDir, 'current/index.html'), 'utf8')).toBe(
      'new release\n'
    )
    await rm(path.join(f.user.home, '.fake-bin'), { recursive: true })
  })
})
