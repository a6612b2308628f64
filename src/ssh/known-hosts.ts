/**
 * Host-key verification material from the `known-hosts` and `host-fingerprint` inputs.
 *
 * Two facts about ssh2 (v1.x) shape this module:
 *
 * - ssh2 calls `hostVerifier(key)` with the raw K_S blob from the server's KEX reply (RFC 4253
 *   section 8: `string key-type, ...key data`) when `hostHash` is not set (lib/client.js wraps
 *   the callback, lib/protocol/kex.js passes `hostPubKey` unchanged). The base64 field of a
 *   known_hosts line decodes to exactly that blob, so verification is a byte comparison of the
 *   two and a fingerprint is SHA-256 over the same bytes.
 * - The server picks its host key from the client's `algorithms.serverHostKey` list, and ssh2's
 *   default list starts with ssh-ed25519. A server holding ed25519 and RSA keys, checked against
 *   a known_hosts that only has its RSA line, would present the ed25519 key and fail although
 *   it is the right server. Pinning the list to the types held makes the server present a key
 *   we can check. Both facts are exercised against a real ssh2 handshake in the tests.
 */

import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { HostKeyError, InputError } from '../errors.js'

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority'
  /** Raw host patterns, may include hashed `|1|salt|hash` entries and `!negations`. */
  patterns: string[]
  keyType: string
  /** The decoded base64 blob. */
  key: Buffer
  line: number
}

export type HostKeyPolicy =
  | { kind: 'known-hosts'; entries: KnownHostEntry[] }
  | { kind: 'fingerprint'; fingerprints: HostFingerprint[] }
  | { kind: 'insecure' }

/**
 * One `host-fingerprint` item: a bare `SHA256:...` (any server: only for a one-server deploy),
 * or one bound to a server as `host=SHA256:...` / `host:port=SHA256:...` / `[v6]:port=...`.
 */
export type HostFingerprint = string | { host: string; port?: number; fingerprint: string }

export type VerifyResult = { ok: true } | { ok: false; reason: string }

export interface HostVerifier {
  algorithms?: string[]
  verify(blob: Buffer): VerifyResult
}

const INPUT_KNOWN_HOSTS = 'known-hosts'
const INPUT_FINGERPRINT = 'host-fingerprint'
const LINE_SHAPE = `expected '<hosts> <key-type> <base64-key>'`

/** Key types ssh2 can verify a server with, and the algorithm names it negotiates for each. */
const ALGORITHMS_BY_KEY_TYPE: ReadonlyMap<string, readonly string[]> = new Map([
  ['ssh-ed25519', ['ssh-ed25519']],
  ['ecdsa-sha2-nistp256', ['ecdsa-sha2-nistp256']],
  ['ecdsa-sha2-nistp384', ['ecdsa-sha2-nistp384']],
  ['ecdsa-sha2-nistp521', ['ecdsa-sha2-nistp521']],
  // An RSA host key is negotiated under any of these names but the blob still says `ssh-rsa`
  // (RFC 8332); ssh2 accepts that exception. SHA-2 first so SHA-1 signatures are a last resort.
  ['ssh-rsa', ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']]
])

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|^PuTTY-User-Key-File-/

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Parse known_hosts text. Blank lines and `#` comments are skipped; text after the key is a
 * comment. Lines with unknown key types are kept (keyType as written) so that a file from a
 * newer OpenSSH still loads; they are simply never usable for verification.
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const lines = text.split(/\r?\n/)

  // Checked over the whole text first so a pasted private key gets this error rather than a
  // field-count error about its first line, and so no line of it is echoed anywhere.
  lines.forEach((raw, index) => {
    if (PRIVATE_KEY.test(raw.trim())) {
      throw new InputError(
        INPUT_KNOWN_HOSTS,
        `known-hosts line ${index + 1} looks like a private key. known-hosts must hold the ` +
          `server's public host keys (lines as printed by \`ssh-keyscan\`), never a private key; ` +
          `if a private key was stored in this input, treat it as exposed and rotate it.`
      )
    }
  })

  const entries: KnownHostEntry[] = []
  lines.forEach((raw, index) => {
    const entry = parseLine(raw, index + 1)
    if (entry) entries.push(entry)
  })
  return entries
}

function parseLine(raw: string, line: number): KnownHostEntry | undefined {
  const bad = (detail: string): InputError =>
    new InputError(INPUT_KNOWN_HOSTS, `known-hosts line ${line}: ${LINE_SHAPE}, ${detail}`)

  if (raw.includes('\0')) throw bad('but the line contains a NUL byte')
  // eslint-disable-next-line no-control-regex
  const control = /[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]/.exec(raw)
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).padStart(2, '0')
    throw bad(`but the line contains the control character 0x${code}`)
  }

  const trimmed = raw.trim()
  if (trimmed === '' || trimmed.startsWith('#')) return undefined

  const fields = trimmed.split(/[ \t]+/)
  let marker: KnownHostEntry['marker']
  if (fields[0]!.startsWith('@')) {
    const word = fields.shift()!
    if (word !== '@revoked' && word !== '@cert-authority') {
      // Refused rather than skipped: a mistyped `@revoked` would otherwise drop a revocation.
      throw bad(`but '${word}' is not a known marker (only @revoked and @cert-authority exist)`)
    }
    marker = word
  }

  if (fields.length >= 2 && ALGORITHMS_BY_KEY_TYPE.has(fields[0]!) && /^AAAA/.test(fields[1]!)) {
    throw bad(
      'but the line looks like a bare public key with no host names; prefix it with the ' +
        'host, as `ssh-keyscan` prints it'
    )
  }
  if (fields.length < 3) {
    throw bad(`found ${fields.length} field${fields.length === 1 ? '' : 's'}`)
  }
  const [hosts, keyType, base64] = fields as [string, string, string]

  const patterns = hosts.split(',').filter(pattern => pattern !== '')
  if (patterns.length === 0) throw bad('but the host list is empty')
  for (const pattern of patterns) {
    if (pattern.startsWith('|') && !decodeHashedPattern(pattern)) {
      throw bad(`but a hashed host is malformed (expected |1|<base64 salt>|<base64 HMAC-SHA1>)`)
    }
  }

  if (base64.length % 4 !== 0 || !BASE64.test(base64)) {
    throw bad('but the key is not valid base64')
  }
  const key = Buffer.from(base64, 'base64')

  // Only checkable for types we know; an unknown type's blob layout is not ours to judge.
  if (ALGORITHMS_BY_KEY_TYPE.has(keyType)) {
    const embedded = tryKeyTypeOfBlob(key)
    if (embedded === undefined) {
      throw bad(`but the base64 key is not an SSH public key`)
    }
    if (embedded !== keyType) {
      throw bad(`but the key-type field says ${keyType} while the base64 key is ${embedded}`)
    }
  }

  return { ...(marker ? { marker } : {}), patterns, keyType, key, line }
}

// ---------------------------------------------------------------------------------------------
// Matching

/**
 * Entries that apply to host:port, following OpenSSH's `match_hostname` rules.
 *
 * @cert-authority entries are ignored: ssh2 has no support for OpenSSH host certificates, so a
 * CA line can never vouch for a server here. They are neither keys nor revocations.
 */
export function matchKnownHosts(
  entries: KnownHostEntry[],
  host: string,
  port: number
): { keys: KnownHostEntry[]; revoked: KnownHostEntry[] } {
  const names = hostNames(host, port)
  const keys: KnownHostEntry[] = []
  const revoked: KnownHostEntry[] = []
  for (const entry of entries) {
    if (entry.marker === '@cert-authority') continue
    if (!patternsMatch(entry.patterns, names)) continue
    if (entry.marker === '@revoked') revoked.push(entry)
    else keys.push(entry)
  }
  return { keys, revoked }
}

/**
 * The strings OpenSSH looks a host up under. ssh lowercases the host before lookup and
 * `ssh-keygen -H` lowercases before hashing, so everything is compared lowercased. Port 22 is
 * written as the bare host; `[host]:22` is never written by OpenSSH but is accepted.
 */
function hostNames(host: string, port: number): string[] {
  let name = host.trim().toLowerCase()
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1)
  const bracketed = `[${name}]:${port}`
  return port === 22 ? [name, bracketed] : [bracketed]
}

/** OpenSSH `match_pattern_list`: any negated match vetoes the line, else any positive match. */
function patternsMatch(patterns: string[], names: string[]): boolean {
  let positive = false
  for (const pattern of patterns) {
    if (pattern.startsWith('|')) {
      if (names.some(name => hashedPatternMatches(pattern, name))) positive = true
      continue
    }
    const negated = pattern.startsWith('!')
    const glob = (negated ? pattern.slice(1) : pattern).toLowerCase()
    if (names.some(name => globMatch(glob, name))) {
      if (negated) return false
      positive = true
    }
  }
  return positive
}

/** `*` matches any run of characters (also empty), `?` exactly one; nothing else is special. */
function globMatch(pattern: string, text: string): boolean {
  let p = 0
  let t = 0
  let star = -1
  let resume = 0
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++
      t++
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++
      resume = t
    } else if (star !== -1) {
      p = star + 1
      t = ++resume
    } else {
      return false
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

function decodeHashedPattern(pattern: string): { salt: Buffer; hash: Buffer } | undefined {
  const parts = pattern.split('|')
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== '1') return undefined
  const [, , salt64, hash64] = parts as [string, string, string, string]
  for (const part of [salt64, hash64]) {
    if (part.length % 4 !== 0 || !BASE64.test(part)) return undefined
  }
  const salt = Buffer.from(salt64, 'base64')
  const hash = Buffer.from(hash64, 'base64')
  // OpenSSH writes a SHA-1-sized salt; the HMAC-SHA1 output is 20 bytes by definition.
  if (salt.length === 0 || hash.length !== 20) return undefined
  return { salt, hash }
}

/** `|1|salt|hash` is HMAC-SHA1 keyed with the salt over the host string (OpenSSH host_hash). */
function hashedPatternMatches(pattern: string, name: string): boolean {
  const decoded = decodeHashedPattern(pattern)
  if (!decoded) return false
  const mac = createHmac('sha1', decoded.salt).update(name).digest()
  return timingSafeEqual(mac, decoded.hash)
}

// ---------------------------------------------------------------------------------------------
// Fingerprints and key blobs

/** 'SHA256:' + unpadded base64 of sha256(blob), exactly like `ssh-keygen -lf`. */
export function fingerprintSha256(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

/**
 * Normalise a user-supplied fingerprint to the unpadded `SHA256:...` form. Only SHA-256 is
 * accepted: an MD5 fingerprint is too weak to pin a host key against a chosen-prefix attacker.
 */
export function parseFingerprint(text: string): string {
  const trimmed = text.trim()
  const match = /^SHA256:([A-Za-z0-9+/]{43})=?$/i.exec(trimmed)
  if (match && Buffer.from(match[1]!, 'base64').length === 32) {
    // Only the prefix is case-insensitive; base64 is not.
    return 'SHA256:' + match[1]!
  }
  const shown =
    trimmed.length <= 100 && !/[\r\n]/.test(trimmed) && !PRIVATE_KEY.test(trimmed)
      ? `'${trimmed}'`
      : `(${trimmed.length} characters, not shown)`
  const md5 = /^(MD5:)?([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(trimmed)
    ? ' MD5 fingerprints are not accepted; print the SHA256 one with `ssh-keygen -lf <file>`.'
    : ''
  throw new InputError(
    INPUT_FINGERPRINT,
    `Invalid host-fingerprint ${shown}. Expected the SHA256 form printed by \`ssh-keygen -lf\`, ` +
      `e.g. SHA256:abc... (43 base64 characters after the colon).${md5}`
  )
}

/**
 * Several fingerprints in one input (one per host key type, or across a key rotation),
 * separated by whitespace or commas. Each is a bare `SHA256:...`, or bound to one server as
 * `host=SHA256:...`, `host:port=SHA256:...` or `[2001:db8::1]:port=SHA256:...`, so that with
 * several servers each is checked against its own key only.
 */
export function parseFingerprints(text: string): HostFingerprint[] {
  return text
    .split(/[\s,]+/)
    .filter(part => part !== '')
    .map(part => {
      const equals = part.indexOf('=')
      // A bare fingerprint may end in '=' (base64 padding), never start with one.
      if (equals <= 0 || /^SHA256:/i.test(part)) return parseFingerprint(part)
      const where = part.slice(0, equals)
      const fingerprint = parseFingerprint(part.slice(equals + 1))
      const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(where)
      const plain = /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(where)
      const match = bracketed ?? plain
      const port = match?.[2] === undefined ? undefined : Number(match[2])
      if (!match || (port !== undefined && (port < 1 || port > 65535))) {
        throw new InputError(
          INPUT_FINGERPRINT,
          `Invalid host-fingerprint '${where.slice(0, 100)}=...': expected host=SHA256:..., host:port=SHA256:... or [IPv6]:port=SHA256:...`
        )
      }
      return port === undefined
        ? { host: match[1]!.toLowerCase(), fingerprint }
        : { host: match[1]!.toLowerCase(), port, fingerprint }
    })
}

/** Whether a `host-fingerprint` item applies to the server at host:port. */
export function fingerprintApplies(item: HostFingerprint, host: string, port: number): boolean {
  if (typeof item === 'string') return true
  return item.host === host.toLowerCase() && (item.port === undefined || item.port === port)
}

/** The key type string encoded at the start of an SSH public key blob (uint32 length + string). */
export function keyTypeOfBlob(blob: Buffer): string {
  const type = tryKeyTypeOfBlob(blob)
  if (type === undefined) {
    throw new HostKeyError(
      `Malformed SSH public key blob (${blob.length} bytes): no key type at its start`
    )
  }
  return type
}

function tryKeyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined
  const length = blob.readUInt32BE(0)
  // Key type names are short printable ASCII (RFC 4251 section 6); anything else is not a key.
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined
  const type = blob.subarray(4, 4 + length).toString('latin1')
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined
}

/**
 * Host key algorithms to offer ssh2 in `algorithms.serverHostKey` for the key types held, so
 * the server cannot pick a type we cannot check. Unknown types are dropped. Order: ed25519,
 * ecdsa, rsa.
 */
export function hostKeyAlgorithmsFor(keyTypes: string[]): string[] {
  const held = new Set(keyTypes)
  const algorithms: string[] = []
  for (const [type, names] of ALGORITHMS_BY_KEY_TYPE) {
    if (held.has(type)) algorithms.push(...names)
  }
  return algorithms
}

// ---------------------------------------------------------------------------------------------
// Verification

/** Length check first: timingSafeEqual throws on unequal lengths, and length is not secret. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

function describeEntries(entries: KnownHostEntry[]): string {
  return entries
    .map(entry => `${entry.keyType} ${fingerprintSha256(entry.key)} (line ${entry.line})`)
    .join(', ')
}

/** Build the verifier for one server: the algorithms to pin and a check of the offered blob. */
export function hostVerifierFor(policy: HostKeyPolicy, host: string, port: number): HostVerifier {
  const target = `${host}:${port}`
  switch (policy.kind) {
    case 'insecure':
      return { verify: () => ({ ok: true }) }

    case 'fingerprint': {
      // Only the fingerprints given for this server (and bare ones, one-server deploys only):
      // one server's key is never accepted for another.
      const expected = policy.fingerprints
        .filter(item => fingerprintApplies(item, host, port))
        .map(item => parseFingerprint(typeof item === 'string' ? item : item.fingerprint))
      if (expected.length === 0) {
        throw new HostKeyError(`No host fingerprint given for ${target}: refusing to connect.`)
      }
      const digests = expected.map(fp => Buffer.from(fp.slice('SHA256:'.length), 'base64'))
      // No algorithm pinning: the fingerprint covers the whole blob, key type included, so any
      // type the server picks is checked.
      return {
        verify(blob) {
          const offered = createHash('sha256').update(blob).digest()
          if (digests.some(digest => sameBytes(offered, digest))) return { ok: true }
          return {
            ok: false,
            reason:
              `Host key mismatch for ${target}: the server offered ${describeBlob(blob)}, ` +
              `but host-fingerprint expects ${expected.join(' or ')}.`
          }
        }
      }
    }

    case 'known-hosts':
      return knownHostsVerifier(policy.entries, host, port)
  }
}

function describeBlob(blob: Buffer): string {
  const type = tryKeyTypeOfBlob(blob) ?? 'a malformed'
  return `${type} key ${fingerprintSha256(blob)}`
}

function knownHostsVerifier(entries: KnownHostEntry[], host: string, port: number): HostVerifier {
  const target = `${host}:${port}`
  const { keys, revoked } = matchKnownHosts(entries, host, port)
  const isRevoked = (blob: Buffer) => revoked.some(entry => sameBytes(entry.key, blob))

  // Revoked keys are left out of the offer so a server that also has a good key of another type
  // is asked for that one instead.
  const usable = keys.filter(entry => ALGORITHMS_BY_KEY_TYPE.has(entry.keyType))
  const trusted = usable.filter(entry => !isRevoked(entry.key))

  if (trusted.length === 0) {
    const scan = `ssh-keyscan -p ${port} ${host}`
    let why = `known-hosts has no usable host key for ${target}`
    if (usable.length > 0) {
      why = `every known-hosts key for ${target} is marked @revoked`
    } else if (keys.length > 0) {
      const types = [...new Set(keys.map(entry => entry.keyType))].join(', ')
      why += ` (only key types that cannot be verified here: ${types})`
    } else if (hasCertAuthorityFor(entries, host, port)) {
      why += ' (@cert-authority lines are not supported: host certificates cannot be checked)'
    }
    throw new HostKeyError(
      `${why}. Add a line for it from \`${scan}\`, and check that key's fingerprint ` +
        `(\`ssh-keygen -lf\`) against the server out-of-band before trusting it.`
    )
  }

  return {
    algorithms: hostKeyAlgorithmsFor(trusted.map(entry => entry.keyType)),
    verify(blob) {
      if (isRevoked(blob)) {
        return {
          ok: false,
          reason: `Host key for ${target} is revoked: the server offered ${describeBlob(blob)}, which known-hosts marks @revoked.`
        }
      }
      if (trusted.some(entry => sameBytes(entry.key, blob))) return { ok: true }
      const type = tryKeyTypeOfBlob(blob)
      const sameType = trusted.filter(entry => entry.keyType === type)
      const expected = sameType.length > 0 ? sameType : trusted
      return {
        ok: false,
        reason:
          `Host key mismatch for ${target}: the server offered ${describeBlob(blob)}, ` +
          `but known-hosts expects ${describeEntries(expected)}. ` +
          `If the server's key was changed on purpose, update known-hosts from a fingerprint ` +
          `checked out-of-band; otherwise this may be a man-in-the-middle.`
      }
    }
  }
}

function hasCertAuthorityFor(entries: KnownHostEntry[], host: string, port: number): boolean {
  const names = hostNames(host, port)
  return entries.some(
    entry => entry.marker === '@cert-authority' && patternsMatch(entry.patterns, names)
  )
}
