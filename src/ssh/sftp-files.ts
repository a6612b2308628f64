/**
 * The SFTP session of one connection: started once, probed for what the server offers, and its
 * pipelined engine (src/sftp/sftp-engine.ts), which every file operation of the deploy goes
 * through: the switch, uploads, and all of an SFTP-only deploy.
 */
import type { SFTPWrapper } from 'ssh2'
import { ConnectionError, messageOf } from '../errors.js'
import { SftpEngine } from '../sftp/sftp-engine.js'
import { isOpenRefused, type LiveConnection } from './live-connection.js'
import type { RemoteFiles, SftpProbe } from './remote-host.js'
import { gatherSftpPackets, sftpExtensions, sftpFacts } from './ssh2-internals.js'

export class SftpSession {
  private session: Promise<SFTPWrapper> | undefined
  /** The session once started: only a started one is idle, and can be closed to make room. */
  private started: SFTPWrapper | undefined
  private probed: Promise<SftpProbe> | undefined
  private engine: { sftp: SFTPWrapper; engine: SftpEngine } | undefined
  private gathering = false

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
    return session.then(sftp => this.engineOf(sftp))
  }

  /** The engine of a session: one per session, so its bounds hold across callers. */
  private engineOf(sftp: SFTPWrapper): SftpEngine {
    if (this.engine?.sftp !== sftp) {
      gatherSftpPackets(sftp)
      const { connection } = this
      const engine = new SftpEngine(
        sftp,
        connection.label,
        sftpFacts(sftp),
        {},
        () => this.gather(),
        // command-timeout bounds every SFTP request, as it bounds every script. A session given
        // up is forgotten at once (a server that answers nothing may never confirm the channel's
        // close): the next caller starts a new one.
        {
          ms: connection.idleMs,
          stalled: what => {
            this.forget(sftp)
            return connection.stalled(what)
          }
        }
      )
      this.engine = { sftp, engine }
    }
    return this.engine.engine
  }

  /**
   * Hold the socket's writes until the end of this turn of the event loop. ssh2 writes each
   * packet on its own, and the pipelined SFTP engine sends many requests in one turn: gathered,
   * they leave in one system call and a few TCP segments.
   */
  private gather(): void {
    const { socket } = this.connection
    if (this.gathering || typeof (socket as { cork?: unknown }).cork !== 'function') return
    this.gathering = true
    socket.cork()
    process.nextTick(() => {
      this.gathering = false
      socket.uncork()
    })
  }

  /** Let go of a session given up: the next caller starts another. */
  private forget(sftp: SFTPWrapper): void {
    if (this.engine?.sftp !== sftp) return
    this.engine = undefined
    this.session = undefined
    if (this.started === sftp) this.started = undefined
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
