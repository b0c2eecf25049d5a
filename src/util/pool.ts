/**
 * Runs `fn` over `items`, `limit` at a time. The first failure stops the workers from taking more
 * items, aborts `abort` so that transfers in flight stop too, and is rethrown once they settle.
 */
export async function runPool<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  abort?: AbortController,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        if (!failure) {
          failure = { err };
          abort?.abort();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}
