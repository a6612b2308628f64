/**
 * A release's listing as list_tree (lib/listing.sh) prints it, from what an SFTP listing says of
 * each path: `f <mode> <size> ./<path>`, `d <mode> ./<path>`, `l <target length> ./<path>`
 * (modes as find's %m: the low twelve bits in octal).
 */
import type { TreeEntry } from '../sftp/sftp-tree.js'

/** The listing line of a path, or undefined for what list_tree does not list (sockets, ...). */
export function listingLine(entry: TreeEntry): string | undefined {
  const { attrs, path } = entry
  switch (attrs.type) {
    case 'file':
      return `f ${attrs.mode.toString(8)} ${attrs.size} ./${path}`
    case 'dir':
      return `d ${attrs.mode.toString(8)} ./${path}`
    case 'symlink':
      return `l ${attrs.size} ./${path}`
    default:
      return undefined
  }
}
