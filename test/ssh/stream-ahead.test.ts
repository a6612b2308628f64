/**
 * A script's stdin sent behind its exec request before the server's answer (StreamAhead), against
 * a hand-written sender and channel: what goes ahead and what waits, in order, and all of it
 * again on another channel when the server refused the request it went behind.
 */
import { PassThrough, Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { StreamAhead, type AheadSender } from '../../src/ssh/stream-ahead.ts'

/** A sender with room for `room` bytes, recording what it sent and whether it sent the end. */
function sender(room: number, canEnd = true): AheadSender & { sent: string[]; ended: boolean } {
  const s = {
    sent: [] as string[],
    ended: false,
    data(chunk: Buffer): boolean {
      if (chunk.length > room) return false
      room -= chunk.length
      s.sent.push(chunk.toString())
      return true
    },
    end(): boolean {
      if (!canEnd) return false
      s.ended = true
      return true
    }
  }
  return s
}

/** A channel that records what is written to it, and resolves `done` when it is ended. */
function channel(): { stream: Writable; got: string[]; done: Promise<void> } {
  const got: string[] = []
  let ended: () => void = () => undefined
  const done = new Promise<void>(resolve => (ended = resolve))
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      got.push(chunk.toString())
      callback()
    },
    final(callback) {
      ended()
      callback()
    }
  })
  return { stream, got, done }
}

const tick = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

describe('a script stdin sent ahead of the exec answer', () => {
  it('sends the whole of a small stream and its end behind the request; the channel then only ends', async () => {
    const source = new PassThrough()
    const send = sender(1024)
    const ahead = new StreamAhead(source, send)
    source.write('one ')
    source.end('two')
    await tick()
    expect(send.sent.join('')).toBe('one two')
    expect(send.ended).toBe(true)
    const c = channel()
    ahead.into(c.stream)
    await c.done
    expect(c.got).toEqual([])
  })

  it('holds what finds no room and waits, paused, for the answer; then the rest follows in order', async () => {
    const source = new PassThrough()
    const send = sender(4)
    const ahead = new StreamAhead(source, send)
    source.write('abcd')
    await tick()
    source.write('efgh')
    await tick()
    source.write('ijkl')
    await tick()
    // The first chunk went; the second found no room and stopped the flow.
    expect(send.sent).toEqual(['abcd'])
    expect(source.isPaused()).toBe(true)
    const c = channel()
    ahead.into(c.stream)
    source.end('mnop')
    await c.done
    expect(c.got.join('')).toBe('efghijklmnop')
    expect(send.ended).toBe(false)
  })

  it('sends nothing more behind the request once stopped (the answer came)', async () => {
    const source = new PassThrough()
    const send = sender(1024)
    const ahead = new StreamAhead(source, send)
    source.write('early')
    await tick()
    ahead.stop()
    source.end('late')
    await tick()
    expect(send.sent).toEqual(['early'])
    expect(send.ended).toBe(false)
    const c = channel()
    ahead.into(c.stream)
    await c.done
    expect(c.got.join('')).toBe('late')
  })

  it('gives a channel of its own all of it when the server refused the request it went behind', async () => {
    const source = new PassThrough()
    const send = sender(6)
    const ahead = new StreamAhead(source, send)
    source.write('first ')
    await tick()
    source.write('second ')
    await tick()
    const c = channel()
    ahead.into(c.stream, true)
    source.end('third')
    await c.done
    expect(c.got.join('')).toBe('first second third')
  })

  it('ends the channel when the end could not go behind the request', async () => {
    const source = new PassThrough()
    const ahead = new StreamAhead(source, sender(1024, false))
    source.end('all')
    await tick()
    const c = channel()
    ahead.into(c.stream)
    await c.done
    expect(c.got).toEqual([])
  })

  it('ends the channel when the stream failed while ahead (the script sees it cut short)', async () => {
    const source = new PassThrough()
    const send = sender(1024)
    const ahead = new StreamAhead(source, send)
    source.write('part')
    await tick()
    source.destroy(new Error('read failed'))
    await tick()
    expect(send.ended).toBe(false)
    const c = channel()
    ahead.into(c.stream)
    await c.done
    expect(send.sent).toEqual(['part'])
  })

  it('ends the channel when the stream failed after the answer came, before the channel took it', async () => {
    const source = new PassThrough()
    const ahead = new StreamAhead(source, sender(1024))
    source.write('part')
    await tick()
    ahead.stop()
    source.destroy(new Error('read failed'))
    await tick()
    const c = channel()
    ahead.into(c.stream, true)
    await c.done
    expect(c.got).toEqual(['part'])
  })
})
