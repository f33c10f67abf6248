import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveInput } from '../../activities/resolveInput.js';
import { loadWorkerConfig } from '../../lib/config.js';

test('the fan-out and the featurize task queue come from the worker unless the input sets them', async () => {
  const config = { ...loadWorkerConfig({ ORCHARD_WORKER_PROCESSES: '3' }), featurizeTaskQueue: 'gpu' };
  const resolved = await resolveInput({ source: '/s', output: '/o' }, config);
  assert.equal(resolved.maxConcurrentPartitions, 6);
  assert.equal(resolved.featurizeTaskQueue, 'gpu');
  const set = await resolveInput({ source: '/s', output: '/o', maxConcurrentPartitions: 2, featurizeTaskQueue: 'cpu' }, config);
  assert.equal(set.maxConcurrentPartitions, 2);
  assert.equal(set.featurizeTaskQueue, 'cpu');
  await assert.rejects(
    resolveInput({ source: '/s', output: '/o', maxConcurrentPartitions: -1 }, config),
    /"maxConcurrentPartitions" must be a whole number/,
  );
});
