import * as core from '@actions/core'

/**
 * Text for the log that cannot act as a workflow command. The runner reads its stdout line by
 * line (a line ends at \n, \r or \r\n) and takes a line as a command when, after leading white
 * space, it starts with `::`, or when it holds `##[` anywhere (the older form, still parsed:
 * actions/runner, ActionCommand.TryParse). Hook output and everything else a server sends is
 * printed through here: each such marker gets a zero-width space inside it, so the line reads
 * the same and commands nothing (no `::add-mask::`, `::error::`, `::stop-commands::`...).
 */
export function logLines(text: string): string[] {
  return text
    .split(/\r\n|\r|\n/)
    .map(line =>
      line.replace(/^([\s\u0085\u180e\ufeff]*):(?=:)/, '$1:\u200b').replace(/##\[/g, '#\u200b#[')
    )
}

/** Log lines that belong to one server carry its label, so parallel output stays readable. */
export interface Log {
  info(message: string): void
  warning(message: string): void
  debug(message: string): void
}

export function serverLog(label: string): Log {
  const prefix = `[${label}] `
  return {
    // Every line of a message carries the label, a line broken by \r included.
    info: message =>
      core.info(
        logLines(message)
          .map(line => prefix + line)
          .join('\n')
      ),
    warning: message => core.warning(prefix + message),
    debug: message => core.debug(prefix + message)
  }
}

export const actionLog: Log = {
  info: message => core.info(logLines(message).join('\n')),
  warning: message => core.warning(message),
  debug: message => core.debug(message)
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

/** 1234567 -> "1.2 MB" (decimal units, as people read transfer sizes). */
export function formatBytes(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`
}

/** 3236 -> "3,236". Not toLocaleString: its first call loads ICU data, about 20 ms. */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return String(n)
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

export function formatDuration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${(ms / 1000).toFixed(1)}s`
}
