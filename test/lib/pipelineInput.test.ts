import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../lib/errors.js';
import { checkInputShape, pipelineDefaults, resolveRunOptions } from '../../lib/pipelineInput.js';

const deployment = { maxConcurrentPartitions: 4, featurizeTaskQueue: 'orchard' };
const resolve = (input: unknown) => resolveRunOptions(input, deployment);
const base = { source: '/data/photos', output: '/data/out' };

test('a client sends only what the user typed; the shape is checked there', () => {
  assert.deepEqual(checkInputShape({ ...base, k: 3 }), { ...base, k: 3 });
  assert.throws(() => checkInputShape({ ...base, k: '3' }), /"k" must be a number, got "3"/);
  assert.throws(() => checkInputShape({ ...base, colour: 'red' }), /unknown option "colour" \(known: source, output, glob/);
  assert.throws(() => checkInputShape({ source: '/a' }), /"output" is required/);
  assert.throws(() => checkInputShape(null), /must be a JSON object/);
  assert.throws(() => checkInputShape([base]), /must be a JSON object/);
  // Values are the worker's to judge: the same rules for the CLI, a schedule and `temporal workflow start`.
  assert.deepEqual(checkInputShape({ ...base, k: 0 }), { ...base, k: 0 });
});

test("the worker fills every default, the fan-out and featurize task queue from its deployment's", () => {
  const options = resolve({ source: '/data/photos', output: 's3://bucket/results' });
  assert.deepEqual(options, { ...pipelineDefaults, ...deployment, source: '/data/photos', output: 's3://bucket/results' });
  assert.equal(resolve({ ...base, maxConcurrentPartitions: 3 }).maxConcurrentPartitions, 3);
  assert.equal(resolve({ ...base, featurizeTaskQueue: 'orchard-featurize' }).featurizeTaskQueue, 'orchard-featurize');
  assert.equal(resolve({ ...base, localStepsMaxImages: 0 }).localStepsMaxImages, 0);
  assert.equal(resolve({ ...base, maxHistoryEvents: 100 }).maxHistoryEvents, 100);
  assert.equal(resolve(base).precision, 'fp32');
  assert.equal(resolve({ ...base, precision: 'int8' }).precision, 'int8');
});

test('a relative local path is refused: the worker cannot know which folder was meant', () => {
  assert.throws(() => resolve({ source: 'photos', output: '/data/out' }), /"source" "photos" is a relative path; give an absolute path/);
  assert.equal(resolve({ source: 's3://bucket/photos', output: '/data/out' }).source, 's3://bucket/photos');
});

test('wrong values are refused with a message per problem', () => {
  assert.throws(
    () => resolve({ source: '', output: '/o', k: 2.5 }),
    (err: Error) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /"source" must be/);
      assert.match(err.message, /"k" must be a whole number from 1 to 1280, got 2.5/);
      return true;
    },
  );
  assert.throws(() => resolve({ ...base, partitionSize: 0 }), /"partitionSize"/);
  assert.throws(() => resolve({ ...base, maxConcurrentPartitions: 0 }), /"maxConcurrentPartitions" must be a whole number/);
  assert.throws(() => resolve({ ...base, localStepsMaxImages: -1 }), /"localStepsMaxImages" must be a whole number, 0 or more, got -1/);
  assert.throws(() => resolve({ ...base, glob: 'a/*.jpg' }), /"glob" must be a file-name pattern/);
  assert.throws(() => resolve({ ...base, glob: '[abc' }), /"glob": glob "\[abc" has an unclosed "\["/);
  assert.throws(() => resolve({ ...base, colour: 'red' }), /unknown option "colour"/);
  assert.throws(() => resolve({ ...base, precision: 'fp16' }), /"precision" must be "fp32" or "int8", got "fp16"/);
  assert.throws(() => resolve(null), /must be a JSON object/);
});

test('options that would hang a run or escape a prefix are refused before it starts', () => {
  assert.throws(
    () => resolve({ ...base, maxHistoryEvents: 3 }),
    /"maxHistoryEvents" must be a whole number from 100 to 40000 \(each run continues as new past it\), got 3/,
  );
  assert.throws(() => resolve({ ...base, featurizeTaskQueue: 'gpu queue' }), /"featurizeTaskQueue" must be a task queue name/);
  assert.throws(() => resolve({ ...base, featurizeTaskQueue: '' }), /"featurizeTaskQueue" must be a task queue name/);
  assert.throws(() => resolve({ ...base, maxImageBytes: 0 }), /"maxImageBytes" must be a whole number from 1024/);
  assert.throws(
    () => resolve({ ...base, output: 's3://bucket/a/../evil' }),
    /"output": "s3:\/\/bucket\/a\/..\/evil" has an empty, "." or ".." segment; .*s3:\/\/bucket\/a\/evil/,
  );
  assert.throws(() => resolve({ ...base, source: 's3://Bad_Bucket/x' }), /"source": .*no valid bucket name/);
  assert.throws(() => resolve({ ...base, s3Endpoint: 'localhost:9000' }), /"s3Endpoint" must be a URL/);
  assert.throws(() => resolve({ ...base, output: '/data/out\u0007' }), /has a control character/);
});
