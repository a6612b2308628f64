/**
 * The exec channels against a hand-written connection (our LiveConnection over a fake client and
 * fake internals): where a script went right behind the spare's exec request and the server
 * never answered that request, the script is not sent again on another channel, where it would
 * run a second time if the server was only slow.
 */
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import type { ClientChannel } from 'ssh2'
import { describe, expect, it } from 'vitest'
import { ExecChannels } from '../../src/ssh/exec-channels.ts'
import { LiveConnection } from '../../src/ssh/live-connection.ts'
import type { ConnectionInternals } from '../../src/ssh/ssh2-internals.ts'

/** A channel that is open and never hears back. */
function silentChannel(): ClientChannel {
  const channel = new EventEmitter() as EventEmitter & Record<string, unknown>
  const stderr = new EventEmitter() as EventEmitter & Record<string, unknown>
  stderr.resume = () => stderr
  Object.assign(channel, {
    stderr,
    resume: () => channel,
    close: () => undefined,
    end: () => undefined,
    write: () => true
  })
  return channel as unknown as ClientChannel
}

describe('a script sent behind the spare exec request', () => {
  it('is not sent again elsewhere when that request goes unanswered', async () => {
    const behind: Buffer[] = []
    const execs: string[] = []
    const internals = {
      takeAhead: () => undefined,
      takeEarly: (kind: string) =>
        kind === 'spare' ? Promise.resolve(silentChannel()) : undefined,
      // The exec request goes out; its answer never comes.
      execOn: () => false,
      sendBehind: (_channel: ClientChannel, data: Buffer) => {
        behind.push(data)
        return true
      },
      dropEarly: () => undefined
    } as unknown as ConnectionInternals
    const client = Object.assign(new EventEmitter(), {
      exec: (command: string) => {
        execs.push(command)
      }
    })
    const connection = new LiveConnection(
      'deploy@web1:22',
      client as never,
      new EventEmitter() as unknown as Duplex,
      internals,
      300
    )
    const channels = new ExecChannels(connection, () => undefined)
    channels.ensureSpare()
    await expect(channels.run('echo once')).rejects.toThrow(/no answer to an exec request/)
    // The script went behind the spare's request, once, and nowhere else.
    expect(behind).toHaveLength(1)
    expect(execs).toEqual([])
  })
})
