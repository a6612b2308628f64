/**
 * What an exec channel reported before anything read it: its exit status and whether it
 * closed. ssh2 emits both at once, as their packets are parsed, and a short script's arrive in
 * the same read as the exec request's answer; so every exec channel is watched from the moment
 * it exists (exec-channels.ts, and ssh2-internals.ts for a channel whose script went out with
 * its open), and its runner reads what was recorded.
 */
import type { ClientChannel } from 'ssh2'

/** Exit status of each channel, recorded from the moment it is open. */
export const exits = new WeakMap<ClientChannel, { code: number | null; signal?: string }>()
/** Channels already closed, for the same reason. */
export const closedChannels = new WeakSet<ClientChannel>()

/** Record `channel`'s exit status and close from now on. */
export function watchChannel(channel: ClientChannel): void {
  channel.on('exit', (code: number | null, signalName?: string) => {
    exits.set(channel, { code: typeof code === 'number' ? code : null, signal: signalName })
  })
  channel.once('close', () => closedChannels.add(channel))
  // A channel error (the connection dropped) is reported through the run's result.
  channel.on('error', () => undefined)
}
