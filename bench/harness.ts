/**
 * The benchmark's environment and its timed commands: one loopback sshd, ten throwaway accounts
 * that accept one shared key, and a latency proxy in front of sshd. Every timed command goes
 * through the proxy; setup (seeding, cloning, cleaning) goes to sshd directly or is done on the
 * file system, and is never timed.
 *
 * Every child runs in its own process group with a timeout bounded by the global deadline, so
 * a hung pipeline (bash -> tar -> ssh) is killed as a whole and the run always ends.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  statfs,
  truncate,
  writeFile
} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { inputEnv, parseCommandFile } from '../test/support/action.ts'
import { startLatencyProxy, type LatencyProxy } from '../test/support/proxy.ts'
import { startSshd, type Sshd, type TestUser } from '../test/support/sshd.ts'
import {
  authorizeKey,
  createSftpOnlyUser,
  createUser,
  generateKey,
  removeUser
} from '../test/support/users.ts'

export const ACTION =
  process.env.BENCH_ACTION ?? path.resolve(import.meta.dirname, '../dist/index.js')
/**
 * Another build whose SFTP-only incremental deploys run beside the action's in the same blocks
 * (BENCH_COMPARE), from a seed of its own making: a regression shows in one interleaved run.
 */
export const COMPARE_ACTION = process.env.BENCH_COMPARE
  ? path.resolve(process.env.BENCH_COMPARE)
  : undefined
const SFTP_UPLOAD = path.resolve(import.meta.dirname, 'sftp-upload.ts')
export const HOST = '127.0.0.1'

/** Raised when the global deadline has passed; the run stops and prints what it has. */
export class DeadlineError extends Error {
  override name = 'DeadlineError'
}

let deadline = Number.POSITIVE_INFINITY

export function setDeadline(at: number): void {
  deadline = at
}

export function timeLeft(): number {
  return deadline - Date.now()
}

/** A timeout for one command: its own bound, cut short by the global deadline. */
function boundedTimeout(ms: number): number {
  const left = timeLeft()
  if (left <= 0) throw new DeadlineError('global deadline reached')
  return Math.min(ms, left)
}

// ---------------------------------------------------------------------------------------------
// Children

const active = new Set<ChildProcess>()

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/** Kill every command still running (SIGINT, deadline). Synchronous, for signal handlers. */
export function killActiveChildren(): void {
  for (const child of active) killGroup(child)
}

export interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  /** Wall time from spawn to exit, ms. */
  ms: number
  stdout: string
  /** The last 64 KiB of stderr (interleaved with stdout for the action). */
  stderr: string
  timedOut: boolean
}

const TAIL = 64 * 1024

/** Spawn, time and collect one command (bounded: killed with its process group on timeout). */
export function exec(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}
): Promise<Finished> {
  const timeoutMs = boundedTimeout(options.timeoutMs ?? 120_000)
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a timeout kills the whole pipeline.
      detached: true
    })
    active.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8')
    child.stderr!.setEncoding('utf8')
    child.stdout!.on('data', (s: string) => (stdout = (stdout + s).slice(-TAIL)))
    child.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-TAIL)))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child)
    }, timeoutMs)
    child.once('error', error => {
      clearTimeout(timer)
      active.delete(child)
      reject(error)
    })
    child.once('close', (code, signal) => {
      const ms = performance.now() - started
      clearTimeout(timer)
      active.delete(child)
      resolve({ code, signal, ms, stdout, stderr, timedOut })
    })
  })
}

/** Like exec, but a non-zero exit is an error that shows the command's stderr. */
export async function mustExec(
  what: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}
): Promise<Finished> {
  const result = await exec(command, args, options)
  if (result.code !== 0) {
    if (timeLeft() <= 0) throw new DeadlineError(`${what}: stopped at the global deadline`)
    const why = result.timedOut ? 'timed out' : `exit ${result.code ?? result.signal}`
    throw new Error(`${what}: ${why}\n${tail(result.stderr || result.stdout, 20)}`)
  }
  return result
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}

/** POSIX single quotes. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

// ---------------------------------------------------------------------------------------------
// Environment

export interface Account {
  user: TestUser
  /** Absolute home (login) directory: remote paths below are relative to it. */
  home: string
  /** The account's directory on the aged disk (with `t/` and `seeds/`), when there is one. */
  aged?: string
}

/** Where the accounts' homes, and so every deployed tree, live. */
export interface ServerDisk {
  /** Directory the homes are made in; undefined: the default, /home. */
  root?: string
  /** One line for the report. */
  description: string
  /** Unmount and delete the disk, if one was made. Synchronous, for signal handlers. */
  closeSync(): void
}

const DISK_BYTES = 16 * 1024 ** 3
const AGED_DISK_BYTES = 3 * 1024 ** 3

/** An ext4 made by `mkfs.ext4` with its defaults (a journal included) in a file, loop-mounted. */
async function loopDisk(
  name: string,
  bytes: number,
  log: (line: string) => void,
  mkfsOptions: string[] = []
): Promise<{ root: string; closeSync(): void }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `adt-bench-${name.replace(/\W+/g, '-')}-`))
  const image = path.join(dir, 'disk.img')
  const root = path.join(dir, 'mnt')
  let mounted = false
  const closeSync = (): void => {
    try {
      if (mounted) execFileSync('umount', [root], { stdio: 'ignore', timeout: 60_000 })
      mounted = false
    } catch {
      // Still busy (a child killed a moment ago): detach it lazily instead.
      try {
        execFileSync('umount', ['-l', root], { stdio: 'ignore', timeout: 10_000 })
      } catch {
        // Nothing mounted.
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await writeFile(image, '')
    await truncate(image, bytes)
    // Inode tables and journal written now, not by a kernel thread during the timed runs.
    await mustExec(
      name,
      'mkfs.ext4',
      ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', ...mkfsOptions, image],
      { timeoutMs: 120_000 }
    )
    await mkdir(root)
    await mustExec(name, 'mount', ['-o', 'loop', image, root], { timeoutMs: 30_000 })
    mounted = true
    // Homes below must be reachable by their accounts.
    await chmod(dir, 0o755)
    await chmod(root, 0o755)
    log(`${name}: a ${bytes / 1024 ** 3} GB ext4 on a loop device at ${root}`)
    return { root, closeSync }
  } catch (error) {
    closeSync()
    throw error
  }
}

/**
 * The servers' disk. By default, a fresh ext4 made by `mkfs.ext4` with its defaults (a journal
 * included) on a loop device: what a typical server's disk is. A machine's own root file system
 * can be far from that. On the virtual machines this suite was measured on it is a journal-less
 * ext4 whose inode allocator (find_inode_bit, checking recently deleted inodes) takes about 80%
 * of a 3,500-file `cp -a`: 1.0 s there, 0.17 s on a fresh ext4 in a file on that same disk. The
 * peers and the action all write to this one disk. `BENCH_DISK=root` measures on the root file
 * system instead; a machine that cannot make a loop device falls back to it, and says so.
 */
async function serverDisk(log: (line: string) => void): Promise<ServerDisk> {
  const onRoot: ServerDisk = {
    description: "the machine's own file system (/home)",
    closeSync: () => {}
  }
  if (process.env.BENCH_DISK === 'root') return onRoot
  const free = await statfs(os.tmpdir())
  if (free.bavail * free.bsize < DISK_BYTES / 2) {
    log(`less than ${DISK_BYTES / 2 / 1024 ** 3} GB free in ${os.tmpdir()}: using /home`)
    return { ...onRoot, description: `${onRoot.description}, for lack of space for a disk image` }
  }
  try {
    const disk = await loopDisk('server disk', DISK_BYTES, log)
    return {
      ...disk,
      description: `a fresh ext4 (mkfs.ext4 defaults, with a journal) on a loop device, as a server's disk (BENCH_DISK=root: the machine's own)`
    }
  } catch (error) {
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error)
    log(`cannot make a loop-mounted disk (${why}): using /home`)
    return { ...onRoot, description: `${onRoot.description}: no loop device (${why})` }
  }
}

/** A small PRNG (mulberry32): the aged disk is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A server disk that is not fresh, as a server's disk after years of logs, caches, sessions and
 * uploads: a 3 GB ext4 filled to 70% of its blocks with small files (about 140,000, 1 to 64 KB,
 * 100 to a directory), then churned three times (a quarter of the files deleted at random and
 * as many written anew), which scatters free inodes and blocks over every group. Without a
 * journal, as the root file system of the machines this was measured on: there ext4 checks
 * every free inode it considers for a recent deletion (find_inode_bit, recently_deleted), which
 * made a 3,500-file `cp -a` 0.35 to 0.5 s against 0.12 s on the same aged disk with a journal
 * (BENCH_AGED_JOURNAL=1 keeps one). Built once per run, before any timed run; deterministic.
 * `BENCH_AGED=0` skips it.
 */
async function agedDisk(log: (line: string) => void): Promise<ServerDisk | undefined> {
  if (process.env.BENCH_AGED === '0') return undefined
  const free = await statfs(os.tmpdir())
  if (free.bavail * free.bsize < AGED_DISK_BYTES * 2) {
    log(`less than ${(AGED_DISK_BYTES * 2) / 1024 ** 3} GB free: no aged disk`)
    return undefined
  }
  let disk: { root: string; closeSync(): void }
  try {
    const journal = process.env.BENCH_AGED_JOURNAL === '1'
    disk = await loopDisk('aged disk', AGED_DISK_BYTES, log, journal ? [] : ['-O', '^has_journal'])
  } catch (error) {
    log(`cannot make the aged disk (${error instanceof Error ? error.message : String(error)})`)
    return undefined
  }
  const started = Date.now()
  const random = prng(70)
  const fill = path.join(disk.root, 'fill')
  const files: string[] = []
  let dirs = 0
  const content = Buffer.alloc(64 * 1024, 0x61)
  const write = (): void => {
    if (files.length % 100 === 0) mkdirSync(path.join(fill, String(dirs++)), { recursive: true })
    const dir = String(Math.floor(random() * dirs))
    const file = path.join(fill, dir, `f${files.length}-${Math.floor(random() * 1e9)}`)
    const size = Math.round(1024 * Math.exp(random() * Math.log(64)))
    writeFileSync(file, content.subarray(0, size))
    files.push(file)
  }
  const used = (): number => {
    const st = statfsSync(disk.root)
    return 1 - st.bfree / st.blocks
  }
  while (used() < 0.7) for (let i = 0; i < 2000; i++) write()
  for (let round = 0; round < 3; round++) {
    const removals = Math.floor(files.length / 4)
    for (let i = 0; i < removals; i++) {
      const at = Math.floor(random() * files.length)
      rmSync(files[at] as string)
      files[at] = files[files.length - 1] as string
      files.pop()
    }
    while (used() < 0.7) for (let i = 0; i < 2000; i++) write()
  }
  execFileSync('sync')
  const st = statfsSync(disk.root)
  const kind = process.env.BENCH_AGED_JOURNAL === '1' ? 'with a journal' : 'without a journal'
  const description = `an aged ext4 ${kind}: 3 GB, ${Math.round(used() * 100)}% of blocks and ${Math.round((1 - st.ffree / st.files) * 100)}% of inodes used by ${files.length.toLocaleString('en')} small files, churned three times (a quarter deleted and written anew each time)`
  log(`aged disk ready in ${((Date.now() - started) / 1000).toFixed(0)} s: ${description}`)
  return { root: disk.root, description, closeSync: disk.closeSync }
}

export interface Env {
  disk: ServerDisk
  /** The aged disk, when made (see agedDisk). */
  agedDisk?: ServerDisk
  sshd: Sshd
  proxy: LatencyProxy
  /** Local scratch directory: key file, known_hosts, action files. */
  dir: string
  /** Ten accounts authorized with one key; accounts[0] is the one every single-server run uses. */
  accounts: Account[]
  /**
   * An SFTP-only account (ForceCommand internal-sftp in a ChrootDirectory), authorized with the
   * same key. Its login directory is on the server disk like the others' homes (bind-mounted
   * into the jail, whose own path must be root-owned all the way up); `home` is that directory
   * seen from outside the jail.
   */
  sftpOnly?: Account
  /** The shared private key (text) and its file (0600, for OpenSSH clients). */
  privateKey: string
  keyFile: string
  /** known_hosts for both sshd's own port and the proxy port. */
  knownHosts: string
  knownHostsFile: string
  close(): Promise<void>
}

export const GROUP_SIZE = 10

export async function startEnv(
  log: (line: string) => void,
  options: { aged?: boolean } = {}
): Promise<Env> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-bench-'))
  const sshd = await startSshd({
    // Ten group members connect at once through one loopback address. Real servers are ten
    // hosts with ten sshds, so lift the unauthenticated-connection throttle that one shared
    // sshd would otherwise apply (default 10:30:100 starts dropping at ten).
    extraConfig: ['MaxStartups 100:30:200']
  })
  const proxy = await startLatencyProxy({ host: HOST, port: sshd.port })
  const accounts: Account[] = []
  const disk = await serverDisk(log)
  // The SFTP-only account's login directory, bound onto the server disk: undone before the
  // account (and its jail) is removed, and before the disk is unmounted.
  let bound: string | undefined
  const unbind = (): void => {
    if (bound === undefined) return
    try {
      execFileSync('umount', [bound], { stdio: 'ignore', timeout: 30_000 })
    } catch {
      try {
        execFileSync('umount', ['-l', bound], { stdio: 'ignore', timeout: 10_000 })
      } catch {
        // Not mounted.
      }
    }
    bound = undefined
  }
  const diskClose = disk.closeSync
  disk.closeSync = () => {
    unbind()
    diskClose()
  }
  const env: Env = {
    disk,
    sshd,
    proxy,
    dir,
    accounts,
    privateKey: '',
    keyFile: path.join(dir, 'id_ed25519'),
    knownHosts: '',
    knownHostsFile: path.join(dir, 'known_hosts'),
    close: async () => {
      killActiveChildren()
      await proxy.close()
      unbind()
      for (const account of [...accounts, ...(env.sftpOnly ? [env.sftpOnly] : [])])
        await removeUser(account.user).catch(() => {})
      await sshd.stop()
      env.agedDisk?.closeSync()
      disk.closeSync()
      await rm(dir, { recursive: true, force: true })
    }
  }
  try {
    const key = await generateKey({ type: 'ed25519', comment: 'adt-bench' })
    env.privateKey = key.privateKey
    await writeFile(env.keyFile, key.privateKey, { mode: 0o600 })
    await chmod(env.keyFile, 0o600)
    // The same host key answers on both ports; OpenSSH and the action look up [host]:port.
    const direct = sshd.knownHosts.split('\n')
    const proxied = direct.map(l =>
      l.replace(`[${HOST}]:${sshd.port} `, `[${HOST}]:${proxy.port} `)
    )
    env.knownHosts = [...direct, ...proxied].join('\n') + '\n'
    await writeFile(env.knownHostsFile, env.knownHosts)
    for (let i = 0; i < GROUP_SIZE; i++) {
      const user = await createUser(sshd, {
        home: disk.root === undefined ? undefined : path.join(disk.root, `adt-bench-${i}`)
      })
      accounts.push({ user, home: user.home })
      await authorizeKey(sshd, user, key.publicKey)
      // Work areas owned by the account, so its tar, rsync and the action may create below.
      for (const sub of ['t', 'seeds']) {
        await mkdir(path.join(user.home, sub), { recursive: true })
        const st = await stat(user.home)
        await chown(path.join(user.home, sub), st.uid, st.gid)
      }
    }
    const jailed = await createSftpOnlyUser(sshd)
    await authorizeKey(sshd, jailed, key.publicKey)
    let home = jailed.realLoginDir
    const { uid, gid } = await stat(jailed.realLoginDir)
    if (disk.root !== undefined) {
      home = path.join(disk.root, 'adt-bench-sftp-only')
      await mkdir(home)
      await mustExec('bind', 'mount', ['--bind', home, jailed.realLoginDir], { timeoutMs: 30_000 })
      bound = jailed.realLoginDir
    }
    await chown(home, uid, gid)
    for (const sub of ['t', 'seeds']) {
      await mkdir(path.join(home, sub), { recursive: true })
      await chown(path.join(home, sub), uid, gid)
    }
    env.sftpOnly = { user: jailed, home }
    if (options.aged) {
      env.agedDisk = await agedDisk(log)
      const agedRoot = env.agedDisk?.root
      if (agedRoot) {
        for (const account of accounts) {
          const st = await stat(account.home)
          account.aged = path.join(agedRoot, account.user.name)
          for (const sub of ['', 't', 'seeds']) {
            await mkdir(path.join(account.aged, sub), { recursive: true })
            await chown(path.join(account.aged, sub), st.uid, st.gid)
          }
        }
      }
    }
    log(
      `sshd on ${HOST}:${sshd.port}, latency proxy on ${HOST}:${proxy.port}, ${GROUP_SIZE} accounts and an SFTP-only one`
    )
    return env
  } catch (error) {
    await env.close()
    throw error
  }
}

/** OpenSSH client options for the benchmark's key and known_hosts, nothing from ~/.ssh. */
export function sshOptions(env: Env, port: number): string[] {
  return [
    '-F',
    '/dev/null',
    '-p',
    String(port),
    '-i',
    env.keyFile,
    '-o',
    `UserKnownHostsFile=${env.knownHostsFile}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'LogLevel=ERROR'
  ]
}

// ---------------------------------------------------------------------------------------------
// Timed commands

export interface Measurement {
  ms: number
  /** Peak resident set size of the action's process (from GNU time -v), MB. */
  rssMb?: number
  /** CPU seconds (user + system) of everything the run started on the runner's side. */
  cpuSeconds?: number
  /** Bytes that crossed the proxy towards the server during the run. */
  sentBytes?: number
  /** Bytes that crossed the proxy back from the server during the run. */
  receivedBytes?: number
  /** SSH connections opened through the proxy during the run. */
  connections?: number
  /** Per-phase milliseconds from the action's `servers` output (the slowest server's). */
  phases?: Record<string, number>
  /** The action's own scan and hashing of the source, ms (it runs beside connect). */
  scanMs?: number
  filesUploaded?: number
}

/** Count what crossed the proxy while `work` ran. */
async function onWire<T extends Measurement>(env: Env, work: () => Promise<T>): Promise<T> {
  const before = env.proxy.stats()
  const m = await work()
  const after = env.proxy.stats()
  m.sentBytes = after.up - before.up
  m.receivedBytes = after.down - before.down
  m.connections = after.connections - before.connections
  return m
}

/**
 * Run a command under `/usr/bin/time`, for the CPU time of it and of every child it waited for
 * (a pipeline's tar, gzip and ssh alike): the runner's side of the transfer.
 */
async function timedExec(
  what: string,
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}
): Promise<{ ms: number; cpuSeconds?: number }> {
  const file = path.join(os.tmpdir(), `adt-bench-time-${process.pid}-${timeCounter++}`)
  try {
    const r = await mustExec(
      what,
      '/usr/bin/time',
      ['-f', '%U %S', '-o', file, command, ...args],
      options
    )
    return { ms: r.ms, cpuSeconds: cpuOf(await readFile(file, 'utf8')) }
  } finally {
    await rm(file, { force: true })
  }
}

let timeCounter = 0

/** `%U %S` of GNU time, as seconds of CPU. */
function cpuOf(text: string): number | undefined {
  const m = /(\d+(?:\.\d+)?) (\d+(?:\.\d+)?)\s*$/.exec(text.trim())
  return m ? Number(m[1]) + Number(m[2]) : undefined
}

/** `tar -cz | ssh tar -xz` of `source` into `remoteDir` (absolute, created by the pipeline). */
export function tarPipe(
  env: Env,
  account: Account,
  source: string,
  remoteDir: string,
  port: number
) {
  return onWire(env, async () => {
    const remote = `mkdir -p ${shq(remoteDir)} && tar -xzf - -C ${shq(remoteDir)}`
    const script = 'set -o pipefail; src=$1; shift; tar -C "$src" -czf - . | ssh "$@"'
    const ssh = [...sshOptions(env, port), `${account.user.name}@${HOST}`, remote]
    const r = await timedExec('tar pipe', 'bash', ['-c', script, 'tarpipe', source, ...ssh], {
      timeoutMs: 600_000
    })
    return r as Measurement
  })
}

/**
 * `rsync -a[z] --delete [--link-dest=<linkDest>] <source>/ user@host:<remoteDir>/` over ssh.
 * `compress`: -z, as over a slow link.
 */
export function rsync(
  env: Env,
  account: Account,
  source: string,
  remoteDir: string,
  port: number,
  linkDest?: string,
  compress = false
) {
  return onWire(env, async () => {
    const args = [
      compress ? '-az' : '-a',
      '--delete',
      ...(linkDest ? [`--link-dest=${linkDest}`] : []),
      '-e',
      ['ssh', ...sshOptions(env, port)].join(' '),
      `${source}/`,
      `${account.user.name}@${HOST}:${remoteDir}/`
    ]
    const r = await timedExec('rsync', 'rsync', args, { timeoutMs: 600_000 })
    return r as Measurement
  })
}

/** ssh2-sftp-client uploadDir of `source` into `remoteDir`, in a child process of its own. */
export function sftpUploadDir(
  env: Env,
  account: Account,
  source: string,
  remoteDir: string,
  port: number,
  timeoutMs: number
) {
  return onWire(env, async () => {
    const args = [
      SFTP_UPLOAD,
      HOST,
      String(port),
      account.user.name,
      env.keyFile,
      source,
      remoteDir
    ]
    const r = await timedExec('sftp uploadDir', process.execPath, args, {
      timeoutMs,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BENCH_KNOWN_HOSTS: env.knownHosts }
    })
    return r as Measurement
  })
}

export interface ActionRun extends Measurement {
  outputs: Record<string, string>
}

/**
 * The variables a runner gives every step about its run (a made-up run of this repository): the
 * action reads the commit and the run from them, as on Actions, instead of asking git (which
 * it does only outside Actions).
 */
const RUN_VARIABLES = {
  GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_REPOSITORY: 'example/webapp',
  GITHUB_RUN_ID: '1',
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_ACTOR: 'bench',
  GITHUB_WORKFLOW: 'deploy'
}

/**
 * `node dist/index.js` with INPUT_* variables and the run's variables, as the runner starts it, under
 * `/usr/bin/time -v` for the peak RSS. A failed deploy is an error carrying the log's tail.
 */
export function action(
  env: Env,
  inputs: Record<string, string>,
  timeoutMs = 600_000,
  options: { cpus?: string; build?: string } = {}
) {
  return onWire(env, async (): Promise<ActionRun> => {
    const dir = await mkdtemp(path.join(env.dir, 'step-'))
    const files = {
      GITHUB_OUTPUT: path.join(dir, 'output'),
      GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
      GITHUB_STATE: path.join(dir, 'state')
    }
    for (const f of Object.values(files)) await writeFile(f, '')
    const timeFile = path.join(dir, 'time')
    try {
      // `cpus`: the action confined to those cores (taskset), as on a smaller runner; Node's
      // os.availableParallelism() follows the affinity mask, and so does the number of threads
      // that hash.
      const build = options.build ?? ACTION
      const command = options.cpus
        ? ['taskset', '-c', options.cpus, process.execPath, build]
        : [process.execPath, build]
      const r = await exec('/usr/bin/time', ['-v', '-o', timeFile, ...command], {
        timeoutMs,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/root',
          RUNNER_TEMP: dir,
          // e.g. BENCH_NODE_OPTIONS=--cpu-prof to profile the action's runs.
          ...(process.env.BENCH_NODE_OPTIONS
            ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS }
            : {}),
          ...RUN_VARIABLES,
          ...files,
          ...inputEnv(inputs)
        }
      })
      if (r.code !== 0) {
        if (timeLeft() <= 0) throw new DeadlineError('action: stopped at the global deadline')
        const why = r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`
        // The step's own ::error:: annotation says what went wrong in one line.
        const annotation = /::error::(.*)/.exec(r.stdout + r.stderr)?.[1]?.replace(/%0A/g, ' ')
        throw new Error(`action: ${why}: ${annotation ?? ''}\n${tail(r.stdout + r.stderr, 25)}`)
      }
      const timeReport = await readFile(timeFile, 'utf8')
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(timeReport)
      const user = /User time \(seconds\): ([\d.]+)/.exec(timeReport)
      const system = /System time \(seconds\): ([\d.]+)/.exec(timeReport)
      const outputs = parseCommandFile(await readFile(files.GITHUB_OUTPUT, 'utf8'))
      return {
        ms: r.ms,
        rssMb: rss ? Number(rss[1]) / 1024 : undefined,
        cpuSeconds: user && system ? Number(user[1]) + Number(system[1]) : undefined,
        outputs,
        phases: slowestPhases(outputs.servers),
        scanMs: scanMs(r.stdout),
        filesUploaded: Number(outputs['files-uploaded'] ?? NaN)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
}

/** From the action's log line `source ...: ...; scanned and hashed in 180 ms`. */
function scanMs(log: string): number | undefined {
  const m = /scanned and hashed in (\d+) ms/.exec(log)
  return m ? Number(m[1]) : undefined
}

/** Phase times of the server that took longest in each phase (the barrier waits for it). */
function slowestPhases(serversJson: string | undefined): Record<string, number> | undefined {
  if (!serversJson) return undefined
  try {
    const servers = JSON.parse(serversJson) as Record<string, { phases?: Record<string, number> }>
    const phases: Record<string, number> = {}
    for (const report of Object.values(servers)) {
      for (const [phase, ms] of Object.entries(report.phases ?? {})) {
        phases[phase] = Math.max(phases[phase] ?? 0, ms)
      }
    }
    return phases
  } catch {
    return undefined
  }
}

/** The inputs of a deploy of `source` to `remotePath` (relative to home) on the given accounts. */
export function deployInputs(
  env: Env,
  accounts: Account[],
  port: number,
  source: string,
  remotePath: string,
  extra: Record<string, string> = {}
): Record<string, string> {
  return {
    servers: accounts.map(a => `${a.user.name}@${HOST}:${port}`).join('\n'),
    'private-key': env.privateKey,
    'known-hosts': env.knownHosts,
    path: remotePath,
    source,
    ...extra
  }
}
