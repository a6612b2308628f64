/**
 * A real nginx on loopback serving a directory (normally `<deployDir>/current`), for tests that
 * watch what a web server sees while deploys switch releases under it.
 *
 * Everything nginx writes (pid file, logs, temp paths) stays in a throwaway directory. The
 * master runs in the foreground (`daemon off`) as our child; its workers run as the given
 * account, as on a server where the deploy user's files are served. Static files go out with
 * sendfile and no open-file cache, so every request opens the path anew through the symlink.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { sleep, within } from './exec.ts'
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
import { freePort } from './sshd.ts'

export const NGINX_BINARY = '/usr/sbin/nginx'

export interface NginxOptions {
  /** The document root (may not exist yet: requests get 404 until it does). */
  root: string
  /** Account the worker processes run as; default nobody. */
  user?: string
  /** Bound on the start until the port accepts connections; default 10 s. */
  startTimeoutMs?: number
  /**
   * Serve PHP through PHP-FPM at this address, with the README's server block: `index.php` as
   * the front controller, Debian's snippets/fastcgi-php.conf, and SCRIPT_FILENAME and
   * DOCUMENT_ROOT from `root` (default `$realpath_root`).
   */
  php?: { fastcgiPass: string; root?: '$realpath_root' | '$document_root' }
}

export interface Nginx {
  port: number
  /** The master's pid. */
  readonly pid: number
  dir: string
  /** What nginx wrote to its error log so far. */
  errorLog(): Promise<string>
  /** Kill the master and its workers, remove the directory. Idempotent. */
  stop(): Promise<void>
}

function buildConfig(dir: string, port: number, options: NginxOptions): string {
  const temp = (name: string): string => `${name}_temp_path ${path.join(dir, name)};`
  return [
    `user ${options.user ?? 'nobody'};`,
    'worker_processes 1;',
    'master_process on;',
    `pid ${path.join(dir, 'nginx.pid')};`,
    `error_log ${path.join(dir, 'error.log')} warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    `  ${temp('client_body')}`,
    `  ${temp('proxy')}`,
    `  ${temp('fastcgi')}`,
    `  ${temp('uwsgi')}`,
    `  ${temp('scgi')}`,
    '  types { text/html html; application/javascript js; text/plain txt; }',
    '  default_type application/octet-stream;',
    '  sendfile on;',
    '  open_file_cache off;',
    '  keepalive_requests 100000;',
    '  keepalive_timeout 60s;',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    `    root ${options.root};`,
    ...(options.php
      ? [
          '    index index.php;',
          '    location / { try_files $uri $uri/ /index.php?$query_string; }',
          '    location ~ \\.php$ {',
          '      include snippets/fastcgi-php.conf;',
          `      fastcgi_param SCRIPT_FILENAME ${options.php.root ?? '$realpath_root'}$fastcgi_script_name;`,
          `      fastcgi_param DOCUMENT_ROOT ${options.php.root ?? '$realpath_root'};`,
          `      fastcgi_pass ${options.php.fastcgiPass};`,
          '    }'
        ]
      : ['    location / { }']),
    '  }',
    '}',
    ''
  ].join('\n')
}

function accepts(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

class NginxInstance implements Nginx {
  port = 0
  private child: ChildProcess | undefined
  private ref: ProcRef | undefined
  private exited: Promise<void> = Promise.resolve()
  private stderr = ''
  private stopped = false
  cancelExitCleanup: () => void = () => {}

  constructor(
    readonly dir: string,
    private readonly options: NginxOptions
  ) {}

  get pid(): number {
    return this.child?.pid ?? 0
  }

  errorLog(): Promise<string> {
    return readFile(path.join(this.dir, 'error.log'), 'utf8').catch(() => '')
  }

  /** Start on a free port; retry another one when the port was taken meanwhile. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const failure = await this.launch(port)
      if (failure === undefined) return
      if (failure.bind && attempt < 5) continue
      throw new Error(`nginx did not start on port ${port}: ${failure.reason}`)
    }
  }

  /** Undefined once serving; else why not, and whether the port was taken. */
  private async launch(port: number): Promise<{ bind: boolean; reason: string } | undefined> {
    this.port = port
    const conf = path.join(this.dir, 'nginx.conf')
    await writeFile(conf, buildConfig(this.dir, port, this.options), { mode: 0o644 })
    await rm(path.join(this.dir, 'nginx.pid'), { force: true })
    const child = spawn(
      NGINX_BINARY,
      ['-p', this.dir, '-e', path.join(this.dir, 'error.log'), '-c', conf, '-g', 'daemon off;'],
      { stdio: ['ignore', 'ignore', 'pipe'] }
    )
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
    child.stderr!.on('data', (text: string) => (this.stderr = (this.stderr + text).slice(-16384)))
    if (child.pid !== undefined) {
      this.ref = procRef(child.pid)
      if (this.ref) guardTree(this.ref)
    }
    // Ready: the master wrote its pid file (after binding) and the port accepts connections.
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000)
    while (Date.now() < deadline && exitInfo === undefined) {
      const written = await readFile(path.join(this.dir, 'nginx.pid'), 'utf8').catch(() => '')
      if (Number(written.trim()) === child.pid && (await accepts(port, 1000))) return undefined
      await sleep(20)
    }
    await within(this.exited, 200)
    if (this.ref) await waitGone(killTreesSync([this.ref]))
    await within(this.exited, 2000)
    const log = `${this.stderr}\n${await this.errorLog()}`
    return {
      bind: /address already in use/i.test(log),
      reason: `${exitInfo ?? 'not ready in time'}: ${log.trim()}`
    }
  }

  killSync(): void {
    if (this.ref) killTreesSync([this.ref])
    rmSync(this.dir, { recursive: true, force: true })
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.cancelExitCleanup()
    // The workers are the master's children: the tree walk takes them along.
    const victims = this.ref ? killTreesSync([this.ref]) : []
    await within(this.exited, 5000)
    await waitGone(victims)
    await rm(this.dir, { recursive: true, force: true })
    releaseDir(this.dir)
  }
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'adt-nginx-'))
  // The workers (another account) must be able to reach the temp paths the master creates here.
  await chmod(dir, 0o755)
  // Relative includes resolve against the configuration's directory: Debian's PHP snippets
  // (snippets/fastcgi-php.conf, which includes fastcgi.conf) are linked in from /etc/nginx.
  if (options.php) {
    await symlink('/etc/nginx/snippets', path.join(dir, 'snippets'))
    await symlink('/etc/nginx/fastcgi.conf', path.join(dir, 'fastcgi.conf'))
  }
  const instance = new NginxInstance(dir, options)
  instance.cancelExitCleanup = onProcessExit(() => instance.killSync())
  guardDir(dir)
  try {
    await instance.start()
    return instance
  } catch (error) {
    await instance.stop()
    throw error
  }
}
