/**
 * A hand-written RemoteFiles over this machine's file system, for unit tests of the SFTP phases
 * with server data a test wrote itself (hostile records, odd layouts). Errors carry the SFTP
 * status codes an OpenSSH sftp-server would send. Every removal is recorded.
 */
import { createHash } from 'node:crypto'
import {
  appendFile,
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rmdir,
  symlink,
  unlink,
  writeFile
} from 'node:fs/promises'
import type { FileAttributes, RemoteFiles } from '../../src/sftp/remote-files.ts'
import {
  NotRegularFileError,
  SftpError,
  SftpStatus,
  TooLargeError
} from '../../src/sftp/sftp-engine.ts'

function status(error: unknown, path: string): SftpError {
  const code = (error as { code?: string }).code
  return new SftpError(
    `${path}: ${(error as Error).message}`,
    code === 'ENOENT'
      ? SftpStatus.NO_SUCH_FILE
      : code === 'EACCES' || code === 'EPERM'
        ? SftpStatus.PERMISSION_DENIED
        : SftpStatus.FAILURE,
    path
  )
}

async function attempt<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    throw status(error, path)
  }
}

function attributes(st: Awaited<ReturnType<typeof lstat>>): FileAttributes {
  return {
    type: st.isFile()
      ? 'file'
      : st.isDirectory()
        ? 'dir'
        : st.isSymbolicLink()
          ? 'symlink'
          : 'other',
    mode: Number(st.mode) & 0o7777,
    size: Number(st.size),
    mtime: Math.floor(Number(st.mtimeMs) / 1000),
    uid: Number(st.uid)
  }
}

let passwd: Promise<Map<number, string>> | undefined

/** User names by id, from /etc/passwd. */
function userNames(): Promise<Map<number, string>> {
  passwd ??= readFile('/etc/passwd', 'utf8').then(
    text =>
      new Map(
        text
          .split('\n')
          .map(line => line.split(':'))
          .filter(f => f.length > 2)
          .map(f => [Number(f[2]), f[0] as string] as const)
      )
  )
  return passwd
}

export class LocalFiles implements RemoteFiles {
  readonly abilities = { hardlink: true, copyData: true, posixRename: true, statvfs: false }
  /** Every path removed (unlink or rmdir), in order. */
  readonly removed: string[] = []

  async swapSymlink(link: string, target: string, temporaryName: string): Promise<string> {
    const temporary = `${link.slice(0, link.lastIndexOf('/'))}/${temporaryName}`
    await this.symlink(target, temporary)
    await this.rename(temporary, link)
    return this.readlink(link)
  }
  async lstat(path: string): Promise<FileAttributes | undefined> {
    try {
      return attributes(await lstat(path))
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return undefined
      throw status(error, path)
    }
  }
  readlink(path: string): Promise<string> {
    return attempt(path, () => readlink(path))
  }
  realpath(path: string): Promise<string> {
    return attempt(path, () => realpath(path))
  }
  list(dir: string) {
    return attempt(dir, async () => {
      const names = await readdir(dir)
      const users = await userNames()
      return Promise.all(
        names.map(async name => {
          const attrs = attributes(await lstat(`${dir}/${name}`))
          // As sftp-server's long listing names the owner.
          const owner = users.get(attrs.uid)
          return { name, attrs, ...(owner ? { owner } : {}) }
        })
      )
    })
  }
  async readFile(
    path: string,
    maxBytes: number,
    _signal?: AbortSignal,
    when?: Promise<boolean>
  ): Promise<Buffer> {
    when?.catch(() => undefined)
    const attrs = await this.lstat(path)
    if (attrs && attrs.type !== 'file') throw new NotRegularFileError(path, attrs.type)
    return attempt(path, async () => {
      if (when && !(await when)) return Buffer.alloc(0)
      const data = await readFile(path)
      if (data.length > maxBytes) throw new TooLargeError(path, data.length, maxBytes)
      return data
    })
  }
  async sha256(path: string, maxBytes: number) {
    const data = await this.readFile(path, maxBytes)
    return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length }
  }
  writeFile(
    path: string,
    data: Buffer | { local: string },
    options: { mode: number }
  ): Promise<void> {
    return attempt(path, async () => {
      const temporary = `${path}.local-tmp`
      await writeFile(temporary, Buffer.isBuffer(data) ? data : await readFile(data.local), {
        flag: 'wx'
      })
      await chmod(temporary, options.mode)
      await rename(temporary, path)
    })
  }
  appendFile(path: string, data: Buffer, mode: number): Promise<void> {
    return attempt(path, () => appendFile(path, data, { mode }))
  }
  async openForWrite(path: string, options: { mode: number }) {
    return {
      commit: (data: Buffer) => this.writeFile(path, data, options),
      discard: async () => undefined
    }
  }
  async appender(path: string, mode: number) {
    return {
      append: (data: Buffer) => this.appendFile(path, data, mode),
      close: async () => undefined
    }
  }
  copyFile(from: string, to: string, options: { mode: number }): Promise<void> {
    return attempt(to, async () => {
      await copyFile(from, to)
      await chmod(to, options.mode)
    })
  }
  hardlink(existing: string, linkPath: string): Promise<void> {
    return attempt(linkPath, () => link(existing, linkPath))
  }
  mkdir(dir: string, mode: number): Promise<void> {
    return attempt(dir, () => mkdir(dir, { mode }))
  }
  mkdirExact(dir: string, mode: number): Promise<void> {
    return attempt(dir, async () => {
      await mkdir(dir, { mode })
      await chmod(dir, mode)
    })
  }
  setMode(path: string, mode: number): Promise<void> {
    return attempt(path, () => chmod(path, mode))
  }
  rmdir(dir: string): Promise<void> {
    return attempt(dir, async () => {
      await rmdir(dir)
      this.removed.push(dir)
    })
  }
  symlink(target: string, linkPath: string): Promise<void> {
    return attempt(linkPath, () => symlink(target, linkPath))
  }
  rename(from: string, to: string): Promise<void> {
    return attempt(to, () => rename(from, to))
  }
  unlink(file: string): Promise<void> {
    return attempt(file, async () => {
      await unlink(file)
      this.removed.push(file)
    })
  }
  async freeBytes(): Promise<number | undefined> {
    return undefined
  }
}
