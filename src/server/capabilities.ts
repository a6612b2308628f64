/**
 * What a server offers, learned in the inspect phase before anything is written: the SSH side
 * (its software, exec, SFTP and its extensions) and the shell side (the login shell, the tools
 * in PATH and whose they are). The deploy's choices follow from it (how to switch, how to send
 * files), and a deploy that cannot complete stops there, naming what is missing and the setting
 * that fixes it.
 */
import type { SftpProbe } from '../ssh/remote-host.js'
import type { Transfer } from '../settings.js'
import { printable } from '../ssh/servers.js'

/** Whose tools the server's PATH has. */
export type Toolset = 'gnu' | 'busybox' | 'other'

export interface ServerCapabilities {
  /** The server's software, from its identification string (`OpenSSH_9.2p1`), if known. */
  software: string | undefined
  /** Whether the round trips that rely on ssh2's internals are saved with this server. */
  pipelined: boolean
  /** Whether the account runs commands; without, `reason` says what the server did instead. */
  exec: { available: true } | { available: false; reason: string }
  /** SFTP: a session started (with the extensions announced), none, or not known. */
  sftp: SftpProbe
  /** The account's login shell ($SHELL), which runs every command line; undefined if unknown. */
  loginShell: string | undefined
  /** The commands the deploy may use that are in PATH (tar, gzip, sha256sum, stat, find, awk). */
  tools: ReadonlySet<string>
  toolset: Toolset
}

/** Commands a deploy cannot do without: the listing, the checksums and their comparison. */
export const REQUIRED_TOOLS = ['sha256sum', 'stat', 'find', 'awk'] as const

/** Whether the SFTP server announced an extension (posix-rename@openssh.com, say). */
export function sftpHas(capabilities: ServerCapabilities, extension: string): boolean {
  const { sftp } = capabilities
  return sftp.state === 'available' && (sftp.extensions?.includes(extension) ?? false)
}

/**
 * Whether `current` is switched over SFTP (posix-rename@openssh.com, which is rename(2)) or by a
 * rename in the shell (mv of a link made in a private directory): SFTP where it is there.
 */
export function switchesOverSftp(capabilities: ServerCapabilities): boolean {
  return sftpCanUpload(capabilities.sftp)
}

/** Uploads over SFTP write each file under a temporary name and rename it over the final one. */
export function sftpCanUpload(sftp: SftpProbe): boolean {
  return (
    sftp.state === 'available' && (sftp.extensions?.includes('posix-rename@openssh.com') ?? false)
  )
}

/**
 * One line for the log: what the server is and offers, and how the deploy will use it.
 * `sftpStarting`: SFTP's start was not waited for, as the files go by tar.
 */
export function describeCapabilities(
  capabilities: ServerCapabilities,
  sftpStarting = false
): string {
  const parts: string[] = [
    `${printable(capabilities.software ?? 'unknown SSH server')}${capabilities.pipelined ? ' (round trips saved)' : ''}`
  ]
  if (capabilities.loginShell !== undefined)
    parts.push(`login shell ${printable(capabilities.loginShell).slice(0, 200)}`)
  const tools = ['tar', 'gzip'].filter(t => capabilities.tools.has(t))
  const toolset =
    capabilities.toolset === 'gnu'
      ? 'GNU tools'
      : capabilities.toolset === 'busybox'
        ? 'BusyBox tools'
        : 'tools'
  parts.push(`${toolset}${tools.length > 0 ? ` with ${tools.join(' and ')}` : ', no tar'}`)
  const { sftp } = capabilities
  if (sftpStarting) parts.push('SFTP still starting (files go by tar)')
  else if (switchesOverSftp(capabilities)) parts.push('SFTP with posix-rename')
  else if (sftp.state === 'available')
    parts.push('SFTP without posix-rename: switching with mv in the shell')
  else if (sftp.state === 'missing')
    parts.push(`no SFTP (${printable(sftp.reason).slice(0, 200)}): switching with mv in the shell`)
  else parts.push(`SFTP not probed (${printable(sftp.reason).slice(0, 200)}): switching with mv`)
  return parts.join('; ')
}

/**
 * Why a deploy cannot complete on this server, or undefined when it can: a tool it needs, or a
 * way to send files (tar, or SFTP with posix-rename), with the setting that fixes it.
 */
export function deployProblem(
  capabilities: ServerCapabilities,
  transfer: Transfer
): string | undefined {
  const missing = REQUIRED_TOOLS.filter(t => !capabilities.tools.has(t))
  if (missing.length > 0) return missingToolsProblem(missing)
  return sendFilesProblem(transfer, capabilities.tools.has('tar'), capabilities.sftp)
}

export function missingToolsProblem(missing: readonly string[]): string {
  return `the server has no ${missing.map(t => `'${t}'`).join(', ')} in PATH; atomic-deploy needs sh, find, stat, sha256sum and awk (GNU coreutils or BusyBox), and tar for transfer: tar.`
}

/** Why files cannot be sent with `transfer`, given tar and what SFTP was found to be. */
export function sendFilesProblem(
  transfer: Transfer,
  tar: boolean,
  sftp: SftpProbe
): string | undefined {
  const viaSftp = sftpCanUpload(sftp)
  const why =
    sftp.state === 'available'
      ? 'its SFTP server has no posix-rename@openssh.com'
      : sftp.state === 'missing'
        ? `it has no SFTP (${printable(sftp.reason).slice(0, 200)})`
        : `SFTP could not be started (${printable(sftp.reason).slice(0, 200)})`
  if (transfer === 'tar' && !tar)
    return `transfer is tar but the server has no 'tar' in PATH: install tar, or set transfer: auto${viaSftp ? '' : ' with an SFTP server'}.`
  if (transfer === 'sftp' && !viaSftp)
    return `transfer is sftp but ${why}: set transfer: auto or tar${tar ? '' : ' and install tar'}.`
  if (transfer === 'auto' && !tar && !viaSftp)
    return `the server has no 'tar' in PATH and ${why}, so files cannot be sent: install tar (GNU or BusyBox), or enable SFTP (Subsystem sftp in sshd_config; Dropbear runs /usr/lib/sftp-server).`
  return undefined
}
