import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * A process identified by pid AND start time, so that a recycled pid is never mistaken for
 * a process we started.
 */
export interface ProcRef {
  pid: number
  start: string
}

interface StatFields {
  state: string
  ppid: number
  start: string
}

function readStat(pid: number): StatFields | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // comm (field 2) may contain spaces and parentheses; everything after the last ')' is
  // space separated, starting with field 3 (state). ppid is field 4, starttime field 22.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { state: fields[0] ?? '', ppid: Number(fields[1]), start: fields[19] ?? '' }
}

export function procRef(pid: number): ProcRef | undefined {
  const stat = readStat(pid)
  return stat ? { pid, start: stat.start } : undefined
}

/** Running (or stopped) and still the same process; a zombie has already died. */
export function isAlive(ref: ProcRef): boolean {
  const stat = readStat(ref.pid)
  return stat !== undefined && stat.start === ref.start && stat.state !== 'Z' && stat.state !== 'X'
}

/** pid -> ppid for every process visible in /proc. */
function processTable(): Map<number, number> {
  const table = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat) table.set(Number(entry), stat.ppid)
  }
  return table
}

/** Direct children of a process, as refs. */
export function childrenOf(pid: number): ProcRef[] {
  const refs: ProcRef[] = []
  for (const [child, ppid] of processTable()) {
    if (ppid !== pid) continue
    const ref = procRef(child)
    if (ref) refs.push(ref)
  }
  return refs
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig)
    return true
  } catch {
    return false
  }
}

/**
 * SIGKILL each root and all of its descendants. Synchronous so that it can run in a
 * process 'exit' hook. sshd puts every connection (and every session command) in its own
 * session, so process groups do not reach them; instead the tree is walked by ppid. Each
 * process is frozen with SIGSTOP as soon as it is found, so nobody can fork a child the
 * walk would miss, and only then is everything killed.
 */
export function killTreesSync(roots: ProcRef[]): ProcRef[] {
  const victims = new Map<number, ProcRef>()
  const freeze = (pid: number): void => {
    if (pid <= 1 || pid === process.pid || victims.has(pid)) return
    const ref = procRef(pid)
    if (ref && signal(pid, 'SIGSTOP')) victims.set(pid, ref)
  }
  for (const root of roots) if (isAlive(root)) freeze(root.pid)
  for (let pass = 0; pass < 20 && victims.size > 0; pass++) {
    const before = victims.size
    for (const [pid, ppid] of processTable()) if (victims.has(ppid)) freeze(pid)
    if (victims.size === before) break
  }
  for (const pid of victims.keys()) signal(pid, 'SIGKILL')
  return [...victims.values()]
}

/** Wait (bounded) until none of the processes is alive any more. */
export async function waitGone(refs: ProcRef[], timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (!refs.some(isAlive)) return true
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Synchronous cleanups run when the test process exits or is told to terminate. */
const cleanups = new Set<() => void>()
let handlersInstalled = false

function runCleanups(): void {
  for (const cleanup of [...cleanups]) {
    cleanups.delete(cleanup)
    try {
      cleanup()
    } catch {
      // Best effort: one failure must not keep the others from running.
    }
  }
}

const TERMINATING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

function onTerminatingSignal(sig: NodeJS.Signals): void {
  runCleanups()
  for (const s of TERMINATING_SIGNALS) process.off(s, onTerminatingSignal)
  // Listening to a signal disables Node's default action; if nobody else handles it, die
  // of it as we would have without us.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
}

/**
 * Run `cleanup` (synchronously) when this process exits, including on SIGTERM/SIGINT/SIGHUP:
 * vitest ends a worker that still has open handles with SIGTERM, which skips 'exit' hooks.
 * Returns a function that cancels it.
 */
export function onProcessExit(cleanup: () => void): () => void {
  if (!handlersInstalled) {
    handlersInstalled = true
    process.on('exit', runCleanups)
    for (const s of TERMINATING_SIGNALS) process.on(s, onTerminatingSignal)
  }
  cleanups.add(cleanup)
  return () => cleanups.delete(cleanup)
}

// Nothing runs in-process when the test process is SIGKILLed (a worker past a hard timeout).
// As the last line of defence a tiny shell process holds a pipe from us; when we die, for
// whatever reason, its read returns EOF and it undoes what is still registered: process
// trees (start times checked, so recycled pids are left alone), accounts with whatever
// they still run (session commands outlive a dropped connection), and directories.
// Protocol, one per line: tree PID START | user NAME UID | unuser NAME | dir PATH | undir PATH
const WATCHDOG_SCRIPT = `
PATH=/usr/sbin:/usr/bin:/sbin:/bin
trees= users= dirs=
while read -r kind a b; do
  case $kind in
    tree) trees="$trees $a:$b" ;;
    user) users="$users $a:$b" ;;
    unuser) users=$(for u in $users; do [ "\${u%%:*}" = "$a" ] || printf '%s ' "$u"; done) ;;
    dir) dirs="$dirs $a" ;;
    undir) dirs=$(for d in $dirs; do [ "$d" = "$a" ] || printf '%s ' "$d"; done) ;;
  esac
done
alive=
for r in $trees; do
  p=\${r%%:*}
  s=$(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f20)
  if [ -n "$s" ] && [ "$s" = "\${r#*:}" ] && kill -STOP "$p" 2>/dev/null; then alive="$alive $p"; fi
done
if [ -n "$alive" ]; then
  for pass in 1 2 3 4 5; do
    alive=$(ps -e -o pid= -o ppid= | awk -v roots="$alive" '
      BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) s[r[i]] = 1 }
      { pp[$1] = $2 }
      END { do { c = 0; for (p in pp) if (!(p in s) && (pp[p] in s)) { s[p] = 1; c = 1 } } while (c)
            for (p in s) printf "%s ", p }')
    kill -STOP $alive 2>/dev/null
  done
  kill -KILL $alive 2>/dev/null
fi
for u in $users; do
  name=\${u%%:*} uid=\${u#*:}
  for try in 1 2 3 4 5 6 7 8 9 10; do
    pids=$(ps -e -o pid= -o uid= -o ruid= | awk -v u="$uid" '$2 == u || $3 == u { print $1 }')
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
    userdel -r "$name" >/dev/null 2>&1
    case $? in 0|6|12) break ;; esac
    sleep 0.2
  done
done
for d in $dirs; do rm -rf "$d"; done
exit 0
`

let watchdog: ChildProcess | undefined

function tellWatchdog(line: string): void {
  if (!watchdog) {
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], {
      // Its own session: a signal to our process group must not take it down with us.
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore']
    })
    watchdog.on('error', () => {})
    watchdog.stdin?.on('error', () => {})
    // Neither the process nor its pipe may keep the test process alive.
    watchdog.unref()
    ;(watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.()
  }
  watchdog.stdin?.write(`${line}\n`)
}

/** Have this process tree killed should the test process die without cleaning up. */
export function guardTree(ref: ProcRef): void {
  tellWatchdog(`tree ${ref.pid} ${ref.start}`)
}

/** Have this account (and anything it runs) removed should the test process die first. */
export function guardAccount(name: string, uid: number): void {
  tellWatchdog(`user ${name} ${uid}`)
}

export function releaseAccount(name: string): void {
  tellWatchdog(`unuser ${name}`)
}

/** Have this directory (no whitespace in its path) removed should the test process die first. */
export function guardDir(dir: string): void {
  if (!/\s/.test(dir)) tellWatchdog(`dir ${dir}`)
}

export function releaseDir(dir: string): void {
  if (!/\s/.test(dir)) tellWatchdog(`undir ${dir}`)
}

/** SIGKILL everything `uid` runs. */
export function killUidSync(uid: number): void {
  for (const pid of pidsOfUid(uid)) signal(pid, 'SIGKILL')
}

/** pids of every process whose real or effective uid is `uid`. */
export function pidsOfUid(uid: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let status: string
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8')
    } catch {
      continue
    }
    const ids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status)
    if (ids && (Number(ids[1]) === uid || Number(ids[2]) === uid)) pids.push(Number(entry))
  }
  return pids
}
