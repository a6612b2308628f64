/**
 * `npm run demo`: a local, self-contained tour. It starts a throwaway OpenSSH sshd on loopback
 * with throwaway keys, deploys a small sample app to a temporary directory twice with the
 * bundled action (`node dist/index.js`, driven only by INPUT_* variables, as the runner does),
 * and prints the resulting layout. Nothing outside the temporary directories is changed, and
 * everything is removed at the end (set DEMO_KEEP=1 to keep the deploy directory).
 *
 * Needs openssh-server (`apt-get install -y openssh-server`) and root, as sshd does.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { inputEnv, parseCommandFile } from '../test/support/action.ts'
import { writeTree } from '../test/support/fixture.ts'
import { SSHD_BINARY, startSshd, type Sshd } from '../test/support/sshd.ts'
import { authorizeKey, generateKey } from '../test/support/users.ts'

const ACTION = path.resolve(import.meta.dirname, '../dist/index.js')

function say(text = ''): void {
  process.stdout.write(`${text}\n`)
}

function heading(text: string): void {
  say(`\n\x1b[1m== ${text} ==\x1b[0m`)
}

/** A sample PHP-style app: enough shape to show releases, shared links and an incremental deploy. */
function sampleApp(version: number): Parameters<typeof writeTree>[1] {
  const app: Parameters<typeof writeTree>[1] = {
    'public/index.php': `<?php echo "Hello from version ${version}";\n`,
    'public/css/app.css': `body { font-family: sans-serif; color: ${version === 1 ? '#333' : '#036'}; }\n`,
    'public/js/app.js': 'console.log("ready")\n',
    'app/Http/Controller.php': '<?php class Controller {}\n',
    'bin/console': { content: '#!/bin/sh\necho "console of the sample app"\n', mode: 0o755 },
    'storage/app/.gitkeep': ''
  }
  if (version === 1) app['README.md'] = '# Sample app\n'
  for (let i = 1; i <= 20; i++) app[`app/Models/Model${i}.php`] = `<?php class Model${i} {}\n`
  if (version === 2) {
    app['public/js/chart.js'] = 'export function chart() {}\n'
    app['app/Models/Model7.php'] = '<?php class Model7 { public $changed = true; }\n'
  }
  return app
}

/** An indented listing, `ls -l`-like for links, like `tree -a -L depth`. */
async function printTree(root: string, depth: number, prefix = '', level = 0): Promise<void> {
  if (level >= depth) return
  const names = (await readdir(root)).sort()
  for (const [i, name] of names.entries()) {
    const full = path.join(root, name)
    const st = await lstat(full)
    const last = i === names.length - 1
    const branch = last ? '└── ' : '├── '
    if (st.isSymbolicLink()) say(`${prefix}${branch}${name} -> ${await readlink(full)}`)
    else say(`${prefix}${branch}${name}${st.isDirectory() ? '/' : ''}`)
    if (st.isDirectory() && !st.isSymbolicLink())
      await printTree(full, depth, `${prefix}${last ? '    ' : '│   '}`, level + 1)
  }
}

async function deploy(
  sshd: Sshd,
  user: string,
  key: string,
  source: string,
  deployPath: string,
  work: string,
  extra: Record<string, string>
): Promise<Record<string, string>> {
  const outputFile = path.join(work, `output-${Date.now()}`)
  await writeFile(outputFile, '')
  const inputs = {
    servers: `${user}@127.0.0.1:${sshd.port}`,
    'private-key': key,
    'known-hosts': sshd.knownHosts,
    path: deployPath,
    source,
    ...extra
  }
  say(
    `$ node dist/index.js   # with ${Object.keys(inputs)
      .map(k => `INPUT_${k.toUpperCase()}`)
      .join(', ')}`
  )
  const result = spawnSync(process.execPath, [ACTION], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GITHUB_OUTPUT: outputFile,
      ...inputEnv(inputs)
    },
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8'
  })
  // The runner turns ::group:: commands into collapsible sections; show them as headings here.
  for (const line of result.stdout.split('\n')) {
    if (line === '::endgroup::' || line === '') continue
    say(line.startsWith('::group::') ? `  ▸ ${line.slice(9)}` : `    ${line}`)
  }
  if (result.status !== 0) throw new Error(`the deploy failed (exit ${result.status})`)
  return parseCommandFile(await readFile(outputFile, 'utf8'))
}

async function main(): Promise<void> {
  if (!existsSync(SSHD_BINARY)) {
    say(
      `${SSHD_BINARY} is missing. Install OpenSSH's server first: apt-get install -y openssh-server`
    )
    process.exit(1)
  }
  if (process.getuid?.() !== 0) {
    say(
      'The demo starts its own sshd, which needs root (it is only reachable on 127.0.0.1 and removed afterwards).'
    )
    process.exit(1)
  }
  if (!existsSync(ACTION)) {
    say('dist/index.js is missing: run npm run bundle first.')
    process.exit(1)
  }
  const work = await mkdtemp(path.join(os.tmpdir(), 'atomic-deploy-demo-'))
  const sshd = await startSshd()
  try {
    const me = os.userInfo()
    const key = await generateKey({ type: 'ed25519' })
    await authorizeKey(
      sshd,
      {
        name: me.username,
        home: me.homedir,
        privateKey: key.privateKey,
        publicKey: key.publicKey,
        shell: '/bin/sh'
      },
      key.publicKey
    )
    const deployPath = path.join(work, 'www')
    const source = path.join(work, 'checkout')

    heading(`A throwaway sshd listens on 127.0.0.1:${sshd.port}; deploying to ${deployPath}`)
    say(
      `A shared/.env prepared by hand before the first deploy is welcome: it is linked into every release.`
    )
    await writeTree(deployPath, { 'shared/.env': 'APP_KEY=demo\n' })

    heading('First deploy (version 1): everything is uploaded')
    await writeTree(source, sampleApp(1))
    const first = await deploy(sshd, me.username, key.privateKey, source, deployPath, work, {
      'keep-releases': '3',
      'before-switch': 'echo "before-switch runs in $(pwd)"'
    })

    heading('Second deploy (version 2): only what changed crosses the wire')
    say(
      'Changes: public/index.php, public/css/app.css and app/Models/Model7.php edited, public/js/chart.js added, README.md deleted.'
    )
    await rm(path.join(source, 'README.md'))
    await writeTree(source, sampleApp(2))
    const second = await deploy(sshd, me.username, key.privateKey, source, deployPath, work, {
      'keep-releases': '3',
      'after-switch': 'cat "$RELEASE_PATH/public/index.php"'
    })

    heading('The layout on the server')
    say(deployPath)
    await printTree(deployPath, 3)

    heading('What happened')
    say(`release-id:          ${first['release-id']} (first deploy), then ${second['release-id']}`)
    say(`previous-release-id: ${second['previous-release-id']}`)
    say(
      `files-uploaded:      ${first['files-uploaded']} on the first deploy, ${second['files-uploaded']} on the second (deleted: ${second['files-deleted']})`
    )
    say(
      `current ->           ${await readlink(path.join(deployPath, 'current'))} (a relative link, swapped atomically with rename(2))`
    )
    say(
      `shared/.env is linked into the release: current/.env -> ${await readlink(path.join(deployPath, 'current/.env'))}`
    )
    say(`The previous release is still there for 'mode: rollback': releases/${first['release-id']}`)
  } finally {
    await sshd.stop()
    if (process.env.DEMO_KEEP === '1') say(`\nKept ${work} (DEMO_KEEP=1).`)
    else await rm(work, { recursive: true, force: true })
  }
}

main().catch(error => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
