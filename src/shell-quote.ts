/**
 * POSIX shell quoting. Every remote command is built from argv through `command()`, so no user
 * value is ever spliced into a shell line unquoted (the approach of node-ssh's `exec(cmd, params)`).
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/

/**
 * Quote one word for a POSIX shell. Inside single quotes nothing is special except the quote
 * itself, which is closed, escaped and reopened: `it's` becomes `'it'\''s'`. Newlines are legal
 * inside single quotes (file names may hold them); NUL cannot be passed through any shell.
 */
export function quote(word: string): string {
  if (word.includes('\0')) throw new Error('a NUL byte cannot be passed to a remote shell')
  if (word !== '' && SAFE.test(word)) return word
  return `'${word.replace(/'/g, `'\\''`)}'`
}

/**
 * Build one shell command line from argv, quoting every word. The program name is always quoted:
 * unquoted in command position, `FOO=bar` would be an assignment and `if` a reserved word.
 */
export function command(...argv: string[]): string {
  return argv
    .map((word, i) => (i === 0 ? `'${quote(word).replace(/^'|'$/g, '')}'` : quote(word)))
    .join(' ')
}
