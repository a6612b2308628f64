/**
 * File operations on a server over SFTP: the interface the deploy speaks to. The real
 * implementation is the pipelined engine (sftp-engine.ts) over ssh2; unit tests may hand in a
 * fake.
 */

/** What an lstat (or a directory listing, whose attributes sftp-server takes with lstat) says. */
export interface FileAttributes {
  type: 'file' | 'dir' | 'symlink' | 'other'
  /** Permission bits (07777). */
  mode: number
  /** Bytes for files; the target's length for symlinks. */
  size: number
  /** Modification time, seconds. */
  mtime: number
  /** The owner's user id (-1 when the server did not say). */
  uid: number
}

export interface DirEntry {
  /** A single path segment, never '.', '..', empty, or holding '/' or NUL. */
  name: string
  attrs: FileAttributes
  /**
   * The owner's name, as the server's long listing shows it (OpenSSH: `ls -l` form, owner in
   * the third field), for messages only; server text.
   */
  owner?: string
}

/** A local file to send, as the manifest describes it. */
export interface LocalFile {
  /** Absolute local path. */
  local: string
  /** Size the manifest recorded; the upload fails if the file has another size now. */
  size: number
  /** sha256 the manifest recorded; the bytes sent are hashed and must match. */
  sha256?: string
}

export interface WriteOptions {
  /** Permission bits the file gets, set explicitly (the server's umask applies at open). */
  mode: number
  /**
   * Directory for the temporary name (default: beside the file). The temporary file is renamed
   * over the final name with posix-rename@openssh.com.
   */
  temporaryDir?: string
  /**
   * The server's umask is known to leave `mode` whole (see umaskSpares in sftp-transfer.ts):
   * the file is created with it, and no setstat follows it. Verification reads every mode back
   * all the same.
   */
  modeAtOpen?: boolean
  signal?: AbortSignal
}

/** Which server-side copies the server offers. */
export interface CopyAbilities {
  /** hardlink@openssh.com: link(2). */
  hardlink: boolean
  /** copy-data: the server copies bytes between two open handles. */
  copyData: boolean
  /** posix-rename@openssh.com: rename(2), which replaces the target atomically. */
  posixRename: boolean
  /** statvfs@openssh.com: free space. */
  statvfs: boolean
}

/** A file opened under a temporary name, its content to come. */
export interface PendingFile {
  /** Write the content, set the mode, close, and rename over the final name: one burst. */
  commit(data: Buffer): Promise<void>
  /** Close and remove the temporary file. Never rejects. */
  discard(): Promise<void>
}

/** A file kept open for appending: one round trip per append. */
export interface Appender {
  append(data: Buffer, signal?: AbortSignal): Promise<void>
  /** Close the handle (it holds one of the session's handle slots). Never rejects. */
  close(): Promise<void>
}

export interface RemoteFiles {
  /** What the server offers beyond SFTP version 3. */
  readonly abilities: CopyAbilities
  /**
   * Point `link` at `target` atomically: create a symlink under `temporaryName` beside it, then
   * rename it over `link`, then read `link` back. Returns what `link` points to afterwards.
   */
  swapSymlink(link: string, target: string, temporaryName: string): Promise<string>
  /** Attributes of `path` itself (a symlink is not followed), or undefined when it is missing. */
  lstat(path: string, signal?: AbortSignal): Promise<FileAttributes | undefined>
  readlink(path: string, signal?: AbortSignal): Promise<string>
  /** The canonical absolute form of `path` (relative paths start at the login directory). */
  realpath(path: string, signal?: AbortSignal): Promise<string>
  /** The entries of a directory, without '.' and '..'. */
  list(dir: string, signal?: AbortSignal): Promise<DirEntry[]>
  /**
   * A whole regular file (TooLargeError past `maxBytes`, NotRegularFileError for a symlink or a
   * special file: neither is read). With `when`, the file is opened at once and read only if
   * `when` resolves true (false: closed unread, and the result is empty), so that a read that
   * may be needed costs no round trip of its own once it is known to be.
   */
  readFile(
    path: string,
    maxBytes: number,
    signal?: AbortSignal,
    when?: Promise<boolean>
  ): Promise<Buffer>
  /**
   * sha256 and size of a file's content, read back in order (for verify: full); TooLargeError
   * past `maxBytes`.
   */
  sha256(
    path: string,
    maxBytes: number,
    signal?: AbortSignal
  ): Promise<{ sha256: string; size: number }>
  /** Write a file under a temporary name with an explicit mode, then rename it over `path`. */
  writeFile(path: string, data: Buffer | LocalFile, options: WriteOptions): Promise<void>
  /**
   * Open a file under a temporary name ahead of its content: its commit then costs one round
   * trip (its requests leave right behind whatever was sent before it).
   */
  openForWrite(path: string, options: WriteOptions): Promise<PendingFile>
  /** Append to a file (created with `mode` when missing). */
  appendFile(path: string, data: Buffer, mode: number, signal?: AbortSignal): Promise<void>
  /** Open a file for appending (created with `mode` when missing), to append to it often. */
  appender(path: string, mode: number, signal?: AbortSignal): Promise<Appender>
  /** Copy a file on the server (copy-data) to a name that must not exist yet. */
  copyFile(from: string, to: string, options: WriteOptions): Promise<void>
  /** A hard link `link` to the existing file `existing` (hardlink@openssh.com). */
  hardlink(existing: string, link: string, signal?: AbortSignal): Promise<void>
  /** Create a directory; the server's umask applies to `mode`. Fails if anything is there. */
  mkdir(dir: string, mode: number, signal?: AbortSignal): Promise<void>
  /**
   * Create a directory with exactly `mode` (set again after the mkdir, in the same round trip).
   * Where the mkdir fails, the mode of what is there is set all the same: only for directories
   * inside a tree this run made.
   */
  mkdirExact(dir: string, mode: number, signal?: AbortSignal): Promise<void>
  /** Set the permission bits of `path` (a symlink is followed: SFTP setstat is stat(2)-like). */
  setMode(path: string, mode: number, signal?: AbortSignal): Promise<void>
  rmdir(dir: string, signal?: AbortSignal): Promise<void>
  symlink(target: string, link: string, signal?: AbortSignal): Promise<void>
  /** rename(2): replaces `to` atomically (posix-rename@openssh.com). */
  rename(from: string, to: string, signal?: AbortSignal): Promise<void>
  /** Remove a file or symlink. */
  unlink(file: string, signal?: AbortSignal): Promise<void>
  /** Bytes available to the user on the filesystem of `path`, when the server tells. */
  freeBytes(path: string, signal?: AbortSignal): Promise<number | undefined>
}
