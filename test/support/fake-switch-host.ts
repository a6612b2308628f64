/**
 * A hand-written RemoteHost for unit tests of the switch: it answers switch.sh as a server
 * does (current moved to the release the script's values name, then read back), or as a
 * server that fails does, one answer per switch in the order given. Any other script is an
 * error: these tests run the switch alone.
 */
import { ConnectionError } from '../../src/errors.ts'
import type { RemoteHost, RunResult, SftpProbe } from '../../src/ssh/remote-host.ts'
import type { RemoteFiles } from '../../src/sftp/remote-files.ts'
import type { Log } from '../../src/logger.ts'
import { scriptText, type Script } from '../../src/ssh/script-frame.ts'

/**
 * `switch`: current moves and reads back; `refuse`: the rename fails, current stays; `lost`:
 * current moves but the answer never arrives; `misread`: current moves, then reads back as
 * something else.
 */
export type SwitchAnswer = 'switch' | 'refuse' | 'lost' | 'misread'

export class FakeSwitchHost implements RemoteHost {
  readonly software = 'OpenSSH_9.2p1'
  readonly pipelined = false
  readonly exec = true
  connected = true
  /** The releases switch.sh was asked for, in order ('' removes current). */
  readonly asked: string[] = []

  constructor(
    readonly label: string,
    /** What `current` points to (`releases/<id>`), undefined when there is no link. */
    public current: string | undefined,
    /** How the next switches are answered, in order; `switch` once these run out. */
    readonly answers: SwitchAnswer[] = []
  ) {}

  async run(parts: Script): Promise<RunResult> {
    const script = scriptText(parts)
    if (!script.includes('switch_current "$RELEASE_ID"'))
      throw new Error(`${this.label}: the fake answers switch.sh only`)
    // The values come in the prelude, as quote() writes them (script-values.ts): a plain word
    // as it is, anything else in single quotes; these tests' ids are plain words.
    const quoted = /^RELEASE_ID=(?:'([^']*)'|([A-Za-z0-9._-]+))$/m.exec(script)
    if (!quoted) throw new Error(`${this.label}: no RELEASE_ID in the switch script's prelude`)
    const id = quoted[1] ?? quoted[2] ?? ''
    this.asked.push(id)
    const answer = this.answers.shift() ?? 'switch'
    if (answer === 'refuse')
      return result(1, `!error io cannot rename the new link over /srv/app/current\n`)
    this.current = id === '' ? undefined : `releases/${id}`
    if (answer === 'lost') throw new ConnectionError(`${this.label}: connection lost`)
    const now = answer === 'misread' ? 'releases/elsewhere' : this.current
    return result(0, `!switched\n${now === undefined ? '' : `!current ${now}\n`}`)
  }

  async probeSftp(): Promise<SftpProbe> {
    return { state: 'missing', reason: 'the fake has no SFTP' }
  }

  files(): Promise<RemoteFiles> {
    return Promise.reject(new Error('the fake has no SFTP'))
  }

  close(): void {
    this.connected = false
  }
}

function result(code: number, stdout: string): RunResult {
  return { code, stdout: Buffer.from(stdout), stderrTail: '' }
}

/** A Log that keeps its lines, each prefixed with its level. */
export function memoryLog(lines: string[] = []): Log & { lines: string[] } {
  return {
    lines,
    info: m => lines.push(`info ${m}`),
    warning: m => lines.push(`warning ${m}`),
    debug: m => lines.push(`debug ${m}`)
  }
}
