import { describe, expect, it } from 'vitest'
import { formatBytes, formatCount, formatDuration, logLines } from '../src/logger.ts'

describe('formatting for the log', () => {
  it('groups thousands in counts', () => {
    expect(formatCount(0)).toBe('0')
    expect(formatCount(999)).toBe('999')
    expect(formatCount(1000)).toBe('1,000')
    expect(formatCount(3236)).toBe('3,236')
    expect(formatCount(50_000)).toBe('50,000')
    expect(formatCount(1_234_567)).toBe('1,234,567')
    expect(formatCount(-1234)).toBe('-1,234')
  })

  it('prints sizes in decimal units and durations in seconds', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1_234_567)).toBe('1.23 MB')
    expect(formatBytes(31_457_242)).toBe('31.5 MB')
    expect(formatDuration(1234)).toBe('1.23s')
    expect(formatDuration(12_345)).toBe('12.3s')
  })
})

describe('logLines: server text never acts as a workflow command', () => {
  /**
   * Whether the runner would take a line as a command: `::` after leading white space (.NET's
   * TrimStart, which also trims U+0085), or `##[` anywhere.
   */
  const isCommand = (line: string): boolean =>
    /^[\s\u0085\u180e\ufeff]*::/.test(line) || line.includes('##[')

  it.each([
    '::add-mask::hunter2',
    '  ::error file=x::planted',
    '\t::stop-commands::token',
    '\u0085::warning::x',
    'ok\r::set-output name=release-id::evil',
    'ok\n::group::x',
    'x ##[error]planted',
    '##[set-output name=release-id;]evil',
    'a\r\n::endgroup::'
  ])('%j prints with no command line', text => {
    const lines = logLines(text)
    expect(lines.filter(isCommand)).toEqual([])
    // The text reads the same once the zero-width spaces are taken out.
    expect(lines.join('\n').replace(/\u200b/g, '')).toBe(text.replace(/\r\n|\r/g, '\n'))
  })

  it('leaves ordinary text as it is', () => {
    expect(logLines('uploading 3 files: a::b, c##d')).toEqual(['uploading 3 files: a::b, c##d'])
  })
})
