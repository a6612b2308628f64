/**
 * The release notes of a tag: the section of CHANGELOG.md for its version, as the release
 * workflow publishes them. Fails, with one line that says what to do, when the tag is not a
 * release tag, when package.json has another version, or when the section is missing or empty.
 *
 * `node scripts/release-notes.ts v1.2.3 > notes.md`
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'

/** A release tag: `v` and three numbers without leading zeros (semver's core form). */
const TAG = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/

export interface ReleaseTag {
  /** `1.2.3` */
  version: string
  /** `v1`, the tag that follows the newest release of this major version. */
  majorTag: string
}

export function parseTag(tag: string): ReleaseTag {
  const m = TAG.exec(tag)
  if (!m)
    throw new Error(
      `'${tag}' is not a release tag. Expected v<major>.<minor>.<patch>, e.g. v1.2.3.`
    )
  return { version: `${m[1]}.${m[2]}.${m[3]}`, majorTag: `v${m[1]}` }
}

/** `## [1.2.3] - 2026-11-22`, `## 1.2.3`, `## [v1.2.3]`: the heading's version, if any. */
function headingVersion(line: string): string | undefined {
  return /^## +\[?v?(\d+\.\d+\.\d+)\]?(?:\s|$)/.exec(line)?.[1]
}

/**
 * The body of the `## [version]` section (Keep a Changelog), without its heading, up to the
 * next `## ` heading, with the link reference definitions that end such a file left out.
 */
export function releaseNotes(changelog: string, version: string): string {
  const lines = changelog.replace(/\r\n/g, '\n').split('\n')
  const start = lines.findIndex(line => headingVersion(line) === version)
  if (start === -1)
    throw new Error(
      `CHANGELOG.md has no section for ${version}. Rename [Unreleased] to [${version}] - YYYY-MM-DD (and start a new [Unreleased]) before tagging.`
    )
  const rest = lines.slice(start + 1)
  const end = rest.findIndex(line => /^## /.test(line))
  const body = (end === -1 ? rest : rest.slice(0, end))
    .filter(line => !/^\[[^\]]+\]: +\S/.test(line))
    .join('\n')
    .trim()
  if (body === '')
    throw new Error(
      `CHANGELOG.md's section for ${version} is empty. Say what changed before tagging.`
    )
  return body + '\n'
}

function main(args: string[]): void {
  const [tag] = args
  if (args.length !== 1 || tag === undefined)
    throw new Error('Usage: node scripts/release-notes.ts v<major>.<minor>.<patch>')
  const { version } = parseTag(tag)
  const root = path.resolve(import.meta.dirname, '..')
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    version?: string
  }
  if (pkg.version !== version)
    throw new Error(
      `package.json has version ${pkg.version ?? '(none)'}, the tag ${tag}. Run 'npm version --no-git-tag-version ${version}' and commit before tagging.`
    )
  process.stdout.write(releaseNotes(readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8'), version))
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  try {
    main(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  }
}
