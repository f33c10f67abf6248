/**
 * Start `task` for every item, at most `limit` at a time and in the items' order; returns one promise per item.
 * Rejections are also observed here, so a caller that stops awaiting after a failure does not crash the process.
 */
export function startBounded<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R>[] {
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> => {
    if (running < limit) {
      running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  // A finished task hands its slot straight to the next waiter, so `running` only drops when nobody waits.
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  const promises = items.map(async (item, index) => {
    await acquire();
    try {
      return await task(item, index);
    } finally {
      release();
    }
  });
  for (const promise of promises) promise.catch(() => undefined);
  return promises;
}

/** Resolve with `undefined` after `ms` milliseconds. */
export function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}
