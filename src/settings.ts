import type { JumpHost } from './ssh/jump-hosts.js'
import type { HostKeyPolicy } from './ssh/known-hosts.js'
import type { Server } from './ssh/servers.js'

/** Input names, exactly as in action.yml. Code never spells an input name twice. */
export const Inputs = {
  Servers: 'servers',
  Username: 'username',
  Port: 'port',
  PrivateKey: 'private-key',
  Passphrase: 'passphrase',
  Password: 'password',
  KnownHosts: 'known-hosts',
  HostFingerprint: 'host-fingerprint',
  InsecureIgnoreHostKey: 'insecure-ignore-host-key',
  JumpHost: 'jump-host',
  JumpPrivateKey: 'jump-private-key',
  JumpPassphrase: 'jump-passphrase',
  JumpPassword: 'jump-password',
  Path: 'path',
  Source: 'source',
  Exclude: 'exclude',
  ReleaseId: 'release-id',
  KeepReleases: 'keep-releases',
  BeforeSwitch: 'before-switch',
  AfterSwitch: 'after-switch',
  AfterRollback: 'after-rollback',
  Mode: 'mode',
  RollbackTo: 'rollback-to',
  DryRun: 'dry-run',
  Reuse: 'reuse',
  CopyMethod: 'copy-method',
  Compression: 'compression',
  Transfer: 'transfer',
  Shell: 'shell',
  Verify: 'verify',
  SharedPaths: 'shared-paths',
  SharedConflict: 'shared-conflict',
  RollbackOnFailure: 'rollback-on-failure',
  HealthCheckUrl: 'health-check-url',
  HealthCheckTimeout: 'health-check-timeout',
  HealthCheckExpect: 'health-check-expect',
  OnDrift: 'on-drift',
  Strategy: 'strategy',
  MaxParallel: 'max-parallel',
  ConnectTimeout: 'connect-timeout',
  CommandTimeout: 'command-timeout'
} as const

export type InputName = (typeof Inputs)[keyof typeof Inputs]

export const Outputs = {
  ReleaseId: 'release-id',
  ReleasePath: 'release-path',
  PreviousReleaseId: 'previous-release-id',
  FilesUploaded: 'files-uploaded',
  FilesDeleted: 'files-deleted',
  BytesUploaded: 'bytes-uploaded',
  RolledBack: 'rolled-back',
  Servers: 'servers'
} as const

export type Mode = 'deploy' | 'rollback' | 'unlock'
export type Reuse = 'previous' | 'cache' | 'none'
export type CopyMethod = 'copy' | 'hardlink'
export type Compression = 'auto' | 'gzip' | 'none'
export type Transfer = 'auto' | 'tar' | 'sftp'
export type ShellAccess = 'auto' | 'none'
export type VerifyLevel = 'standard' | 'full'
export type SharedConflict = 'fail' | 'replace'
export type Strategy = 'parallel' | 'sequential'
export type OnDrift = 'warn' | 'fail' | 'ignore'

/** Everything the action was asked to do, read and validated once. */
export interface Settings {
  /** The servers to work on, in the order given. */
  servers: Server[]
  /** Private key text, already masked. */
  privateKey?: string
  /** Passphrase of the private key, already masked. */
  passphrase?: string
  /** Password for password / keyboard-interactive auth, already masked. */
  password?: string
  /** How host keys are verified. */
  hostKeys: HostKeyPolicy
  /** Jump hosts to tunnel through, the first reached first, each with its credentials; [] for none. */
  jumpHosts: JumpHost[]
  /** Deploy directory on the server, as given (absolute, or relative to the login directory). */
  path: string
  /** Absolute local directory to deploy. */
  source: string
  /** Exclude globs, as given (blank lines and # comments dropped). */
  exclude: string[]
  /** Custom release id, or undefined for the UTC timestamp. */
  releaseId?: string
  /** Complete releases to keep. */
  keepReleases: number
  /** Script run in the new release before the switch (CRLF already normalised). */
  beforeSwitch?: string
  /** Script run in the new release after the switch (CRLF already normalised). */
  afterSwitch?: string
  /**
   * Script run in the restored release after a rollback (automatic or `mode: rollback`), instead
   * of `afterSwitch`; undefined: `afterSwitch` runs there too.
   */
  afterRollback?: string
  /** deploy, rollback or unlock. */
  mode: Mode
  /** With mode rollback: the release to go back to. */
  rollbackTo?: string
  /** Stop after printing the plan; write nothing. */
  dryRun: boolean
  /** What a new release starts from. */
  reuse: Reuse
  /** cp -a, or hard links, for the starting copy. */
  copyMethod: CopyMethod
  /** Compression of the tar stream. */
  compression: Compression
  /** tar stream, SFTP, or pick by what the server has. */
  transfer: Transfer
  /**
   * auto: run the phases' scripts when the account has a shell, and everything over SFTP when it
   * runs no commands; none: never run a command, SFTP alone.
   */
  shell: ShellAccess
  /** How much of the release is hashed on the server before the switch. */
  verify: VerifyLevel
  /** Explicit shared paths, or undefined to link every entry of shared/. */
  sharedPaths?: string[]
  /** What to do when a shared path is also in the release. */
  sharedConflict: SharedConflict
  /** Switch back when after-switch or the health check fails. */
  rollbackOnFailure: boolean
  /** URL polled after the switch. */
  healthCheckUrl?: string
  /** Seconds the health check may take. */
  healthCheckTimeout: number
  /** Text a healthy answer's body must contain, or undefined for any 2xx. */
  healthCheckExpect?: string
  /** What to do when the live release was changed on the server since it was deployed. */
  onDrift: OnDrift
  /** parallel (phases with barriers) or sequential (rolling). */
  strategy: Strategy
  /** Servers working at once under strategy parallel (DEFAULT_MAX_PARALLEL unless set). */
  maxParallel: number
  /** Seconds for each connection and handshake. */
  connectTimeout: number
  /** Seconds a remote script or SFTP request may go without progress before it is stopped. */
  commandTimeout: number
}

/** Where this deploy comes from: recorded in the lock and in each release's revision record. */
export interface RunContext {
  commit: string
  ref: string
  actor: string
  repository: string
  runUrl: string
  workflow: string
  runner: string
}

/** The `max-parallel` input's default. */
export const DEFAULT_MAX_PARALLEL = 3
