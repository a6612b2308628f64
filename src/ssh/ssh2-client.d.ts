/**
 * ssh2's client on its own: the package's index also loads its server, agents and key
 * generator, which a deploy never uses (about 20 ms of every start).
 */
declare module 'ssh2/lib/client.js' {
  import { Client } from 'ssh2'
  export default Client
}
