/**
 * A RemoteHost over one ssh2 connection: the connection (ssh-connect.ts), its exec channels
 * (exec-channels.ts) and its SFTP session (sftp-files.ts).
 */
import type { RemoteFiles, RemoteHost, RunOptions, RunResult, SftpProbe } from './remote-host.js'
import { ExecChannels } from './exec-channels.js'
import type { Script } from './script-frame.js'
import { LiveConnection } from './live-connection.js'
import { SftpSession } from './sftp-files.js'
import { openConnection, type ConnectOptions, type OpenConnection } from './ssh-connect.js'

export type { ConnectOptions } from './ssh-connect.js'

/** command-timeout's default: a hook may run silently for up to 10 minutes. */
export const DEFAULT_COMMAND_TIMEOUT_SECONDS = 600

/** Open one SSH connection to a server, verifying its host key before authentication. */
export async function connectSsh(options: ConnectOptions): Promise<SshRemoteHost> {
  const opened = await openConnection(options)
  return new SshRemoteHost(
    options.server.label,
    opened,
    options.timeoutSeconds * 1000,
    (options.commandTimeoutSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS) * 1000,
    options.exec ?? true
  )
}

/** A RemoteHost over one ssh2 connection: one SFTP session and few exec channels. */
export class SshRemoteHost implements RemoteHost {
  private readonly connection: LiveConnection
  private readonly channels: ExecChannels
  private readonly sftp: SftpSession

  constructor(
    readonly label: string,
    opened: OpenConnection,
    /** Bound on each channel open and SFTP start. */
    timeoutMs: number,
    /** command-timeout: how long a script or SFTP request may go without progress. */
    idleMs = DEFAULT_COMMAND_TIMEOUT_SECONDS * 1000,
    /** Whether commands may run (false with `shell: none`: the connection carries SFTP alone). */
    readonly exec = true
  ) {
    this.connection = new LiveConnection(
      label,
      opened.client,
      opened.socket,
      opened.internals,
      timeoutMs,
      idleMs
    )
    this.channels = new ExecChannels(this.connection, () => this.sftp.dropIdle())
    this.sftp = new SftpSession(this.connection, open => this.channels.withRoom(open))
  }

  get software(): string | undefined {
    return this.connection.internals.software
  }

  get pipelined(): boolean {
    return this.connection.internals.pipelined
  }

  firstScriptSent(): boolean {
    return this.connection.internals.firstScriptSent()
  }

  /**
   * Start opening what the next steps will need (one spare exec channel and the SFTP session), so
   * their round trips overlap with the work in progress.
   */
  warmUp(): void {
    if (this.exec) this.channels.ensureSpare()
    this.sftp.warmUp()
  }

  run(script: Script, options?: RunOptions): Promise<RunResult> {
    if (!this.exec)
      return Promise.reject(
        new Error(`${this.label}: no command may run on this connection (shell: none)`)
      )
    return this.channels.run(script, options)
  }

  probeSftp(): Promise<SftpProbe> {
    return this.sftp.probe()
  }

  files(): Promise<RemoteFiles> {
    return this.sftp.files()
  }

  get connected(): boolean {
    return !this.connection.closed
  }

  close(): void {
    this.channels.close()
    this.connection.internals.dropEarly()
    this.connection.client.end()
    // DISCONNECT is written (the kernel still delivers it after the socket is closed); waiting
    // for the server's FIN would only keep the process alive one more round trip.
    const { socket } = this.connection
    if (socket.writableLength === 0) socket.destroy()
    else socket.once('finish', () => socket.destroy())
  }
}
