/**
 * A script as the bootstrap reads it from stdin (see BOOTSTRAP), gzipped where the server has
 * gzip. Most scripts are a short prelude of values and a long constant text (a server script's
 * body), given apart (ScriptParts): the constant text is compressed once per process, not once
 * per server and script.
 */
import { constants, crc32, deflateRawSync, gzipSync } from 'node:zlib'

/**
 * A script as it is sent: `head`, which differs from run to run (a server script's values), then
 * `tail`, a constant text that ends many scripts (the server script's body), compressed once.
 * A plain string is a script with no constant part.
 */
export interface ScriptParts {
  head: string
  tail: string
}

export type Script = string | ScriptParts

/**
 * A connection's first script, framed as it is sent, and what follows it on its stdin once
 * known: it may go out during authentication (ssh2-internals.ts, execBehindOpen).
 */
export interface FirstScript {
  script: Buffer
  follow?: Promise<Buffer>
}

/** The whole text of a script. */
export function scriptText(script: Script): string {
  return typeof script === 'string' ? script : script.head + script.tail
}

/**
 * Raw deflate data made so far, by text: the tails (the server scripts are a dozen), and the
 * heads, which are the same on every server of a group whose plans are the same. Each
 * deflateRawSync call sets up a fresh zlib state of about 270 kB, which cost a tenth of a
 * millisecond to half of one per script here. Bounded: past MAX_TAILS or MAX_HEADS the oldest
 * goes, and a head over MAX_HEAD_TEXT characters (a plan of many paths) is not kept.
 */
const tails = new Map<string, Buffer>()
const MAX_TAILS = 64
const heads = new Map<string, Buffer>()
const MAX_HEADS = 16
const MAX_HEAD_TEXT = 256 * 1024

function remembered(
  made: Map<string, Buffer>,
  max: number,
  text: string,
  make: () => Buffer
): Buffer {
  let data = made.get(text)
  if (!data) {
    data = make()
    if (made.size >= max) made.delete(made.keys().next().value as string)
    made.set(text, data)
  }
  return data
}

/** Level 6: as small as 9 for these texts (within 0.2%), in three quarters of the time. */
const LEVEL = 6

/**
 * A script as the bootstrap reads it from stdin: its length in bytes, a newline, the script; or,
 * gzipped, `z`, the length of the gzip data, a newline, the data.
 *
 * The gzip data is one member (RFC 1952) whatever the script: a script with a constant tail is
 * deflated in two parts, the head ending in a full flush (byte-aligned, no reference to it
 * after), then the tail's deflate data made once, whose references stay within itself. Any
 * inflater reads the two as one stream (as pigz writes its blocks); the CRC-32 and length in the
 * trailer are the whole script's.
 */
export function framed(script: Script, compress: boolean): Buffer {
  const text = scriptText(script)
  if (!compress) return Buffer.from(`${Buffer.byteLength(text)}\n${text}`)
  const data =
    typeof script === 'string' || script.tail === ''
      ? gzipSync(text, { level: LEVEL })
      : twoPartGzip(script, text)
  return Buffer.concat([Buffer.from(`z${data.length}\n`), data])
}

function twoPartGzip({ head, tail }: ScriptParts, text: string): Buffer {
  const tailData = remembered(tails, MAX_TAILS, tail, () => deflateRawSync(tail, { level: LEVEL }))
  const deflateHead = (): Buffer =>
    deflateRawSync(head, { level: LEVEL, finishFlush: constants.Z_FULL_FLUSH })
  const headData =
    head.length > MAX_HEAD_TEXT ? deflateHead() : remembered(heads, MAX_HEADS, head, deflateHead)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc32(text) >>> 0, 0)
  trailer.writeUInt32LE(Buffer.byteLength(text) % 2 ** 32, 4)
  return Buffer.concat([GZIP_HEADER, headData, tailData, trailer])
}

/** ID1 ID2, CM deflate, no flags, no mtime, no extra flags, OS unknown. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])
