/**
 * Jump hosts (bastions): the deploy's connections tunnel through one SSH connection to each hop,
 * in order, over ssh2 itself (a direct-tcpip channel per connection, RFC 4254 section 7.2), like
 * OpenSSH's `ssh -J`, with no local ssh binary and no key on disk. Each hop's host key is
 * verified like a server's. The chain is opened once and shared by every server of the run.
 */
import type { Duplex } from 'node:stream'
import { ConnectionError, messageOf } from '../errors.js'
import type { HostKeyPolicy } from './known-hosts.js'
import type { Server } from './servers.js'
import {
  openConnection,
  type Credentials,
  type OpenConnection,
  type Tunnel
} from './ssh-connect.js'

/** One hop: where it is, and how to log in there. */
export interface JumpHost extends Credentials {
  server: Server
}

export interface JumpChainOptions {
  hostKeys: HostKeyPolicy
  /** Seconds for each hop's connection, and for each tunnel's open. */
  timeoutSeconds: number
  warn?: (message: string) => void
  debug?: (line: string) => void
}

export class JumpChain {
  private connecting: Promise<OpenConnection> | undefined
  private readonly opened: OpenConnection[] = []

  constructor(
    private readonly hops: JumpHost[],
    private readonly options: JumpChainOptions
  ) {
    if (hops.length === 0) throw new Error('a jump chain needs at least one hop')
  }

  /** How a server is reached through the chain: ConnectOptions.tunnel. */
  readonly tunnel: Tunnel = async (host, port) => {
    const connecting = (this.connecting ??= this.connect())
    // A failed chain is tried afresh by the next tunnel (a reconnect to switch a server back).
    connecting.catch(() => {
      if (this.connecting === connecting) this.connecting = undefined
    })
    const last = await connecting
    return this.forward(last, this.hops[this.hops.length - 1]!.server, host, port)
  }

  private async connect(): Promise<OpenConnection> {
    let previous: { connection: OpenConnection; server: Server } | undefined
    for (const hop of this.hops) {
      const through = previous
      const connection = await openConnection({
        server: hop.server,
        hostKeys: this.options.hostKeys,
        ...(hop.privateKey !== undefined ? { privateKey: hop.privateKey } : {}),
        ...(hop.passphrase !== undefined ? { passphrase: hop.passphrase } : {}),
        ...(hop.password !== undefined ? { password: hop.password } : {}),
        timeoutSeconds: this.options.timeoutSeconds,
        role: 'jump host',
        // A jump host only forwards: the channels a deploy target starts with would be wasted.
        channelsBehindAuth: false,
        ...(through
          ? {
              tunnel: (host: string, port: number) =>
                this.forward(through.connection, through.server, host, port)
            }
          : {}),
        ...(this.options.warn ? { warn: this.options.warn } : {}),
        ...(this.options.debug ? { debug: this.options.debug } : {})
      })
      // Errors after the connection is up surface on the tunnels through it; once it is gone,
      // the next tunnel connects the chain again.
      connection.client.on('error', () => undefined)
      connection.client.once('close', () => {
        this.connecting = undefined
      })
      this.opened.push(connection)
      previous = { connection, server: hop.server }
    }
    return previous!.connection
  }

  /** A direct-tcpip channel from `via` to host:port, bounded by the timeout. */
  private forward(via: OpenConnection, hop: Server, host: string, port: number): Promise<Duplex> {
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    return new Promise<Duplex>((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        reject(
          new ConnectionError(
            `jump host ${hop.label} did not open a tunnel to ${target} within ${this.options.timeoutSeconds}s (connect-timeout).`
          )
        )
      }, this.options.timeoutSeconds * 1000)
      try {
        // The originator address is only informational (RFC 4254 section 7.2).
        via.client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => {
          if (settled) {
            channel?.close()
            return
          }
          settled = true
          clearTimeout(timer)
          if (error || !channel) {
            reject(
              new ConnectionError(
                `jump host ${hop.label} refused to open a tunnel to ${target} (${messageOf(error)}). Check that it can reach that address, and that its sshd allows it (AllowTcpForwarding, PermitOpen).`
              )
            )
            return
          }
          resolve(channel)
        })
      } catch (error) {
        settled = true
        clearTimeout(timer)
        reject(new ConnectionError(`jump host ${hop.label}: ${messageOf(error)}`))
      }
    })
  }

  /** Close every hop, the last first. */
  close(): void {
    for (const { client, socket } of this.opened.reverse()) {
      client.end()
      socket.destroy()
    }
    this.opened.length = 0
  }
}
