/**
 * How values reach a server script without ever becoming script text.
 *
 * Each script in src/server/scripts/*.sh is constant text; scripts.generated.ts carries it into
 * the bundle with the parameters its `# @param` lines declare. To run one, the runner sends a
 * prelude of assignments followed by that text (through the bootstrap, on stdin):
 *
 *     NAME='value'
 *     LIST=''\''first word'\'' second'
 *     readonly NAME LIST
 *
 * Every value goes through `quote()` (POSIX single quotes, in which nothing is special but the
 * quote itself), so whatever it holds (quotes, `$()`, backticks, newlines, backslashes, leading
 * dashes, unicode) is data. A flag is `1` or empty. A list is one variable holding its words,
 * each quoted again; the script expands it with `eval "set -- $LIST"`, which gives back exactly
 * the words, since the text eval parses was built by `quote()` alone. Values are checked against
 * the declared kinds here, and `readonly` keeps a script from overwriting one by accident.
 */
import { quote } from '../shell-quote.js'
import type { ScriptParts } from '../ssh/script-frame.js'

/** `string`, `flag` (boolean), `list` (string[]), or one of the given words. */
export type ParamKind = 'string' | 'flag' | 'list' | readonly string[]

/** One server script: its file name, declared parameters and constant text. */
export interface ServerScript<Values> {
  name: string
  params: { readonly [K in keyof Values]: ParamKind }
  text: string
}

/** The prelude that assigns `values` to the script's parameters, refusing anything undeclared. */
export function prelude<Values>(script: ServerScript<Values>, values: Values): string {
  const params = script.params as Record<string, ParamKind>
  const given = values as Record<string, unknown>
  const lines: string[] = []
  for (const name of Object.keys(given)) {
    if (!(name in params)) throw new Error(`${script.name} has no parameter ${name}`)
  }
  for (const [name, kind] of Object.entries(params)) {
    const value = given[name]
    const wrong = (expected: string): Error =>
      new Error(`${script.name}: parameter ${name} must be ${expected}`)
    if (kind === 'flag') {
      if (typeof value !== 'boolean') throw wrong('a boolean')
      lines.push(`${name}=${value ? '1' : "''"}`)
    } else if (kind === 'list') {
      if (!Array.isArray(value) || value.some(v => typeof v !== 'string'))
        throw wrong('a list of strings')
      lines.push(`${name}=${quote((value as string[]).map(v => quote(v)).join(' '))}`)
    } else if (kind === 'string') {
      if (typeof value !== 'string') throw wrong('a string')
      lines.push(`${name}=${quote(value)}`)
    } else {
      if (typeof value !== 'string' || !kind.includes(value))
        throw wrong(`one of ${kind.join(', ')}`)
      lines.push(`${name}=${quote(value)}`)
    }
  }
  const names = Object.keys(params)
  if (names.length > 0) lines.push(`readonly ${names.join(' ')}`)
  return lines.map(l => `${l}\n`).join('')
}

/**
 * What is sent to the server: the prelude, then the script's text, given apart (the same text
 * ends this script on every server: it is gzipped once, see framed).
 */
export function withValues<Values>(script: ServerScript<Values>, values: Values): ScriptParts {
  return { head: prelude(script, values), tail: script.text }
}
