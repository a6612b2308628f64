/**
 * Many SFTP operations at once. The engine bounds what is in flight (requests, bytes, handles);
 * a batch only bounds how many operations wait in its queue, and stops the rest at the first
 * failure.
 */
import { AbortedError } from '../errors.js'
import { MAX_REQUESTS } from './sftp-engine.js'

/**
 * Operations a batch keeps started at once; the engine queues what its bounds hold back. As many
 * as the engine lets leave at once: a waiting operation costs a promise, and a smaller batch
 * splits a base of a few thousand hard links into two round trips.
 */
export const BATCH_CONCURRENCY = MAX_REQUESTS

/**
 * Run `work` over every item, with at most `concurrency` started and unfinished. The first
 * failure aborts the signal `work` receives, so operations still queued are never sent, and
 * is thrown once everything started has settled (a failure of its own before an abort).
 */
export async function forEachPipelined<T>(
  items: Iterable<T>,
  work: (item: T, signal: AbortSignal) => Promise<unknown>,
  options: { signal?: AbortSignal; concurrency?: number } = {}
): Promise<void> {
  const controller = new AbortController()
  const parent = options.signal
  const stop = (): void => controller.abort(parent?.reason)
  if (parent?.aborted) throw new AbortedError('cancelled', { cause: parent.reason as unknown })
  parent?.addEventListener('abort', stop, { once: true })
  let failure: unknown
  const iterator = items[Symbol.iterator]()
  const worker = async (): Promise<void> => {
    for (;;) {
      if (controller.signal.aborted) return
      const next = iterator.next()
      if (next.done) return
      try {
        await work(next.value, controller.signal)
      } catch (error) {
        // The first real failure wins over the aborts it causes in the others.
        if (
          failure === undefined ||
          (failure instanceof AbortedError && !(error instanceof AbortedError))
        )
          failure = error
        controller.abort(error)
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? BATCH_CONCURRENCY }, worker))
  } finally {
    parent?.removeEventListener('abort', stop)
  }
  if (failure !== undefined) throw failure
  if (parent?.aborted) throw new AbortedError('cancelled', { cause: parent.reason as unknown })
}
