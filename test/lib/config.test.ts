import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CONTROL_FAN_OUT, loadWorkerConfig } from '../../lib/config.js';

test("the fan-out a worker gives runs: twice its pool's activity slots, or 8 on a control worker, unless set", () => {
  assert.equal(loadWorkerConfig({ ORCHARD_WORKER_PROCESSES: '3', ORCHARD_MAX_CONCURRENT_ACTIVITIES: '2' }).maxConcurrentPartitions, 12);
  assert.equal(loadWorkerConfig({ ORCHARD_WORKER_PROCESSES: '3', ORCHARD_WORKER_ROLE: 'control' }).maxConcurrentPartitions, CONTROL_FAN_OUT);
  assert.equal(loadWorkerConfig({ ORCHARD_WORKER_PROCESSES: '3', ORCHARD_MAX_CONCURRENT_PARTITIONS: '12' }).maxConcurrentPartitions, 12);
});

test('worker settings come from the environment and bad numbers are named', () => {
  const config = loadWorkerConfig({ TEMPORAL_ADDRESS: 'temporal:7233', ORCHARD_BATCH_SIZE: '8', ORCHARD_MODEL_PATH: 'm.onnx' });
  assert.equal(config.address, 'temporal:7233');
  assert.equal(config.batchSize, 8);
  assert.equal(config.modelPath, path.resolve('m.onnx'));
  assert.equal(config.taskQueue, 'orchard');
  assert.equal(config.featurizeTaskQueue, 'orchard');
  assert.equal(loadWorkerConfig({ ORCHARD_TASK_QUEUE: 'q' }).featurizeTaskQueue, 'q');
  assert.throws(() => loadWorkerConfig({ ORCHARD_BATCH_SIZE: 'many' }), /ORCHARD_BATCH_SIZE="many" is not a whole number/);
});
