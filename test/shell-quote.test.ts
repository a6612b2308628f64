/**
 * shell-quote.ts, checked against real shells: every quoted word must reach a program as exactly
 * the bytes it started as, under dash (the Debian /bin/sh) and BusyBox ash, and nothing in it may
 * be expanded or executed on the way.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { command, quote } from '../src/shell-quote.js'

const work = mkdtempSync(join(tmpdir(), 'shell-quote-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const shells = [
  { name: 'dash', argv: ['dash'] },
  { name: 'busybox sh', argv: ['busybox', 'sh'] }
]

/** Run `line` with `shell -c` in a fresh empty directory; returns the result and that directory. */
function runLine(
  shell: string[],
  line: string
): { status: number | null; stdout: Buffer; stderr: string; cwd: string } {
  const cwd = mkdtempSync(join(work, 'run-'))
  const r = spawnSync(shell[0]!, [...shell.slice(1), '-c', line], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd }
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8'), cwd }
}

// Words that mean something to a shell, or to a program that receives them as an argument.
const hostile: [string, string][] = [
  ['empty', ''],
  ['one space', ' '],
  ['spaces', 'a  b   c'],
  ['single quote', "it's"],
  ['only a single quote', "'"],
  ['two single quotes', "''"],
  ['an already-escaped quote', `'\\''`],
  ['double quotes', '"quoted"'],
  ['command substitution', '$(touch pwned)'],
  ['backticks', '`touch pwned`'],
  ['parameter expansion', '$HOME ${HOME} $1 $@ $$'],
  ['arithmetic', '$((1+1))'],
  ['newline', 'line1\nline2'],
  ['only a newline', '\n'],
  ['trailing newline', 'name\n'],
  ['carriage return', 'a\rb'],
  ['tab', 'a\tb'],
  ['control characters', '\x01\x1b[31m\x7f'],
  ['globs', '* ? [a-z] **'],
  ['tilde', '~'],
  ['tilde user', '~root/x'],
  ['comment', '#not a comment'],
  ['operators', 'a;b&c|d&&e||f'],
  ['redirections', '>out <in 2>&1'],
  ['subshell and braces', '(x) {a,b} { y; }'],
  ['backslashes', 'a\\b\\\\c\\'],
  ['only a backslash', '\\'],
  ['bang', '!'],
  ['history-ish', '!!'],
  ['unicode', 'ünïcødé ✓ 🚀 日本'],
  ['unicode line separator', 'a\u2028b\u0085c'],
  ['leading dash', '-rf'],
  ['double dash', '--'],
  ['lone dash', '-'],
  ['dot dot', '..'],
  ['parent path', '../../etc/passwd'],
  ['assignment-looking', 'a=b'],
  ['percent and at', '%s@%d'],
  ['long word', 'x'.repeat(5000)]
]

describe('quote', () => {
  describe.each(shells)('under $name', ({ argv }) => {
    it.each(hostile)('passes %s through as exactly the same bytes', (_label, word) => {
      const r = runLine(argv, `printf '%s' ${quote(word)}`)
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(r.stdout.equals(Buffer.from(word, 'utf8'))).toBe(true)
      // Nothing was executed: the working directory is still empty.
      expect(readdirSync(r.cwd)).toEqual([])
    })

    it('quotes every hostile word as one word, even all of them on one line', () => {
      const words = hostile.map(([, w]) => w)
      const r = runLine(argv, `printf '%s\\0' ${words.map(quote).join(' ')}`)
      expect(r.status).toBe(0)
      const received = r.stdout.toString('utf8').split('\0').slice(0, -1)
      expect(received).toEqual(words)
      expect(existsSync(join(r.cwd, 'pwned'))).toBe(false)
    })
  })

  it.each([
    ['NUL alone', '\0'],
    ['NUL inside', 'a\0b'],
    ['NUL at the end', 'file\0']
  ])('refuses %s, which no shell can carry', (_label, word) => {
    expect(() => quote(word)).toThrow(/NUL/)
  })

  it.each(['/var/www/app', 'releases/20261122101500', 'deploy@web1.example.com', 'a-b_c.d'])(
    'leaves the plain word %s readable (no quotes) in logged commands',
    word => {
      expect(quote(word)).toBe(word)
    }
  )

  it('never produces a multi-line result for a single-line word', () => {
    for (const [, word] of hostile) {
      if (!/[\n\r\u2028\u0085]/.test(word)) expect(quote(word)).not.toMatch(/[\r\n]/)
    }
  })
})

describe('command', () => {
  describe.each(shells)('under $name', ({ argv }) => {
    it('turns argv into a line that gives the program exactly that argv', () => {
      const args = hostile.map(([, w]) => w)
      const r = runLine(argv, command('printf', '%s\\0', ...args))
      expect(r.status).toBe(0)
      expect(r.stdout.toString('utf8').split('\0').slice(0, -1)).toEqual(args)
      expect(existsSync(join(r.cwd, 'pwned'))).toBe(false)
    })

    it('keeps arguments that look like options as plain arguments after the format', () => {
      const r = runLine(argv, command('printf', '[%s]', '-n', '--', '-e', '--help'))
      expect(r.status).toBe(0)
      expect(r.stdout.toString()).toBe('[-n][--][-e][--help]')
    })

    it('returns the exit status of the program it names', () => {
      const r = runLine(argv, command('sh', '-c', 'exit 7'))
      expect(r.status).toBe(7)
    })

    // argv[0] is the program to run. A bare word with '=' in command position is an assignment,
    // and a bare reserved word is syntax, so neither would run a program of that name.
    it.each(['FOO=bar', 'if'])(
      'runs argv[0] %s as a program name (not found), not as shell syntax',
      name => {
        const r = runLine(argv, command(name))
        expect(r.status).toBe(127)
        expect(r.stderr).toMatch(/not found/)
      }
    )
  })

  it('refuses a NUL in any argument', () => {
    expect(() => command('rm', '-rf', '--', 'a\0b')).toThrow(/NUL/)
  })

  it('joins the quoted words with single spaces', () => {
    expect(command('rm', '-rf', '--', 'a b')).toBe(`'rm' -rf -- ${quote('a b')}`)
    expect(command()).toBe('')
  })
})
