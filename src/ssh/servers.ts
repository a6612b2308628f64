import { isIPv6 } from 'node:net'
import { InputError } from '../errors.js'

/** One SSH endpoint to deploy to. */
export interface Server {
  /** Login name. */
  user: string
  /** Host name or IP address (IPv6 without brackets). */
  host: string
  /** TCP port. */
  port: number
  /** `user@host:port` (IPv6 in brackets): the key of the `servers` output and the log prefix. */
  label: string
}

// A POSIX portable user name, as useradd accepts it; '-' cannot lead because ssh would parse it
// as an option if anybody ever passed it on to a command line.
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/
// RFC 1123 host names: labels of letters, digits and hyphens, dot-separated.
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

const FORM =
  'Expected [user@]host[:port], IPv6 as [2001:db8::1]:22, separated by commas or newlines'

/** Parse a port number input or field; undefined when the text is not a port. */
export function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined
  const port = Number(text)
  return port >= 1 && port <= 65535 ? port : undefined
}

export function serverLabel(user: string, host: string, port: number): string {
  const shown = host.includes(':') ? `[${host}]` : host
  return `${user}@${shown}:${port}`
}

/**
 * Parse the `servers` input (or another list of the same form, such as `jump-host`, named by
 * `input`). Every entry gets a user and a port, falling back to the defaults.
 */
export function parseServers(
  text: string,
  defaultUser: string | undefined,
  defaultPort: number,
  input = 'servers'
): Server[] {
  const entries = text
    .split(/[,\r\n]+/)
    .map(s => s.trim())
    .filter(s => s !== '')
  if (entries.length === 0) throw new InputError(input, `Input '${input}' is required. ${FORM}.`)
  const servers = entries.map(entry => parseOne(entry, defaultUser, defaultPort, input))
  // Host names are case-insensitive (and may end in the root's dot), and one IPv6 address has
  // many spellings: two spellings of one server would run two deploys against one lock.
  const seen = new Set<string>()
  for (const server of servers) {
    const key = serverLabel(server.user, sameHost(server.host), server.port)
    if (seen.has(key)) {
      throw new InputError(input, `Invalid ${input}: '${server.label}' is listed twice.`)
    }
    seen.add(key)
  }
  return servers
}

/**
 * One spelling of a host, for telling duplicates apart: a name in lower case without its final
 * dot, an IPv6 address in its canonical form (RFC 5952, as the URL parser writes it), its zone
 * kept as written.
 */
function sameHost(host: string): string {
  if (!host.includes(':')) return host.toLowerCase().replace(/\.$/, '')
  const zone = host.indexOf('%')
  const address = zone < 0 ? host : host.slice(0, zone)
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  return zone < 0 ? canonical : `${canonical}${host.slice(zone)}`
}

function parseOne(
  entry: string,
  defaultUser: string | undefined,
  defaultPort: number,
  input: string
): Server {
  const bad = (why: string): InputError =>
    new InputError(input, `Invalid ${input} entry '${printable(entry)}': ${why}. ${FORM}.`)
  if (/\s/.test(entry)) throw bad('it contains white space')

  let rest = entry
  let user = defaultUser
  const at = rest.lastIndexOf('@')
  if (at >= 0) {
    user = rest.slice(0, at)
    rest = rest.slice(at + 1)
  }
  if (user === undefined || user === '') {
    throw bad("no user: write user@host, or set the 'username' input")
  }
  if (!USER.test(user)) throw bad(`'${printable(user)}' is not a valid user name`)

  let host: string
  let portText: string | undefined
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) throw bad('an opening [ has no closing ]')
    host = rest.slice(1, close)
    const after = rest.slice(close + 1)
    if (after !== '') {
      if (!after.startsWith(':')) throw bad(`unexpected '${printable(after)}' after ]`)
      portText = after.slice(1)
    }
    if (!isIPv6(host.replace(/%[A-Za-z0-9._-]+$/, ''))) {
      throw bad(`'${printable(host)}' is not an IPv6 address`)
    }
  } else {
    const colons = rest.split(':').length - 1
    if (colons > 1) throw bad('an IPv6 address must be written in brackets')
    if (colons === 1) {
      host = rest.slice(0, rest.indexOf(':'))
      portText = rest.slice(rest.indexOf(':') + 1)
    } else {
      host = rest
    }
    if (!HOSTNAME.test(host)) throw bad(`'${printable(host)}' is not a valid host name`)
  }

  let port = defaultPort
  if (portText !== undefined) {
    const parsed = parsePort(portText)
    if (parsed === undefined) throw bad(`'${printable(portText)}' is not a port (1-65535)`)
    port = parsed
  }
  return { user, host, port, label: serverLabel(user, host, port) }
}

/** Make control characters visible in an error message. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(
    /[\u0000-\u001f\u007f]/g,
    c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
  )
}
