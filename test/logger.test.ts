import { describe, expect, it } from 'vitest'
import { formatBytes, formatCount, formatDuration } from '../src/logger.ts'

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
