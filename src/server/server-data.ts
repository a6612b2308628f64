/**
 * The trust boundary on the runner's side: every value read back from a server is parsed and
 * checked here before it steers anything. The runner, the inputs and the verified host key are
 * trusted; what a server reports about its files is not (another local account, a damaged
 * directory or a hand edit may have put anything there). A value that fails is either a clear
 * error that names the file and the fix, or it is not used at all, and the log says so.
 */
import { ServerDataError } from '../errors.js'
import { releaseIdProblem } from '../release/release-id.js'
import { SCRIPT_OUTPUT_LIMIT, STDERR_LINE_LIMIT } from '../ssh/remote-host.js'

/**
 * Upper bounds on what the runner accepts from a server, so that no server state can make the
 * runner's memory grow without bound. Documented in the README (Security).
 */
export const SERVER_LIMITS = {
  /** .atomic-deploy/log: about 25,000 events; every deploy compacts it to a few dozen. */
  logBytes: 1024 * 1024,
  /** A stored manifest as sent (gzip): a 50,000-file manifest is about 2 MB. */
  manifestBytes: 32 * 1024 * 1024,
  /** A stored manifest once unpacked (JSON): about 400,000 files. Stops a gzip bomb. */
  manifestJsonBytes: 64 * 1024 * 1024,
  /** .atomic-deploy/manifests/<id>.links: the shared links of a release. */
  linksBytes: 1024 * 1024,
  /**
   * .atomic-deploy/manifests/<id>.listing, read back by an SFTP-only deploy's drift check (a
   * shell deploy compares it on the server): about 400,000 paths.
   */
  listingBytes: 64 * 1024 * 1024,
  /** .atomic-deploy/lock/owner: one line of JSON (the shell scripts send its first 4,000 bytes). */
  ownerBytes: 4000,
  /** Everything one script prints on stdout (the blobs above, plus result lines). */
  scriptOutputBytes: SCRIPT_OUTPUT_LIMIT,
  /** One line of stderr (hook output); a longer one is cut into pieces of this size. */
  stderrLineBytes: STDERR_LINE_LIMIT
} as const

/** A readable rendering of untrusted text for a message: control characters made visible, cut short. */
export function shown(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const visible = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, c => {
    const code = c.charCodeAt(0)
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`
  })
  return visible.length > max ? `${visible.slice(0, max)}...` : visible
}

/**
 * The release `current` points to. Only the forms atomic-deploy writes are accepted:
 * `releases/<id>` (relative, as every switch makes it) or `<deployDir>/releases/<id>`, with a
 * valid release id. Anything else is an error: the live site is not where this action put it.
 */
export function liveReleaseOf(target: string, deployDir: string): string {
  const clean = target.length > 1 ? target.replace(/\/+$/, '') : target
  let id: string | undefined
  if (clean.startsWith('releases/')) id = clean.slice('releases/'.length)
  else if (clean.startsWith(`${deployDir}/releases/`))
    id = clean.slice(`${deployDir}/releases/`.length)
  if (id === undefined || releaseIdProblem(id) !== undefined) {
    throw new ServerDataError(
      `${deployDir}/current points to '${shown(target)}', which is not a release of this deploy directory (expected releases/<id>). Nothing was changed. If a release is live, point current at it ('ln -sfn releases/<id> ${deployDir}/current'); if none is, remove current.`
    )
  }
  return id
}

/**
 * Names of real directories in releases/ as the server listed them. Names that are not release
 * ids are not releases of ours: they are never used, and never touched.
 */
export function releaseDirectories(names: string[]): Set<string> {
  return new Set(names.filter(name => releaseIdProblem(name) === undefined))
}

/**
 * Whether `name`, an entry of releases/, is a tree a run set aside to remove, by the exact names
 * the shell scripts give them: `.aborting.<release id>.<pid>` (lib/release.sh, cleanup_release)
 * and `.pruning.<release id>.<pid>` (lib/finish.sh, prune_aside). A cut run leaves one behind;
 * any other name is not ours, and is never touched.
 */
export function isSetAsideTree(name: string): boolean {
  const parts = /^\.(?:aborting|pruning)\.(.+)\.[0-9]{1,10}$/.exec(name)
  return parts !== null && releaseIdProblem(parts[1]!) === undefined
}

/** A segment that may be empty, '.' or '..' (then relativePathProblem looks closer). */
const MAYBE_BAD_SEGMENT = /(^|\/)\.{0,2}(\/|$)/

/** Why `rel` is not a safe relative path inside a directory, or undefined when it is. */
export function relativePathProblem(
  rel: string,
  options: { newline?: boolean } = {}
): string | undefined {
  if (rel === '') return 'it is empty'
  if (rel.includes('\0')) return 'it contains a NUL byte'
  if (!options.newline && /[\r\n]/.test(rel)) return 'it contains a line break'
  if (rel.startsWith('/')) return 'it is absolute'
  // UTF-8 takes at most 3 bytes per UTF-16 code unit: only a long path needs counting.
  if (rel.length > 1365 && Buffer.byteLength(rel) > 4096) return 'it is longer than 4096 bytes'
  // Read back by the 50,000 from a view: most paths have no segment that is empty, '.' or
  // '..', which one test tells, before they are split to name the one that is.
  if (!MAYBE_BAD_SEGMENT.test(rel)) return undefined
  for (const segment of rel.split('/')) {
    if (segment === '') return 'it has an empty segment'
    if (segment === '.' || segment === '..') return `it has a '${segment}' segment`
  }
  return undefined
}

/**
 * A release's shared-link list (`.atomic-deploy/manifests/<id>.links`): one relative path a line
 * (a line break or % in a name percent-encoded), each naming a link the release holds into
 * shared/. The next release's copy removes these, so
 * every line must stay inside the release.
 */
export function parseLinkList(data: Buffer, file: string): string[] {
  // A line break or a % in a name is written percent-encoded (record_link in release.sh).
  const decode = (line: string): string =>
    line.replace(/%(25|0A)/g, (_, code: string) => (code === '25' ? '%' : '\n'))
  if (data.length > SERVER_LIMITS.linksBytes) {
    throw new ServerDataError(
      `${file} is ${data.length} bytes, over the limit of ${SERVER_LIMITS.linksBytes}`
    )
  }
  const text = data.toString('utf8')
  const links: string[] = []
  text.split('\n').forEach((line, index) => {
    if (line === '') return
    const path = decode(line)
    const problem = relativePathProblem(path, { newline: true })
    if (problem) {
      throw new ServerDataError(
        `${file} line ${index + 1} ('${shown(line)}') is not a path inside the release: ${problem}`
      )
    }
    links.push(path)
  })
  return links
}

/** The `path` line of the inspect script: the resolved, absolute deploy directory. */
export function resolvedDeployDir(line: string | undefined, pathInput: string): string {
  const problem =
    line === undefined
      ? 'the server did not report it'
      : !line.startsWith('/')
        ? 'it is not absolute'
        : /[\0\r\n]/.test(line)
          ? 'it contains a control character'
          : line !== '/' &&
              line
                .split('/')
                .slice(1)
                .some(s => s === '' || s === '.' || s === '..')
            ? 'it is not a plain absolute path'
            : undefined
  if (problem) {
    throw new ServerDataError(
      `the server resolved path '${shown(pathInput)}' to '${shown(line ?? '')}': ${problem}. Use an absolute path that names the deploy directory directly.`
    )
  }
  return line as string
}

/** The login umask the inspect script reports (`022`, `0002`...). */
export function parseUmask(text: string | undefined): number {
  if (text === undefined || !/^[0-7]{1,4}$/.test(text)) {
    throw new ServerDataError(
      `the server reported umask '${shown(text ?? '')}', which is not octal`
    )
  }
  return parseInt(text, 8) & 0o777
}

/**
 * The copy of the live release the new one starts from: `<name> <release id>`, as the inspect
 * script reports the copy it started at lock time, with a third word `spare` for the copy the
 * previous deploy left.
 */
export function parsePrefetch(
  text: string | undefined
): { name: string; from: string; spare: boolean } | undefined {
  if (text === undefined) return undefined
  const [name, from, ...rest] = text.split(' ')
  const spare = rest.length === 1 && rest[0] === 'spare'
  if (
    (rest.length > 0 && !spare) ||
    name === undefined ||
    from === undefined ||
    !/^base\.[A-Za-z0-9]{1,64}$/.test(name) ||
    releaseIdProblem(from) !== undefined
  ) {
    throw new ServerDataError(`the server reported a base copy '${shown(text)}' of an unknown form`)
  }
  return { name, from, spare }
}
