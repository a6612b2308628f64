/**
 * Throwaway system accounts for the sshd harness.
 *
 * Plain users get /bin/sh, which on Debian is dash (/bin/sh -> dash), so the default user is
 * already the "dash" variant; createDashUser() names /bin/dash explicitly for tests that
 * want to say so.
 *
 * Restricted-PATH users (BusyBox only, no tar) work through a supplementary group: every
 * sshd config made by startSshd() ends with `Match Group <group>` + `SetEnv PATH=<dir>`
 * (see BUSYBOX_PROFILE / NOTAR_PROFILE in sshd.ts), and sshd applies SetEnv after setting
 * its default PATH, for every auth method, including non-interactive `sh -c` commands that
 * read no profile. Group membership is looked up per connection, so these users can be
 * created while the sshd is already running.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import {
  appendFile,
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink
} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { CommandError, run, sleep, type RunResult } from './exec.ts'
import {
  guardAccount,
  guardDir,
  killUidSync,
  onProcessExit,
  releaseAccount,
  releaseDir
} from './process-tree.ts'
import {
  BUSYBOX_PROFILE,
  DEFAULT_USER_PATH,
  NOTAR_PROFILE,
  SFTP_ONLY_PROFILE,
  type Sshd,
  type TestUser
} from './sshd.ts'

export interface CreateUserOptions {
  /** Login shell; default /bin/sh. */
  shell?: string
  /** Set a real password (fed to chpasswd on stdin); otherwise the password field is `*`. */
  password?: string
  /** Home directory; default /home/<name>. */
  home?: string
  /** Account name; default a short random one. An existing account of that name is reused. */
  name?: string
  /** Supplementary groups (created if missing). */
  groups?: string[]
}

interface Profile {
  prefix: string
  /** PATH that SSH sessions of this user see; runAs() uses the same. */
  path: string
  groups: string[]
}

interface Account {
  path: string
  authorizedFiles: Set<string>
  /** Directories made for the account outside its home (a chroot), removed with it. */
  extraDirs: string[]
  /** Cancels the exit-time removal (accounts this process created). */
  cancelExitCleanup?: () => void
}

/** Accounts made by this process, for runAs() and removeUser(). */
const accounts = new Map<string, Account>()

// The account database is locked per command; parallel test files may still collide, so
// commands here are serialised within the process and retried on lock errors across them.
let accountQueue: Promise<unknown> = Promise.resolve()

function accountCommand(
  command: string,
  args: string[],
  options: { input?: string; check?: boolean } = {}
): Promise<RunResult> {
  const task = async (): Promise<RunResult> => {
    const deadline = Date.now() + 30_000
    for (;;) {
      const result = await run(command, args, { input: options.input, check: false })
      const locked = result.code !== 0 && /lock|try again/i.test(result.stderr)
      if (locked && Date.now() < deadline) {
        await sleep(50 + Math.random() * 200)
        continue
      }
      if ((options.check ?? true) && result.code !== 0) {
        throw new CommandError(
          `${command} ${args.join(' ')}: exit code ${result.code}: ${result.stderr.trim()}`,
          result
        )
      }
      return result
    }
  }
  const next = accountQueue.then(task, task)
  accountQueue = next.catch(() => {})
  return next
}

function randomName(prefix: string): string {
  return prefix + randomBytes(3).toString('hex')
}

/** Generate a key pair with ssh-keygen. The passphrase is on ssh-keygen's argv briefly
 * (ssh-keygen only reads one from a tty otherwise), which is fine for throwaway test keys;
 * OpenSSH requires at least 5 characters. */
export async function generateKey(
  options: {
    type?: string
    passphrase?: string
    format?: 'openssh' | 'pem'
    bits?: number
    comment?: string
  } = {}
): Promise<{ privateKey: string; publicKey: string }> {
  const type = options.type ?? 'ed25519'
  if (!['ed25519', 'ecdsa', 'rsa'].includes(type)) throw new Error(`unsupported key type ${type}`)
  // ssh-keygen silently writes OpenSSH format for ed25519 when asked for PEM.
  if (options.format === 'pem' && type === 'ed25519') {
    throw new Error('ed25519 keys have no PEM encoding; use ecdsa or rsa')
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-key-'))
  try {
    const file = path.join(dir, 'key')
    await run('ssh-keygen', [
      '-q',
      '-t',
      type,
      ...(options.bits ? ['-b', String(options.bits)] : []),
      ...(options.format === 'pem' ? ['-m', 'PEM'] : []),
      '-N',
      options.passphrase ?? '',
      '-C',
      options.comment ?? `adt-test-${type}`,
      '-f',
      file
    ])
    return {
      privateKey: await readFile(file, 'utf8'),
      publicKey: (await readFile(`${file}.pub`, 'utf8')).trim()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Authorize an extra key for a user (e.g. a passphrase-protected one). */
/** Anything that keeps per-user authorized_keys files in one directory (sshd, or Dropbear's stand-in). */
type KeyHolder = Pick<Sshd, 'authorizedKeysDir'>

export async function authorizeKey(
  sshd: KeyHolder,
  user: TestUser,
  publicKey: string
): Promise<void> {
  const file = path.join(sshd.authorizedKeysDir, user.name)
  await appendFile(file, `${publicKey.trim()}\n`, { mode: 0o644 })
  // sshd opens the file with the user's privileges.
  await chmod(file, 0o644)
  accounts.get(user.name)?.authorizedFiles.add(file)
}

async function createAccount(
  sshd: KeyHolder,
  options: CreateUserOptions,
  profile: Profile
): Promise<TestUser> {
  const name = options.name ?? randomName(profile.prefix)
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) throw new Error(`bad account name ${name}`)
  if (options.password?.includes('\n')) throw new Error('password may not contain a newline')
  const shell = options.shell ?? '/bin/sh'
  const home = options.home ?? `/home/${name}`
  const groups = [...profile.groups, ...(options.groups ?? [])]
  for (const group of groups) await accountCommand('groupadd', ['-f', group])

  const exists = (await run('getent', ['passwd', name], { check: false })).code === 0
  const groupArgs = groups.length > 0 ? ['-G', groups.join(',')] : []
  const account: Account = { path: profile.path, authorizedFiles: new Set(), extraDirs: [] }
  accounts.set(name, account)
  if (!exists) {
    await mkdir(path.dirname(home), { recursive: true })
    await accountCommand('useradd', ['-m', '-d', home, '-s', shell, ...groupArgs, name])
    // Accounts this process created must not outlive it, even if removeUser is never
    // reached: removed on exit or termination signals, else by the watchdog.
    const uid = Number((await run('id', ['-u', name])).stdout.trim())
    account.cancelExitCleanup = onProcessExit(() => removeAccountSync(name, uid))
    guardAccount(name, uid)
  } else {
    await accountCommand('usermod', [
      '-d',
      home,
      '-s',
      shell,
      ...(groups.length > 0 ? ['-a', ...groupArgs] : []),
      name
    ])
    await mkdir(home, { recursive: true })
    // `user:` also sets the group to the user's login group.
    await run('chown', [`${name}:`, home])
  }
  // With UsePAM no, sshd refuses accounts whose password field starts with '!' (useradd's
  // locked default) even for key auth; '*' means "no password, not locked".
  if (options.password !== undefined) {
    await accountCommand('chpasswd', [], { input: `${name}:${options.password}\n` })
  } else {
    await accountCommand('usermod', ['-p', '*', name])
  }

  const key = await generateKey({ type: 'ed25519', comment: `${name}@adt-test` })
  const user: TestUser = {
    name,
    home,
    shell,
    privateKey: key.privateKey,
    publicKey: key.publicKey,
    ...(options.password !== undefined ? { password: options.password } : {})
  }
  await authorizeKey(sshd, user, key.publicKey)
  return user
}

/** Create (or reuse) a system account with its own fresh home directory, authorize a newly
 * generated ed25519 key for it on this sshd, and return it. `shell` defaults to /bin/sh
 * (dash). Removal is the caller's job via removeUser. */
export function createUser(sshd: KeyHolder, options: CreateUserOptions = {}): Promise<TestUser> {
  return createAccount(sshd, options, { prefix: 'adtu', path: DEFAULT_USER_PATH, groups: [] })
}

/** A user whose login shell is explicitly /bin/dash. */
export function createDashUser(
  sshd: Sshd,
  options: Omit<CreateUserOptions, 'shell'> = {}
): Promise<TestUser> {
  return createAccount(
    sshd,
    { ...options, shell: '/bin/dash' },
    { prefix: 'adtd', path: DEFAULT_USER_PATH, groups: [] }
  )
}

/**
 * Create a directory of symlinks once per machine. Parallel test processes may race: each
 * builds a private staging directory and renames it into place; rename is atomic, so the
 * directory is either absent or complete, and a loser just discards its copy.
 */
async function ensureLinkDir(
  dir: string,
  links: () => Promise<Map<string, string>>
): Promise<void> {
  if (existsSync(dir)) return
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 })
  const staging = `${dir}.staging-${process.pid}-${randomBytes(4).toString('hex')}`
  await mkdir(staging, { mode: 0o755 })
  try {
    for (const [name, target] of await links()) await symlink(target, path.join(staging, name))
    await chmod(staging, 0o755)
    await rename(staging, dir)
  } catch (error) {
    if (!existsSync(dir)) throw error
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}

async function busyboxPath(): Promise<string> {
  for (const candidate of ['/usr/bin/busybox', '/bin/busybox']) {
    if (existsSync(candidate)) return candidate
  }
  throw new Error('busybox is not installed (apt-get install -y busybox)')
}

async function ensureBusyboxDir(): Promise<void> {
  const busybox = await busyboxPath()
  await ensureLinkDir(BUSYBOX_PROFILE.binDir, async () => {
    const { stdout } = await run(busybox, ['--list'])
    const applets = stdout.split('\n').filter(a => /^[\w.[-]+$/.test(a))
    return new Map(applets.map(applet => [applet, busybox]))
  })
  // Not needed by sshd (it only wants an executable shell) but keeps chsh and friends happy.
  const shells = await readFile('/etc/shells', 'utf8').catch(() => '')
  if (!shells.split('\n').includes(BUSYBOX_PROFILE.shell)) {
    await appendFile('/etc/shells', `${BUSYBOX_PROFILE.shell}\n`)
  }
}

/** Names never linked into the no-tar directory: tar itself and tools that are a tar. */
// gzip goes too: a server with neither (a minimal container) gets its scripts as they are, not
// gzipped (see BOOTSTRAP), and its files over SFTP.
const TAR_LIKE = new Set([
  'gzip',
  'gunzip',
  'zcat',
  'tar',
  'gtar',
  'bsdtar',
  'star',
  'ptar',
  'ptardiff',
  'ptargrep',
  'busybox'
])

async function ensureNoTarDir(): Promise<void> {
  await ensureLinkDir(NOTAR_PROFILE.binDir, async () => {
    // Everything a normal session could run, so the only difference from a stock host is
    // the missing tar (and gzip). Earlier directories win, as they would in PATH.
    const links = new Map<string, string>()
    for (const source of ['/usr/local/bin', '/usr/bin', '/bin']) {
      const names = await readdir(source).catch(() => [] as string[])
      for (const name of names) {
        if (links.has(name) || TAR_LIKE.has(name)) continue
        const target = path.join(source, name)
        const info = await stat(target).catch(() => undefined)
        if (info?.isFile() && (info.mode & 0o111) !== 0) links.set(name, target)
      }
    }
    return links
  })
}

/** A user whose login shell is BusyBox sh and whose PATH holds only BusyBox applets. */
export async function createBusyboxUser(
  sshd: Sshd,
  options: Omit<CreateUserOptions, 'shell'> = {}
): Promise<TestUser> {
  await ensureBusyboxDir()
  return createAccount(
    sshd,
    { ...options, shell: BUSYBOX_PROFILE.shell },
    { prefix: 'adtbb', path: BUSYBOX_PROFILE.binDir, groups: [BUSYBOX_PROFILE.group] }
  )
}

/** A /bin/sh (dash) user whose PATH has the usual tools but no tar and no gzip. */
export async function createUserWithoutTar(
  sshd: Sshd,
  options: CreateUserOptions = {}
): Promise<TestUser> {
  await ensureNoTarDir()
  return createAccount(sshd, options, {
    prefix: 'adtnt',
    path: NOTAR_PROFILE.binDir,
    groups: [NOTAR_PROFILE.group]
  })
}

/** An account that can only use SFTP, jailed in a chroot (see SFTP_ONLY_PROFILE). */
export interface SftpOnlyUser extends TestUser {
  /** The jail: root-owned, 0755. Paths the account sees start here. */
  chroot: string
  /** The login directory as the account sees it (inside the jail). */
  loginDir: string
  /** The same directory seen from outside the jail. */
  realLoginDir: string
}

/**
 * A user whose every session runs internal-sftp in a chroot of its own; exec and shell requests
 * run sftp-server too, so the account never runs a command.
 */
export async function createSftpOnlyUser(
  sshd: Sshd,
  options: Omit<CreateUserOptions, 'shell'> = {}
): Promise<SftpOnlyUser> {
  const user = await createAccount(sshd, options, {
    prefix: 'adtsf',
    path: DEFAULT_USER_PATH,
    groups: [SFTP_ONLY_PROFILE.group]
  })
  const chroot = path.join(SFTP_ONLY_PROFILE.chrootBase, user.name)
  const loginDir = `/home/${user.name}`
  const realLoginDir = path.join(chroot, loginDir)
  const account = accounts.get(user.name)
  account?.extraDirs.push(chroot)
  guardDir(chroot)
  // sshd checks the whole path: root-owned and not writable by group or others.
  await mkdir(SFTP_ONLY_PROFILE.chrootBase, { recursive: true, mode: 0o755 })
  await chmod(SFTP_ONLY_PROFILE.chrootBase, 0o755)
  await mkdir(path.join(chroot, 'home'), { recursive: true, mode: 0o755 })
  await chmod(chroot, 0o755)
  await chmod(path.join(chroot, 'home'), 0o755)
  await mkdir(realLoginDir, { recursive: true, mode: 0o755 })
  await run('chown', [`${user.name}:`, realLoginDir])
  return { ...user, chroot, loginDir, realLoginDir }
}

/** Run a command as that user (runuser), in their home directory and with the PATH their SSH
 * sessions get, returning stdout. Rejects on a non-zero exit. */
export async function runAs(
  user: TestUser,
  argv: string[],
  options: { input?: string; timeoutMs?: number } = {}
): Promise<string> {
  if (argv.length === 0) throw new Error('runAs needs a command')
  const result = await run('/usr/sbin/runuser', ['-u', user.name, '--', ...argv], {
    cwd: user.home,
    input: options.input,
    timeoutMs: options.timeoutMs,
    env: {
      PATH: accounts.get(user.name)?.path ?? DEFAULT_USER_PATH,
      HOME: user.home,
      USER: user.name,
      LOGNAME: user.name,
      SHELL: user.shell,
      LANG: 'C.UTF-8'
    }
  })
  return result.stdout
}

// userdel exit codes: 0 removed; 6 no such user; 8 user still runs processes; 12 account
// removed but not the home directory, which userdel leaves alone when the user does not
// own it (a directory the test supplied).
const USERDEL_DONE = [0, 6, 12]

/**
 * Kill everything the user runs and delete the account with its home. Processes are killed
 * first because userdel refuses otherwise, and because commands of a dropped SSH session
 * (e.g. after an injected connection cut) keep running; all of them were started by tests.
 */
export async function removeUser(user: TestUser): Promise<void> {
  const account = accounts.get(user.name)
  for (const file of account?.authorizedFiles ?? []) await rm(file, { force: true })
  accounts.delete(user.name)
  account?.cancelExitCleanup?.()
  for (const dir of account?.extraDirs ?? []) {
    await rm(dir, { recursive: true, force: true })
    releaseDir(dir)
  }
  const id = await run('id', ['-u', user.name], { check: false })
  if (id.code === 0) {
    const uid = Number(id.stdout.trim())
    if (uid === 0) throw new Error(`refusing to remove ${user.name} (uid 0)`)
    for (let attempt = 0; ; attempt++) {
      killUidSync(uid)
      const result = await accountCommand('userdel', ['-r', user.name], { check: false })
      if (USERDEL_DONE.includes(result.code ?? -1)) break
      if (result.code !== 8 || attempt >= 10) {
        throw new CommandError(`userdel ${user.name}: ${result.stderr.trim()}`, result)
      }
      await sleep(100)
    }
  }
  releaseAccount(user.name)
}

/** Synchronous removeUser for exit and signal hooks. */
function removeAccountSync(name: string, uid: number): void {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let attempt = 0; attempt < 10; attempt++) {
    killUidSync(uid)
    const result = spawnSync('userdel', ['-r', name], { stdio: 'ignore', timeout: 10_000 })
    if (USERDEL_DONE.includes(result.status ?? -1)) return
    Atomics.wait(pause, 0, 0, 100)
  }
}
