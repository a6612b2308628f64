/** The sentences a user reads when a server refuses, is locked, or fails verification. */
import type { SftpProbe } from '../ssh/remote-host.js'
import { printable } from '../ssh/servers.js'
import { quote } from '../shell-quote.js'
import { shown } from './server-data.js'

export function describeListingLine(line: string): string {
  const m = /^([fdl]) (?:(\d+) )?(?:(\d+) )?\.\/(.*)$/.exec(line)
  if (!m) return line
  const [, type, a, b, p] = m
  if (type === 'f') return `${p} (file, mode ${a}, ${b} bytes)`
  if (type === 'l') return `${p} (symlink)`
  return a === undefined ? `${p} (directory)` : `${p} (directory, mode ${a})`
}

/** A path as a user would paste it into a shell: quoted only when it needs to be. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(text) ? text : quote(text)
}

export function lastLines(text: string, n = 5): string {
  return text.trim().split('\n').slice(-n).join(' | ')
}

export function refusalMessage(
  refused: string,
  foreign: string[],
  user: string,
  deployDir: string
): string {
  const [kind, ...rest] = refused.split(' ')
  const detail = rest.join(' ')
  switch (kind) {
    case 'foreign':
      return `refusing to deploy: ${detail} (${foreign.slice(0, 10).join(', ')}${foreign.length > 10 ? ', ...' : ''}). Nothing was changed. Deploy to a new, empty path, or back up that directory and empty it (a shared/ directory prepared by hand may stay).`
    case 'permission':
      return `permission denied: ${detail}. Create the directory as root and give it to the deploy user: 'sudo mkdir -p ${shellWord(deployDir)} && sudo chown ${user}: ${shellWord(deployDir)}'. Nothing was changed.`
    case 'system':
      return `refusing to deploy into ${detail}. Choose a directory of its own, e.g. /var/www/app.`
    case 'notdir':
    case 'layout':
      return `refusing to deploy: ${detail}. Nothing was changed.`
    default:
      return `refusing to deploy: ${refused}`
  }
}

/**
 * Why the account ran no script, from what the server printed instead (untrusted: shown
 * printable, and short).
 */
export function noShellReason(said: string, code: number | null): string {
  // OpenSSH's words when ForceCommand internal-sftp meets a command (session.c).
  if (/sftp connections only/i.test(said))
    return 'sshd runs only SFTP for it (ForceCommand internal-sftp)'
  return `the server ran no shell for it (exit ${code}${said ? `: ${printable(said).slice(0, 300)}` : ''})`
}

/**
 * Why an account without a shell cannot be deployed to: its SFTP cannot carry the deploy either
 * (none, or one without posix-rename@openssh.com for the atomic switch).
 */
export function noShellMessage(user: string, reason: string, sftp?: SftpProbe): string {
  const sftpToo =
    sftp === undefined
      ? ''
      : sftp.state === 'available'
        ? ', and its SFTP server has no posix-rename@openssh.com, which the atomic switch needs'
        : sftp.state === 'missing'
          ? `, and it has no SFTP either (${printable(sftp.reason).slice(0, 200)})`
          : `, and SFTP could not be started (${printable(sftp.reason).slice(0, 200)})`
  return `the account '${user}' has no shell: ${reason}${sftpToo}. atomic-deploy runs each step as a POSIX sh script over SSH, or, for an account without a shell, over SFTP alone (OpenSSH's sftp-server, with posix-rename@openssh.com): give the account a login shell that runs commands, or SFTP.`
}

/** Who holds a lock, from its owner record: run URL, commit, actor, start time and age. */
export function describeLockOwner(ownerJson: string | undefined): string {
  if (!ownerJson) return 'an unknown holder (the lock has no owner record)'
  try {
    const owner = JSON.parse(ownerJson) as {
      runUrl?: string
      commit?: string
      started?: string
      actor?: string
    }
    const age = owner.started
      ? Math.max(0, Math.round((Date.now() - Date.parse(owner.started)) / 1000))
      : undefined
    // The record is read back from the server: every field is shown, never taken as text to
    // act on (a line break or a workflow command in it stays visible and inert).
    const field = (v: unknown, max = 200): string | undefined =>
      typeof v === 'string' ? shown(v, max) : undefined
    const started = field(owner.started, 40)
    return `${field(owner.runUrl) ?? 'an unknown run'} (commit ${field(typeof owner.commit === 'string' ? owner.commit.slice(0, 12) : undefined) || 'unknown'}${owner.actor ? `, by ${field(owner.actor, 64)}` : ''}, started ${started ?? '?'}${age !== undefined && !Number.isNaN(age) ? `, ${formatAge(age)} ago` : ''})`
  } catch {
    return `an unreadable owner record: ${shown(ownerJson, 200)}`
  }
}

export function lockHeldMessage(ownerJson: string | undefined, deployDir: string): string {
  return `another deploy holds the lock on ${deployDir}: ${describeLockOwner(ownerJson)}. Wait for it to finish; if it is gone (a cancelled or crashed run), clear the lock with 'mode: unlock'. A 'concurrency:' group in the workflow prevents this.`
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`
  return `${Math.round(seconds / 3600)}h`
}
