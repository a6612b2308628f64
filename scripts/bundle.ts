/**
 * Build dist/ from src/: generate the server scripts' module from src/server/scripts/*.sh (see
 * scripts/generate-server-scripts.ts), compile with tsc, bundle with ncc, then move the files into dist/ with
 * renames, so a test that starts `node dist/index.js` during a rebuild never reads half a file.
 * The build directory has a fixed name: ncc derives module ids from paths, and the bundle must
 * come out byte for byte the same on every machine (CI compares it with the committed one).
 *
 * dist/ holds only what runs on the runner: the bundle (an entry and the chunks it imports), its
 * package.json and the licenses of what it bundles. ncc also copies every file that bundled code locates with
 * `path.resolve(__dirname, ...)` (its asset relocator; vercel/ncc#475), which for ssh2 is
 * `util/pagent.exe`, a Windows helper that ssh2's PageantAgent spawns. That class is only built
 * by ssh2's createAgent(), when the connection config names an `agent` and the platform is
 * win32; this action never passes an agent (it authenticates with the key, passphrase or
 * password inputs), so the executable is dropped here. Any other asset ncc starts emitting fails
 * the build until it is looked at and listed below.
 *
 * `node scripts/bundle.ts` (Node 24 strips the types).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'
import { CHUNK } from './dist-files.ts'

const work = path.join('build', 'bundle')
const compiled = path.join(work, 'js')
const bundled = path.join(work, 'ncc')
const bin = (name: string): string => path.join('node_modules', '.bin', name)
/** What the runner needs: the entry, the chunks it imports (see CHUNK), and what describes them. */
const KEPT = new Set(['index.js', 'package.json', 'licenses.txt'])
const kept = (name: string): boolean => KEPT.has(name) || CHUNK.test(name)
/** Assets ncc emits that never run here, each with the reason in the comment above. */
const DROPPED = new Set(['pagent.exe'])
try {
  execFileSync(process.execPath, [path.join('scripts', 'generate-server-scripts.ts')], {
    stdio: 'inherit'
  })
  execFileSync(bin('tsc'), ['-p', 'tsconfig.build.json', '--outDir', compiled], {
    stdio: 'inherit'
  })
  execFileSync(
    bin('ncc'),
    [
      'build',
      path.join(compiled, 'index.js'),
      '-o',
      bundled,
      '--license',
      'licenses.txt',
      '--quiet'
    ],
    {
      stdio: 'inherit'
    }
  )
  const emitted = readdirSync(bundled)
  const unexpected = emitted.filter(name => !kept(name) && !DROPPED.has(name))
  if (unexpected.length > 0)
    throw new Error(
      `ncc emitted ${unexpected.join(', ')}: decide whether the action needs it at run time, then list it in KEPT or DROPPED in scripts/bundle.ts`
    )
  mkdirSync('dist', { recursive: true })
  // The chunks go in before the entry that imports them, so the entry never names a chunk
  // that is not there yet.
  const names = emitted
    .filter(kept)
    .sort((a, b) => Number(a === 'index.js') - Number(b === 'index.js'))
  for (const name of names) renameSync(path.join(bundled, name), path.join('dist', name))
  for (const name of readdirSync('dist'))
    if (!names.includes(name)) rmSync(path.join('dist', name), { recursive: true })
} finally {
  rmSync(work, { recursive: true, force: true })
}
