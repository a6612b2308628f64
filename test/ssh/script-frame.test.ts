/**
 * A script's gzipped frame: the constant tail compressed once, the whole one gzip member that
 * gzip and BusyBox read back byte for byte.
 */
import { execFileSync } from 'node:child_process'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { framed, scriptText } from '../../src/ssh/script-frame.ts'
import { INSPECT_SH, RELEASE_SH } from '../../src/server/scripts.generated.ts'

/** The gzip data of a frame, after its `z<length>\n` line. */
function gzipData(frame: Buffer): Buffer {
  const nl = frame.indexOf(10)
  const header = frame.subarray(0, nl).toString()
  expect(header).toMatch(/^z\d+$/)
  const data = frame.subarray(nl + 1)
  expect(data.length).toBe(Number(header.slice(1)))
  return data
}

const body = `${RELEASE_SH.text}\n# ünïcödé ✓\n`
const parts = [
  { head: `A='1'\nreadonly A\n`, tail: body },
  {
    head: `A='a much longer value, with quotes '\\'' and a newline\n'\nB=''\nreadonly A B\n`,
    tail: body
  },
  { head: '', tail: body }
]
const scripts = parts.map(scriptText)

describe('framed', () => {
  it('sends a script as it is, after its length in bytes, without compression', () => {
    const script = 'echo ✓\n'
    expect(framed(script, false).toString()).toBe(`${Buffer.byteLength(script)}\n${script}`)
  })

  it('gzips a script without a known tail whole', () => {
    const script = `X=1\n${INSPECT_SH.text}`
    expect(gunzipSync(gzipData(framed(script, true))).toString()).toBe(script)
  })

  it('deflates a known tail apart: scripts with other preludes end in the same bytes', () => {
    const frames = parts.map(s => gzipData(framed(s, true)))
    for (const [i, frame] of frames.entries()) expect(gunzipSync(frame).toString()).toBe(scripts[i])
    // Everything but the trailer (CRC-32 and length) ends alike: the tail's deflate data.
    const ends = frames.map(f => f.subarray(f.length - 8 - 2000, f.length - 8))
    expect(ends[1]?.equals(ends[0] as Buffer)).toBe(true)
    expect(ends[2]?.equals(ends[0] as Buffer)).toBe(true)
    // One member: no second gzip header after the first.
    for (const f of frames) expect(f.indexOf(Buffer.from([0x1f, 0x8b, 8]), 1)).toBe(-1)
  })

  it('reads back each script whole when heads repeat and alternate, as on servers of a group', () => {
    // The same head again (the next server of a group), another between, then the first again.
    for (const i of [0, 0, 1, 0, 1, 1, 2, 0]) {
      expect(gunzipSync(gzipData(framed(parts[i]!, true))).toString()).toBe(scripts[i])
    }
    // Another tail after the same head: still that head and the new tail.
    const other = { head: parts[0]!.head, tail: `${INSPECT_SH.text}\n` }
    expect(gunzipSync(gzipData(framed(other, true))).toString()).toBe(scriptText(other))
  })

  it.each([
    ['gzip', ['-dc']],
    ['busybox', ['gzip', '-dc']]
  ])('is read back whole by %s', (command, args) => {
    for (const [i, script] of scripts.entries()) {
      const out = execFileSync(command, args, { input: gzipData(framed(parts[i]!, true)) })
      expect(out.toString()).toBe(script)
    }
  })
})
