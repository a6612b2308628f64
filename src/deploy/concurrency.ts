/** A failure of one item in a batch. */
export interface Failure<T> {
  item: T
  error: unknown
}

/**
 * Run `work` over `items`, at most `limit` at a time, and wait for all of them: the barrier at
 * the end of each phase. After a failure no new item starts (the group will abort anyway), but
 * the ones in flight finish, so none is left half-way. Never throws: returns the failures.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
  options: { stopOnError?: boolean } = {}
): Promise<Failure<T>[]> {
  const stopOnError = options.stopOnError ?? true
  const failures: Failure<T>[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      if (stopOnError && failures.length > 0) return
      const item = items[next++]
      try {
        await work(item)
      } catch (error) {
        failures.push({ item, error })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return failures
}
