/**
 * The deploy layout as paths (see DESIGN.md): the same directories and metadata files the shell
 * scripts use, so a server can move between shell and SFTP-only deploys.
 */
import { releaseIdProblem } from '../release/release-id.js'

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
  cacheManifest: string
  /** Paths an interrupted sync of cache/ may have left unlike its manifest (JSON lines). */
  cachePending: string
  release(id: string): string
  manifest(id: string): string
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
    cachePending: `${meta}/cache.pending`,
    release: id => `${dir}/releases/${id}`,
    manifest: id => `${meta}/manifests/${id}.json.gz`,
    links: id => `${meta}/manifests/${id}.links`,
    listing: id => `${meta}/manifests/${id}.listing`,
    ready: id => `${meta}/manifests/${id}.ready`,
    hook: id => `${meta}/manifests/${id}.hook`,
    revision: id => `${meta}/revisions/${id}.json`,
    seeded: id => `${meta}/seeded.${id}`,
    records: id =>
      ['json.gz', 'links', 'listing', 'ready', 'hook'].map(s => `${meta}/manifests/${id}.${s}`)
  }
}

/** One release-log line, as the shell scripts write it: `event<TAB>id<TAB>time`. */
export function logLine(event: string, id: string, now: Date = new Date()): string {
  return `${event}\t${id}\t${now.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n`
}

/**
 * The release `current` points to, from its target as read back: only `releases/<id>` (the
 * form every switch writes) with a valid id; anything else is not a release of this layout.
 */
export function releaseOfTarget(target: string): string | undefined {
  const match = /^releases\/([^/]+)\/?$/.exec(target)
  if (!match || releaseIdProblem(match[1] as string) !== undefined) return undefined
  return match[1]
}

/**
 * A relative path recorded on the server (a shared link, a seed record): one or more plain
 * segments, nothing that climbs out or is absolute.
 */
export function isPlainRelativePath(p: string): boolean {
  return (
    p !== '' &&
    !p.startsWith('/') &&
    !/[\0\n\r]/.test(p) &&
    p.split('/').every(s => s !== '' && s !== '.' && s !== '..')
  )
}

/** Bounds on metadata files read back, so a broken server cannot exhaust the runner's memory. */
export const READ_LIMITS = {
  log: 16 * 1024 * 1024,
  manifest: 256 * 1024 * 1024,
  links: 16 * 1024 * 1024,
  owner: 4000,
  seeded: 16 * 1024 * 1024
} as const
