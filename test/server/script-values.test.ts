/**
 * How values reach the server scripts (script-values.ts) and how the .sh files become the
 * bundled module (scripts/generate-server-scripts.ts): what each refuses, and the module it
 * writes. That values arrive intact under every shell is tested in remote-scripts.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { prelude, withValues, type ServerScript } from '../../src/server/script-values.js'
import { hookScript } from '../../src/server/remote-scripts.js'
import * as generated from '../../src/server/scripts.generated.js'

const work = mkdtempSync(join(tmpdir(), 'script-values-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

interface Values {
  ONE: string
  MANY: readonly string[]
  YES: boolean
  PICK: 'a' | 'b-c'
}
const SCRIPT: ServerScript<Values> = {
  name: 'test.sh',
  params: { ONE: 'string', MANY: 'list', YES: 'flag', PICK: ['a', 'b-c'] },
  text: 'echo\n'
}
const good: Values = { ONE: 'x', MANY: ['a', ''], YES: true, PICK: 'b-c' }

describe('prelude', () => {
  it('assigns every parameter through quote(), a list as quoted words, then makes them read-only', () => {
    expect(prelude(SCRIPT, { ONE: "it's", MANY: ['a b', '', "c'd"], YES: false, PICK: 'a' })).toBe(
      [
        `ONE='it'\\''s'`,
        `MANY=''\\''a b'\\'' '\\'''\\'' '\\''c'\\''\\'\\'''\\''d'\\'''`,
        `YES=''`,
        'PICK=a',
        'readonly ONE MANY YES PICK',
        ''
      ].join('\n')
    )
    expect(withValues(SCRIPT, good)).toEqual({ head: prelude(SCRIPT, good), tail: 'echo\n' })
  })

  it.each([
    ['a parameter the script does not declare', { ...good, EXTRA: 'x' }, /has no parameter EXTRA/],
    ['a missing parameter', { ONE: 'x', MANY: [], YES: true }, /PICK must be one of a, b-c/],
    ['a string that is not one', { ...good, ONE: 1 }, /ONE must be a string/],
    ['a list of something else', { ...good, MANY: ['a', 2] }, /MANY must be a list of strings/],
    ['a list that is a string', { ...good, MANY: 'a b' }, /MANY must be a list of strings/],
    ['a flag given as a string', { ...good, YES: 'false' }, /YES must be a boolean/],
    ['a choice not offered', { ...good, PICK: 'c' }, /PICK must be one of a, b-c/],
    ['a NUL byte', { ...good, MANY: ['a\0b'] }, /NUL/]
  ])('refuses %s', (_label, values, message) => {
    expect(() => prelude(SCRIPT, values as unknown as Values)).toThrow(message)
  })

  it('refuses a hook variable that is not a shell name, so no value passes for a name', () => {
    expect(() =>
      hookScript({
        deployDir: '/srv/app',
        releaseId: 'r1',
        name: 'after-switch',
        script: 'true',
        env: { 'A=B C': 'x' }
      })
    ).toThrow(/cannot be a hook's variable name/)
  })

  it('has a declared kind for every parameter of every bundled script, and their text is constant', () => {
    const scripts = Object.values(generated) as ServerScript<Record<string, unknown>>[]
    expect(scripts.map(s => s.name).sort()).toEqual([
      'abort.sh',
      'finish.sh',
      'hook.sh',
      'inspect.sh',
      'listing.sh',
      'release.sh',
      'shared-listing.sh',
      'switch.sh',
      'unlock.sh'
    ])
    for (const s of scripts) {
      // What the server runs starts with set -u: a parameter the prelude forgot stops it.
      expect(s.text.startsWith('set -u\n'), s.name).toBe(true)
      // No comment reaches the server: the bundle carries only what runs.
      expect(
        s.text.split('\n').some(l => /^\s*#/.test(l)),
        s.name
      ).toBe(false)
    }
  })
})

describe('generate-server-scripts', () => {
  function generate(files: Record<string, string>): {
    status: number | null
    stderr: string
    module: string
    out: string
  } {
    const dir = mkdtempSync(join(work, 'scripts-'))
    mkdirSync(join(dir, 'lib'))
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
    const out = join(dir, 'out.ts')
    const r = spawnSync(
      process.execPath,
      ['scripts/generate-server-scripts.ts', '--dir', dir, '--out', out],
      { encoding: 'utf8' }
    )
    let module = ''
    try {
      module = readFileSync(out, 'utf8')
    } catch {
      // Not written.
    }
    return { status: r.status, stderr: r.stderr, module, out }
  }

  it('writes one typed script per file, with its lib/ includes inlined once and its comments left out', async () => {
    const r = generate({
      'lib/common.sh': '# shared\nsay() { printf "%s\\n" "$*"; }\n',
      'lib/more.sh': '# shellcheck source=lib/common.sh\n. ./lib/common.sh\nmore() { say more; }\n',
      'do-it.sh': [
        '# @param TARGET_DIR string Where to go.',
        '# @param FILES list What to touch.',
        '# @param FORCE flag Whether to.',
        '# @param MODE fast|slow-ish How.',
        '# shellcheck source=lib/common.sh',
        '. ./lib/common.sh',
        '. ./lib/more.sh',
        '',
        '  # indented comment',
        'X=1',
        'cd "$TARGET_DIR" && eval "set -- $FILES" && [ -n "$FORCE$MODE$X" ] && more'
      ].join('\n')
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.module).toContain('export interface DoItValues {')
    expect(r.module).toContain('/** Where to go. */\n  TARGET_DIR: string')
    expect(r.module).toContain('FILES: readonly string[]')
    expect(r.module).toContain('FORCE: boolean')
    expect(r.module).toContain("MODE: 'fast' | 'slow-ish'")
    expect(r.module).toContain('export const DO_IT_SH: ServerScript<DoItValues> = {')
    const module = (await import(r.out)) as { DO_IT_SH: ServerScript<unknown> }
    expect(module.DO_IT_SH.params).toEqual({
      TARGET_DIR: 'string',
      FILES: 'list',
      FORCE: 'flag',
      MODE: ['fast', 'slow-ish']
    })
    expect(module.DO_IT_SH.text).toBe(
      'say() { printf "%s\\n" "$*"; }\nmore() { say more; }\nX=1\ncd "$TARGET_DIR" && eval "set -- $FILES" && [ -n "$FORCE$MODE$X" ] && more\n'
    )
  })

  it('leaves out the functions a script never calls, and keeps those named anywhere in what it runs', async () => {
    const say = 'say() { printf "%s\\n" "$*"; }'
    // Named in a trap's text, as a command's argument, and only by kept functions.
    const kept = ['in_trap() { say trapped; }', 'as_argument() {', '  say argument', '}']
    const wrap = ['wrap() {', '  "$@"', '}']
    const unused = [
      'unused_one() {',
      '  helper_of_unused',
      '}',
      'helper_of_unused() { say never; }'
    ]
    const body = ["trap 'in_trap' TERM", 'wrap as_argument']
    const r = generate({
      'lib/tools.sh': [say, ...unused, ...kept, ...wrap].join('\n'),
      'run.sh': ['. ./lib/tools.sh', ...body].join('\n')
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const module = (await import(r.out)) as { RUN_SH: ServerScript<unknown> }
    expect(module.RUN_SH.text).toBe([say, ...kept, ...wrap, ...body, ''].join('\n'))
  })

  it('refuses a function whose body has a line at the margin, or no closing line', () => {
    const r = generate({
      'a.sh': 'odd() {\necho at the margin\n}\nodd\n',
      'b.sh': 'open() {\n  echo never closed\nopen\n'
    })
    expect(r.status).toBe(1)
    expect(r.module).toBe('')
    expect(r.stderr).toMatch(
      /a\.sh: function 'odd': a line inside it starts at the margin: echo at the margin/
    )
    expect(r.stderr).toMatch(/b\.sh: function 'open' has no closing '\}' line/)
  })

  it('refuses, naming file and problem: an undeclared variable, an unused or assigned or reserved parameter, an unknown kind, a here-document', () => {
    const r = generate({
      'a.sh': 'echo "$NOT_DECLARED"\n',
      'b.sh': '# @param UNUSED_ONE string Never read.\necho hi\n',
      'c.sh': '# @param OVERWRITTEN string Assigned.\nOVERWRITTEN=x\necho "$OVERWRITTEN"\n',
      'd.sh': '# @param PATH string Reserved.\necho "$PATH"\n',
      'e.sh': '# @param ODD_KIND number Unknown kind.\necho "$ODD_KIND"\n',
      'f.sh': "cat <<'EOF'\n# not a comment here\nEOF\n"
    })
    expect(r.status).toBe(1)
    expect(r.module).toBe('')
    for (const message of [
      /a\.sh: '\$NOT_DECLARED' is neither a parameter/,
      /b\.sh: parameter 'UNUSED_ONE' is declared but never used/,
      /c\.sh: parameter 'OVERWRITTEN' is assigned by the script/,
      /d\.sh: parameter 'PATH': use an upper-case name/,
      /e\.sh: parameter 'ODD_KIND': kind 'number' is not string, flag, list or a\|b\|c/,
      /f\.sh: here-documents are not supported/
    ])
      expect(r.stderr).toMatch(message)
  })
})
