/**
 * The runner's side of the workflow-command protocol: inputs from INPUT_* variables, outputs and
 * state through the GITHUB_OUTPUT and GITHUB_STATE files, `::command::` lines on stdout, and the
 * job summary file. The same functions, and the same bytes, as @actions/core for what this
 * action uses. @actions/core itself also loads an HTTP client (undici) for OIDC tokens that this
 * action never asks for: about 100 ms of every start, measured, which at 40 ms RTT is more than
 * two round trips.
 */
import { randomUUID } from 'node:crypto'
import { accessSync, appendFileSync, constants, existsSync } from 'node:fs'
import { appendFile } from 'node:fs/promises'
import { EOL } from 'node:os'

function commandValue(input: unknown): string {
  if (input === null || input === undefined) return ''
  if (typeof input === 'string') return input
  return JSON.stringify(input)
}

function escapeData(value: unknown): string {
  return commandValue(value).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

function escapeProperty(value: unknown): string {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C')
}

/** `::name key=value,...::message` on stdout. */
export function issueCommand(
  name: string,
  properties: Record<string, string | undefined>,
  message: unknown
): void {
  const props = Object.entries(properties)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${escapeProperty(v)}`)
    .join(',')
  process.stdout.write(`::${name}${props ? ` ${props}` : ''}::${escapeData(message)}${EOL}`)
}

/** `name<<delimiter` / value / `delimiter`, appended to the file a GITHUB_* variable names. */
function issueFileCommand(variable: string, name: string, value: unknown): void {
  const file = process.env[variable]
  if (!file) throw new Error(`Unable to find environment variable for file command ${variable}`)
  if (!existsSync(file)) throw new Error(`Missing file at path: ${file}`)
  const delimiter = `ghadelimiter_${randomUUID()}`
  const text = commandValue(value)
  if (name.includes(delimiter) || text.includes(delimiter))
    throw new Error(`Unexpected input: ${name} contains the delimiter "${delimiter}"`)
  appendFileSync(file, `${name}<<${delimiter}${EOL}${text}${EOL}${delimiter}${EOL}`, 'utf8')
}

/** The input's value, trimmed; '' when unset. */
export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim()
}

export function setOutput(name: string, value: unknown): void {
  if (process.env.GITHUB_OUTPUT) {
    issueFileCommand('GITHUB_OUTPUT', name, value)
    return
  }
  process.stdout.write(EOL)
  issueCommand('set-output', { name }, commandValue(value))
}

/** Masks the value in every later line of the log. */
export function setSecret(secret: string): void {
  issueCommand('add-mask', {}, secret)
}

export function saveState(name: string, value: unknown): void {
  if (process.env.GITHUB_STATE) {
    issueFileCommand('GITHUB_STATE', name, value)
    return
  }
  issueCommand('save-state', { name }, commandValue(value))
}

export function getState(name: string): string {
  return process.env[`STATE_${name}`] ?? ''
}

export function info(message: string): void {
  process.stdout.write(message + EOL)
}

export function debug(message: string): void {
  issueCommand('debug', {}, message)
}

export function warning(message: string | Error): void {
  issueCommand('warning', {}, message instanceof Error ? message.toString() : message)
}

export function error(message: string | Error): void {
  issueCommand('error', {}, message instanceof Error ? message.toString() : message)
}

/** Logs the error and makes the step fail when the process exits. */
export function setFailed(message: string | Error): void {
  process.exitCode = 1
  error(message)
}

/** Runs `work` inside a collapsible group of the log. */
export async function group<T>(name: string, work: () => Promise<T>): Promise<T> {
  issueCommand('group', {}, name)
  try {
    return await work()
  } finally {
    issueCommand('endgroup', {}, '')
  }
}

export interface TableCell {
  data: string
  header?: boolean
}

/** The job summary: HTML built up, then appended to the GITHUB_STEP_SUMMARY file. */
export class Summary {
  private buffer = ''

  private static wrap(tag: string, content: string): string {
    return content ? `<${tag}>${content}</${tag}>` : `<${tag}>`
  }

  addRaw(text: string): this {
    this.buffer += text
    return this
  }

  addHeading(text: string, level: 1 | 2 | 3 | 4 | 5 | 6): this {
    return this.addRaw(Summary.wrap(`h${level}`, text) + EOL)
  }

  addTable(rows: (string | TableCell)[][]): this {
    const body = rows
      .map(row =>
        Summary.wrap(
          'tr',
          row
            .map(cell =>
              typeof cell === 'string'
                ? Summary.wrap('td', cell)
                : Summary.wrap(cell.header ? 'th' : 'td', cell.data)
            )
            .join('')
        )
      )
      .join('')
    return this.addRaw(Summary.wrap('table', body) + EOL)
  }

  addCodeBlock(code: string): this {
    return this.addRaw(Summary.wrap('pre', Summary.wrap('code', code)) + EOL)
  }

  async write(): Promise<void> {
    const file = process.env.GITHUB_STEP_SUMMARY
    if (!file) throw new Error('Unable to find environment variable for $GITHUB_STEP_SUMMARY.')
    try {
      accessSync(file, constants.R_OK | constants.W_OK)
    } catch {
      throw new Error(`Unable to access summary file: '${file}'.`)
    }
    const text = this.buffer
    this.buffer = ''
    await appendFile(file, text, 'utf8')
  }
}

export const summary = new Summary()
