import * as core from '@actions/core'

/** Log lines that belong to one server carry its label, so parallel output stays readable. */
export interface Log {
  info(message: string): void
  warning(message: string): void
  debug(message: string): void
}

export function serverLog(label: string): Log {
  const prefix = `[${label}] `
  return {
    info: message => core.info(prefix + message),
    warning: message => core.warning(prefix + message),
    debug: message => core.debug(prefix + message)
  }
}

export const actionLog: Log = {
  info: message => core.info(message),
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
