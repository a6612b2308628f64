/**
 * Real OpenSSH sshd instances on loopback for integration tests.
 *
 * Each instance gets a throwaway directory holding its config, host keys, pid file and one
 * authorized_keys file per user (`AuthorizedKeysFile <dir>/authorized_keys/%u`), so real
 * accounts' ~/.ssh is never read or written. Everything listens on 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { run, sleep, within } from './exec.ts'
import {
  childrenOf,
  guardDir,
  guardTree,
  isAlive,
  killTreesSync,
  onProcessExit,
  procRef,
  releaseDir,
  waitGone,
  type ProcRef
} from './process-tree.ts'

export type HostKeyType = 'ed25519' | 'ecdsa' | 'rsa'

export interface SshdOptions {
  /**
   * Extra sshd_config lines, e.g. ['MaxSessions 2', 'PasswordAuthentication yes'].
   * A line here replaces the harness default for the same keyword (sshd itself would keep
   * the first value it reads). Lines from the first `Match` line on are moved to the end
   * of the file, after the harness's own Match blocks. `Port` and `ListenAddress` belong
   * to the harness and are rejected.
   */
  extraConfig?: string[]
  /** Host key types to generate and serve; default ['ed25519']. */
  hostKeyTypes?: HostKeyType[]
  /** Extra `Match ...` blocks (whole lines, including the Match line), appended at the end. */
  matchBlocks?: string[]
  /** Bound on each start (and restart) until the port serves an SSH banner; default 10 s. */
  startTimeoutMs?: number
  /** false: no `Subsystem sftp` line at all, so the server has no SFTP. Default true. */
  sftp?: boolean
}

export interface TestUser {
  /** System account name. */
  name: string
  /** Its home directory (login directory). */
  home: string
  /** OpenSSH private key text (ed25519), unencrypted, authorized for this user. */
  privateKey: string
  publicKey: string
  /** Login shell. */
  shell: string
  /** Password, when the account was created with one (for PasswordAuthentication tests). */
  password?: string
}

export interface RestartOptions {
  /**
   * Also kill every established connection and its commands (a crash or reboot). By
   * default only the listener is replaced and live sessions carry on, which is what
   * `systemctl restart ssh` does on Debian (KillMode=process).
   */
  killSessions?: boolean
}

export interface Sshd {
  host: '127.0.0.1'
  port: number
  /** Lines suitable for a known_hosts file: `[127.0.0.1]:PORT <type> <base64>` for every host key. */
  knownHosts: string
  /** SHA256 fingerprints of the host keys, keyed by type, exactly as `ssh-keygen -lf` prints the SHA256:... field. */
  fingerprints: Record<string, string>
  /** Private host key files, keyed by type ('ed25519' | 'ecdsa' | 'rsa'). */
  hostKeyFiles: Record<string, string>
  configPath: string
  /** This instance's throwaway directory (removed by stop()). */
  dir: string
  /** Where per-user authorized_keys files live: `<dir>/authorized_keys/<user>`. */
  authorizedKeysDir: string
  /** pid of the current listener process. */
  readonly pid: number
  /** What sshd wrote to stderr so far (LogLevel ERROR, so normally empty). */
  log(): string
  /** Restart sshd on the same port with the same keys (for "sshd restarts between deploys"). */
  restart(options?: RestartOptions): Promise<void>
  /** Kill the listener, every session it spawned, and remove the directory. Idempotent. */
  stop(): Promise<void>
}

export const SSHD_BINARY = '/usr/sbin/sshd'

/**
 * PATH that sshd gives sessions on Debian (compiled in as _PATH_STDPATH); runAs() uses the
 * same so that server-side inspection sees what an SSH session sees.
 */
export const DEFAULT_USER_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/games'

/**
 * Restricted-PATH profiles. sshd's `SetEnv` is the only reliable way to set PATH for
 * non-interactive `sh -c` sessions (no profile or ENV file is read, and ~/.ssh/environment
 * would need the key files we deliberately keep out of the home directory). A global
 * SetEnv would affect everybody, so it sits in a `Match Group` block that every instance's
 * config ends with. Membership is evaluated per connection, so adding a user to the group
 * later needs no sshd restart or reload.
 */
export const BUSYBOX_PROFILE = {
  group: 'adtbusybox',
  /** A symlink to busybox for every applet `busybox --list` prints. */
  binDir: '/usr/local/adt-busybox/bin',
  /** Login shell: the `sh` applet link (busybox dispatches on the name). */
  shell: '/usr/local/adt-busybox/bin/sh'
} as const

export const NOTAR_PROFILE = {
  group: 'adtnotar',
  /** Symlinks to everything in /usr/bin except tar (and tools that embed a tar) and gzip. */
  binDir: '/usr/local/adt-notar-nogzip/bin'
} as const

/**
 * SFTP-only accounts, as shared hosting makes them: `ForceCommand internal-sftp` inside a
 * `ChrootDirectory`. sshd refuses a chroot unless every component of its path is owned by root
 * and writable by nobody else, so each account's jail is a root-owned directory here, holding a
 * home the account owns (`<chrootBase>/<name>/home/<name>`, which sshd enters after the chroot
 * because it is the account's login directory). Any exec or shell request runs sftp-server too.
 */
export const SFTP_ONLY_PROFILE = {
  group: 'adtsftpjail',
  chrootBase: '/var/lib/adt-sftp-chroot'
} as const

const HOST = '127.0.0.1'
const HOST_KEY_TYPES: readonly HostKeyType[] = ['ed25519', 'ecdsa', 'rsa']
const STDERR_LIMIT = 64 * 1024

let penaltiesSupported: Promise<boolean> | undefined

/**
 * OpenSSH 9.8 added PerSourcePenalties, which by default punishes clients that drop
 * connections before authenticating. Fault-injection tests do exactly that on loopback,
 * where every client shares one source address, so turn it off where it exists.
 */
function supportsPerSourcePenalties(): Promise<boolean> {
  penaltiesSupported ??= run(SSHD_BINARY, ['-V'], { check: false }).then(r => {
    const m = /OpenSSH_(\d+)\.(\d+)/.exec(r.stderr + r.stdout)
    return m !== null && Number(m[1]) * 100 + Number(m[2]) >= 908
  })
  return penaltiesSupported
}

/** Ask the kernel for a free loopback port. It can be taken again before sshd binds it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error('no port assigned'))
      })
    })
  })
}

/** Resolve true if something on the port sends an SSH identification line within the time. */
export function probeBanner(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect({ host: HOST, port })
    let received = ''
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      received += chunk
      if (received.includes('\n')) done(received.startsWith('SSH-'))
    })
    socket.on('error', () => done(false))
    socket.on('close', () => done(false))
  })
}

function keywordOf(line: string): string | undefined {
  const words = line.trim().split(/\s+/)
  if (words[0] === '' || words[0]!.startsWith('#')) return undefined
  const keyword = words[0]!.toLowerCase()
  // Subsystem is keyed by name: replacing `Subsystem sftp` must not drop other subsystems.
  return keyword === 'subsystem' ? `subsystem ${words[1] ?? ''}` : keyword
}

interface ConfigInput {
  port: number
  dir: string
  hostKeyFiles: string[]
  extraConfig: string[]
  matchBlocks: string[]
  penalties: boolean
  sftp: boolean
}

function buildConfig(input: ConfigInput): string {
  const firstMatch = input.extraConfig.findIndex(l => /^\s*match\s/i.test(l))
  const extraGlobal = firstMatch < 0 ? input.extraConfig : input.extraConfig.slice(0, firstMatch)
  const extraMatch = firstMatch < 0 ? [] : input.extraConfig.slice(firstMatch)
  const overridden = new Set(extraGlobal.map(keywordOf).filter(k => k !== undefined))
  for (const reserved of ['port', 'listenaddress']) {
    if (overridden.has(reserved)) throw new Error(`extraConfig may not set ${reserved}`)
  }
  const defaults: string[] = [
    `AuthorizedKeysFile ${input.dir}/authorized_keys/%u`,
    `PidFile ${input.dir}/sshd.pid`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'LogLevel ERROR',
    ...(input.sftp ? ['Subsystem sftp internal-sftp'] : []),
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    ...(input.penalties ? ['PerSourcePenalties no'] : [])
  ]
  return [
    '# Generated by test/support/sshd.ts; sshd keeps the first value it reads for a keyword.',
    `Port ${input.port}`,
    `ListenAddress ${HOST}`,
    ...input.hostKeyFiles.map(f => `HostKey ${f}`),
    ...extraGlobal,
    ...defaults.filter(line => !overridden.has(keywordOf(line)!)),
    // Match blocks must come last: every line after a Match line belongs to it.
    `Match Group ${BUSYBOX_PROFILE.group}`,
    `    SetEnv PATH=${BUSYBOX_PROFILE.binDir}`,
    `Match Group ${NOTAR_PROFILE.group}`,
    `    SetEnv PATH=${NOTAR_PROFILE.binDir}`,
    `Match Group ${SFTP_ONLY_PROFILE.group}`,
    `    ChrootDirectory ${SFTP_ONLY_PROFILE.chrootBase}/%u`,
    '    ForceCommand internal-sftp',
    '    DisableForwarding yes',
    ...input.matchBlocks,
    ...extraMatch,
    ''
  ].join('\n')
}

class StartError extends Error {
  readonly bindFailure: boolean
  constructor(message: string, bindFailure: boolean) {
    super(message)
    this.bindFailure = bindFailure
    this.name = 'SshdStartError'
  }
}

class SshdInstance implements Sshd {
  readonly host = HOST
  port = 0
  knownHosts = ''
  readonly fingerprints: Record<string, string> = {}
  readonly hostKeyFiles: Record<string, string> = {}
  readonly configPath: string
  readonly authorizedKeysDir: string
  private readonly publicKeys: { type: HostKeyType; line: string }[] = []
  private child: ChildProcess | undefined
  private childRef: ProcRef | undefined
  private exited: Promise<void> = Promise.resolve()
  /** Connections that outlived a restart(); still ours to kill on stop(). */
  private orphans: ProcRef[] = []
  private stderr = ''
  private stopped = false
  /** Cancels the exit-time cleanup once stop() has done the job. */
  cancelExitCleanup: () => void = () => {}

  readonly dir: string
  private readonly options: Required<Omit<SshdOptions, 'hostKeyTypes'>>

  constructor(dir: string, options: Required<Omit<SshdOptions, 'hostKeyTypes'>>) {
    this.dir = dir
    this.options = options
    this.configPath = path.join(dir, 'sshd_config')
    this.authorizedKeysDir = path.join(dir, 'authorized_keys')
  }

  get pid(): number {
    return this.child?.pid ?? 0
  }

  log(): string {
    return this.stderr
  }

  async addHostKey(type: HostKeyType): Promise<void> {
    const file = path.join(this.dir, `ssh_host_${type}_key`)
    await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `adt-test-${type}`, '-f', file])
    const line = (await readFile(`${file}.pub`, 'utf8')).trim()
    const listed = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`])
    const fingerprint = listed.stdout.split(/\s+/)[1]
    if (!fingerprint?.startsWith('SHA256:')) throw new Error(`ssh-keygen -lf: ${listed.stdout}`)
    this.hostKeyFiles[type] = file
    this.fingerprints[type] = fingerprint
    this.publicKeys.push({ type, line })
  }

  /** Start on the first free port that sshd manages to bind. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      try {
        await this.launch(port)
        return
      } catch (error) {
        // Another process grabbed the port between our probe and sshd's bind: try another.
        if (error instanceof StartError && error.bindFailure && attempt < 5) continue
        throw error
      }
    }
  }

  private async launch(port: number): Promise<void> {
    this.port = port
    this.knownHosts = this.publicKeys
      .map(({ line }) => `[${HOST}]:${port} ${line.split(/\s+/).slice(0, 2).join(' ')}`)
      .join('\n')
    const config = buildConfig({
      port,
      dir: this.dir,
      hostKeyFiles: this.publicKeys.map(k => this.hostKeyFiles[k.type]!),
      extraConfig: this.options.extraConfig,
      matchBlocks: this.options.matchBlocks,
      penalties: await supportsPerSourcePenalties(),
      sftp: this.options.sftp
    })
    await writeFile(this.configPath, config, { mode: 0o644 })
    const pidFile = path.join(this.dir, 'sshd.pid')
    await rm(pidFile, { force: true })

    const child = spawn(SSHD_BINARY, ['-D', '-e', '-f', this.configPath], {
      stdio: ['ignore', 'ignore', 'pipe']
    })
    this.child = child
    let exitInfo: string | undefined
    this.exited = new Promise(resolve => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `exit code ${code}`
        resolve()
      })
      child.once('error', error => {
        exitInfo = error.message
        resolve()
      })
    })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (text: string) => {
      this.stderr = (this.stderr + text).slice(-STDERR_LIMIT)
    })
    if (child.pid !== undefined) {
      this.childRef = procRef(child.pid)
      if (this.childRef) guardTree(this.childRef)
    }

    // Ready means: sshd bound the port (it writes its pid file only after binding, which
    // tells our sshd apart from anyone else who might be listening there) and the port
    // answers with an SSH banner.
    const deadline = Date.now() + this.options.startTimeoutMs
    while (Date.now() < deadline) {
      if (exitInfo !== undefined) break
      const written = await readFile(pidFile, 'utf8').catch(() => '')
      if (Number(written.trim()) === child.pid) {
        if (await probeBanner(port, Math.max(50, Math.min(1000, deadline - Date.now())))) return
      }
      await sleep(20)
    }
    // Give a failing sshd a moment to print why before reporting it.
    await within(this.exited, 200)
    const reason = exitInfo
      ? `exited (${exitInfo})`
      : `not ready after ${this.options.startTimeoutMs} ms`
    if (!exitInfo && this.childRef) killTreesSync([this.childRef])
    await within(this.exited, 2000)
    const bindFailure = /address already in use|cannot bind any address/i.test(this.stderr)
    throw new StartError(`sshd on port ${port} ${reason}; stderr:\n${this.stderr}`, bindFailure)
  }

  async restart(options: RestartOptions = {}): Promise<void> {
    if (this.stopped) throw new Error('restart() after stop()')
    const listener = this.childRef
    if (listener && isAlive(listener)) {
      if (options.killSessions) {
        await waitGone(killTreesSync([listener, ...this.orphans]))
        this.orphans = []
      } else {
        // Freeze the listener so it cannot accept and fork while its connections are listed,
        // then kill only it. The connection processes run in their own sessions and live on.
        process.kill(listener.pid, 'SIGSTOP')
        const connections = childrenOf(listener.pid)
        for (const connection of connections) guardTree(connection)
        this.orphans.push(...connections)
        process.kill(listener.pid, 'SIGKILL')
      }
    }
    await within(this.exited, 5000)
    this.orphans = this.orphans.filter(isAlive)
    // The port is ours by right, but something else could grab it in the gap: retry the
    // same port until the start bound runs out.
    const deadline = Date.now() + this.options.startTimeoutMs
    for (;;) {
      try {
        await this.launch(this.port)
        return
      } catch (error) {
        if (!(error instanceof StartError && error.bindFailure) || Date.now() > deadline)
          throw error
        await sleep(100)
      }
    }
  }

  /** Synchronous stop for exit and signal hooks. */
  killSync(): void {
    killTreesSync([...(this.childRef ? [this.childRef] : []), ...this.orphans])
    this.orphans = []
    rmSync(this.dir, { recursive: true, force: true })
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.cancelExitCleanup()
    const victims = killTreesSync([...(this.childRef ? [this.childRef] : []), ...this.orphans])
    this.orphans = []
    await within(this.exited, 5000)
    await waitGone(victims)
    await rm(this.dir, { recursive: true, force: true })
    releaseDir(this.dir)
  }
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const types = options.hostKeyTypes ?? ['ed25519']
  if (types.length === 0) throw new Error('hostKeyTypes must not be empty')
  for (const type of types) {
    if (!HOST_KEY_TYPES.includes(type)) throw new Error(`unsupported host key type ${type}`)
  }
  // sshd's privilege-separation directory; Debian's init scripts normally create it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 })
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-sshd-'))
  // sshd reads authorized_keys with the user's privileges, so the directory chain must be
  // searchable by everyone; the private host keys themselves stay 0600.
  await chmod(dir, 0o755)
  const instance = new SshdInstance(dir, {
    extraConfig: options.extraConfig ?? [],
    matchBlocks: options.matchBlocks ?? [],
    startTimeoutMs: options.startTimeoutMs ?? 10_000,
    sftp: options.sftp ?? true
  })
  // Nothing may outlive the test process: stop() normally, else exit/signal hooks, else
  // (SIGKILL) the watchdog.
  instance.cancelExitCleanup = onProcessExit(() => instance.killSync())
  guardDir(dir)
  try {
    await mkdir(instance.authorizedKeysDir, { mode: 0o755 })
    await chmod(instance.authorizedKeysDir, 0o755)
    for (const type of new Set(types)) await instance.addHostKey(type)
    await instance.start()
    return instance
  } catch (error) {
    await instance.stop()
    throw error
  }
}
