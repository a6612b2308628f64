/**
 * Small filesystems for tests that fill a disk: tmpfs, or where mounting tmpfs is not permitted,
 * a loop-mounted ext4 image. Each is unmounted by the returned function (and at exit).
 */
import { spawnSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { run } from './exec.ts'
import { onProcessExit } from './process-tree.ts'

/** Mount `megabytes` on `dir`, owned by `owner` (a login name). Returns the unmount. */
export async function mountSmallFilesystem(
  dir: string,
  megabytes: number,
  owner: string
): Promise<{ kind: string; unmount: () => Promise<void> }> {
  const uid = Number((await run('id', ['-u', owner])).stdout.trim())
  const gid = Number((await run('id', ['-g', owner])).stdout.trim())
  await mkdir(dir, { recursive: true })
  const umount = async (): Promise<void> => {
    const r = await run('umount', [dir], { check: false })
    if (r.code !== 0) await run('umount', ['-l', dir], { check: false })
  }
  const tmpfs = await run(
    'mount',
    ['-t', 'tmpfs', '-o', `size=${megabytes}m,mode=0755,uid=${uid},gid=${gid}`, 'tmpfs', dir],
    { check: false }
  )
  if (tmpfs.code === 0) {
    const cancel = onProcessExit(() => void spawnSync('umount', ['-l', dir]))
    return {
      kind: 'tmpfs',
      unmount: async () => {
        cancel()
        await umount()
      }
    }
  }
  const imageDir = await mkdtemp(path.join(os.tmpdir(), 'adt-fs-'))
  const image = path.join(imageDir, 'fs.img')
  await run('truncate', ['-s', `${megabytes}M`, image])
  await run('mkfs.ext4', ['-q', '-F', '-m', '0', image])
  const loop = await run('mount', ['-o', 'loop', image, dir], { check: false })
  if (loop.code !== 0) {
    await rm(imageDir, { recursive: true, force: true })
    throw new Error(
      `cannot mount a small filesystem: tmpfs: ${tmpfs.stderr.trim()}; loop ext4: ${loop.stderr.trim()}`
    )
  }
  const cancel = onProcessExit(() => void spawnSync('umount', ['-l', dir]))
  await rm(path.join(dir, 'lost+found'), { recursive: true, force: true })
  await run('chown', [`${uid}:${gid}`, dir])
  await chmod(dir, 0o755)
  return {
    kind: 'ext4 (loop)',
    unmount: async () => {
      cancel()
      await umount()
      await rm(imageDir, { recursive: true, force: true })
    }
  }
}
