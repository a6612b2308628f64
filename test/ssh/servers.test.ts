/**
 * servers.ts: the `servers` input. Expected values come from the documented form
 * `[user@]host[:port]` (IPv6 in brackets), and IPv6 validity from node:net, not from the parser.
 */
import { isIPv6 } from 'node:net'
import { describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import {
  parsePort,
  parseServers,
  printable,
  serverLabel,
  type Server
} from '../../src/ssh/servers.js'

function inputErrorOf(fn: () => unknown): InputError {
  try {
    fn()
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('expected an InputError, nothing was thrown')
}

const s = (user: string, host: string, port: number, label: string): Server => ({
  user,
  host,
  port,
  label
})

describe('parseServers accepts', () => {
  it.each<[string, string, string | undefined, number, Server[]]>([
    [
      'user and host',
      'deploy@web1.example.com',
      undefined,
      22,
      [s('deploy', 'web1.example.com', 22, 'deploy@web1.example.com:22')]
    ],
    [
      'user, host and port',
      'deploy@web2.example.com:2222',
      undefined,
      22,
      [s('deploy', 'web2.example.com', 2222, 'deploy@web2.example.com:2222')]
    ],
    [
      'a host with the default user and port',
      'web3',
      'ci',
      2200,
      [s('ci', 'web3', 2200, 'ci@web3:2200')]
    ],
    [
      'a named user over the default user',
      'root@web3',
      'ci',
      22,
      [s('root', 'web3', 22, 'root@web3:22')]
    ],
    [
      'a named port over the default port',
      'ci@web3:2022',
      undefined,
      2200,
      [s('ci', 'web3', 2022, 'ci@web3:2022')]
    ],
    [
      'an IPv4 address',
      'deploy@192.0.2.10:2222',
      undefined,
      22,
      [s('deploy', '192.0.2.10', 2222, 'deploy@192.0.2.10:2222')]
    ],
    [
      'IPv6 loopback in brackets with port',
      '[::1]:22',
      'ci',
      2200,
      [s('ci', '::1', 22, 'ci@[::1]:22')]
    ],
    [
      'IPv6 in brackets without port',
      'deploy@[::1]',
      undefined,
      2200,
      [s('deploy', '::1', 2200, 'deploy@[::1]:2200')]
    ],
    [
      'IPv6 with user and port',
      'user@[2001:db8::1]:2222',
      undefined,
      22,
      [s('user', '2001:db8::1', 2222, 'user@[2001:db8::1]:2222')]
    ],
    [
      'IPv6 with a zone',
      'u@[fe80::1%eth0]:22',
      undefined,
      22,
      [s('u', 'fe80::1%eth0', 22, 'u@[fe80::1%eth0]:22')]
    ],
    [
      'IPv4-mapped IPv6',
      'u@[::ffff:192.0.2.1]',
      undefined,
      22,
      [s('u', '::ffff:192.0.2.1', 22, 'u@[::ffff:192.0.2.1]:22')]
    ],
    [
      'user names with dots, underscores, hyphens and digits',
      'd.e_p-1@h',
      undefined,
      22,
      [s('d.e_p-1', 'h', 22, 'd.e_p-1@h:22')]
    ],
    [
      'a user name starting with an underscore',
      '_svc@h',
      undefined,
      22,
      [s('_svc', 'h', 22, '_svc@h:22')]
    ],
    [
      'a 64-character user name',
      `${'u'.repeat(64)}@h`,
      undefined,
      22,
      [s('u'.repeat(64), 'h', 22, `${'u'.repeat(64)}@h:22`)]
    ],
    [
      'a 63-character host label',
      `u@${'a'.repeat(63)}.example`,
      undefined,
      22,
      [s('u', `${'a'.repeat(63)}.example`, 22, `u@${'a'.repeat(63)}.example:22`)]
    ],
    [
      'punycode host names',
      'u@xn--bcher-kva.example',
      undefined,
      22,
      [s('u', 'xn--bcher-kva.example', 22, 'u@xn--bcher-kva.example:22')]
    ],
    [
      'port 1 and port 65535',
      'u@a:1,u@b:65535',
      undefined,
      22,
      [s('u', 'a', 1, 'u@a:1'), s('u', 'b', 65535, 'u@b:65535')]
    ]
  ])('%s', (_label, text, user, port, expected) => {
    expect(parseServers(text, user, port)).toEqual(expected)
  })

  it('splits on commas and newlines (LF and CRLF), trims, and keeps the order given', () => {
    const text = '  deploy@web1 , deploy@web2:2222\r\n\r\n\tdeploy@[::1]:22\n,,\ndeploy@web0\n'
    expect(parseServers(text, undefined, 22).map(x => x.label)).toEqual([
      'deploy@web1:22',
      'deploy@web2:2222',
      'deploy@[::1]:22',
      'deploy@web0:22'
    ])
  })

  it('gives every server a label that parses back to the same server', () => {
    const servers = parseServers('a@h1,b@h2:2,[::1]:3,c@[2001:db8::7]', 'z', 9)
    for (const server of servers) {
      expect(parseServers(server.label, undefined, 1)).toEqual([server])
    }
  })
})

describe('parseServers refuses', () => {
  it.each<[string, string, string | undefined]>([
    ['an empty value', '', undefined],
    ['only separators and white space', ' , \n \r\n ,', undefined],
    ['bare IPv6 ::1', '::1', 'ci'],
    ['bare IPv6 with a user', 'deploy@::1', undefined],
    ['bare IPv6 with what looks like a port', 'deploy@2001:db8::1:22', undefined],
    ['an unclosed bracket', 'deploy@[::1', undefined],
    ['text after the bracket', 'deploy@[::1]x', undefined],
    ['an empty port after the bracket', 'deploy@[::1]:', undefined],
    ['empty brackets', 'deploy@[]:22', undefined],
    ['a host name in brackets', 'deploy@[web1.example.com]:22', undefined],
    ['IPv4 in brackets', 'deploy@[192.0.2.1]:22', undefined],
    ['an empty port', 'deploy@web1:', undefined],
    ['port 0', 'deploy@web1:0', undefined],
    ['port 65536', 'deploy@web1:65536', undefined],
    ['a negative port', 'deploy@web1:-1', undefined],
    ['a port with letters', 'deploy@web1:22x', undefined],
    ['a port in non-ASCII digits', 'deploy@web1:٢٢', undefined],
    ['two ports', 'deploy@web1:22:22', undefined],
    ['no user and no username input', 'web1', undefined],
    ['an empty user', '@web1', 'ci'],
    ['an empty host', 'deploy@', undefined],
    ['two @', 'a@b@web1', undefined],
    ['a space in the entry', 'deploy@web 1', undefined],
    ['space-separated servers', 'deploy@web1 deploy@web2', undefined],
    ['a tab', 'deploy\t@web1', undefined],
    ['a user that is an ssh option', '-oProxyCommand=touch_pwned@web1', undefined],
    ['a host that is an ssh option', 'deploy@-oProxyCommand=x', undefined],
    ['a host starting with a dash', 'deploy@-web1', undefined],
    ['a single quote in the user', "de'ploy@web1", undefined],
    ['a double quote in the host', 'deploy@"web1"', undefined],
    ['command substitution in the host', 'deploy@$(touch pwned)', undefined],
    ['backticks in the user', '`id`@web1', undefined],
    ['a NUL in the host', 'deploy@web1\0', undefined],
    ['a unicode user', 'dëploy@web1', undefined],
    ['a unicode host', 'deploy@wéb1.example.com', undefined],
    ['an empty host label (..)', 'deploy@web1..example.com', undefined],
    ['a host that is ..', 'deploy@..', undefined],
    ['a host that is .', 'deploy@.', undefined],
    ['a slash in the host', 'deploy@web1/x', undefined],
    ['a 64-character host label', `deploy@${'a'.repeat(64)}.example`, undefined],
    ['a host longer than 253 characters', `deploy@${Array(64).fill('abc').join('.')}`, undefined],
    ['a 65-character user', `${'u'.repeat(65)}@web1`, undefined]
  ])('%s', (_label, text, user) => {
    const error = inputErrorOf(() => parseServers(text, user, 22))
    expect(error.input).toBe('servers')
    // One line, control characters made visible, and the expected form shown.
    expect(error.message).not.toMatch(/[\u0000-\u001f\u007f]/)
    expect(error.message).toContain('[user@]host[:port]')
  })

  it.each<[string, string, string | undefined, string]>([
    ['the same entry twice', 'deploy@web1,deploy@web1', undefined, 'deploy@web1:22'],
    [
      'one spelled with the default port',
      'deploy@web1,deploy@web1:22',
      undefined,
      'deploy@web1:22'
    ],
    ['one spelled with the default user', 'web1\ndeploy@web1', 'deploy', 'deploy@web1:22'],
    ['an IPv6 server twice', '[::1]:22,deploy@[::1]', 'deploy', 'deploy@[::1]:22']
  ])('a duplicate: %s', (_label, text, user, label) => {
    const error = inputErrorOf(() => parseServers(text, user, 22))
    expect(error.input).toBe('servers')
    expect(error.message).toContain(label)
    expect(error.message).not.toMatch(/[\r\n]/)
  })

  it('names the refused entry in the message, with control characters made visible', () => {
    const error = inputErrorOf(() => parseServers('good@web1\nde\u0007ploy@web2', undefined, 22))
    expect(error.message).toContain('de\\x07ploy@web2')
  })

  // The server behind `Web1.example.com` and `web1.example.com` is the same (DNS names are
  // case-insensitive, RFC 4343), as is the IPv6 address in either case: deploying to it twice
  // at once can only fight over its lock.
  it.each([
    ['host names differing in case', 'deploy@Web1.Example.com,deploy@web1.example.com'],
    ['IPv6 addresses differing in case', 'deploy@[2001:DB8::1],deploy@[2001:db8::1]'],
    ['one IPv6 address written whole and shortened', 'deploy@[0:0:0:0:0:0:0:1],deploy@[::1]'],
    [
      'one IPv6 address with and without leading zeros',
      'deploy@[2001:db8::01],deploy@[2001:db8::1]'
    ],
    [
      'a host name with and without its final dot',
      'deploy@web1.example.com.,deploy@web1.example.com'
    ]
  ])('treats %s as a duplicate', (_label, text) => {
    const error = inputErrorOf(() => parseServers(text, undefined, 22))
    expect(error.input).toBe('servers')
    expect(error.message).toContain('is listed twice')
  })

  it.each([
    ['two IPv6 addresses', 'deploy@[2001:db8::1],deploy@[2001:db8::1:0]'],
    ['one link-local address on two interfaces', 'deploy@[fe80::1%eth0],deploy@[fe80::1%eth1]'],
    ['two host names', 'deploy@web1.example.com,deploy@web1.example.co']
  ])('keeps %s apart', (_label, text) => {
    expect(parseServers(text, undefined, 22)).toHaveLength(2)
  })
})

describe('parseServers and IPv6', () => {
  // Whether a bracketed host is accepted must agree with node:net's own IPv6 parser.
  it.each([
    '::1',
    '::',
    '2001:db8::1',
    '1:2:3:4:5:6:7:8',
    '::ffff:192.0.2.1',
    'fe80::1%eth0',
    ':',
    '1:2:3',
    '::1::2',
    '12345::1',
    'fe80::1%',
    'db8::g'
  ])('accepts [%s] exactly when it is an IPv6 address', host => {
    const accepted = (() => {
      try {
        parseServers(`deploy@[${host}]:22`, undefined, 22)
        return true
      } catch (error) {
        if (!(error instanceof InputError)) throw error
        return false
      }
    })()
    expect(accepted).toBe(isIPv6(host))
  })
})

describe('parsePort', () => {
  it.each<[string, number | undefined]>([
    ['22', 22],
    ['1', 1],
    ['2222', 2222],
    ['65535', 65535],
    ['022', 22],
    ['0', undefined],
    ['65536', undefined],
    ['99999', undefined],
    ['123456', undefined],
    ['', undefined],
    [' 22', undefined],
    ['22 ', undefined],
    ['-1', undefined],
    ['+22', undefined],
    ['0x16', undefined],
    ['1e3', undefined],
    ['22.0', undefined],
    ['٢٢', undefined],
    ['２２', undefined],
    ['22\n', undefined],
    ['ssh', undefined]
  ])('parsePort(%j) is %s', (text, expected) => {
    expect(parsePort(text)).toBe(expected)
  })
})

describe('serverLabel', () => {
  it.each([
    ['deploy', 'web1.example.com', 22, 'deploy@web1.example.com:22'],
    ['deploy', '192.0.2.1', 2222, 'deploy@192.0.2.1:2222'],
    ['deploy', '::1', 22, 'deploy@[::1]:22'],
    ['deploy', '2001:db8::1', 2222, 'deploy@[2001:db8::1]:2222'],
    ['deploy', 'fe80::1%eth0', 22, 'deploy@[fe80::1%eth0]:22']
  ])('labels %s at %s port %d as %s', (user, host, port, expected) => {
    expect(serverLabel(user, host, port)).toBe(expected)
  })
})

describe('printable', () => {
  it.each([
    ['a newline', 'a\nb', 'a\\x0ab'],
    ['CRLF', 'x\r\n', 'x\\x0d\\x0a'],
    ['NUL', '\0', '\\x00'],
    ['a tab', '\t', '\\x09'],
    ['escape (terminal colours)', '\x1b[31mred', '\\x1b[31mred'],
    ['DEL', '\x7f', '\\x7f'],
    ['unit separator', '\x1f', '\\x1f'],
    ['plain text', 'deploy@web1:22', 'deploy@web1:22'],
    ['quotes and shell syntax', `it's "$(x)" \`y\``, `it's "$(x)" \`y\``],
    ['unicode', 'ünïcødé 🚀', 'ünïcødé 🚀']
  ])('shows %s as visible text', (_label, text, expected) => {
    expect(printable(text)).toBe(expected)
  })

  it('leaves no control character in any single-character string', () => {
    for (let c = 0; c < 0x100; c++) {
      expect(printable(String.fromCharCode(c))).not.toMatch(/[\u0000-\u001f\u007f]/)
    }
  })
})
