/**
 * Typed errors. The class decides how an error is reported: an InputError is one line that
 * names the input, a RemoteCommandError carries the exit code and the tail of stderr, and so
 * on. Nothing is decided by matching message text.
 */

/** A workflow input is missing or malformed. Raised before anything touches a server. */
export class InputError extends Error {
  override name = 'InputError'
  constructor(
    readonly input: string,
    message: string
  ) {
    super(message)
  }
}

/** The TCP or SSH connection failed, was refused, or was lost. */
export class ConnectionError extends Error {
  override name = 'ConnectionError'
  /** The connection's first script had gone with the authentication request, and may have run. */
  scriptMayHaveRun?: boolean
}

/**
 * The server refused to run a command (the exec request itself was refused): the account may be
 * SFTP-only.
 */
export class ExecRefusedError extends ConnectionError {
  override name = 'ExecRefusedError'
}

/** The server's host key does not match `known-hosts` / `host-fingerprint`. */
export class HostKeyError extends Error {
  override name = 'HostKeyError'
}

/** Another deploy holds `.atomic-deploy/lock`. */
export class LockHeldError extends Error {
  override name = 'LockHeldError'
}

/** A command on the server exited non-zero. */
export class RemoteCommandError extends Error {
  override name = 'RemoteCommandError'
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string
  ) {
    super(message)
  }
}

/** The server refused the deploy for a reason the user must fix (foreign path, conflict...). */
export class DeployRefusedError extends Error {
  override name = 'DeployRefusedError'
}

/** The release on the server does not match the manifest. */
export class VerifyError extends Error {
  override name = 'VerifyError'
  constructor(
    message: string,
    readonly paths: string[]
  ) {
    super(message)
  }
}

/** The server answered that the switch could not be made: `current` is known to be unchanged. */
export class SwitchRefusedError extends Error {
  override name = 'SwitchRefusedError'
}

/**
 * A script sent gzipped could not be read by the server (it has no gzip): nothing of it ran,
 * and it goes again as it is. Raised only for a script with stdin, which the caller must send
 * afresh; the connection sends scripts as they are from then on.
 */
export class ScriptUnreadError extends Error {
  override name = 'ScriptUnreadError'
}

/**
 * Something read back from a server (a record in .atomic-deploy/, `current`, a listing) failed
 * validation. The server is untrusted input: the value is never used, and the message names the
 * file and the fix.
 */
export class ServerDataError extends Error {
  override name = 'ServerDataError'
}

/** The server did not answer within command-timeout (no progress either way). */
export class CommandTimeoutError extends Error {
  override name = 'CommandTimeoutError'
}

/** The run was cancelled (SIGINT/SIGTERM). */
export class AbortedError extends Error {
  override name = 'AbortedError'
}

/** The error's message, whatever was thrown. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
