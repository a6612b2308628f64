/**
 * A deploy target for integration tests: a real sshd, a throwaway account, a source tree, and
 * the inputs that deploy one to the other. Plus helpers to describe trees for comparison.
 */
import { createHash } from 'node:crypto'
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile
} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startSshd, type Sshd, type SshdOptions, type TestUser } from './sshd.ts'
import {
  createBusyboxUser,
  createSftpOnlyUser,
  createUser,
  createUserWithoutTar,
  removeUser
} from './users.ts'

export interface Fixture {
  sshd: Sshd
  user: TestUser
  /** Local source directory (a fresh temp dir). */
  source: string
  /** `path` input used by default: relative to the login directory. */
  path: string
  /** Absolute deploy directory on the "server". */
  deployDir: string
  /** The inputs of a deploy of `source` to the user's `path`, with overrides. */
  inputs(extra?: Record<string, string>): Record<string, string>
  cleanup(): Promise<void>
}

export interface FixtureOptions {
  sshd?: Sshd
  sshdOptions?: SshdOptions
  /** sftp-only: ForceCommand internal-sftp in a ChrootDirectory (see SFTP_ONLY_PROFILE). */
  kind?: 'default' | 'busybox' | 'notar' | 'sftp-only'
}

export async function createFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const ownSshd = options.sshd === undefined
  const sshd = options.sshd ?? (await startSshd(options.sshdOptions))
  const user: TestUser & { realLoginDir?: string } =
    options.kind === 'busybox'
      ? await createBusyboxUser(sshd)
      : options.kind === 'notar'
        ? await createUserWithoutTar(sshd)
        : options.kind === 'sftp-only'
          ? await createSftpOnlyUser(sshd)
          : await createUser(sshd)
  // The login directory as seen from here, outside any chroot.
  const home = user.realLoginDir ?? user.home
  const source = await mkdtemp(path.join(os.tmpdir(), 'adt-src-'))
  const deployPath = 'app'
  return {
    sshd,
    user,
    source,
    path: deployPath,
    deployDir: path.join(home, deployPath),
    inputs: (extra = {}) => ({
      servers: `${user.name}@127.0.0.1:${sshd.port}`,
      'private-key': user.privateKey,
      'known-hosts': sshd.knownHosts,
      path: deployPath,
      source,
      ...extra
    }),
    cleanup: async () => {
      await removeUser(user)
      await rm(source, { recursive: true, force: true })
      if (ownSshd) await sshd.stop()
    }
  }
}

export type TreeSpec = Record<
  string,
  string | { content: string | Buffer; mode?: number } | { symlink: string } | { dir: true }
>

/** Write files, symlinks and empty directories under `root`. */
export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [relative, value] of Object.entries(spec)) {
    const full = path.join(root, relative)
    await mkdir(path.dirname(full), { recursive: true })
    await rm(full, { recursive: true, force: true })
    if (typeof value === 'string') {
      await writeFile(full, value)
    } else if ('symlink' in value) {
      await symlink(value.symlink, full)
    } else if ('dir' in value) {
      await mkdir(full, { recursive: true })
    } else {
      await writeFile(full, value.content)
      if (value.mode !== undefined) await chmod(full, value.mode)
    }
  }
}

/**
 * A description of a tree, one line per entry, sorted: type, permission bits for files, sha256
 * or link target. Two trees are equal exactly when these lines are.
 */
export async function describeTree(
  root: string,
  options: { skip?: (relative: string) => boolean } = {}
): Promise<string[]> {
  const lines: string[] = []
  const walk = async (relative: string): Promise<void> => {
    const names = await readdir(path.join(root, relative))
    for (const name of names) {
      const rel = relative ? `${relative}/${name}` : name
      if (options.skip?.(rel)) continue
      const full = path.join(root, rel)
      const st = await lstat(full)
      if (st.isSymbolicLink())
        lines.push(`l ${JSON.stringify(rel)} -> ${JSON.stringify(await readlink(full))}`)
      else if (st.isDirectory()) {
        lines.push(`d ${JSON.stringify(rel)}`)
        await walk(rel)
      } else {
        const sha = createHash('sha256')
          .update(await readFile(full))
          .digest('hex')
        lines.push(`f ${JSON.stringify(rel)} ${(st.mode & 0o7777).toString(8)} ${sha}`)
      }
    }
  }
  await walk('')
  return lines.sort()
}

/**
 * Every path under `root` whose mode has the world-write bit (symlinks excepted). A path gone
 * while the walk reaches it is skipped: after a deploy, the spare copy for the next one is still
 * being made in the background, and its records (`.atomic-deploy/base.<pid>.rc.tmp`) come and go.
 */
export async function worldWritable(root: string): Promise<string[]> {
  const found: string[] = []
  const gone = (error: unknown): undefined => {
    if ((error as { code?: string }).code === 'ENOENT') return undefined
    throw error
  }
  const walk = async (dir: string): Promise<void> => {
    // The root itself must be there.
    const names = dir === root ? await readdir(dir) : await readdir(dir).catch(gone)
    for (const name of names ?? []) {
      const full = path.join(dir, name)
      const st = await lstat(full).catch(gone)
      if (!st || st.isSymbolicLink()) continue
      if (st.mode & 0o002) found.push(full)
      if (st.isDirectory()) await walk(full)
    }
  }
  await walk(root)
  return found
}

/** Whether a path exists (without following a final symlink). */
export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p)
    return true
  } catch {
    return false
  }
}

/** Names in a directory, sorted; [] when it does not exist. */
export async function list(dir: string): Promise<string[]> {
  for (let i = 0; ; i++) {
    let names: string[]
    try {
      names = (await readdir(dir)).sort()
    } catch {
      return []
    }
    // In releases/, a pruned release's tree is renamed aside (.pruning.<id>.<pid>) and removed in
    // the background once the deploy has finished: the listing waits for that (at most 10 s), as
    // a look a moment later would find it done. What is left then is shown.
    const removing = path.basename(dir) === 'releases' && names.some(n => n.startsWith('.pruning.'))
    if (!removing || i >= 400) return names
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/**
 * Wait until no copy of a release under `<deployDir>/.atomic-deploy` is still being made: after
 * a deploy with copy-method copy, a copy of the new live release (the spare the next deploy
 * starts from) is made in the background. Tests that look at the whole deploy directory wait
 * for it, as a next deploy minutes later would find it done.
 */
export async function settled(deployDir: string): Promise<void> {
  const M = path.join(deployDir, '.atomic-deploy')
  for (let i = 0; i < 400; i++) {
    const names = await list(M)
    if (!names.some(n => /^base\.\d+$/.test(n) && !names.includes(`${n}.rc`))) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`a copy under ${M} did not end within 10 s`)
}
