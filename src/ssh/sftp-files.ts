/**
 * The SFTP session of one connection: started once, probed for what the server offers, and the
 * file operations the deploy uses over it (the switch, and uploads where the server has no tar).
 */
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { SFTPWrapper } from 'ssh2'
import { ConnectionError, SwitchRefusedError, messageOf } from '../errors.js'
import { isOpenRefused, type LiveConnection } from './live-connection.js'
import type { RemoteFiles, SftpProbe } from './remote-host.js'
import { sftpExtensions } from './ssh2-internals.js'

export class SftpSession {
  private session: Promise<SFTPWrapper> | undefined
  /** The session once started: only a started one is idle, and can be closed to make room. */
  private started: SFTPWrapper | undefined
  private probed: Promise<SftpProbe> | undefined

  constructor(
    private readonly connection: LiveConnection,
    /** Open with room made for it when sshd's MaxSessions refuses (the exec side's retry). */
    private readonly withRoom: <T>(open: () => Promise<T>) => Promise<T>
  ) {}

  /** One attempt at a session: on the channel opened during authentication, or a new one. */
  private startOnce(): Promise<SFTPWrapper> {
    const { connection } = this
    const early = connection.internals.takeEarly('sftp')
    const started = (async (): Promise<SFTPWrapper> => {
      const opened = early
        ? await connection
            .bounded<SFTPWrapper>(
              'a channel open',
              done =>
                void early.then(
                  c => done(undefined, c),
                  (e: Error) => done(e)
                ),
              sftp => sftp.end()
            )
            .catch(() => undefined)
        : undefined
      if (connection.closed) throw connection.lost()
      return connection.bounded<SFTPWrapper>(
        'the start of SFTP',
        done => {
          if (opened) {
            connection.track(opened)
            connection.internals.startSftpOn(opened, error => {
              if (error) opened.end()
              done(error, opened)
            })
            return
          }
          connection.client.sftp((error, sftp) => {
            if (sftp) connection.track(sftp)
            done(error, sftp)
          })
        },
        sftp => sftp.end()
      )
    })()
    started.then(
      sftp => {
        // A malformed packet from the server ends the session with an 'error' event; the
        // requests in flight fail with it, and an event with no listener would end the process.
        sftp.on('error', () => undefined)
        this.started = sftp
        sftp.once('close', () => {
          if (this.started === sftp) this.started = undefined
        })
      },
      () => undefined
    )
    return started
  }

  /**
   * Whether the server has SFTP, and its extensions, from the first start. A refused channel open
   * (sshd's MaxSessions, with the first script's channel open) says nothing about SFTP: that is
   * 'unknown', and nothing is waited for; the session is started again when it is needed.
   */
  probe(): Promise<SftpProbe> {
    this.probed ??= (async (): Promise<SftpProbe> => {
      const started = this.startOnce()
      this.session ??= started
      try {
        const sftp = await started
        return { state: 'available', extensions: sftpExtensions(sftp) }
      } catch (error) {
        if (this.session === started) this.session = undefined
        if (this.connection.closed) throw this.connection.lost()
        if (isOpenRefused(error))
          return { state: 'unknown', reason: `a channel open was refused (${messageOf(error)})` }
        if (error instanceof ConnectionError) return { state: 'unknown', reason: messageOf(error) }
        return { state: 'missing', reason: messageOf(error) }
      }
    })()
    return this.probed
  }

  /** The session, started (with room made for it) if it is not running. */
  async files(): Promise<RemoteFiles> {
    const probe = await this.probe()
    if (probe.state === 'missing')
      throw new ConnectionError(`${this.connection.label}: the server has no SFTP: ${probe.reason}`)
    const session = (this.session ??= this.withRoom(() => this.startOnce()).catch(error => {
      throw new ConnectionError(`${this.connection.label}: cannot start SFTP: ${messageOf(error)}`)
    }))
    session.then(
      sftp => {
        // Started after all (the probe's open was refused for room): what it found.
        if (probe.state === 'unknown')
          this.probed = Promise.resolve({ state: 'available', extensions: sftpExtensions(sftp) })
      },
      () => {
        if (this.session === session) this.session = undefined
      }
    )
    return session.then(sftp => new SftpFiles(sftp, this.connection))
  }

  /** Start the session now, so its round trips overlap with the work in progress. */
  warmUp(): void {
    void this.probe().catch(() => undefined)
  }

  /** Close the session while it is idle, to free its channel; it starts again when needed. */
  dropIdle(): void {
    const sftp = this.started
    if (!sftp) return
    this.started = undefined
    this.session = undefined
    sftp.end()
  }
}

export class SftpFiles implements RemoteFiles {
  private readonly label: string

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly connection: Pick<LiveConnection, 'label' | 'stalled' | 'idleMs'>
  ) {
    this.label = connection.label
  }

  private call<T>(
    what: string,
    fn: (cb: (error: Error | null | undefined, value?: T) => void) => void
  ): Promise<T> {
    return new Promise((resolve, reject) => {
      // A request the server never answers ends as a timeout (command-timeout), never as a wait
      // for ever.
      const timer = setTimeout(() => reject(this.connection.stalled(what)), this.connection.idleMs)
      try {
        fn((error, value) => {
          clearTimeout(timer)
          if (!error) return resolve(value as T)
          // ssh2 gives SFTP status errors (the server's answer) a numeric code; a request that
          // never got an answer (lost connection) has none.
          const wrapped = new Error(`${what}: ${error.message}`) as Error & { code?: unknown }
          wrapped.code = (error as Error & { code?: unknown }).code
          reject(wrapped)
        })
      } catch (error) {
        clearTimeout(timer)
        reject(new Error(`${what}: ${messageOf(error)}`))
      }
    })
  }

  async swapSymlink(link: string, target: string, temporaryName: string): Promise<string> {
    const dir = link.slice(0, link.lastIndexOf('/'))
    const temporary = `${dir}/${temporaryName}`
    // Three requests sent back to back: one round trip. sftp-server handles them in order, so
    // if the symlink fails the rename fails too and `current` keeps its old target.
    // ssh2 swaps the SSH_FXP_SYMLINK arguments for OpenSSH servers, whose sftp-server takes
    // them in the reverse order of the draft (OpenSSH PROTOCOL, section 4.1).
    const made = this.call<void>(`create ${temporary}`, cb =>
      this.sftp.symlink(target, temporary, cb)
    )
    // posix-rename@openssh.com is rename(2): atomic, and it replaces `link`. Plain SFTP rename
    // never overwrites on OpenSSH (OpenSSH PROTOCOL, section 4.3).
    const renamed = this.call<void>(`rename ${temporary} over ${link}`, cb =>
      this.sftp.ext_openssh_rename(temporary, link, cb)
    )
    const readBack = this.call<string>(`read ${link}`, cb => this.sftp.readlink(link, cb))
    const results = await Promise.allSettled([made, renamed, readBack])
    for (const result of results.slice(0, 2)) {
      if (result.status === 'rejected') {
        const message = `${this.label}: switch failed: ${messageOf(result.reason)}`
        // An answer from the server means the rename did not happen. Without one (the
        // connection dropped), it may have: the caller must find out and put it back.
        const answered = typeof (result.reason as { code?: unknown }).code === 'number'
        throw answered ? new SwitchRefusedError(message) : new ConnectionError(message)
      }
    }
    if (results[2].status === 'rejected')
      throw new Error(`${this.label}: ${messageOf(results[2].reason)}`)
    return results[2].value
  }

  async mkdir(dir: string, mode: number): Promise<void> {
    // The server's umask applies to mkdir's mode (sftp-server's, not the login's): the mode is
    // set again, so a directory has exactly the mode verification expects. Both requests go
    // out together; sftp-server answers them in order.
    await Promise.all([
      this.call<void>(`mkdir ${dir}`, cb => this.sftp.mkdir(dir, { mode }, cb)),
      this.call<void>(`chmod ${dir}`, cb => this.sftp.chmod(dir, mode, cb))
    ])
  }

  async unlink(file: string): Promise<void> {
    await this.call<void>(`remove ${file}`, cb => this.sftp.unlink(file, cb))
  }

  async symlink(target: string, link: string): Promise<void> {
    await this.call<void>(`symlink ${link}`, cb => this.sftp.symlink(target, link, cb))
  }

  async writeFileAtomic(file: string, source: Readable, mode: number, size: number): Promise<void> {
    const dir = file.slice(0, file.lastIndexOf('/'))
    const temporary = `${dir}/.atomic-deploy-${randomBytes(6).toString('hex')}`
    // ssh2's put()/createWriteStream default to mode 0666; the file is created with our mode,
    // and fchmod'ed again because the server's umask applies at open time.
    const handle = await this.call<Buffer>(`create ${file}`, cb =>
      this.sftp.open(temporary, 'wx', { mode }, cb)
    )
    let written = 0
    const pending: Promise<void>[] = []
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        const offset = written
        written += chunk.length
        pending.push(
          this.call<void>(`write ${file}`, cb =>
            this.sftp.write(handle, chunk, 0, chunk.length, offset, err => cb(err))
          )
        )
        // Keep a bounded number of writes in flight: pipelined, but memory stays bounded.
        if (pending.length >= 16) await pending.shift()
      }
      await Promise.all(pending)
      if (written !== size)
        throw new Error(`${file} changed while it was being read (${size} bytes, then ${written})`)
      await this.call<void>(`chmod ${file}`, cb => this.sftp.fchmod(handle, mode, cb))
    } catch (error) {
      // The source failed or was aborted: let the writes in flight settle before closing.
      await Promise.allSettled(pending)
      throw error
    } finally {
      await this.call<void>(`close ${file}`, cb => this.sftp.close(handle, cb)).catch(
        () => undefined
      )
    }
    await this.call<void>(`rename ${file}`, cb => this.sftp.ext_openssh_rename(temporary, file, cb))
  }
}
