import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createdOnce, delay, runBounded, startBounded } from '../../lib/concurrency.js';

test('runs at most `limit` tasks at once, starts them in order and keeps the order of results', async () => {
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  const results = await Promise.all(
    startBounded([5, 1, 4, 2, 3, 0], 2, async (ms, index) => {
      started.push(index);
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, ms * 5));
      running--;
      return ms * 10;
    }),
  );
  assert.equal(peak, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(results, [50, 10, 40, 20, 30, 0]);
});

test('a failed task frees its slot and its rejection does not go unhandled', async () => {
  const promises = startBounded([1, 2, 3], 1, async (n) => {
    if (n === 1) throw new Error('boom');
    return n;
  });
  await assert.rejects(promises[0], /boom/);
  assert.deepEqual(await Promise.all(promises.slice(1)), [2, 3]);
});

test('runBounded: after a failure no task starts, and it rejects only once the running ones have finished', async () => {
  const started: number[] = [];
  const finished: number[] = [];
  const run = runBounded([0, 1, 2, 3, 4, 5], 2, async (n) => {
    started.push(n);
    await delay(n === 1 ? 5 : 30);
    finished.push(n);
    if (n === 1) throw new Error('copy 1 failed');
    return n;
  });
  await assert.rejects(run, /copy 1 failed/);
  // Nothing started after the failure, and task 0, still running when task 1 failed, had ended before the rejection.
  assert.deepEqual(started, [0, 1]);
  assert.deepEqual(finished, [1, 0]);
  assert.deepEqual(await runBounded([3, 1, 2], 2, async (n) => n * 2), [6, 2, 4]);
});

test('createdOnce shares one creation per key and retries after a failed one', async () => {
  const cache = createdOnce<number>();
  let calls = 0;
  const create = async () => ++calls;
  assert.equal(await cache('a', create), 1);
  assert.equal(await cache('a', create), 1, 'shared');
  assert.equal(await cache('b', create), 2, 'one per key');
  await assert.rejects(
    cache('c', async () => Promise.reject(new Error('no model'))),
    /no model/,
  );
  assert.equal(await cache('c', create), 3, 'a failed creation is not kept');
});
