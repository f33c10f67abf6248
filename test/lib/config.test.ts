import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CONTROL_FAN_OUT, loadWorkerConfig, pipelineDefaults, resolvePipelineInput } from '../../lib/config.js';
import { InputError } from '../../lib/errors.js';

test('fills the defaults and makes local paths absolute', () => {
  const resolved = resolvePipelineInput({ source: 'photos', output: 's3://bucket/results' });
  assert.equal(resolved.source, path.resolve('photos'));
  assert.equal(resolved.output, 's3://bucket/results');
  assert.equal(resolved.k, pipelineDefaults.k);
  assert.equal(resolved.glob, '*.jpg');
  assert.equal(resolved.partitionSize, pipelineDefaults.partitionSize);
  assert.equal(resolved.localStepsMaxImages, pipelineDefaults.localStepsMaxImages);
});

test('rejects wrong options with a message per problem', () => {
  assert.throws(
    () => resolvePipelineInput({ source: '', output: 'o', k: 2.5 }),
    (err: Error) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /"source" must be/);
      assert.match(err.message, /"k" must be a whole number from 1 to 1280, got 2.5/);
      return true;
    },
  );
  assert.throws(() => resolvePipelineInput({ source: 's', output: 'o', partitionSize: 0 }), /"partitionSize"/);
  assert.throws(
    () => resolvePipelineInput({ source: 's', output: 'o', localStepsMaxImages: -1 }),
    /"localStepsMaxImages" must be a whole number, 0 or more, got -1/,
  );
  assert.equal(resolvePipelineInput({ source: 's', output: 'o', localStepsMaxImages: 0 }).localStepsMaxImages, 0);
  assert.throws(() => resolvePipelineInput({ source: 's', output: 'o', glob: 'a/*.jpg' }), /"glob" must be a file-name pattern/);
  assert.throws(() => resolvePipelineInput({ source: 's', output: 'o', colour: 'red' } as never), /unknown option "colour"/);
  assert.throws(() => resolvePipelineInput(null as never), /must be a JSON object/);
});

test("the fan-out is left to the worker: twice its pool's activity slots, or 8 on a control worker, unless set", () => {
  assert.equal(resolvePipelineInput({ source: 's', output: 'o' }).maxConcurrentPartitions, undefined);
  assert.equal(resolvePipelineInput({ source: 's', output: 'o', maxConcurrentPartitions: 3 }).maxConcurrentPartitions, 3);
  assert.throws(
    () => resolvePipelineInput({ source: 's', output: 'o', maxConcurrentPartitions: 0 }),
    /"maxConcurrentPartitions" must be a whole number/,
  );
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
  assert.throws(() => loadWorkerConfig({ ORCHARD_BATCH_SIZE: 'many' }), /ORCHARD_BATCH_SIZE="many" is not a whole number/);
});

test('options that would hang a run or escape a prefix are refused before it starts', () => {
  const base = { source: 's', output: 'o' };
  assert.throws(
    () => resolvePipelineInput({ ...base, maxHistoryEvents: 3 }),
    /"maxHistoryEvents" must be a whole number from 100 to 40000 \(each run continues as new past it\), got 3/,
  );
  assert.equal(resolvePipelineInput({ ...base, maxHistoryEvents: 100 }).maxHistoryEvents, 100);
  assert.throws(() => resolvePipelineInput({ ...base, featurizeTaskQueue: 'gpu queue' }), /"featurizeTaskQueue" must be a task queue name/);
  assert.throws(() => resolvePipelineInput({ ...base, featurizeTaskQueue: '' }), /"featurizeTaskQueue" must be a task queue name/);
  assert.equal(resolvePipelineInput({ ...base, featurizeTaskQueue: 'orchard-featurize' }).featurizeTaskQueue, 'orchard-featurize');
  assert.equal(resolvePipelineInput(base).maxImageBytes, 64 * 1024 * 1024);
  assert.throws(() => resolvePipelineInput({ ...base, maxImageBytes: 0 }), /"maxImageBytes" must be a whole number from 1024/);
  assert.throws(
    () => resolvePipelineInput({ source: 's', output: 's3://bucket/a/../evil' }),
    /"output": "s3:\/\/bucket\/a\/..\/evil" has an empty, "." or ".." segment; .*s3:\/\/bucket\/a\/evil/,
  );
  assert.throws(() => resolvePipelineInput({ source: 's3://Bad_Bucket/x', output: 'o' }), /"source": .*no valid bucket name/);
  assert.throws(() => resolvePipelineInput({ ...base, glob: '[abc' }), /"glob": glob "\[abc" has an unclosed "\["/);
  assert.throws(() => resolvePipelineInput({ ...base, s3Endpoint: 'localhost:9000' }), /"s3Endpoint" must be a URL/);
});
