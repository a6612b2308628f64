/**
 * The deploy layout as paths (see DESIGN.md): the same directories and metadata files the shell
 * scripts use, so a server can move between shell and SFTP-only deploys.
 */
import type { FileAttributes, RemoteFiles } from '../sftp/remote-files.js'
import { isMissing, NotRegularFileError } from '../sftp/sftp-engine.js'
import { shown } from './server-data.js'

export interface Layout {
  dir: string
  releases: string
  shared: string
  cache: string
  current: string
  meta: string
  lock: string
  owner: string
  log: string
  manifests: string
  revisions: string
  tmp: string
  /** The cache's manifest as an older version of atomic-deploy wrote it (JSON, gzipped). */
  cacheManifest: string
  /** The cache's compact manifest records, less their suffixes (see manifestStem). */
  cacheStem: string
  /** Paths an interrupted sync of cache/ may have left unlike its manifest (JSON lines). */
  cachePending: string
  release(id: string): string
  /** A release's manifest as an older version of atomic-deploy wrote it (JSON, gzipped). */
  manifest(id: string): string
  /**
   * A release's compact manifest records (see compact-manifest.ts), less their suffixes:
   * `.m2` (the manifest), `.digest` (its sha256) and `.view.gz` (`.view` where a shell deploy
   * found no gzip), as lib/manifest.sh's install_manifest writes them.
   */
  manifestStem(id: string): string
  links(id: string): string
  /** The release's listing when it was verified (list_tree's lines). */
  listing(id: string): string
  /** An empty file made when the release became ready: files newer than it changed since. */
  ready(id: string): string
  /** What before-switch changed in the release (listing_diff lines). */
  hook(id: string): string
  revision(id: string): string
  seeded(id: string): string
  /** Every record of a release in manifests/ (the shell scripts remove `manifests/<id>.*`). */
  records(id: string): string[]
}

export function layoutOf(dir: string): Layout {
  const meta = `${dir}/.atomic-deploy`
  return {
    dir,
    releases: `${dir}/releases`,
    shared: `${dir}/shared`,
    cache: `${dir}/cache`,
    current: `${dir}/current`,
    meta,
    lock: `${meta}/lock`,
    owner: `${meta}/lock/owner`,
    log: `${meta}/log`,
    manifests: `${meta}/manifests`,
    revisions: `${meta}/revisions`,
    tmp: `${meta}/tmp`,
    cacheManifest: `${meta}/cache.manifest.json.gz`,
    cacheStem: `${meta}/cache`,
    cachePending: `${meta}/cache.pending`,
    release: id => `${dir}/releases/${id}`,
    manifest: id => `${meta}/manifests/${id}.json.gz`,
    manifestStem: id => `${meta}/manifests/${id}`,
    links: id => `${meta}/manifests/${id}.links`,
    listing: id => `${meta}/manifests/${id}.listing`,
    ready: id => `${meta}/manifests/${id}.ready`,
    hook: id => `${meta}/manifests/${id}.hook`,
    revision: id => `${meta}/revisions/${id}.json`,
    seeded: id => `${meta}/seeded.${id}`,
    records: id =>
      [...COMPACT_SUFFIXES, 'json.gz', 'links', 'listing', 'ready', 'hook'].map(
        s => `${meta}/manifests/${id}.${s}`
      )
  }
}

/** The suffixes of a compact manifest's records (see Layout.manifestStem). */
export const COMPACT_SUFFIXES = ['m2', 'digest', 'view.gz', 'view'] as const

/** One release-log line, as the shell scripts write it: `event<TAB>id<TAB>time`. */
export function logLine(event: string, id: string, now: Date = new Date()): string {
  return `${event}\t${id}\t${now.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n`
}

/**
 * A record read back from .atomic-deploy/: its bytes, or undefined when it is missing or is not
 * a regular file (never read through a symlink, as the shell scripts' `blob`). A record over
 * `limit` throws TooLargeError, unread.
 */
export async function readRecord(
  files: RemoteFiles,
  path: string,
  limit: number,
  signal?: AbortSignal,
  /** Opened at once, read only if this resolves true (RemoteFiles.readFile). */
  when?: Promise<boolean>
): Promise<Buffer | undefined> {
  try {
    return await files.readFile(path, limit, signal, when)
  } catch (error) {
    if (isMissing(error) || error instanceof NotRegularFileError) return undefined
    throw error
  }
}

/**
 * Modes over SFTP, as the shell scripts leave them (they run under umask 077 and create what
 * users read under the login's umask plus o-w): the metadata directory, the lock and every
 * record are private; releases/ and shared/ are the server's umask's, less o-w.
 */
export const MODES = {
  /** .atomic-deploy/, its lock, manifests/, revisions/ and tmp/. */
  privateDir: 0o700,
  /** Every record in .atomic-deploy/ (the log, manifests, listings, owner, seed records). */
  privateFile: 0o600,
  /** releases/, shared/, cache/, asked of mkdir: the server's umask applies. */
  layoutDir: 0o775
} as const

/**
 * Why a layout directory may not be written into, as lib/guard.sh's real_dir says it (the same
 * words): a symlink, not a directory, another user's, or writable by every user. `attrs` are
 * its lstat (or its entry in its parent's listing: sftp-server takes those with lstat); `uid`
 * the deploy user's, when known (learned from the lock this run made); `owner` the owner's name
 * as the listing shows it. Undefined when it may be written into, or is missing.
 */
export function layoutDirProblem(
  name: string,
  attrs: FileAttributes | undefined,
  who: { uid: number | undefined; user: string },
  extra: { owner?: string; target?: string } = {}
): string | undefined {
  if (!attrs) return undefined
  if (attrs.type === 'symlink')
    return `${name} is a symlink${extra.target !== undefined ? ` (to ${shown(extra.target)})` : ''}; atomic-deploy writes only into real directories. Replace it with the directory itself`
  if (attrs.type !== 'dir') return `${name} exists and is not a directory`
  if (who.uid !== undefined && who.uid >= 0 && attrs.uid >= 0 && attrs.uid !== who.uid) {
    // In a chroot, sftp-server cannot name users: its listing then shows the number alone.
    const owner =
      extra.owner !== undefined && !/^\d*$/.test(extra.owner)
        ? `${shown(extra.owner, 64)} (user id ${attrs.uid})`
        : `user id ${attrs.uid}`
    return `${name} is owned by ${owner}, not by ${who.user} (user id ${who.uid}); atomic-deploy writes only into directories of the deploy user. Give it to that user (chown)`
  }
  if (attrs.mode & 0o002)
    return `${name} is writable by every user (mode ${attrs.mode.toString(8)}), so anybody could swap what is in it. Remove that (chmod o-w)`
  return undefined
}

/**
 * A release's shared-link list as the shell scripts write it (record_link in release.sh): one
 * path a line, a line break or a % in a name percent-encoded; parseLinkList reads it back.
 */
export function linkListText(links: string[]): string {
  return links
    .map(l => `${/[\n%]/.test(l) ? l.replace(/%/g, '%25').replace(/\n/g, '%0A') : l}\n`)
    .join('')
}
