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

/**
 * Run `task` for every item, at most `limit` at a time; resolves with the results in the items' order. After the first
 * failure no new task starts, and the promise rejects with that failure only once the running ones have settled, so
 * a caller that retries never races a straggler of the failed attempt.
 */
export async function runBounded<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  let failure: { error: unknown } | undefined;
  const results = await Promise.all(
    startBounded(items, limit, async (item, index): Promise<R | undefined> => {
      if (failure) return undefined;
      try {
        return await task(item, index);
      } catch (error) {
        failure ??= { error };
        return undefined;
      }
    }),
  );
  if (failure) throw failure.error;
  return results as R[];
}

/** Resolve with `undefined` after `ms` milliseconds. */
export function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

/**
 * A per-process cache of created resources by key (onnxruntime sessions and the like): the first call for a key
 * creates it, later calls share the same promise, and a failed creation is dropped so the next call tries again.
 */
export function createdOnce<T>(): (key: string, create: () => Promise<T>) => Promise<T> {
  const cache = new Map<string, Promise<T>>();
  return (key, create) => {
    let entry = cache.get(key);
    if (!entry) {
      const created = create();
      created.catch(() => {
        if (cache.get(key) === created) cache.delete(key);
      });
      cache.set(key, created);
      entry = created;
    }
    return entry;
  };
}

/**
 * A budget of units (bytes) shared by concurrent tasks: `acquire(n)` waits until n units are free, in arrival order,
 * and gives the function that returns them. A request larger than the whole budget runs alone, once nothing else
 * holds any.
 */
export class Budget {
  private used = 0;
  private readonly waiting: { units: number; start: () => void }[] = [];

  constructor(readonly capacity: number) {}

  async acquire(units: number): Promise<() => void> {
    const need = Math.min(units, this.capacity);
    if (this.waiting.length > 0 || this.used + need > this.capacity) {
      await new Promise<void>((start) => this.waiting.push({ units: need, start }));
    } else {
      this.used += need;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= need;
      this.admit();
    };
  }

  private admit(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0].units <= this.capacity) {
      const next = this.waiting.shift()!;
      this.used += next.units;
      next.start();
    }
  }
}
