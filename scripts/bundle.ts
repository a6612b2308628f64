/**
 * Build dist/ from src/: generate the server scripts' module from src/server/scripts/*.sh (see
 * scripts/generate-server-scripts.ts), compile with tsc, bundle with ncc, then move the files into dist/ with
 * renames, so a test that starts `node dist/index.js` during a rebuild never reads half a file.
 * The build directory has a fixed name: ncc derives module ids from paths, and the bundle must
 * come out byte for byte the same on every machine (CI compares it with the committed one).
 *
 * `node scripts/bundle.ts` (Node 24 strips the types).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'

const work = path.join('build', 'bundle')
const compiled = path.join(work, 'js')
const bundled = path.join(work, 'ncc')
const bin = (name: string): string => path.join('node_modules', '.bin', name)
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
  mkdirSync('dist', { recursive: true })
  const names = readdirSync(bundled)
  for (const name of names) renameSync(path.join(bundled, name), path.join('dist', name))
  for (const name of readdirSync('dist'))
    if (!names.includes(name)) rmSync(path.join('dist', name), { recursive: true })
} finally {
  rmSync(work, { recursive: true, force: true })
}
