/**
 * A real PHP-FPM on loopback, from Debian's php-fpm package, for tests that deploy a PHP app
 * behind nginx. Its master runs as the deploy account (as a per-site pool does), so the
 * account's after-switch can reload it the way `systemctl reload php-fpm` does: SIGUSR2 to the
 * master. Stock php.ini (OPcache on, timestamps revalidated every 2 s); only the paths, the
 * listen address and `process_control_timeout` are set here.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { run, sleep, within } from './exec.ts'
import {
  guardDir,
  guardTree,
  procRef,
  releaseDir,
  waitGone,
  killTreesSync,
  type ProcRef
} from './process-tree.ts'
import { freePort, type TestUser } from './sshd.ts'

/**
 * The php-fpm binary the php-fpm package installed: Debian and Ubuntu name it after the PHP
 * version (php-fpm8.2 on Debian 12, php-fpm8.3 on Ubuntu 24.04); the newest if there are several.
 */
export function phpFpmBinary(): string {
  const found = readdirSync('/usr/sbin')
    .filter(name => /^php-fpm\d+\.\d+$/.test(name))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .at(-1)
  if (!found) throw new Error('no /usr/sbin/php-fpm<version>: install the php-fpm package')
  return `/usr/sbin/${found}`
}

export interface PhpFpm {
  /** host:port for fastcgi_pass. */
  address: string
  /** The master's pid file: `kill -USR2 "$(cat <pidFile>)"` is a graceful reload. */
  pidFile: string
  /** What PHP-FPM wrote to its error log so far. */
  errorLog(): Promise<string>
  stop(): Promise<void>
}

export interface PhpFpmOptions {
  /** Seconds a worker may finish its request on a reload (0 is PHP-FPM's default). */
  processControlTimeout: number
  workers?: number
}

export async function startPhpFpm(user: TestUser, options: PhpFpmOptions): Promise<PhpFpm> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-php-'))
  guardDir(dir)
  const uid = Number((await run('id', ['-u', user.name])).stdout.trim())
  const gid = Number((await run('id', ['-g', user.name])).stdout.trim())
  await chown(dir, uid, gid)
  await chmod(dir, 0o755)
  const port = await freePort()
  const pidFile = path.join(dir, 'php-fpm.pid')
  const conf = path.join(dir, 'php-fpm.conf')
  await writeFile(
    conf,
    [
      '[global]',
      `pid = ${pidFile}`,
      `error_log = ${path.join(dir, 'error.log')}`,
      'daemonize = no',
      `process_control_timeout = ${options.processControlTimeout}s`,
      '[app]',
      `listen = 127.0.0.1:${port}`,
      'pm = static',
      `pm.max_children = ${options.workers ?? 4}`,
      'catch_workers_output = yes',
      ''
    ].join('\n'),
    { mode: 0o644 }
  )
  const child: ChildProcess = spawn(phpFpmBinary(), ['-F', '-y', conf], {
    uid,
    gid,
    cwd: dir,
    env: { PATH: '/usr/bin:/bin', HOME: user.home },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => (stderr = (stderr + text).slice(-8192)))
  let exited = false
  const exit = new Promise<void>(resolve => child.once('exit', () => ((exited = true), resolve())))
  const ref: ProcRef | undefined = child.pid === undefined ? undefined : procRef(child.pid)
  if (ref) guardTree(ref)
  const errorLog = (): Promise<string> =>
    readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '')
  const stop = async (): Promise<void> => {
    const victims = ref ? killTreesSync([ref]) : []
    await within(exit, 5000)
    await waitGone(victims)
    await rm(dir, { recursive: true, force: true })
    releaseDir(dir)
  }
  // Ready once the master wrote its pid file and logged that it is ready for connections.
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline && !exited) {
    if (/ready to handle connections/.test(await errorLog())) {
      return { address: `127.0.0.1:${port}`, pidFile, errorLog, stop }
    }
    await sleep(20)
  }
  const log = `${stderr}\n${await errorLog()}`
  await stop()
  throw new Error(`php-fpm did not start: ${log.trim()}`)
}
