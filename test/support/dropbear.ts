/**
 * A real Dropbear server on loopback for integration tests (Debian's dropbear-bin), with a
 * throwaway ed25519 host key, with or without an SFTP server.
 *
 * Dropbear runs the SFTP subsystem as /usr/lib/sftp-server, which Debian's openssh-sftp-server
 * provides (a link to /usr/lib/openssh/sftp-server). Without SFTP, Dropbear runs in a mount
 * namespace of its own in which that binary is covered by an empty, non-executable file: the
 * subsystem then fails as on a server with no sftp-server, and nothing outside changes.
 *
 * Dropbear reads ~/.ssh/authorized_keys (it has no AuthorizedKeysFile option), so users made
 * for it with createDropbearUser get the keys authorized for them there.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { run, sleep, within } from './exec.ts'
import {
  guardDir,
  guardTree,
  killTreesSync,
  onProcessExit,
  procRef,
  releaseDir,
  waitGone,
  type ProcRef
} from './process-tree.ts'
import { freePort, probeBanner, type TestUser } from './sshd.ts'
import { authorizeKey, createUser, type CreateUserOptions } from './users.ts'

export const DROPBEAR_BINARY = '/usr/sbin/dropbear'
const SFTP_SERVER = '/usr/lib/openssh/sftp-server'
const HOST = '127.0.0.1'

export interface DropbearOptions {
  /** Serve the SFTP subsystem (the default) or not. */
  sftp?: boolean
}

export interface Dropbear {
  host: '127.0.0.1'
  port: number
  /** `[127.0.0.1]:PORT ssh-ed25519 <base64>` */
  knownHosts: string
  /** Where createUser keeps each user's authorized keys before they are installed. */
  authorizedKeysDir: string
  dir: string
  /** What Dropbear wrote to stderr so far. */
  log(): string
  stop(): Promise<void>
}

export async function startDropbear(options: DropbearOptions = {}): Promise<Dropbear> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-dropbear-'))
  await chmod(dir, 0o755)
  guardDir(dir)
  const authorizedKeysDir = path.join(dir, 'authorized_keys')
  await mkdir(authorizedKeysDir, { mode: 0o755 })
  const hostKey = path.join(dir, 'host_ed25519')
  await run('dropbearkey', ['-t', 'ed25519', '-f', hostKey])
  const printed = await run('dropbearkey', ['-y', '-f', hostKey])
  const publicLine = printed.stdout.split('\n').find(l => l.startsWith('ssh-ed25519 '))
  if (!publicLine) throw new Error(`dropbearkey -y printed no public key: ${printed.stdout}`)
  const keyField = publicLine.split(/\s+/).slice(0, 2).join(' ')

  let child: ChildProcess | undefined
  let ref: ProcRef | undefined
  let stderr = ''
  let port: number
  let stopped = false
  const cancelExitCleanup = onProcessExit(() => {
    if (ref) killTreesSync([ref])
  })
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    cancelExitCleanup()
    const victims = ref ? killTreesSync([ref]) : []
    await waitGone(victims)
    await rm(dir, { recursive: true, force: true })
    releaseDir(dir)
  }
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      // -F foreground, -E log to stderr, -s no passwords, -m no motd, -p one loopback port.
      const args = ['-F', '-E', '-s', '-m', '-r', hostKey, '-P', path.join(dir, 'pid')]
      args.push('-p', `${HOST}:${port}`)
      if (options.sftp === false) {
        const blank = path.join(dir, 'no-sftp-server')
        await writeFile(blank, '', { mode: 0o644 })
        child = spawn(
          'unshare',
          [
            '--mount',
            '--propagation',
            'private',
            '--',
            '/bin/sh',
            '-c',
            'mount --bind "$1" "$2" && shift 2 && exec "$@"',
            'sh',
            blank,
            SFTP_SERVER,
            DROPBEAR_BINARY,
            ...args
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] }
        )
      } else {
        child = spawn(DROPBEAR_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] })
      }
      const started = child
      let exited = false
      started.once('exit', () => (exited = true))
      started.stderr?.setEncoding('utf8')
      started.stderr?.on('data', (text: string) => (stderr = (stderr + text).slice(-65536)))
      if (started.pid !== undefined) {
        ref = procRef(started.pid)
        if (ref) guardTree(ref)
      }
      const deadline = Date.now() + 10_000
      let ready = false
      while (!exited && Date.now() < deadline) {
        if (await probeBanner(port, 500)) {
          ready = true
          break
        }
        await sleep(20)
      }
      if (ready) break
      if (ref) killTreesSync([ref])
      await within(new Promise(r => started.once('exit', r)), 2000)
      if (attempt >= 5 || !/address already in use|bind/i.test(stderr))
        throw new Error(`dropbear on port ${port} did not start; stderr:\n${stderr}`)
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {
    host: HOST,
    port,
    knownHosts: `[${HOST}]:${port} ${keyField}`,
    authorizedKeysDir,
    dir,
    log: () => stderr,
    stop
  }
}

/**
 * A throwaway account (see createUser) whose authorized keys are installed in ~/.ssh, where
 * Dropbear looks for them. Keys authorized later need installAuthorizedKeys again.
 */
export async function createDropbearUser(
  dropbear: Dropbear,
  options: CreateUserOptions = {}
): Promise<TestUser> {
  const user = await createUser(dropbear, options)
  await installAuthorizedKeys(dropbear, user)
  return user
}

/** Authorize one more key for a Dropbear user. */
export async function authorizeDropbearKey(
  dropbear: Dropbear,
  user: TestUser,
  publicKey: string
): Promise<void> {
  await authorizeKey(dropbear, user, publicKey)
  await installAuthorizedKeys(dropbear, user)
}

async function installAuthorizedKeys(dropbear: Dropbear, user: TestUser): Promise<void> {
  const sshDir = path.join(user.home, '.ssh')
  await mkdir(sshDir, { recursive: true, mode: 0o700 })
  const target = path.join(sshDir, 'authorized_keys')
  await copyFile(path.join(dropbear.authorizedKeysDir, user.name), target)
  await chmod(target, 0o600)
  await chmod(sshDir, 0o700)
  await run('chown', ['-R', `${user.name}:`, sshDir])
}
