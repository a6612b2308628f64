import * as core from '@actions/core'
import { statSync } from 'node:fs'
import * as path from 'node:path'
import { InputError } from '../errors.js'
import {
  fingerprintApplies,
  parseFingerprints,
  parseKnownHosts,
  type HostFingerprint,
  type HostKeyPolicy
} from '../ssh/known-hosts.js'
import { releaseIdProblem } from '../release/release-id.js'
import { parsePort, parseServers, printable, type Server } from '../ssh/servers.js'
import type { JumpHost } from '../ssh/jump-hosts.js'
import type { Credentials } from '../ssh/ssh-connect.js'
import { DEFAULT_MAX_PARALLEL, Inputs, type InputName, type Settings } from '../settings.js'
import { systemDirectoryProblem } from '../server/system-directories.js'
import { DEFAULT_COMMAND_TIMEOUT_SECONDS } from '../ssh/ssh-remote-host.js'

/** Reads one input by name; core.getInput in the action, a map in tests. */
export type InputReader = (name: InputName) => string

const readFromEnvironment: InputReader = name => core.getInput(name)

/**
 * Read and validate every input into one Settings object. Secrets are masked before anything
 * else happens to them. Any problem throws an InputError that names the input and the form
 * expected; nothing has been written on a server at this point (at most, a connection opened
 * while the action loaded has sent SSH's identification string: see src/ssh/early-connect.ts).
 */
export function getSettings(
  read: InputReader = readFromEnvironment,
  workspace = defaultWorkspace()
): Settings {
  const input = (name: InputName): string => read(name).trim()
  const raw = (name: InputName): string => read(name)

  const privateKey = secret(raw(Inputs.PrivateKey))
  const passphrase = secret(raw(Inputs.Passphrase))
  const password = secret(raw(Inputs.Password))
  if (privateKey !== undefined) checkPrivateKey(privateKey, Inputs.PrivateKey)

  const mode = oneOf(Inputs.Mode, input(Inputs.Mode) || 'deploy', [
    'deploy',
    'rollback',
    'unlock'
  ] as const)

  const defaultUser = input(Inputs.Username) || undefined
  const port = input(Inputs.Port) === '' ? 22 : parsePort(input(Inputs.Port))
  if (port === undefined) {
    throw new InputError(
      Inputs.Port,
      `Invalid port '${printable(input(Inputs.Port))}'. Expected a number from 1 to 65535.`
    )
  }
  if (defaultUser !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(defaultUser)) {
    throw new InputError(
      Inputs.Username,
      `Invalid username '${printable(defaultUser)}'. Expected a login name of letters, digits, '.', '_' and '-'.`
    )
  }
  const servers = parseServers(read(Inputs.Servers), defaultUser, port)

  if (privateKey === undefined && password === undefined) {
    throw new InputError(
      Inputs.PrivateKey,
      `No credentials: set 'private-key' (recommended, from a secret) or 'password'.`
    )
  }
  if (passphrase !== undefined && privateKey === undefined) {
    throw new InputError(Inputs.Passphrase, `'passphrase' is set but 'private-key' is empty.`)
  }

  const jumpHosts = jumpChain(read, defaultUser, { privateKey, passphrase, password })

  const hostKeys = hostKeyPolicy(
    raw(Inputs.KnownHosts),
    raw(Inputs.HostFingerprint),
    bool(read, Inputs.InsecureIgnoreHostKey, false)
  )
  if (hostKeys.kind === 'fingerprint') checkFingerprintsCover(hostKeys.fingerprints, servers)

  const deployPath = remotePath(input(Inputs.Path))
  const source = sourceDirectory(input(Inputs.Source) || '.', workspace, mode === 'deploy')
  const exclude = lines(raw(Inputs.Exclude), Inputs.Exclude, 'glob patterns, one per line').filter(
    l => !l.startsWith('#')
  )

  const releaseIdText = input(Inputs.ReleaseId)
  if (releaseIdText !== '') {
    const problem = releaseIdProblem(releaseIdText)
    if (problem)
      throw new InputError(
        Inputs.ReleaseId,
        `Invalid release-id '${printable(releaseIdText)}': ${problem}.`
      )
  }
  const rollbackToText = input(Inputs.RollbackTo)
  if (rollbackToText !== '') {
    const problem = releaseIdProblem(rollbackToText)
    if (problem)
      throw new InputError(
        Inputs.RollbackTo,
        `Invalid rollback-to '${printable(rollbackToText)}': ${problem}.`
      )
    if (mode !== 'rollback') {
      throw new InputError(
        Inputs.RollbackTo,
        `'rollback-to' only applies with 'mode: rollback' (mode is '${mode}').`
      )
    }
  }

  const healthCheckUrl = input(Inputs.HealthCheckUrl) || undefined
  if (healthCheckUrl !== undefined) checkUrl(healthCheckUrl)
  const healthCheckExpect = expectedText(raw(Inputs.HealthCheckExpect))
  if (healthCheckExpect !== undefined && healthCheckUrl === undefined) {
    throw new InputError(
      Inputs.HealthCheckExpect,
      `'health-check-expect' is set but 'health-check-url' is empty. Set the URL whose answer must contain the text.`
    )
  }

  const beforeSwitch = script(raw(Inputs.BeforeSwitch), Inputs.BeforeSwitch)
  const afterSwitch = script(raw(Inputs.AfterSwitch), Inputs.AfterSwitch)
  const afterRollback = script(raw(Inputs.AfterRollback), Inputs.AfterRollback)
  const transfer = oneOf(Inputs.Transfer, input(Inputs.Transfer) || 'auto', [
    'auto',
    'tar',
    'sftp'
  ] as const)
  const shell = oneOf(Inputs.Shell, input(Inputs.Shell) || 'auto', ['auto', 'none'] as const)
  if (shell === 'none') {
    // Refused before anything connects: these need commands on the server.
    const needs: [InputName, boolean][] = [
      [Inputs.BeforeSwitch, beforeSwitch !== undefined],
      [Inputs.AfterSwitch, afterSwitch !== undefined],
      [Inputs.AfterRollback, afterRollback !== undefined],
      [Inputs.Transfer, transfer === 'tar']
    ]
    for (const [name, set] of needs) {
      if (set)
        throw new InputError(
          name,
          `'${name}' needs a shell on the server, and 'shell' is none. Remove '${name}'${name === Inputs.Transfer ? ' (or set it to auto or sftp)' : ''}, or set 'shell: auto' for servers that run commands.`
        )
    }
  }

  return {
    servers,
    privateKey,
    passphrase,
    password,
    hostKeys,
    jumpHosts,
    path: deployPath,
    source,
    exclude,
    releaseId: releaseIdText || undefined,
    keepReleases: integer(read, Inputs.KeepReleases, 3, 1, 100),
    beforeSwitch,
    afterSwitch,
    afterRollback,
    mode,
    rollbackTo: rollbackToText || undefined,
    dryRun: bool(read, Inputs.DryRun, false),
    reuse: oneOf(Inputs.Reuse, input(Inputs.Reuse) || 'previous', [
      'previous',
      'cache',
      'none'
    ] as const),
    copyMethod: oneOf(Inputs.CopyMethod, input(Inputs.CopyMethod) || 'copy', [
      'copy',
      'hardlink'
    ] as const),
    compression: oneOf(Inputs.Compression, input(Inputs.Compression) || 'auto', [
      'auto',
      'gzip',
      'none'
    ] as const),
    transfer,
    shell,
    verify: oneOf(Inputs.Verify, input(Inputs.Verify) || 'standard', ['standard', 'full'] as const),
    sharedPaths: sharedPaths(raw(Inputs.SharedPaths)),
    sharedConflict: oneOf(Inputs.SharedConflict, input(Inputs.SharedConflict) || 'fail', [
      'fail',
      'replace'
    ] as const),
    rollbackOnFailure: bool(read, Inputs.RollbackOnFailure, true),
    healthCheckUrl,
    healthCheckTimeout: integer(read, Inputs.HealthCheckTimeout, 60, 1, 3600),
    healthCheckExpect,
    onDrift: oneOf(Inputs.OnDrift, input(Inputs.OnDrift) || 'warn', [
      'warn',
      'fail',
      'ignore'
    ] as const),
    strategy: oneOf(Inputs.Strategy, input(Inputs.Strategy) || 'parallel', [
      'parallel',
      'sequential'
    ] as const),
    maxParallel: integer(read, Inputs.MaxParallel, DEFAULT_MAX_PARALLEL, 1, 100),
    connectTimeout: integer(read, Inputs.ConnectTimeout, 20, 1, 300),
    commandTimeout: integer(
      read,
      Inputs.CommandTimeout,
      DEFAULT_COMMAND_TIMEOUT_SECONDS,
      10,
      6 * 3600
    )
  }
}

function defaultWorkspace(): string {
  return process.env.GITHUB_WORKSPACE || process.cwd()
}

/**
 * Mask a secret as soon as it is read. The runner masks a value line by line as it appears in
 * the log, so a multi-line key is registered whole and per line (a PEM body line could
 * otherwise show up alone in an error message).
 */
function secret(value: string): string | undefined {
  if (value.trim() === '') return undefined
  // Outside Actions nothing consumes ::add-mask::, which would print the secret itself.
  if (process.env.GITHUB_ACTIONS !== 'true') return value
  core.setSecret(value)
  for (const line of value.split(/\r?\n/)) {
    if (line.trim().length >= 8) core.setSecret(line.trim())
  }
  return value
}

function checkPrivateKey(key: string, name: InputName): void {
  if (/^(ssh-|ecdsa-|sk-)[a-z0-9-]+ [A-Za-z0-9+/=]+/.test(key.trim())) {
    throw new InputError(
      name,
      `Invalid ${name}: this is a public key (it starts with the key type). Pass the private key file's whole text, which starts with '-----BEGIN'.`
    )
  }
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(key)) {
    throw new InputError(
      name,
      `Invalid ${name}: expected the whole text of an OpenSSH or PEM private key, starting with '-----BEGIN ... PRIVATE KEY-----'.`
    )
  }
}

/**
 * The jump hosts and the credentials for each: jump-private-key (one key for every hop, or one
 * per hop in order), jump-passphrase and jump-password where they are set, the servers' own
 * credentials otherwise.
 */
function jumpChain(
  read: InputReader,
  defaultUser: string | undefined,
  main: Credentials
): JumpHost[] {
  const text = read(Inputs.JumpHost)
  const keysText = secret(read(Inputs.JumpPrivateKey))
  const passphrase = secret(read(Inputs.JumpPassphrase))
  const password = secret(read(Inputs.JumpPassword))
  if (text.trim() === '') {
    const stray = [
      [Inputs.JumpPrivateKey, keysText],
      [Inputs.JumpPassphrase, passphrase],
      [Inputs.JumpPassword, password]
    ].find(([, value]) => value !== undefined)
    if (stray)
      throw new InputError(stray[0] as InputName, `'${stray[0]}' is set but 'jump-host' is empty.`)
    return []
  }
  const hops = parseServers(text, defaultUser, 22, Inputs.JumpHost)
  let keys: string[] = []
  if (keysText !== undefined) {
    checkPrivateKey(keysText, Inputs.JumpPrivateKey)
    keys =
      keysText.match(
        /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/g
      ) ?? []
    if (keys.length === 0)
      throw new InputError(
        Inputs.JumpPrivateKey,
        `Invalid jump-private-key: a key has no '-----END ... PRIVATE KEY-----' line.`
      )
    if (keys.length > hops.length)
      throw new InputError(
        Inputs.JumpPrivateKey,
        `Invalid jump-private-key: it holds ${keys.length} keys for ${hops.length} jump host${hops.length === 1 ? '' : 's'}. Expected one key for every jump host, or one per jump host in the order of jump-host.`
      )
  }
  if (passphrase !== undefined && keys.length === 0)
    throw new InputError(
      Inputs.JumpPassphrase,
      `'jump-passphrase' is set but 'jump-private-key' is empty.`
    )
  const own = keys.length > 0 || password !== undefined
  return hops.map((server, i) => {
    const credentials: Credentials = own
      ? {
          ...(keys.length > 0 ? { privateKey: keys[Math.min(i, keys.length - 1)] } : {}),
          ...(passphrase !== undefined ? { passphrase } : {}),
          ...(password !== undefined ? { password } : {})
        }
      : {
          ...(main.privateKey !== undefined ? { privateKey: main.privateKey } : {}),
          ...(main.passphrase !== undefined ? { passphrase: main.passphrase } : {}),
          ...(main.password !== undefined ? { password: main.password } : {})
        }
    return { server, ...credentials }
  })
}

function hostKeyPolicy(knownHosts: string, fingerprints: string, insecure: boolean): HostKeyPolicy {
  if (knownHosts.trim() !== '') {
    if (fingerprints.trim() !== '') {
      throw new InputError(
        Inputs.HostFingerprint,
        `Set either 'known-hosts' or 'host-fingerprint', not both.`
      )
    }
    return { kind: 'known-hosts', entries: parseKnownHosts(knownHosts) }
  }
  if (fingerprints.trim() !== '') {
    return { kind: 'fingerprint', fingerprints: parseFingerprints(fingerprints) }
  }
  if (insecure) return { kind: 'insecure' }
  throw new InputError(
    Inputs.KnownHosts,
    `No way to verify the servers' host keys. Set 'known-hosts' (lines from ssh-keyscan, checked out-of-band) or 'host-fingerprint' (SHA256:...), or 'insecure-ignore-host-key: true' for a throwaway server.`
  )
}

/**
 * Each server must have a fingerprint of its own. A bare fingerprint applies to any server, so
 * with several servers one server's key would be accepted for another: it is refused there.
 */
function checkFingerprintsCover(fingerprints: HostFingerprint[], servers: Server[]): void {
  const form = `Bind each fingerprint to its server: 'web1.example.com=SHA256:...' (or host:port=SHA256:..., [IPv6]:port=SHA256:...).`
  if (servers.length > 1 && fingerprints.some(f => typeof f === 'string')) {
    throw new InputError(
      Inputs.HostFingerprint,
      `Invalid host-fingerprint: a bare SHA256:... would accept any of the ${servers.length} servers' keys for every other. ${form}`
    )
  }
  for (const f of fingerprints) {
    if (typeof f !== 'string' && !servers.some(s => fingerprintApplies(f, s.host, s.port)))
      throw new InputError(
        Inputs.HostFingerprint,
        `Invalid host-fingerprint: '${printable(f.host)}${f.port === undefined ? '' : `:${f.port}`}' is not one of the servers (${servers.map(s => s.label).join(', ')}).`
      )
  }
  for (const s of servers) {
    if (!fingerprints.some(f => fingerprintApplies(f, s.host, s.port)))
      throw new InputError(
        Inputs.HostFingerprint,
        `Invalid host-fingerprint: none is given for ${s.label}. ${form}`
      )
  }
}

function remotePath(value: string): string {
  const form = `Expected a directory on the server, absolute (/var/www/app) or relative to the login directory (apps/site).`
  if (value === '') throw new InputError(Inputs.Path, `Input 'path' is required. ${form}`)
  if (/[\0\r\n]/.test(value)) {
    throw new InputError(
      Inputs.Path,
      `Invalid path '${printable(value)}': it contains a control character. ${form}`
    )
  }
  const normal = path.posix.normalize(value)
  if (normal === '.' || normal === './' || normal === '~' || normal.startsWith('~')) {
    throw new InputError(
      Inputs.Path,
      `Invalid path '${printable(value)}': name a directory of its own, not the login directory. ${form}`
    )
  }
  if (normal.startsWith('/')) {
    const problem = systemDirectoryProblem(normal)
    if (problem)
      throw new InputError(Inputs.Path, `Invalid path '${printable(value)}': ${problem}. ${form}`)
  }
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal
}

function sourceDirectory(value: string, workspace: string, mustExist: boolean): string {
  if (/[\0\r\n]/.test(value)) {
    throw new InputError(
      Inputs.Source,
      `Invalid source '${printable(value)}': it contains a control character. Expected a directory in the workspace.`
    )
  }
  const absolute = path.resolve(workspace, value)
  if (mustExist) {
    let isDirectory: boolean
    try {
      isDirectory = statSync(absolute).isDirectory()
    } catch {
      isDirectory = false
    }
    if (!isDirectory) {
      throw new InputError(
        Inputs.Source,
        `Invalid source '${printable(value)}': ${absolute} is not a directory. Expected a directory in the workspace, e.g. '.' or 'build'.`
      )
    }
  }
  return absolute
}

function lines(value: string, name: InputName, form: string): string[] {
  if (value.includes('\0'))
    throw new InputError(name, `Invalid ${name}: it contains a NUL byte. Expected ${form}.`)
  return value
    .split(/\r?\n/)
    .map(l => l.trim())
    .filter(l => l !== '')
}

function sharedPaths(value: string): string[] | undefined {
  const list = lines(value, Inputs.SharedPaths, 'paths relative to shared/, one per line').filter(
    l => !l.startsWith('#')
  )
  if (list.length === 0) return undefined
  const form = `Expected paths relative to shared/, one per line, like '.env' or 'storage/' (a trailing / makes a directory).`
  const result: string[] = []
  for (const entry of list) {
    const isDir = entry.endsWith('/')
    const body = entry.replace(/\/+$/, '').replace(/^(\.\/)+/, '')
    const segments = body.split('/')
    if (
      body === '' ||
      entry.startsWith('/') ||
      segments.some(s => s === '' || s === '.' || s === '..') ||
      /[\u0000-\u001f\u007f]/.test(body)
    ) {
      throw new InputError(
        Inputs.SharedPaths,
        `Invalid shared-paths entry '${printable(entry)}'. ${form}`
      )
    }
    result.push(isDir ? `${body}/` : body)
  }
  const bare = result.map(p => p.replace(/\/$/, ''))
  for (const a of bare) {
    for (const b of bare) {
      if (a !== b && b.startsWith(`${a}/`)) {
        throw new InputError(
          Inputs.SharedPaths,
          `Invalid shared-paths: '${b}' is inside '${a}', which is already shared.`
        )
      }
    }
    if (bare.indexOf(a) !== bare.lastIndexOf(a)) {
      throw new InputError(Inputs.SharedPaths, `Invalid shared-paths: '${a}' is listed twice.`)
    }
  }
  return result
}

function script(value: string, name: InputName): string | undefined {
  if (value.includes('\0')) {
    throw new InputError(
      name,
      `Invalid ${name}: it contains a NUL byte. Expected a shell script (text, one command per line).`
    )
  }
  // Scripts pasted from Windows editors carry CRLF; `sh` would see "\r" as part of each word.
  const text = value.replace(/\r\n?/g, '\n')
  return text.trim() === '' ? undefined : text
}

function checkUrl(value: string): void {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InputError(
      Inputs.HealthCheckUrl,
      `Invalid health-check-url '${printable(value)}'. Expected an http:// or https:// URL, e.g. https://example.com/health.`
    )
  }
}

/**
 * The text a healthy answer must contain, as given: only a trailing line break (a YAML block
 * scalar's) is dropped, since leading or inner spaces may be part of what is looked for.
 */
function expectedText(value: string): string | undefined {
  const text = value.replace(/\r?\n$/, '')
  if (text.trim() === '') return undefined
  if (/[\0\r\n]/.test(text)) {
    throw new InputError(
      Inputs.HealthCheckExpect,
      `Invalid health-check-expect '${printable(text)}': it contains a line break or NUL. Expected text on one line that the health page prints, e.g. 'status: ok'.`
    )
  }
  return text
}

function oneOf<T extends string>(name: InputName, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T
  throw new InputError(
    name,
    `Invalid ${name} '${printable(value)}'. Expected one of: ${allowed.join(', ')}.`
  )
}

/** YAML 1.2 core booleans, as core.getBooleanInput accepts them, with an error naming the input. */
function bool(read: InputReader, name: InputName, fallback: boolean): boolean {
  const value = read(name).trim()
  if (value === '') return fallback
  if (['true', 'True', 'TRUE'].includes(value)) return true
  if (['false', 'False', 'FALSE'].includes(value)) return false
  throw new InputError(name, `Invalid ${name} '${printable(value)}'. Expected true or false.`)
}

function integer(
  read: InputReader,
  name: InputName,
  fallback: number,
  min: number,
  max: number
): number {
  const value = read(name).trim()
  if (value === '') return fallback
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new InputError(
      name,
      `Invalid ${name} '${printable(value)}'. Expected a whole number from ${min} to ${max}.`
    )
  }
  return Number(value)
}
