/**
 * What ssh2's SFTP client learns about the server and keeps in private fields: the extensions
 * the server announced in its VERSION packet, the request sizes it accepts (from
 * limits@openssh.com, which ssh2 asks for itself), and the channel window the server granted.
 * The pipelined SFTP engine sizes its requests and its bytes in flight from these.
 *
 * This is the only place that reads those fields. Each is checked for the shape it had in the
 * ssh2 version this was tested with (1.17); when one is missing or of another shape, the facts
 * fall back to what the public API and the SFTP draft guarantee, and `fromInternals` says so.
 * test/ssh/sftp-internals.test.ts fails when ssh2 changes shape.
 */
import type { SFTPWrapper } from 'ssh2'

export interface SftpFacts {
  /**
   * Extensions the server announced, name -> version data, or undefined when unknown (then the
   * engine tries an extension and learns from ssh2's refusal to send it).
   */
  extensions: ReadonlyMap<string, string> | undefined
  /** Largest data length of one WRITE request the server takes. */
  maxWriteLength: number
  /** Largest data length of one READ request the server answers in full. */
  maxReadLength: number
  /** Handles the server lets one session hold open. */
  maxOpenHandles: number | undefined
  /** Bytes the server's channel window held when the session started. */
  windowBytes: number | undefined
  /** Whether the private fields had the expected shape. */
  fromInternals: boolean
}

/**
 * The SFTP draft (version 3, section 3) only promises 32,768-byte data packets; ssh2 itself
 * never sends more than 34,000-byte packets to a server it does not know to be OpenSSH.
 */
const SAFE_DATA_LENGTH = 32 * 1024

interface Internals {
  _extensions?: unknown
  _maxWriteLen?: unknown
  _maxReadLen?: unknown
  maxOpenHandles?: unknown
  outgoing?: { window?: unknown }
}

const positive = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0

/** Read what ssh2 learnt about this SFTP session. */
export function sftpFacts(sftp: SFTPWrapper): SftpFacts {
  const internals = sftp as unknown as Internals
  const raw = internals._extensions
  let extensions: Map<string, string> | undefined
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const entries = Object.entries(raw as Record<string, unknown>)
    if (entries.every(([, v]) => typeof v === 'string'))
      extensions = new Map(entries as [string, string][])
  }
  const write = internals._maxWriteLen
  const read = internals._maxReadLen
  // maxOpenHandles is public: undefined before limits@openssh.com answered, Infinity when the
  // server set no limit.
  const handles = internals.maxOpenHandles
  const window = internals.outgoing?.window
  return {
    extensions,
    maxWriteLength: positive(write) ? write : SAFE_DATA_LENGTH,
    maxReadLength: positive(read) ? read : SAFE_DATA_LENGTH,
    maxOpenHandles: positive(handles) ? handles : undefined,
    windowBytes: positive(window) ? window : undefined,
    fromInternals: extensions !== undefined && positive(write) && positive(read)
  }
}

interface ProtocolInternals {
  channelData?: (channel: number, data: Buffer | string) => void
  channelEOF?: (channel: number) => void
  channelClose?: (channel: number) => void
}

interface Gathering {
  /** Data bytes one SSH packet may carry on this channel (the server's maximum packet). */
  max: number
  pending: Buffer[]
  size: number
}

const GATHERED = Symbol('atomic-deploy: SFTP requests gathered into packets')

/**
 * Gather the SFTP requests sent in one turn of the event loop into as few SSH packets as the
 * channel's maximum packet size allows. ssh2 sends every SFTP request as an SSH packet of its
 * own, and seals each one with a cipher object made for it (AES-GCM: a createCipheriv per
 * packet): at thousands of small requests (hard links, renames) that is most of the runner's CPU
 * time. SFTP is a byte stream inside the channel (draft-ietf-secsh-filexfer-02, section 3), so
 * where the packets begin and end does not matter to the server; the channel window is counted
 * by ssh2 before the bytes reach here, and the order of the bytes is kept. Returns false (and
 * changes nothing) when ssh2's protocol object does not have the expected shape.
 */
export function gatherSftpPackets(sftp: SFTPWrapper): boolean {
  const internals = sftp as unknown as {
    _protocol?: ProtocolInternals & { [GATHERED]?: Map<number, Gathering> }
    outgoing?: { id?: unknown; packetSize?: unknown }
  }
  const proto = internals._protocol
  const channel = internals.outgoing?.id
  const packetSize = internals.outgoing?.packetSize
  if (
    !proto ||
    typeof proto.channelData !== 'function' ||
    typeof proto.channelEOF !== 'function' ||
    typeof proto.channelClose !== 'function' ||
    typeof channel !== 'number' ||
    !positive(packetSize)
  )
    return false
  let channels = proto[GATHERED]
  if (!channels) {
    const gathered = new Map<number, Gathering>()
    channels = gathered
    proto[GATHERED] = gathered
    const send = proto.channelData.bind(proto)
    const eof = proto.channelEOF.bind(proto)
    const close = proto.channelClose.bind(proto)
    const flush = (id: number): void => {
      const g = gathered.get(id)
      if (!g || g.size === 0) return
      const data = g.pending.length === 1 ? (g.pending[0] as Buffer) : Buffer.concat(g.pending)
      g.pending = []
      g.size = 0
      send(id, data)
    }
    proto.channelData = (id, data) => {
      const g = gathered.get(id)
      if (!g || !Buffer.isBuffer(data)) {
        send(id, data)
        return
      }
      if (g.size + data.length > g.max) flush(id)
      if (data.length >= g.max) {
        send(id, data)
        return
      }
      if (g.size === 0) process.nextTick(flush, id)
      g.pending.push(data)
      g.size += data.length
    }
    proto.channelEOF = id => {
      flush(id)
      eof(id)
    }
    proto.channelClose = id => {
      flush(id)
      gathered.delete(id)
      close(id)
    }
  }
  // Packet headers (type, channel, length) take 9 bytes of the maximum packet.
  channels.set(channel, { max: Math.max(1024, packetSize - 9), pending: [], size: 0 })
  return true
}
