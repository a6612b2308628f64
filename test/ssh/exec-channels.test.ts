/**
 * The exec channels against a hand-written connection (our LiveConnection over a fake client and
 * fake internals): where a script went right behind the spare's exec request and the server
 * never answered that request, the script is not sent again on another channel, where it would
 * run a second time if the server was only slow.
 */
import { EventEmitter } from 'node:events'
import { Readable, type Duplex } from 'node:stream'
import type { ClientChannel } from 'ssh2'
import { describe, expect, it, vi } from 'vitest'
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

/** Exec channels on our LiveConnection over a fake client, whose exec() is `exec`. */
function execChannels(
  internals: ConnectionInternals,
  exec: (command: string, cb: (error: Error | undefined, channel: ClientChannel) => void) => void,
  timeoutMs: number
): ExecChannels {
  const client = Object.assign(new EventEmitter(), { exec })
  const connection = new LiveConnection(
    'deploy@web1:22',
    client as never,
    new EventEmitter() as unknown as Duplex,
    internals,
    timeoutMs
  )
  return new ExecChannels(connection, () => undefined)
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
    const channels = execChannels(
      internals,
      (command: string) => {
        execs.push(command)
      },
      300
    )
    channels.ensureSpare()
    await expect(channels.run('echo once')).rejects.toThrow(/no answer to an exec request/)
    // The script went behind the spare's request, once, and nowhere else.
    expect(behind).toHaveLength(1)
    expect(execs).toEqual([])
  })
})

/** A channel that records what is written to it, and closes once ended. */
function recordingChannel(): { channel: ClientChannel; written: Buffer[]; ended: () => boolean } {
  const channel = silentChannel() as unknown as EventEmitter & Record<string, unknown>
  const written: Buffer[] = []
  let ended = false
  Object.assign(channel, {
    write: (data: Buffer) => {
      written.push(Buffer.from(data))
      return true
    },
    end: () => {
      ended = true
      setImmediate(() => channel.emit('close'))
    }
  })
  return { channel: channel as unknown as ClientChannel, written, ended: () => ended }
}

describe("a script's stdin sent behind the spare exec request", () => {
  it('goes again, whole and after the script, on a channel of its own when the server refused that request', async () => {
    const behind: Buffer[] = []
    let answer: (error?: Error) => void = () => undefined
    const internals = {
      takeAhead: () => undefined,
      takeEarly: (kind: string) =>
        kind === 'spare' ? Promise.resolve(silentChannel()) : undefined,
      execOn: (_c: ClientChannel, _command: string, _payload: unknown, cb: typeof answer) => {
        answer = cb
        return false
      },
      sendBehind: (_channel: ClientChannel, data: Buffer) => {
        behind.push(Buffer.from(data))
        return true
      },
      eofBehind: () => {
        behind.push(Buffer.from('EOF'))
        return true
      },
      dropEarly: () => undefined
    } as unknown as ConnectionInternals
    const own = recordingChannel()
    const channels = execChannels(
      internals,
      (_command: string, cb: (error: Error | undefined, channel: ClientChannel) => void) =>
        cb(undefined, own.channel),
      5000
    )
    channels.ensureSpare()
    const running = channels.run('cat > /dev/null', {
      stdin: Readable.from([Buffer.from('part one, '), Buffer.from('part two')])
    })
    // The script, both parts and the end went behind the request, before any answer.
    await vi.waitFor(() => expect(behind).toHaveLength(4))
    expect(behind.slice(1).map(b => b.toString())).toEqual(['part one, ', 'part two', 'EOF'])
    answer(new Error('Unable to exec'))
    await running
    // Nothing of it ran there: the channel of its own got the script, then all of the stdin.
    expect(own.written[0]!.equals(behind[0]!)).toBe(true)
    expect(Buffer.concat(own.written.slice(1)).toString()).toBe('part one, part two')
    expect(own.ended()).toBe(true)
  })
})
