/**
 * Phase 4 on one server, its runner half: what the release sends (its metadata files, and the
 * tar stream of the plan's entries, compressed as the server's tools and the settings allow).
 * Servers whose archives have the same key get one archive (see src/deploy/group/group-prepare.ts).
 */
import { createHash } from 'node:crypto'
import { DeployRefusedError } from '../../errors.js'
import type { Compression, Transfer } from '../../settings.js'
import type { TarEntry } from '../../release/tar-writer.js'
import { releaseMetadata as buildMetadata, tarEntryFor, type ReleaseMetadata } from '../upload.js'
import type { ReleaseArchive, ReleaseOptions, SessionState } from './session-state.js'

export function releaseMetadata(
  s: SessionState,
  options: ReleaseOptions
): Promise<ReleaseMetadata> {
  const plan = s.plan
  if (!plan) throw new Error('release metadata before makePlan')
  const base = s.base
  // The server puts the new manifest together from its own, less what the plan removes (and
  // the shared links, which the copy loses), plus the lines of what is sent; without a
  // manifest there to start from, it gets the whole one.
  const manifest = base?.kind === 'none' ? undefined : base?.manifest
  s.metadata ??= buildMetadata({
    entries: options.entries,
    delta: manifest ? plan.upload : undefined,
    removed: [...plan.remove, ...(base?.kind === 'release' ? base.sharedLinks : [])],
    checked: options.verify === 'full' ? options.entries : plan.upload,
    revision: options.revision
  })
  return s.metadata
}

/** Where the plan's entries land, relative to the deploy directory. */
export function releaseTarget(s: SessionState, id: string): string {
  return s.base?.kind === 'cache' ? 'cache' : `releases/${id}`
}

/**
 * The tar stream this server's release needs, or undefined when files go over SFTP. Its key
 * covers everything that makes up its bytes: the entries and their content, where they land,
 * the directories' mode (the server's umask), the metadata and the compression.
 */
export async function releaseArchive(
  s: SessionState,
  options: ReleaseOptions
): Promise<ReleaseArchive | undefined> {
  const plan = s.plan
  if (!plan || !s.base) throw new Error('releaseArchive before makePlan')
  if (!useTar(s, options.transfer)) return undefined
  const id = options.releaseId
  const metadata = await releaseMetadata(s, options)
  const compression = archiveCompression(s, options.compression)
  const { mtime } = options
  const metadataEntries: TarEntry[] = metadata.files.map(f => ({
    path: `.atomic-deploy/tmp/${id}/${f.name}`,
    type: 'file' as const,
    mode: 0o600,
    mtime,
    size: f.data.length,
    data: f.data
  }))
  const relativeTarget = releaseTarget(s, id)
  const { sourceRoot } = options
  const { directoryMode } = s
  const key = createHash('sha256')
  key.update(`${relativeTarget}\0${directoryMode}\0${compression}\0${sourceRoot}\0${mtime}\0`)
  for (const f of metadata.files) key.update(`${f.name}\0`).update(f.data)
  for (const e of plan.upload)
    key.update(`${e.path}\0${e.type}\0${e.mode}\0${e.size}\0${e.sha256 ?? e.target ?? ''}\n`)
  return {
    key: key.digest('hex'),
    entries: {
      *[Symbol.iterator]() {
        yield* metadataEntries
        for (const e of plan.upload) yield tarEntryFor(e, relativeTarget, sourceRoot, directoryMode)
      }
    },
    fileCount: metadataEntries.length + plan.uploadFiles,
    compression
  }
}

function useTar(s: SessionState, transfer: Transfer): boolean {
  if (transfer === 'sftp') return false
  if (s.tools.has('tar')) return true
  if (transfer === 'tar')
    throw new DeployRefusedError(
      `${s.label}: transfer is tar but the server has no 'tar' in PATH; use transfer: auto or sftp.`
    )
  s.log.info('the server has no tar: sending files over SFTP')
  return false
}

/**
 * How the archive is compressed: `auto` follows the link (see adaptLevel), `gzip` is gzip's
 * default level throughout, `none` sends it as it is.
 */
export function archiveCompression(
  s: SessionState,
  compression: Compression
): ReleaseArchive['compression'] {
  if (compression === 'none') return 'none'
  // GNU tar runs gzip for -z; BusyBox tar has it built in but the applet is there too.
  if (!s.tools.has('gzip')) {
    if (compression === 'gzip' && !s.warnedNoGzip) {
      s.warnedNoGzip = true
      s.log.warning('compression is gzip but the server has no gzip: sending uncompressed')
    }
    return 'none'
  }
  return compression === 'gzip' ? 'dense' : 'adaptive'
}
