/**
 * What travels to the server for a release: the metadata files (expected listing, checksums,
 * manifest, revision record) and the changed entries, as one tar stream or over SFTP.
 */
import * as path from 'node:path'
import { Readable, Transform } from 'node:stream'
import { createGzip } from 'node:zlib'
import type { Log } from '../logger.js'
import { piecesToBuffer, serializeManifest, type ManifestEntry } from '../release/manifest.js'
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
  /** Whether the `sums` file lists anything for sha256sum -c. */
  hasSums: boolean
  /** Files whose names sha256sum -c cannot take, checked one by one. */
  oddSums: { path: string; sha256: string }[]
  /** Symlinks whose targets are read back. */
  links: { path: string; target: string }[]
}

const manifestFiles = new WeakMap<
  ManifestEntry[],
  Promise<{ expected: Buffer; manifest: Buffer }>
>()

/**
 * The parts of the metadata that depend on the source alone: the listing the release must match
 * and the gzipped manifest. Computed once per scan (main starts it while connections are made),
 * however many servers ask.
 */
export function sourceMetadata(
  entries: ManifestEntry[]
): Promise<{ expected: Buffer; manifest: Buffer }> {
  let files = manifestFiles.get(entries)
  if (!files) {
    files = serializeManifest({ version: 1, entries, sharedLinks: [] }).then(manifest => ({
      expected: piecesToBuffer(entries, listingLine),
      manifest
    }))
    manifestFiles.set(entries, files)
  }
  return files
}

/**
 * The files the server verifies the release with. `checked` are the entries whose content is
 * checked (the uploaded ones, or all with verify: full); every entry is listed.
 */
export async function releaseMetadata(
  entries: ManifestEntry[],
  checked: ManifestEntry[],
  revision: string
): Promise<ReleaseMetadata> {
  const oddSums: { path: string; sha256: string }[] = []
  // The listing only shows a link target's length, so checked links are read back.
  const links = checked
    .filter(e => e.type === 'symlink')
    .map(e => ({ path: e.path, target: e.target ?? '' }))
  const sums = piecesToBuffer(checked, e => {
    if (e.type !== 'file' || !e.sha256) return ''
    // sha256sum -c cannot express these names the same way in GNU and BusyBox.
    if (/[\n\r\\]/.test(e.path)) {
      oddSums.push({ path: e.path, sha256: e.sha256 })
      return ''
    }
    return `${e.sha256}  ./${e.path}\n`
  })
  const { expected, manifest } = await sourceMetadata(entries)
  const files = [
    { name: 'expected', data: expected },
    { name: 'sums', data: sums },
    { name: 'manifest.json.gz', data: manifest },
    { name: 'revision.json', data: Buffer.from(`${revision}\n`) }
  ]
  return { files, hasSums: sums.length > 0, oddSums, links }
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

/** The archive of `entries`, gzipped or not, reporting progress while it is read. */
export function tarUpload(
  entries: Iterable<TarEntry>,
  fileCount: number,
  gzip: boolean,
  log: Log,
  signal?: AbortSignal,
  /** Called with each file entry once it is in the archive. */
  onFile?: (entry: TarEntry) => void
): Readable {
  // Progress counts archive bytes as they leave the tar writer, against the archive's size.
  // `entries` is iterated twice (size, then content): pass a re-iterable, made lazily, so a
  // large tree's entries never all exist at once.
  const progress = new UploadProgress(log, fileCount, tarSize(entries)).start()
  const tar = createTarStream(entries, {
    signal,
    onEntry: (_, entry) => {
      if (entry.type !== 'file') return
      progress.files++
      onFile?.(entry)
    }
  })
  const counted = countBytes(tar, n => (progress.bytes += n))
  const stop = (): void => progress.stop()
  counted.on('end', stop).on('close', stop).on('error', stop)
  if (!gzip) return counted
  // Level 1: on these workloads it gives most of gzip's reduction at a fraction of level 6's
  // CPU time, and the runner's CPU, not the wire, is what a deploy waits on (see bench/).
  const zipped = createGzip({ level: 1, chunkSize: 64 * 1024 })
  counted.on('error', error => zipped.destroy(error))
  return counted.pipe(zipped)
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
