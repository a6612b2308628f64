/**
 * What the server scripts print: result lines `!key value` on stdout, and binary sections
 * `!blob <name> <length>` followed by exactly that many bytes (a gzipped manifest, say).
 */

/** What one script printed: `!key value` lines and `!blob name length` sections. */
export interface ScriptOutput {
  lines: string[]
  blobs: Map<string, Buffer>
}

export function parseScriptOutput(stdout: Buffer): ScriptOutput {
  const lines: string[] = []
  const blobs = new Map<string, Buffer>()
  let pos = 0
  while (pos < stdout.length) {
    let nl = stdout.indexOf(0x0a, pos)
    if (nl < 0) nl = stdout.length
    const line = stdout.subarray(pos, nl).toString('utf8')
    pos = nl + 1
    const blob = /^!blob (\S+) (\d+)$/.exec(line)
    if (blob) {
      const length = Number(blob[2])
      blobs.set(blob[1], stdout.subarray(pos, pos + length))
      pos += length
    } else if (line.startsWith('!')) {
      lines.push(line.slice(1))
    }
  }
  return { lines, blobs }
}

/** Values of `!key value` lines for one key. */
export function values(output: ScriptOutput, key: string): string[] {
  const prefix = `${key} `
  return output.lines.filter(l => l.startsWith(prefix)).map(l => l.slice(prefix.length))
}

export function value(output: ScriptOutput, key: string): string | undefined {
  return values(output, key)[0]
}

/** An `error <kind> <message>` line, if the script printed one. */
export function scriptError(output: ScriptOutput): { kind: string; message: string } | undefined {
  const line = value(output, 'error')
  if (line === undefined) return undefined
  const space = line.indexOf(' ')
  return space < 0
    ? { kind: line, message: line }
    : { kind: line.slice(0, space), message: line.slice(space + 1) }
}
