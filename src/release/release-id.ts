/**
 * Release ids name directories under releases/ and appear in shell scripts, so they are held to
 * a single safe path segment. Their order never comes from sorting names: the release log in
 * .atomic-deploy/ records it, so custom ids work as well as timestamps.
 */

const RELEASE_ID = /^[A-Za-z0-9._-]{1,128}$/

/** Why `id` is not a valid release id, or undefined when it is. */
export function releaseIdProblem(id: string): string | undefined {
  if (id === '.' || id === '..') return `'${id}' is not a directory name`
  if (!RELEASE_ID.test(id)) {
    return 'a release id is 1-128 letters, digits, dots, underscores and hyphens'
  }
  // Our own temporary names start with '.'; a release named like one would be removed as stale.
  if (id.startsWith('.')) return 'a release id cannot start with a dot'
  return undefined
}

/** UTC time as YYYYMMDDHHMMSS. */
export function timestampId(date: Date): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0')
  return (
    pad(date.getUTCFullYear(), 4) +
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds())
  )
}

/** The first timestamp id at or after `now` that none of `taken` holds (bounded search). */
export function nextFreeTimestampId(now: Date, taken: ReadonlySet<string>): string {
  for (let i = 0; i < 100_000; i++) {
    const id = timestampId(new Date(now.getTime() + i * 1000))
    if (!taken.has(id)) return id
  }
  throw new Error('no free release id in the next 100,000 seconds')
}
