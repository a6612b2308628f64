/**
 * Turn the server scripts, src/server/scripts/*.sh, into src/server/scripts.generated.ts: one
 * `ServerScript` per file, holding its text (with the lib/ files it includes inlined) and the
 * parameters its `# @param` lines declare, with a TypeScript type for its values. The bundle and
 * the tests both import that module, so dist/index.js carries the scripts as text (nothing is
 * read from beside it at run time) and the tests run exactly the text the action sends.
 *
 * `node scripts/generate-server-scripts.ts [--check]` (Node 24 strips the types); `npm run
 * bundle` (and so `npm test`) runs it first, `npm run lint` runs it with `--check`, which fails
 * when the committed module differs from the .sh files.
 *
 * The rules it enforces, each with a clear message:
 * - `. ./lib/<name>.sh` includes a file of lib/ (once per script; ShellCheck follows the same
 *   line with `-x`). Nothing else is sourced.
 * - `# @param NAME KIND description`: NAME is upper case (3 or more characters, so it never
 *   collides with the scripts' own one-letter variables), not a variable the shell or the tools
 *   use (PATH, IFS, LC_ALL...); KIND is `string`, `flag`, `list` or `a|b|c` (one of these words).
 * - Every declared parameter is used, never assigned, and every upper-case variable a script
 *   reads is a parameter or assigned in it, but for LC_ALL and SHELL (the login shell, which
 *   sshd and Dropbear set for every session; the inspect script reports it).
 * - Lines whose first non-blank character is `#` are comments and stay out of the bundle, as do
 *   blank lines; so no here-document (`<<`) and no quoted string spanning lines.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import * as prettier from 'prettier'

/** `--dir <scripts> --out <module>`: other places, for the generator's own tests. */
function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback
}
const DIR = option('--dir', path.join('src', 'server', 'scripts'))
const OUT = option('--out', path.join('src', 'server', 'scripts.generated.ts'))

/** Names the shell, the locale or the tools give a meaning to. */
const RESERVED = new Set([
  'CDPATH',
  'ENV',
  'HOME',
  'IFS',
  'LANG',
  'LINENO',
  'MAIL',
  'MAILPATH',
  'OLDPWD',
  'OPTARG',
  'OPTIND',
  'PATH',
  'PPID',
  'PS1',
  'PS2',
  'PS4',
  'PWD',
  'SHELL',
  'TERM',
  'TMPDIR',
  'TZ',
  'USER'
])

/**
 * Variables a script may read without declaring them: set for every session, or (PWD, which cd
 * -P sets to the physical path) by the shell itself.
 */
const FROM_SESSION = new Set(['LC_ALL', 'SHELL', 'PWD'])

type Kind = 'string' | 'flag' | 'list' | string[]
interface Param {
  name: string
  kind: Kind
  description: string
}
interface Script {
  file: string
  text: string
  params: Param[]
}

const problems: string[] = []
function problem(file: string, message: string): void {
  problems.push(`${path.join(DIR, file)}: ${message}`)
}

const INCLUDE = /^\.\s+\.\/(lib\/[A-Za-z0-9_-]+\.sh)\s*$/
const PARAM = /^\s*#\s*@param\s+(\S+)\s+(\S+)\s+(.+)$/

/** The lines of `file` with its includes inlined (each file once), and the params declared. */
function expand(file: string, seen: Set<string>, params: Param[]): string[] {
  const lines: string[] = []
  const source = readFileSync(path.join(DIR, file), 'utf8')
  for (const line of source.split('\n')) {
    const include = INCLUDE.exec(line)
    if (include) {
      const lib = include[1]!
      if (!seen.has(lib)) {
        seen.add(lib)
        lines.push(...expand(lib, seen, params))
      }
      continue
    }
    const param = PARAM.exec(line)
    if (param) {
      const [, name, kindText, description] = param as unknown as [string, string, string, string]
      const kind: Kind =
        kindText === 'string' || kindText === 'flag' || kindText === 'list'
          ? kindText
          : kindText.split('|')
      if (!/^[A-Z][A-Z0-9_]{2,}$/.test(name) || RESERVED.has(name) || name.startsWith('LC_'))
        problem(
          file,
          `parameter '${name}': use an upper-case name of 3 or more characters that the shell and the tools do not use`
        )
      if (Array.isArray(kind) && (kind.length < 2 || kind.some(k => !/^[a-z0-9-]+$/.test(k))))
        problem(
          file,
          `parameter '${name}': kind '${kindText}' is not string, flag, list or a|b|c (lower-case words)`
        )
      const previous = params.find(p => p.name === name)
      if (previous && JSON.stringify(previous.kind) !== JSON.stringify(kind))
        problem(file, `parameter '${name}' is declared twice with different kinds`)
      if (!previous) params.push({ name, kind, description: description.trim() })
      continue
    }
    if (/^\s*#/.test(line) || line.trim() === '') continue
    if (line.includes('<<')) problem(file, 'here-documents are not supported (see the generator)')
    lines.push(line)
  }
  return lines
}

/** A function defined at the top level: `name() {` at the start of a line. */
const FUNCTION_START = /^([A-Za-z_][A-Za-z0-9_]*)\(\) \{(.*)$/

/** Whether `name` appears in `text` as a whole word (a command, or an argument naming one). */
function mentions(text: string, name: string): boolean {
  return new RegExp(`(^|[^A-Za-z0-9_])${name}([^A-Za-z0-9_]|$)`, 'm').test(text)
}

/**
 * The lines without the functions of the included lib/ files that the script never calls: each
 * lib serves several scripts, and what one of them does not use is bytes sent on every deploy
 * (about a fifth of a rollback's). A function is kept when its name appears as a word in the
 * script outside the functions, or in a function kept: a word rather than a call, so a name
 * passed as an argument (`with_umask mkdir`), in a trap's text or in a comment-free string counts
 * too; never a name built at run time, which no script does. A function is a line `name() {`
 * at the start of a line, through the next line that is `}` alone (or the same line, for a
 * one-line function); any other line at the start of a line inside one is refused.
 */
function withoutUnused(file: string, lines: string[]): string[] {
  const spans = new Map<string, [number, number][]>()
  const inside = new Set<number>()
  for (let i = 0; i < lines.length; i++) {
    const start = FUNCTION_START.exec(lines[i]!)
    if (!start) continue
    let end = i
    if (!start[2]!.trimEnd().endsWith('}')) {
      end = i + 1
      while (end < lines.length && lines[end] !== '}') {
        if (!/^\s/.test(lines[end]!))
          problem(
            file,
            `function '${start[1]}': a line inside it starts at the margin: ${lines[end]}`
          )
        end++
      }
      if (end === lines.length) problem(file, `function '${start[1]}' has no closing '}' line`)
    }
    const list = spans.get(start[1]!) ?? []
    list.push([i, end])
    spans.set(start[1]!, list)
    for (let j = i; j <= end; j++) inside.add(j)
    i = end
  }
  const used = new Set<string>()
  const pending = [lines.filter((_, i) => !inside.has(i)).join('\n')]
  while (pending.length > 0) {
    const text = pending.pop()!
    for (const [name, list] of spans) {
      if (used.has(name) || !mentions(text, name)) continue
      used.add(name)
      for (const [a, b] of list)
        pending.push(
          lines
            .slice(a, b + 1)
            .join('\n')
            .slice(name.length)
        )
    }
  }
  const dropped = new Set<number>()
  for (const [name, list] of spans)
    if (!used.has(name)) for (const [a, b] of list) for (let j = a; j <= b; j++) dropped.add(j)
  return lines.filter((_, i) => !dropped.has(i))
}

function load(file: string): Script {
  const params: Param[] = []
  const lines = expand(file, new Set(), params)
  // The checks below read the whole text; what is sent leaves out what the script never calls.
  const text = `${lines.join('\n')}\n`
  const assigned = new Set([...text.matchAll(/(?:^|[\s;&|(])([A-Z][A-Z0-9_]*)=/gm)].map(m => m[1]!))
  const read = new Set([...text.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)].map(m => m[1]!))
  for (const p of params) {
    if (!read.has(p.name)) problem(file, `parameter '${p.name}' is declared but never used`)
    if (assigned.has(p.name)) problem(file, `parameter '${p.name}' is assigned by the script`)
  }
  for (const name of read) {
    if (!params.some(p => p.name === name) && !assigned.has(name) && !FROM_SESSION.has(name))
      problem(file, `'$${name}' is neither a parameter (# @param) nor assigned in the script`)
  }
  return { file, text: `${withoutUnused(file, lines).join('\n')}\n`, params }
}

const pascal = (file: string): string =>
  path
    .basename(file, '.sh')
    .split(/[^A-Za-z0-9]+/)
    .map(w => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')
const constant = (file: string): string =>
  `${path
    .basename(file, '.sh')
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')}_SH`

function tsType(kind: Kind): string {
  if (kind === 'string') return 'string'
  if (kind === 'flag') return 'boolean'
  if (kind === 'list') return 'readonly string[]'
  return kind.map(k => `'${k}'`).join(' | ')
}

const scripts = readdirSync(DIR)
  .filter(f => f.endsWith('.sh'))
  .sort()
  .map(load)

if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}

const comment = (text: string): string => `/** ${text.replace(/\*\//g, '*\\/')} */`
const body = [
  '/**',
  ' * The server scripts as text, generated from src/server/scripts/*.sh by',
  ' * scripts/generate-server-scripts.ts: edit the .sh files, then run `npm run bundle` (or',
  ' * `node scripts/generate-server-scripts.ts`). Do not edit this file.',
  ' */',
  "import type { ServerScript } from './script-values.js'",
  ...scripts.flatMap(s => [
    '',
    comment(`Values of ${s.file}.`),
    `export interface ${pascal(s.file)}Values {`,
    ...s.params.flatMap(p => [comment(p.description), `${p.name}: ${tsType(p.kind)}`]),
    '}',
    '',
    `export const ${constant(s.file)}: ServerScript<${pascal(s.file)}Values> = {`,
    `name: ${JSON.stringify(s.file)},`,
    `params: { ${s.params.map(p => `${p.name}: ${JSON.stringify(p.kind)}`).join(', ')} },`,
    `text: ${JSON.stringify(s.text)}`,
    '}'
  ])
].join('\n')

const options = (await prettier.resolveConfig(path.join('src', 'server', 'x.ts'))) ?? {}
const next = await prettier.format(body, { ...options, parser: 'typescript' })
let current = ''
try {
  current = readFileSync(OUT, 'utf8')
} catch {
  // First run.
}
if (process.argv.includes('--check')) {
  if (next !== current) {
    console.error(
      `${OUT} differs from ${DIR}/*.sh. Run 'node scripts/generate-server-scripts.ts' (or 'npm run bundle') and commit it.`
    )
    process.exit(1)
  }
  console.log(`${OUT} is current.`)
} else if (next !== current) {
  writeFileSync(OUT, next)
  console.log(`${OUT}: generated from ${DIR}/*.sh.`)
}
