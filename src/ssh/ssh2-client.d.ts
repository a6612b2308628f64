/**
 * ssh2's client on its own: the package's index also loads its server, agents and key
 * generator, which a deploy never uses (about 20 ms of every start).
 */
declare module 'ssh2/lib/client.js' {
  import { Client } from 'ssh2'
  export default Client
}

/** ssh2's protocol class, its SFTP class and its channel constants, for ssh2-internals.ts. */
declare module 'ssh2/lib/protocol/Protocol.js' {
  const Protocol: unknown
  export default Protocol
}
declare module 'ssh2/lib/protocol/SFTP.js' {
  export const SFTP: unknown
}
declare module 'ssh2/lib/Channel.js' {
  export const MAX_WINDOW: number
  export const PACKET_SIZE: number
}

/** ssh2's key parser (utils.parseKey), without loading the package's index. */
declare module 'ssh2/lib/protocol/keyParser.js' {
  import type { ParsedKey } from 'ssh2'
  export function parseKey(
    data: Buffer | string | ParsedKey,
    passphrase?: Buffer | string
  ): ParsedKey | ParsedKey[] | Error
}
