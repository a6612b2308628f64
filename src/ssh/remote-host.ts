import type { Readable } from 'node:stream'
import type { RemoteFiles } from '../sftp/remote-files.js'
import type { Script } from './script-frame.js'

export type { RemoteFiles }

/** Options for one script run on the server. */
export interface RunOptions {
  /** Bytes fed to the script's standard input after the script itself (a tar stream, say). */
  stdin?: Readable
  /**
   * Instead of `stdin`: a few bytes the script reads after itself, which end its standard input
   * (an answer the runner is still working out as the script starts). Sent with the script, in
   * the same flight, when already known; otherwise the moment they are, without waiting for the
   * server to acknowledge the command. Must not reject.
   */
  follow?: Promise<Buffer>
  /** Each complete line the script writes to stderr (hook output, tool errors), as it arrives. */
  onStderrLine?: (line: string) => void
  /** Aborting closes the channel; the remote script sees EOF and cleans up. */
  signal?: AbortSignal
  /**
   * Called once the channel is open, with a function that tells how many bytes of `stdin` the
   * server has taken so far (undefined where the connection cannot tell): what paces the
   * archive's compression to the link.
   */
  onStdinMeter?: (taken: () => number | undefined) => void
  /**
   * No script follows this one on the connection when it succeeds (a release script that
   * switches and finishes): no channel is opened ahead of need for a next one, which would start
   * a session and a shell on the server beside this script for nothing. A script after all (an
   * abort, after a failure) opens its own channel, one round trip later.
   */
  last?: boolean
}

export interface RunResult {
  /** Exit status, or null when the script was killed or the channel was lost. */
  code: number | null
  /** Everything the script wrote to stdout (its machine-readable results). */
  stdout: Buffer
  /** The last few KB of stderr, for error messages. */
  stderrTail: string
}

/** What starting SFTP on a connection found. */
export type SftpProbe =
  /** A session started; `extensions` are those the server announced, when they are readable. */
  | { state: 'available'; extensions: string[] | undefined }
  /** The server refused the subsystem, or the session ended while starting. */
  | { state: 'missing'; reason: string }
  /** Not known: the channel open was refused (sshd's MaxSessions), which says nothing of SFTP. */
  | { state: 'unknown'; reason: string }

/**
 * A server the deploy talks to. The deploy logic speaks only to this interface: the real
 * implementation is ssh2 over one connection, unit tests use a hand-written fake.
 */
export interface RemoteHost {
  /** `user@host:port`, for log prefixes and errors. */
  readonly label: string
  /**
   * Run a POSIX sh script. The script travels on stdin, never on a command line: the command is
   * always the same single line, which every login shell runs alike. A server script comes in
   * its two parts (ScriptParts: its values, then its constant text).
   */
  run(script: Script, options?: RunOptions): Promise<RunResult>
  /** False once the connection was closed or lost. */
  readonly connected: boolean
  /** The server's software, from its identification string (`OpenSSH_9.2p1`), if known. */
  readonly software: string | undefined
  /** Whether the round-trip savings that rely on ssh2's internals are on for this server. */
  readonly pipelined: boolean
  /** Whether the server has SFTP, and its extensions: the first start of the session. */
  probeSftp(): Promise<SftpProbe>
  /**
   * The SFTP session of this connection, opened once, with its pipelined engine; rejects where
   * the server has none.
   */
  files(): Promise<RemoteFiles>
  /** False when no command may run (`shell: none`): the connection carries SFTP alone. */
  readonly exec: boolean
  /**
   * Whether the connection's first script went out during authentication (ConnectOptions.
   * firstScript); when it has not, it will not from now on. Absent: never.
   */
  firstScriptSent?(): boolean
  close(): void
}

/** Bytes of stdout one script may send: our scripts print small results and bounded blobs. */
export const SCRIPT_OUTPUT_LIMIT = 48 * 1024 * 1024

/** A line of stderr longer than this is passed on in pieces. */
export const STDERR_LINE_LIMIT = 64 * 1024
