/**
 * What the benchmark measures: the action's deploys and the tools that bound them, each against
 * a fresh target directory prepared outside the timed region.
 *
 * Starting states ("seeds") are made once per run, through sshd's own port (no added latency,
 * not timed): the action's first deploy of v1, the action's deploy of v2 on top of that, and an
 * rsync copy of v1. Each repetition then clones a seed with `cp -a` (run locally as root, which
 * keeps owners, modes, mtimes and the relative `current` link) into a new directory, so every
 * timed run starts from an identical state without paying for a full upload first.
 */
import { chown, mkdir, readdir, realpath, rm, stat, utimes } from 'node:fs/promises'
import path from 'node:path'
import { describeTree, exists } from '../test/support/fixture.ts'
import {
  action,
  COMPARE_ACTION,
  DeadlineError,
  deployInputs,
  GROUP_SIZE,
  mustExec,
  rsync,
  sftpUploadDir,
  tarPipe,
  type Account,
  type Env,
  type Measurement
} from './harness.ts'
import type { Workload } from './workload.ts'

export interface Trees {
  webapp: Workload
  large?: Workload
}

export interface RunContext {
  env: Env
  trees: Trees
  rtt: number
  rep: number
  /** Check the result against the source tree (first repetition only; never timed). */
  verify: boolean
}

export interface Scenario {
  key: string
  title: string
  tree: 'webapp' | 'large'
  /** A capped link (bytes per second each way), as env.proxy.setRate takes it. */
  rate?: number
  /** Runs on the aged disk (see agedDisk in harness.ts) instead of the fresh one. */
  disk?: 'aged'
  /** RTTs (ms) this scenario runs at, out of those requested. */
  rtts(requested: number[]): number[]
  /** Cap on repetitions (the per-file SFTP baseline takes minutes per run). */
  maxRepeat?: number
  /**
   * Repetitions at least, when the run repeats at all (BENCH_REPEAT above 1): for a ratio whose
   * runs vary more than its margin (the group pair's runner CPU).
   */
  minRepeat?: number
  /** How the ratio column reads: this / peer ("1.05× tar pipe"), or peer / this ("… faster"). */
  peer?: { key: string; label: string; invert?: boolean }
  run(ctx: RunContext): Promise<Measurement>
}

// ---------------------------------------------------------------------------------------------
// Remote directories (the "server" is this machine, so setup works on the file system directly)

function primary(env: Env): Account {
  return env.accounts[0]!
}

function sftpOnly(env: Env): Account {
  if (!env.sftpOnly) throw new Error('no SFTP-only account')
  return env.sftpOnly
}

function remote(account: Account, relative: string, disk?: 'aged'): string {
  if (disk === 'aged') {
    if (!account.aged) throw new Error('no aged disk (BENCH_AGED=0, or it could not be made)')
    return path.join(account.aged, relative)
  }
  return path.join(account.home, relative)
}

/**
 * Clone a seed into a fresh target, as root (owners, modes, times and symlinks kept). Files are
 * hard-linked (`cp -al`): a second for 50,000 files where copying takes twenty. `.atomic-deploy/`,
 * which the action appends to, is copied. Sharing inodes with the seed is safe because nothing
 * measured writes into an existing file: the action removes a changed file before its new
 * content arrives (its own copy-method hardlink depends on that), and rsync --link-dest only
 * reads the previous copy. checkSeeds() proves it at the end of a run.
 */
async function clone(account: Account, seed: string, target: string, disk?: 'aged'): Promise<void> {
  const from = remote(account, `seeds/${seed}`, disk)
  const to = remote(account, target, disk)
  await rm(to, { recursive: true, force: true })
  // The parent must belong to the account: rsync creates siblings there as that user.
  const parent = path.dirname(to)
  await mkdir(parent, { recursive: true })
  const { uid, gid } = await stat(account.home)
  await chown(parent, uid, gid)
  await mustExec('clone', 'cp', ['-al', from, to], { timeoutMs: 300_000 })
  const metadata = path.join(to, '.atomic-deploy')
  if (await exists(metadata)) {
    await rm(metadata, { recursive: true, force: true })
    await mustExec('clone', 'cp', ['-a', path.join(from, '.atomic-deploy'), metadata], {
      timeoutMs: 60_000
    })
    // The spare a seed's deploy left (a copy of its live release) was made after that release
    // last changed; hard-linking the release into the clone just now changed its files' ctime,
    // which the action would take for a change since. Marking the spare as made now restores
    // the order the seed had.
    const now = new Date()
    for (const name of await readdir(metadata)) {
      if (/^base\.\d+\.from$/.test(name)) await utimes(path.join(metadata, name), now, now)
    }
  }
  // Let the disk settle: the previous run's removal and this clone are still being written
  // back, and a timed run would otherwise pay for them (measured: a no-change deploy's server
  // work at 0 ms, 110 ms on a quiet disk and 300 ms right after a clone).
  await mustExec('clone', 'sync', [], { timeoutMs: 120_000 })
}

/**
 * Remove a target. A deploy killed at the deadline can leave its server side still writing for
 * a moment, so retry briefly; whatever is left goes with the account at the end.
 */
async function remove(account: Account, relative: string, disk?: 'aged'): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rm(remote(account, relative, disk), { recursive: true, force: true })
      return
    } catch (error) {
      if (attempt >= 5) throw error
      await new Promise(resolve => setTimeout(resolve, 200 * attempt))
    }
  }
}

/**
 * Wait for the copy a deploy leaves for the next one (`.atomic-deploy/base.*`, made in the
 * background after it finished) to end, so a seed is cloned whole: as on a server, where the
 * next deploy comes minutes later.
 */
async function spareSettled(account: Account, relative: string): Promise<void> {
  const M = path.join(remote(account, relative), '.atomic-deploy')
  for (let i = 0; i < 1200; i++) {
    const names = await readdir(M).catch(() => [] as string[])
    const running = names.filter(n => /^base\.\d+$/.test(n) && !names.includes(`${n}.rc`))
    if (running.length === 0) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`the spare copy in ${M} did not end within a minute`)
}

/** Descriptions of the local source trees, which never change during a run. */
const sourceDescriptions = new Map<string, Promise<string[]>>()

async function sameTree(what: string, actual: string, expected: string): Promise<void> {
  let described = sourceDescriptions.get(expected)
  if (!described) sourceDescriptions.set(expected, (described = describeTree(expected)))
  const [a, e] = await Promise.all([describeTree(actual), described])
  if (a.length !== e.length || a.some((line, i) => line !== e[i])) {
    const missing = e.filter(l => !a.includes(l)).slice(0, 5)
    const extra = a.filter(l => !e.includes(l)).slice(0, 5)
    throw new Error(
      `${what}: ${actual} differs from ${expected}\n  missing: ${missing.join('\n  ')}\n  extra: ${extra.join('\n  ')}`
    )
  }
}

/** The live release of an action deploy directory. */
async function liveRelease(account: Account, relative: string, disk?: 'aged'): Promise<string> {
  return realpath(path.join(remote(account, relative, disk), 'current'))
}

// ---------------------------------------------------------------------------------------------
// Seeds

/**
 * Prepare every starting state the scenarios clone. Deploys go to sshd's own port: setup must
 * be correct, not fast, and must not be counted.
 */
export async function prepareSeeds(
  env: Env,
  trees: Trees,
  log: (line: string) => void,
  note: (line: string) => void
): Promise<void> {
  const direct = env.sshd.port
  const main = primary(env)
  const { webapp, large } = trees

  /**
   * Seeding is setup: a failed attempt is retried into a clean directory (at most five
   * attempts), and reported, since any failure of the action is worth knowing about.
   */
  const seed = async (
    what: string,
    accounts: Account[],
    dir: string,
    work: () => Promise<unknown>
  ) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await work()
        return
      } catch (error) {
        if (error instanceof DeadlineError || attempt >= 5) throw error
        const message = error instanceof Error ? error.message : String(error)
        note(
          `seeding (${what}) failed on attempt ${attempt} and was retried:\n  ${message.replace(/\n/g, '\n  ')}`
        )
        log(`seeding (${what}) failed, retrying: ${message.split('\n')[0]}`)
        for (const account of accounts) await remove(account, dir)
      }
    }
  }

  log('seeding starting states (not timed)')
  // v1 on accounts[0] by the action; the other accounts get a copy of that deploy directory
  // (owner changed): the same state, without a ten-server deploy in the setup.
  await seed('first deploy', [main], 'seeds/webapp-v1', () =>
    action(env, deployInputs(env, [main], direct, webapp.v1, 'seeds/webapp-v1'))
  )
  await spareSettled(main, 'seeds/webapp-v1')
  await sameTree(
    'action first deploy (seed)',
    await liveRelease(main, 'seeds/webapp-v1'),
    webapp.v1
  )
  /**
   * `seed` of the main account copied to `account`, as its own. `sftpOnly`: less the spare copy
   * the shell deploy left for its next deploy (.atomic-deploy/base.*, see lib/finish.sh): an
   * SFTP-only deploy makes none, so an SFTP-only account never has one, and one found there is
   * removed as a leftover (over SFTP, a request per file), which the scenarios would otherwise
   * time on every run.
   */
  const copySeed = async (account: Account, seedName: string, sftpOnly = false): Promise<void> => {
    const to = remote(account, seedName)
    await rm(to, { recursive: true, force: true })
    await mustExec('seed copy', 'cp', ['-a', remote(main, seedName), to])
    await mustExec('seed copy', 'chown', ['-R', `${account.user.name}:`, to])
    if (!sftpOnly) return
    for (const name of await readdir(path.join(to, '.atomic-deploy'))) {
      if (/^base\./.test(name))
        await rm(path.join(to, '.atomic-deploy', name), { recursive: true, force: true })
    }
  }
  for (const account of env.accounts.slice(1)) await copySeed(account, 'seeds/webapp-v1')
  // The SFTP-only account starts from the same v1 (deployed by the shell path: the same layout).
  if (env.sftpOnly) await copySeed(env.sftpOnly, 'seeds/webapp-v1', true)
  // The BENCH_COMPARE build's own v1 for the SFTP-only account, made by that build: the
  // records a build reads are the ones it writes.
  if (COMPARE_ACTION && env.sftpOnly) {
    const build = COMPARE_ACTION
    await seed('first deploy, BENCH_COMPARE build', [main], 'seeds/webapp-v1-cmp', () =>
      action(env, deployInputs(env, [main], direct, webapp.v1, 'seeds/webapp-v1-cmp'), 600_000, {
        build
      })
    )
    await spareSettled(main, 'seeds/webapp-v1-cmp')
    await copySeed(env.sftpOnly, 'seeds/webapp-v1-cmp', true)
  }
  // v2 live on top of v1: the state a no-change deploy starts from.
  await seed('incremental deploy', [main], 'seeds/webapp-v2', async () => {
    await clone(main, 'webapp-v1', 'seeds/webapp-v2')
    await action(env, deployInputs(env, [main], direct, webapp.v2, 'seeds/webapp-v2'))
    await spareSettled(main, 'seeds/webapp-v2')
  })
  await sameTree('action incremental (seed)', await liveRelease(main, 'seeds/webapp-v2'), webapp.v2)
  // rsync's own copies of v1 and v2, with their mtimes, for --link-dest and in-place runs.
  await rsync(env, main, webapp.v1, remote(main, 'seeds/webapp-rsync-v1'), direct)
  await sameTree('rsync (seed)', remote(main, 'seeds/webapp-rsync-v1'), webapp.v1)
  await rsync(env, main, webapp.v2, remote(main, 'seeds/webapp-rsync-v2'), direct)
  await sameTree('rsync (seed v2)', remote(main, 'seeds/webapp-rsync-v2'), webapp.v2)
  if (main.aged) {
    // The same starting states on the aged disk, copied as they are (owners, times, links).
    log('copying the seeds to the aged disk (not timed)')
    for (const seedName of ['webapp-v1', 'webapp-v2', 'webapp-rsync-v1']) {
      await mustExec('aged seed', 'cp', [
        '-a',
        remote(main, `seeds/${seedName}`),
        remote(main, `seeds/${seedName}`, 'aged')
      ])
    }
    await mustExec('aged seed', 'sync', [], { timeoutMs: 120_000 })
  }
  if (large) {
    log('seeding the large tree (not timed)')
    await seed('large first deploy', [main], 'seeds/large-v1', () =>
      action(env, deployInputs(env, [main], direct, large.v1, 'seeds/large-v1'), 900_000)
    )
    await spareSettled(main, 'seeds/large-v1')
    await rsync(env, main, large.v1, remote(main, 'seeds/large-rsync-v1'), direct)
  }
}

/** The seeds still hold exactly what was deployed to them: no timed run wrote through a link. */
export async function checkSeeds(env: Env, trees: Trees): Promise<void> {
  const main = primary(env)
  await sameTree('seed webapp-v1', await liveRelease(main, 'seeds/webapp-v1'), trees.webapp.v1)
  await sameTree('seed webapp-v2', await liveRelease(main, 'seeds/webapp-v2'), trees.webapp.v2)
  await sameTree('seed webapp-rsync-v1', remote(main, 'seeds/webapp-rsync-v1'), trees.webapp.v1)
  await sameTree('seed webapp-rsync-v2', remote(main, 'seeds/webapp-rsync-v2'), trees.webapp.v2)
  if (main.aged) {
    await sameTree(
      'aged seed webapp-v1',
      await liveRelease(main, 'seeds/webapp-v1', 'aged'),
      trees.webapp.v1
    )
    await sameTree(
      'aged seed webapp-v2',
      await liveRelease(main, 'seeds/webapp-v2', 'aged'),
      trees.webapp.v2
    )
    await sameTree(
      'aged seed webapp-rsync-v1',
      remote(main, 'seeds/webapp-rsync-v1', 'aged'),
      trees.webapp.v1
    )
  }
  for (const account of [...env.accounts.slice(1), ...(env.sftpOnly ? [env.sftpOnly] : [])]) {
    await sameTree('group seed', await liveRelease(account, 'seeds/webapp-v1'), trees.webapp.v1)
  }
  if (trees.large) {
    await sameTree('seed large-v1', await liveRelease(main, 'seeds/large-v1'), trees.large.v1)
    await sameTree('seed large-rsync-v1', remote(main, 'seeds/large-rsync-v1'), trees.large.v1)
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/**
 * Runs per large-tree scenario (BENCH_LARGE_REPEAT, default 1): each takes 20-60 s plus as much
 * again for setup, and the targets on it are ratios far from the noise of a single run.
 */
export const LARGE_REPEAT = Math.max(1, Number(process.env.BENCH_LARGE_REPEAT ?? 1) || 1)

/** Runs per group-pair scenario when the run repeats (BENCH_GROUP_REPEAT, default 7). */
export const GROUP_REPEAT = Math.max(1, Number(process.env.BENCH_GROUP_REPEAT ?? 7) || 1)

const at = (rtts: number[]) => (requested: number[]) => requested.filter(r => rtts.includes(r))
const all = (requested: number[]): number[] => requested

function target(key: string, ctx: RunContext): string {
  return `t/${key}-${ctx.rtt}-${ctx.rep}`
}

interface Where {
  /** The aged disk instead of the fresh one. */
  disk?: 'aged'
  /** rsync with -z, as over a slow link. */
  compress?: boolean
}

/**
 * The v1 -> v2 deploy to the first `servers` accounts at once (the group scenarios), by `build`
 * if given. Every account gets the seed cloned and removed whichever count deploys, so both runs
 * of the pair follow the same work on the machine: this machine's kernel is slower to hand a new
 * process fresh memory after ten clones than after one (measured with perf: the page zeroing in
 * the action's own start-up, identical code in both runs, took about 6 samples a run after one
 * clone and 220 after ten), and the pair is there to measure the action's scaling, not that.
 */
async function groupDeploy(
  ctx: RunContext,
  key: string,
  servers: number,
  build?: string
): Promise<Measurement> {
  const { env } = ctx
  const dir = target(key, ctx)
  const deployed = env.accounts.slice(0, servers)
  for (const account of env.accounts) await clone(account, 'webapp-v1', dir)
  try {
    const m = await action(
      env,
      deployInputs(env, deployed, env.proxy.port, ctx.trees.webapp.v2, dir, {
        'max-parallel': String(GROUP_SIZE),
        'copy-method': 'hardlink'
      }),
      undefined,
      build ? { build } : {}
    )
    if (ctx.verify) {
      for (const account of deployed)
        await sameTree(key, await liveRelease(account, dir), ctx.trees.webapp.v2)
    }
    return m
  } finally {
    for (const account of env.accounts) await remove(account, dir)
  }
}

/** Clone `seed`, deploy `source` on top through the proxy, check, clean up. */
async function incremental(
  ctx: RunContext,
  key: string,
  seed: string,
  source: string,
  extra: Record<string, string>,
  timeoutMs?: number,
  where: Where = {},
  account: Account = primary(ctx.env),
  build?: string
): Promise<Measurement> {
  const { env } = ctx
  const main = account
  const dir = target(key, ctx)
  await clone(main, seed, dir, where.disk)
  try {
    const m = await action(
      env,
      deployInputs(
        env,
        [main],
        env.proxy.port,
        source,
        where.disk ? remote(main, dir, where.disk) : dir,
        extra
      ),
      timeoutMs,
      build ? { build } : {}
    )
    if (ctx.verify) await sameTree(key, await liveRelease(main, dir, where.disk), source)
    return m
  } finally {
    await remove(main, dir, where.disk)
  }
}

/** `mode: rollback` on a clone of `seed`: current goes back to the release before. */
async function rollback(ctx: RunContext, key: string, expected: string): Promise<Measurement> {
  const { env } = ctx
  const main = primary(env)
  const dir = target(key, ctx)
  await clone(main, 'webapp-v2', dir)
  try {
    const m = await action(
      env,
      deployInputs(env, [main], env.proxy.port, ctx.trees.webapp.v2, dir, { mode: 'rollback' })
    )
    if (ctx.verify) await sameTree(key, await liveRelease(main, dir), expected)
    return m
  } finally {
    await remove(main, dir)
  }
}

/** rsync `source` into a fresh `next` beside a clone of `seed` (--link-dest), or onto the clone. */
async function rsyncIncremental(
  ctx: RunContext,
  key: string,
  seed: string,
  source: string,
  where: Where & { inPlace?: boolean } = {}
): Promise<Measurement> {
  const { env } = ctx
  const main = primary(env)
  const dir = target(key, ctx)
  await clone(main, seed, `${dir}/prev`, where.disk)
  const prev = remote(main, `${dir}/prev`, where.disk)
  const next = where.inPlace ? prev : remote(main, `${dir}/next`, where.disk)
  try {
    const m = await rsync(
      env,
      main,
      source,
      next,
      env.proxy.port,
      where.inPlace ? undefined : prev,
      where.compress
    )
    if (ctx.verify) await sameTree(key, next, source)
    return m
  } finally {
    await remove(main, dir, where.disk)
  }
}

async function fullTarPipe(ctx: RunContext, key: string, source: string): Promise<Measurement> {
  const main = primary(ctx.env)
  const dir = target(key, ctx)
  try {
    const m = await tarPipe(ctx.env, main, source, remote(main, dir), ctx.env.proxy.port)
    if (ctx.verify) await sameTree(key, remote(main, dir), source)
    return m
  } finally {
    await remove(main, dir)
  }
}

async function firstDeploy(
  ctx: RunContext,
  key: string,
  source: string,
  timeoutMs?: number,
  account: Account = primary(ctx.env)
): Promise<Measurement> {
  const main = account
  const dir = target(key, ctx)
  try {
    const m = await action(
      ctx.env,
      deployInputs(ctx.env, [main], ctx.env.proxy.port, source, dir),
      timeoutMs
    )
    if (ctx.verify) await sameTree(key, await liveRelease(main, dir), source)
    return m
  } finally {
    await remove(main, dir)
  }
}

/** A dry run of a first deploy of the large tree: scans and hashes it all, writes nothing. */
async function scanOnly(ctx: RunContext, key: string, cpus?: string): Promise<Measurement> {
  const main = primary(ctx.env)
  const dir = target(key, ctx)
  // The tree read once beforehand, untimed: the curve is of the CPU's work, not of the disk.
  await mustExec(
    'warm',
    'sh',
    ['-c', 'find "$1" -type f -exec cat {} + > /dev/null', 'warm', ctx.trees.large!.v1],
    {
      timeoutMs: 300_000
    }
  )
  const m = await action(
    ctx.env,
    deployInputs(ctx.env, [main], ctx.env.proxy.port, ctx.trees.large!.v1, dir, {
      'dry-run': 'true'
    }),
    300_000,
    cpus === undefined ? {} : { cpus }
  )
  if (await exists(remote(main, dir))) throw new Error(`${key}: the dry run created ${dir}`)
  return m
}

/** A slow line: 1 MiB/s each way (with the RTT of the cell, 40 ms). */
export const SLOW_RATE = 1024 * 1024

export const SCENARIOS: Scenario[] = [
  {
    key: 'tar-full',
    title: 'tar -cz → ssh tar -xz (full upload, peer)',
    tree: 'webapp',
    rtts: all,
    run: ctx => fullTarPipe(ctx, 'tar-full', ctx.trees.webapp.v1)
  },
  {
    key: 'first',
    title: 'action: first deploy',
    tree: 'webapp',
    rtts: all,
    peer: { key: 'tar-full', label: 'tar pipe' },
    run: ctx => firstDeploy(ctx, 'first', ctx.trees.webapp.v1)
  },
  {
    key: 'sftp-full',
    title: 'ssh2-sftp-client uploadDir (full upload)',
    tree: 'webapp',
    rtts: at([0, 40]),
    // Minutes per run at 40 ms, and the target is a 50x ratio: one run is enough to judge it.
    maxRepeat: 1,
    peer: { key: 'first', label: 'action', invert: true },
    run: async ctx => {
      const main = primary(ctx.env)
      const dir = target('sftp-full', ctx)
      try {
        const m = await sftpUploadDir(
          ctx.env,
          main,
          ctx.trees.webapp.v1,
          remote(main, dir),
          ctx.env.proxy.port,
          1_200_000
        )
        if (ctx.verify) {
          const expected = ctx.trees.webapp.stats.files
          const got = (await describeTree(remote(main, dir))).filter(l => l.startsWith('f ')).length
          if (got !== expected) throw new Error(`uploadDir: ${got} files arrived, ${expected} sent`)
        }
        return m
      } finally {
        await remove(main, dir)
      }
    }
  },
  {
    key: 'rsync-incr',
    title: 'rsync -a --delete --link-dest (incremental, peer)',
    tree: 'webapp',
    rtts: all,
    run: ctx => rsyncIncremental(ctx, 'rsync-incr', 'webapp-rsync-v1', ctx.trees.webapp.v2)
  },
  {
    key: 'incr-hardlink',
    title: 'action: incremental, copy-method hardlink',
    tree: 'webapp',
    rtts: all,
    peer: { key: 'rsync-incr', label: 'rsync' },
    run: ctx =>
      incremental(ctx, 'incr-hardlink', 'webapp-v1', ctx.trees.webapp.v2, {
        'copy-method': 'hardlink'
      })
  },
  {
    key: 'incr-copy',
    title: 'action: incremental, copy-method copy (default)',
    tree: 'webapp',
    rtts: all,
    peer: { key: 'rsync-incr', label: 'rsync' },
    run: ctx => incremental(ctx, 'incr-copy', 'webapp-v1', ctx.trees.webapp.v2, {})
  },
  {
    key: 'nochange',
    title: 'action: deploy with nothing changed',
    tree: 'webapp',
    rtts: all,
    run: ctx => incremental(ctx, 'nochange', 'webapp-v2', ctx.trees.webapp.v2, {})
  },
  {
    key: 'nochange-nodrift',
    title: 'action: deploy with nothing changed, on-drift ignore (no drift check)',
    tree: 'webapp',
    rtts: all,
    peer: { key: 'nochange', label: 'with the drift check', invert: true },
    run: ctx =>
      incremental(ctx, 'nochange-nodrift', 'webapp-v2', ctx.trees.webapp.v2, {
        'on-drift': 'ignore'
      })
  },
  {
    key: 'nochange-hardlink',
    title: 'action: deploy with nothing changed, copy-method hardlink',
    tree: 'webapp',
    rtts: all,
    run: ctx =>
      incremental(ctx, 'nochange-hardlink', 'webapp-v2', ctx.trees.webapp.v2, {
        'copy-method': 'hardlink'
      })
  },
  // The same deploys to an SFTP-only account (ForceCommand internal-sftp in a chroot): every
  // phase over SFTP, unchanged files made on the server with copy-data or hard links.
  {
    key: 'sftp-only-first',
    title: 'action: first deploy, SFTP-only account',
    tree: 'webapp',
    rtts: at([0, 40]),
    peer: { key: 'tar-full', label: 'tar pipe' },
    run: ctx =>
      firstDeploy(ctx, 'sftp-only-first', ctx.trees.webapp.v1, undefined, sftpOnly(ctx.env))
  },
  {
    key: 'sftp-only-incr',
    title: 'action: incremental, SFTP-only account, copy (copy-data)',
    tree: 'webapp',
    rtts: at([0, 40]),
    peer: { key: 'rsync-incr', label: 'rsync' },
    run: ctx =>
      incremental(
        ctx,
        'sftp-only-incr',
        'webapp-v1',
        ctx.trees.webapp.v2,
        {},
        undefined,
        {},
        sftpOnly(ctx.env)
      )
  },
  {
    key: 'sftp-only-incr-hardlink',
    title: 'action: incremental, SFTP-only account, hardlink',
    tree: 'webapp',
    rtts: at([0, 40]),
    peer: { key: 'rsync-incr', label: 'rsync' },
    run: ctx =>
      incremental(
        ctx,
        'sftp-only-incr-hardlink',
        'webapp-v1',
        ctx.trees.webapp.v2,
        { 'copy-method': 'hardlink' },
        undefined,
        {},
        sftpOnly(ctx.env)
      )
  },
  // With BENCH_COMPARE: the same two deploys by the other build, from its own seed.
  ...(COMPARE_ACTION
    ? (
        [
          ['sftp-only-incr-cmp', 'copy (copy-data)', {}],
          ['sftp-only-incr-hardlink-cmp', 'hardlink', { 'copy-method': 'hardlink' }]
        ] as const
      ).map(([key, method, extra]): Scenario => ({
        key,
        title: `BENCH_COMPARE build: incremental, SFTP-only account, ${method}`,
        tree: 'webapp',
        rtts: at([0, 40]),
        peer: { key: 'rsync-incr', label: 'rsync' },
        run: ctx =>
          incremental(
            ctx,
            key,
            'webapp-v1-cmp',
            ctx.trees.webapp.v2,
            extra,
            undefined,
            {},
            sftpOnly(ctx.env),
            COMPARE_ACTION
          )
      }))
    : []),
  // With BENCH_COMPARE: the shell path's incremental and no-change deploys by the other build,
  // from the same seeds (made by the action under test: both builds must read those records).
  ...(COMPARE_ACTION
    ? [
        {
          key: 'incr-copy-cmp',
          title: 'BENCH_COMPARE build: incremental, copy-method copy (default)',
          tree: 'webapp',
          rtts: all,
          peer: { key: 'rsync-incr', label: 'rsync' },
          run: ctx =>
            incremental(
              ctx,
              'incr-copy-cmp',
              'webapp-v1',
              ctx.trees.webapp.v2,
              {},
              undefined,
              {},
              primary(ctx.env),
              COMPARE_ACTION
            )
        } satisfies Scenario,
        {
          key: 'nochange-cmp',
          title: 'BENCH_COMPARE build: deploy with nothing changed',
          tree: 'webapp',
          rtts: all,
          peer: { key: 'nochange', label: 'the action', invert: true },
          run: ctx =>
            incremental(
              ctx,
              'nochange-cmp',
              'webapp-v2',
              ctx.trees.webapp.v2,
              {},
              undefined,
              {},
              primary(ctx.env),
              COMPARE_ACTION
            )
        } satisfies Scenario
      ]
    : []),
  // The group pair uses hard links: the ten "servers" here are ten accounts on one machine, and
  // ten full copies (300 MB) would queue on its one disk, which ten real servers never share.
  // The ratio then measures the action's own scaling: connections, CPU, the phase barriers.
  // Seven runs each: on this machine one run's runner CPU varies by 0.1 s or more (the kernel's
  // page zeroing, see the README's "What falls short"), more than the ratio's margin.
  {
    key: 'group-1',
    title: 'action: incremental to 1 server, hardlink (group peer)',
    tree: 'webapp',
    minRepeat: GROUP_REPEAT,
    rtts: all,
    run: ctx => groupDeploy(ctx, 'group-1', 1)
  },
  {
    key: 'group-10',
    title: `action: incremental to ${GROUP_SIZE} servers, hardlink, max-parallel ${GROUP_SIZE}`,
    tree: 'webapp',
    minRepeat: GROUP_REPEAT,
    rtts: all,
    peer: { key: 'group-1', label: 'one server' },
    run: ctx => groupDeploy(ctx, 'group-10', GROUP_SIZE)
  },
  // With BENCH_COMPARE: the group pair by the other build, interleaved with the action's, for
  // the runner CPU of one server against ten measured under the same load.
  ...(COMPARE_ACTION
    ? [
        {
          key: 'group-1-cmp',
          title: 'BENCH_COMPARE build: incremental to 1 server, hardlink (group peer)',
          tree: 'webapp',
          minRepeat: GROUP_REPEAT,
          rtts: all,
          run: ctx => groupDeploy(ctx, 'group-1-cmp', 1, COMPARE_ACTION)
        } satisfies Scenario,
        {
          key: 'group-10-cmp',
          title: `BENCH_COMPARE build: incremental to ${GROUP_SIZE} servers, hardlink, max-parallel ${GROUP_SIZE}`,
          tree: 'webapp',
          minRepeat: GROUP_REPEAT,
          rtts: all,
          peer: { key: 'group-1-cmp', label: 'one server' },
          run: ctx => groupDeploy(ctx, 'group-10-cmp', GROUP_SIZE, COMPARE_ACTION)
        } satisfies Scenario
      ]
    : []),
  {
    key: 'rollback',
    title: 'action: mode rollback (back to the release before)',
    tree: 'webapp',
    rtts: all,
    run: ctx => rollback(ctx, 'rollback', ctx.trees.webapp.v1)
  },
  // A slow line, 1 MiB/s each way at 40 ms, where bytes decide: the tar pipe at gzip's default
  // level, rsync -az in place (what the most used SSH deploy action runs; not atomic) and with
  // --link-dest, and the action.
  {
    key: 'slow-tar-full',
    title: '1 MiB/s: tar -cz → ssh tar -xz (full upload, peer)',
    tree: 'webapp',
    rate: SLOW_RATE,
    rtts: at([40]),
    run: ctx => fullTarPipe(ctx, 'slow-tar-full', ctx.trees.webapp.v1)
  },
  {
    key: 'slow-first',
    title: '1 MiB/s: action first deploy',
    tree: 'webapp',
    rate: SLOW_RATE,
    rtts: at([40]),
    peer: { key: 'slow-tar-full', label: 'tar pipe' },
    run: ctx => firstDeploy(ctx, 'slow-first', ctx.trees.webapp.v1)
  },
  {
    key: 'slow-rsync-inplace',
    title: '1 MiB/s: rsync -az --delete in place (incremental, peer)',
    tree: 'webapp',
    rate: SLOW_RATE,
    rtts: at([40]),
    run: ctx =>
      rsyncIncremental(ctx, 'slow-rsync-inplace', 'webapp-rsync-v1', ctx.trees.webapp.v2, {
        inPlace: true,
        compress: true
      })
  },
  {
    key: 'slow-rsync-linkdest',
    title: '1 MiB/s: rsync -az --delete --link-dest (incremental, peer)',
    tree: 'webapp',
    rate: SLOW_RATE,
    rtts: at([40]),
    run: ctx =>
      rsyncIncremental(ctx, 'slow-rsync-linkdest', 'webapp-rsync-v1', ctx.trees.webapp.v2, {
        compress: true
      })
  },
  {
    key: 'slow-incr',
    title: '1 MiB/s: action incremental (copy, the default)',
    tree: 'webapp',
    rate: SLOW_RATE,
    rtts: at([40]),
    peer: { key: 'slow-rsync-inplace', label: 'rsync in place' },
    run: ctx => incremental(ctx, 'slow-incr', 'webapp-v1', ctx.trees.webapp.v2, {})
  },
  {
    key: 'slow-rsync-nochange',
    title: '1 MiB/s: rsync -az --delete in place, nothing changed (peer)',
    tree: 'webapp',
    rate: SLOW_RATE,
    rtts: at([40]),
    run: ctx =>
      rsyncIncremental(ctx, 'slow-rsync-nochange', 'webapp-rsync-v2', ctx.trees.webapp.v2, {
        inPlace: true,
        compress: true
      })
  },
  {
    key: 'slow-nochange',
    title: '1 MiB/s: action deploy with nothing changed',
    tree: 'webapp',
    rate: SLOW_RATE,
    rtts: at([40]),
    peer: { key: 'slow-rsync-nochange', label: 'rsync in place' },
    run: ctx => incremental(ctx, 'slow-nochange', 'webapp-v2', ctx.trees.webapp.v2, {})
  },
  // A disk that is not fresh (see agedDisk in harness.ts), where copying costs the most.
  {
    key: 'aged-rsync-incr',
    title: 'aged disk: rsync -a --delete --link-dest (incremental, peer)',
    tree: 'webapp',
    disk: 'aged',
    rtts: at([40]),
    run: ctx =>
      rsyncIncremental(ctx, 'aged-rsync-incr', 'webapp-rsync-v1', ctx.trees.webapp.v2, {
        disk: 'aged'
      })
  },
  {
    key: 'aged-incr-copy',
    title: 'aged disk: action incremental (copy, the default)',
    tree: 'webapp',
    disk: 'aged',
    rtts: at([40]),
    peer: { key: 'aged-rsync-incr', label: 'rsync' },
    run: ctx =>
      incremental(ctx, 'aged-incr-copy', 'webapp-v1', ctx.trees.webapp.v2, {}, undefined, {
        disk: 'aged'
      })
  },
  {
    key: 'aged-incr-hardlink',
    title: 'aged disk: action incremental, copy-method hardlink',
    tree: 'webapp',
    disk: 'aged',
    rtts: at([40]),
    peer: { key: 'aged-rsync-incr', label: 'rsync' },
    run: ctx =>
      incremental(
        ctx,
        'aged-incr-hardlink',
        'webapp-v1',
        ctx.trees.webapp.v2,
        { 'copy-method': 'hardlink' },
        undefined,
        { disk: 'aged' }
      )
  },
  {
    key: 'aged-nochange',
    title: 'aged disk: action deploy with nothing changed (copy)',
    tree: 'webapp',
    disk: 'aged',
    rtts: at([40, 100]),
    run: ctx =>
      incremental(ctx, 'aged-nochange', 'webapp-v2', ctx.trees.webapp.v2, {}, undefined, {
        disk: 'aged'
      })
  },
  // The large tree, at 40 ms only: memory and per-file overheads show at 50,000 files.
  {
    key: 'large-tar-full',
    title: 'large: tar -cz → ssh tar -xz (full upload, peer)',
    tree: 'large',
    maxRepeat: LARGE_REPEAT,
    rtts: at([40]),
    run: ctx => fullTarPipe(ctx, 'large-tar-full', ctx.trees.large!.v1)
  },
  // The local work's curve: scanning and hashing the 50,000-file tree (a dry run of a first
  // deploy, so the plan is the whole tree) with the action on one core, then on all of them.
  {
    key: 'large-scan-1',
    title: 'large: dry run (scan and hash), one core',
    tree: 'large',
    maxRepeat: LARGE_REPEAT,
    rtts: at([40]),
    run: ctx => scanOnly(ctx, 'large-scan-1', '0')
  },
  {
    key: 'large-scan-all',
    title: 'large: dry run (scan and hash), every core',
    tree: 'large',
    maxRepeat: LARGE_REPEAT,
    rtts: at([40]),
    run: ctx => scanOnly(ctx, 'large-scan-all')
  },
  {
    key: 'large-first',
    title: 'large: action first deploy',
    tree: 'large',
    maxRepeat: LARGE_REPEAT,
    rtts: at([40]),
    peer: { key: 'large-tar-full', label: 'tar pipe' },
    run: ctx => firstDeploy(ctx, 'large-first', ctx.trees.large!.v1, 900_000)
  },
  {
    key: 'large-rsync-incr',
    title: 'large: rsync --link-dest, 20 files changed (peer)',
    tree: 'large',
    maxRepeat: LARGE_REPEAT,
    rtts: at([40]),
    run: ctx => rsyncIncremental(ctx, 'large-rsync-incr', 'large-rsync-v1', ctx.trees.large!.v2)
  },
  {
    key: 'large-incr-hardlink',
    title: 'large: action incremental, hardlink',
    tree: 'large',
    maxRepeat: LARGE_REPEAT,
    rtts: at([40]),
    peer: { key: 'large-rsync-incr', label: 'rsync' },
    run: ctx =>
      incremental(
        ctx,
        'large-incr-hardlink',
        'large-v1',
        ctx.trees.large!.v2,
        { 'copy-method': 'hardlink' },
        900_000
      )
  },
  {
    key: 'large-incr-copy',
    title: 'large: action incremental, copy',
    tree: 'large',
    maxRepeat: LARGE_REPEAT,
    rtts: at([40]),
    peer: { key: 'large-rsync-incr', label: 'rsync' },
    run: ctx => incremental(ctx, 'large-incr-copy', 'large-v1', ctx.trees.large!.v2, {}, 900_000)
  },
  // With BENCH_COMPARE: the other build's incremental deploy of the large tree, from the same seed.
  ...(COMPARE_ACTION
    ? [
        {
          key: 'large-incr-copy-cmp',
          title: 'BENCH_COMPARE build: large incremental, copy',
          tree: 'large',
          maxRepeat: LARGE_REPEAT,
          rtts: at([40]),
          peer: { key: 'large-rsync-incr', label: 'rsync' },
          run: ctx =>
            incremental(
              ctx,
              'large-incr-copy-cmp',
              'large-v1',
              ctx.trees.large!.v2,
              {},
              900_000,
              {},
              primary(ctx.env),
              COMPARE_ACTION
            )
        } satisfies Scenario
      ]
    : [])
]
