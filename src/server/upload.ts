/**
 * What travels to the server for a release: the metadata files (the manifest lines of what
 * changed, the paths removed, the revision record) and the changed entries, as one tar stream or
 * over SFTP.
 */
import * as path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { DENSE_LEVEL, LevelGzip } from './archive-stream.js'
import type { Log } from '../logger.js'
import { escapeField, manifestText, sourceManifestAndView } from '../release/compact-manifest.js'
import type { ManifestEntry } from '../release/manifest.js'
import type { Plan } from '../release/plan.js'
import { UploadProgress } from '../progress.js'
import type { RemoteFiles } from '../sftp/remote-files.js'
import { forEachPipelined } from '../sftp/sftp-batch.js'
import { uploadEntries } from '../sftp/sftp-transfer.js'
import { createTarStream, tarSize, type TarEntry } from '../release/tar-writer.js'

/** The line `stat -c` prints for an entry in the verification listing. */
export function listingLine(entry: ManifestEntry): string {
  switch (entry.type) {
    case 'file':
      return `f ${entry.mode.toString(8)} ${entry.size} ./${entry.path}\n`
    case 'dir':
      return `d ./${entry.path}\n`
    case 'symlink':
      return `l ${entry.size} ./${entry.path}\n`
  }
}

export interface ReleaseMetadata {
  /** Files for .atomic-deploy/tmp/<id>/. */
  files: { name: string; data: Buffer }[]
  /** Files whose names sha256sum -c cannot take, checked one by one. */
  oddSums: { path: string; sha256: string }[]
  /** Symlinks whose targets are read back. */
  links: { path: string; target: string }[]
}

const manifests = new WeakMap<ManifestEntry[], Promise<{ text: Buffer; digest: string }>>()

/**
 * The source's manifest (see compact-manifest.ts) and its digest. Computed once per scan (main
 * starts it while connections are made), however many servers ask.
 */
export function sourceManifest(
  entries: ManifestEntry[]
): Promise<{ text: Buffer; digest: string }> {
  let manifest = manifests.get(entries)
  if (!manifest) {
    // A macrotask later: a 50,000-entry manifest takes a while, and connections are being made.
    // Its view, which the servers' views are read against, is made a macrotask after the digest
    // is out, from the same sort, while the servers answer.
    manifest = new Promise(resolve =>
      setImmediate(() => {
        const { text, digest, view } = sourceManifestAndView(entries)
        resolve({ text, digest })
        setImmediate(view)
      })
    )
    manifests.set(entries, manifest)
  }
  return manifest
}

/**
 * The files the server puts the release's manifest together with, and verifies it against:
 * `delta`, the manifest lines of what is sent (or of every entry, when the server has no
 * manifest to start from); `removed`, the paths dropped from that manifest (escaped, a line
 * each), and the revision record. The server derives the listing and the sha256 list from the
 * manifest it assembles (lib/manifest.sh). `checked` are the entries whose content is checked
 * (the uploaded ones, or all with verify: full): those with names sha256sum -c cannot take, and
 * symlinks, are checked apart.
 */
export async function releaseMetadata(p: {
  entries: ManifestEntry[]
  /** The entries sent, or undefined for the whole manifest. */
  delta: ManifestEntry[] | undefined
  removed: string[]
  checked: ManifestEntry[]
  revision: string
}): Promise<ReleaseMetadata> {
  // The listing only shows a link target's length, so checked links are read back.
  const links = p.checked
    .filter(e => e.type === 'symlink')
    .map(e => ({ path: e.path, target: e.target ?? '' }))
  // sha256sum -c cannot express these names the same way in GNU and BusyBox.
  const oddSums = p.checked
    .filter(e => e.type === 'file' && e.sha256 && /[\n\r\\]/.test(e.path))
    .map(e => ({ path: e.path, sha256: e.sha256 as string }))
  const delta = p.delta ? manifestText(p.delta) : (await sourceManifest(p.entries)).text
  const removed = Buffer.from(p.removed.map(r => `${escapeField(r)}\n`).join(''))
  const files = [
    { name: 'delta', data: delta },
    { name: 'removed', data: removed },
    { name: 'revision.json', data: Buffer.from(`${p.revision}\n`) }
  ]
  return { files, oddSums, links }
}

/** A manifest entry as a tar entry under `prefix`. Directories get `directoryMode`. */
export function tarEntryFor(
  entry: ManifestEntry,
  prefix: string,
  sourceRoot: string,
  directoryMode: number
): TarEntry {
  const p = `${prefix}/${entry.path}`
  if (entry.type === 'dir') return { path: p, type: 'dir', mode: directoryMode, mtime: entry.mtime }
  if (entry.type === 'symlink') {
    return { path: p, type: 'symlink', mode: 0o777, mtime: entry.mtime, target: entry.target }
  }
  return {
    path: p,
    type: 'file',
    mode: entry.mode,
    mtime: entry.mtime,
    size: entry.size,
    source: path.join(sourceRoot, entry.path)
  }
}

/** Pass a stream through, counting its bytes; errors travel along. */
export function countBytes(source: Readable, count: (bytes: number) => void): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      count(chunk.length)
      callback(null, chunk)
    }
  })
  source.on('error', error => counter.destroy(error))
  return source.pipe(counter)
}

/**
 * The archive of `entries`, compressed as asked, reporting progress while it is read. `gzip` is
 * the compressor, for the level to follow the link (see adaptLevel); undefined when the archive
 * goes uncompressed.
 */
export function archiveStream(
  entries: Iterable<TarEntry>,
  compression: 'adaptive' | 'dense' | 'none',
  progress: UploadProgress,
  signal?: AbortSignal,
  /** Called with each file entry once it is in the archive. */
  onFile?: (entry: TarEntry) => void
): { stream: Readable; gzip?: LevelGzip } {
  const tar = createTarStream(entries, {
    signal,
    onEntry: (_, entry) => {
      if (entry.type !== 'file') return
      progress.files++
      onFile?.(entry)
    }
  })
  // Progress counts archive bytes as they leave the tar writer, against the archive's size.
  const counted = countBytes(tar, n => (progress.bytes += n))
  const stop = (): void => progress.stop()
  counted.on('end', stop).on('close', stop).on('error', stop)
  if (compression === 'none') return { stream: counted }
  // Dense to start with either way: see adaptLevel.
  const gzip = new LevelGzip(DENSE_LEVEL)
  counted.on('error', error => gzip.destroy(error))
  return { stream: counted.pipe(gzip), gzip }
}

/** Progress of an archive: its size is known before it is read, without reading a file. */
export function archiveProgress(log: Log, entries: Iterable<TarEntry>, fileCount: number) {
  // `entries` is iterated twice (size, then content): a re-iterable, made lazily, so a large
  // tree's entries never all exist at once.
  return new UploadProgress(log, fileCount, tarSize(entries))
}

export interface SftpUploadOptions {
  /** Absolute directory the metadata files go to. */
  metadataDir: string
  /** Absolute directory the plan's entries go to (the release, or cache/). */
  root: string
  sourceRoot: string
  metadata: { name: string; data: Buffer }[]
  plan: Plan
  directoryMode: number
  log: Log
  /** Aborting stops the upload: files in flight are cut short, no new one starts. */
  signal?: AbortSignal
  /** Called with each file of the plan once it is written. */
  onFile?: (entry: ManifestEntry) => void
}

/**
 * For servers without tar (and `transfer: sftp`): the same content over the pipelined SFTP
 * engine. Every file is written to a temporary name with its mode set explicitly, and renamed
 * into place.
 */
export async function sftpUpload(files: RemoteFiles, o: SftpUploadOptions): Promise<void> {
  const { signal } = o
  await forEachPipelined(
    o.metadata,
    (m, batchSignal) =>
      files.writeFile(`${o.metadataDir}/${m.name}`, m.data, { mode: 0o600, signal: batchSignal }),
    { signal }
  )
  const progress = new UploadProgress(o.log, o.plan.uploadFiles, o.plan.uploadBytes).start()
  try {
    await uploadEntries(files, o.plan.upload, {
      root: o.root,
      sourceRoot: o.sourceRoot,
      directoryMode: o.directoryMode,
      onFile: entry => {
        progress.files++
        progress.bytes += entry.size
        o.onFile?.(entry)
      },
      signal
    })
  } finally {
    progress.stop()
  }
}
