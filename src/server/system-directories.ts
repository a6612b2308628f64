/**
 * Directories a deploy must never take over. The runner checks an absolute `path` against them
 * before connecting; the server's inspect script checks the resolved path again, since a
 * relative path or a symlink is only known there.
 */

// Directories whose replacement by a deploy would break the machine, refused exactly...
const SYSTEM_EXACT = new Set([
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/usr/bin',
  '/usr/lib',
  '/usr/lib32',
  '/usr/lib64',
  '/usr/libexec',
  '/usr/local',
  '/usr/local/bin',
  '/usr/local/lib',
  '/usr/local/sbin',
  '/usr/sbin',
  '/usr/share',
  '/usr/src',
  '/usr/include',
  '/var',
  '/var/cache',
  '/var/lib',
  '/var/log',
  '/var/mail',
  '/var/spool',
  '/var/tmp',
  '/var/run'
])
// ...and these trees, refused with everything below them.
const SYSTEM_TREES = [
  '/bin/',
  '/boot/',
  '/dev/',
  '/etc/',
  '/lib/',
  '/lib32/',
  '/lib64/',
  '/proc/',
  '/run/',
  '/sbin/',
  '/sys/',
  '/usr/bin/',
  '/usr/sbin/',
  '/usr/lib/'
]

/** The reason a normalised absolute path is a system directory, or undefined. */
export function systemDirectoryProblem(absolute: string): string | undefined {
  const p = absolute.length > 1 ? absolute.replace(/\/+$/, '') : absolute
  if (SYSTEM_EXACT.has(p)) return `'${p}' is a system directory`
  const tree = SYSTEM_TREES.find(t => (p + '/').startsWith(t))
  if (tree) return `'${p}' is inside the system directory ${tree.slice(0, -1)}`
  return undefined
}

export const SYSTEM_DIRECTORIES = { exact: [...SYSTEM_EXACT], trees: SYSTEM_TREES }
