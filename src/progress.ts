import type { Log } from './logger.js'
import { formatBytes, formatCount } from './logger.js'

/**
 * Progress of an upload, printed every few seconds while it runs (a timer, so a single large
 * file still reports as it goes) and never after it is done.
 */
export class UploadProgress {
  files = 0
  bytes = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly log: Log,
    private readonly totalFiles: number,
    private readonly totalBytes: number,
    private readonly intervalMs = 3000
  ) {}

  start(): this {
    this.timer = setInterval(() => this.log.info(this.line()), this.intervalMs)
    this.timer.unref()
    return this
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  line(): string {
    const percent =
      this.totalBytes > 0 ? Math.min(100, Math.floor((this.bytes / this.totalBytes) * 100)) : 100
    return `upload ${percent}%: ${formatCount(this.files)} of ${formatCount(this.totalFiles)} files, ${formatBytes(this.bytes)} of ${formatBytes(this.totalBytes)}`
  }
}
