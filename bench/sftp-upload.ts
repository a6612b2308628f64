/**
 * The per-file SFTP baseline: ssh2-sftp-client's `uploadDir`, with its defaults (put(), ten
 * requests in flight), as a deploy script built on that library would upload a tree.
 *
 * Runs as a child process so that, like the action, it pays its own start-up and does not share
 * an event loop with the latency proxy in the benchmark's process.
 *
 *   node bench/sftp-upload.ts HOST PORT USER KEY_FILE SOURCE REMOTE_DIR
 *   (known_hosts lines in BENCH_KNOWN_HOSTS)
 */
import { lstatSync, readFileSync } from 'node:fs'
import type { ServerHostKeyAlgorithm } from 'ssh2'
import SftpClient from 'ssh2-sftp-client'

const [host, port, username, keyFile, source, remoteDir] = process.argv.slice(2)
if (!host || !port || !username || !keyFile || !source || !remoteDir) {
  console.error('usage: sftp-upload.ts HOST PORT USER KEY_FILE SOURCE REMOTE_DIR')
  process.exit(2)
}

// Verify the host key against the known_hosts line for [host]:port (the key blob is the
// base64 field), as any honest deploy script must.
const blobs = (process.env.BENCH_KNOWN_HOSTS ?? '')
  .split('\n')
  .map(line => line.trim().split(/\s+/))
  .filter(fields => fields[0] === `[${host}]:${port}` && fields[2])
  .map(fields => fields[2]!)
const keyTypes = (process.env.BENCH_KNOWN_HOSTS ?? '')
  .split('\n')
  .map(line => line.trim().split(/\s+/))
  .filter(fields => fields[0] === `[${host}]:${port}` && fields[1])
  .map(fields => fields[1] as ServerHostKeyAlgorithm)

// The library's default global listeners console.log every end and close; pass silent ones.
const quiet = (): void => {}
const client = new SftpClient('bench', { error: quiet, end: quiet, close: quiet })

try {
  await client.connect({
    host,
    port: Number(port),
    username,
    privateKey: readFileSync(keyFile),
    algorithms: { serverHostKey: keyTypes },
    hostVerifier: (key: Buffer) => blobs.includes(key.toString('base64')),
    readyTimeout: 20_000
  })
  await client.uploadDir(source, remoteDir, {
    // uploadDir sends every non-directory with put(), which follows symlinks and fails on one
    // that points at a directory; SFTP has no portable way to send them, so leave them out.
    filter: (file: string, isDirectory: boolean) => isDirectory || !lstatSync(file).isSymbolicLink()
  })
  await client.end()
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exit(1)
}
