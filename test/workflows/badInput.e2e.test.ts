// Bad input on a real server with the real model: broken files are reported, bad options fail fast and clearly,
// and a failed run leaves the previous result untouched.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { failureReason } from '../../lib/temporal/client.js';
import type { PipelineInput, RunSummary } from '../../lib/contract.js';
import { queryParquet } from '../../lib/storage/parquet.js';
import { startTestServer, startTestWorker, tempDir, testWorkerConfig } from '../support/environment.js';
import { copySample, writeBrokenImages } from '../support/images.js';
import { snapshotFiles } from '../support/results.js';

let env: TestWorkflowEnvironment;
const workers: { worker: Worker; running: Promise<void> }[] = [];
let work: string;
let source: string;
let good: string[];
let broken: string[];

before(async () => {
  work = await tempDir('bad-input');
  source = path.join(work, 'photos');
  good = await copySample(source, ['pear_1', 'cucumber_1'], 3);
  broken = await writeBrokenImages(path.join(source, 'pear_1'));
  env = await startTestServer();
  for (const [taskQueue, modelPath] of [
    ['orchard', undefined],
    ['orchard-no-model', path.join(work, 'missing-model.onnx')],
  ] as const) {
    const config = testWorkerConfig(env, { taskQueue, scratchDir: path.join(work, 'scratch'), ...(modelPath ? { modelPath } : {}) });
    const worker = await startTestWorker(env, config);
    workers.push({ worker, running: worker.run() });
  }
});

after(async () => {
  for (const { worker } of workers) worker.shutdown();
  await Promise.all(workers.map((w) => w.running));
  await env?.teardown();
  await fs.rm(work, { recursive: true, force: true });
});

let runs = 0;
function run(input: PipelineInput, taskQueue = 'orchard'): Promise<RunSummary> {
  return env.client.workflow.execute('imagePipeline', { taskQueue, workflowId: `bad-input-${++runs}`, args: [input] });
}

async function failure(input: PipelineInput, taskQueue?: string): Promise<string> {
  const started = Date.now();
  const err = await run(input, taskQueue).then(
    () => assert.fail('the run should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(Date.now() - started < 30_000, 'bad input fails fast, without retries');
  return failureReason(err);
}

test('truncated, empty and text files named .jpg go to errors.parquet and the run completes', async () => {
  const output = path.join(work, 'out-broken');
  const summary = await run({ source, output, k: 2 });
  assert.equal(summary.images, good.length + broken.length);
  assert.equal(summary.featurized, good.length);
  assert.equal(summary.failed, broken.length);
  const errors = await queryParquet('SELECT path, error FROM read_parquet($1) ORDER BY path', [path.join(output, 'errors.parquet')]);
  assert.deepEqual(
    errors.map((e) => e.path),
    [...broken].sort(),
  );
  for (const e of errors) assert.match(String(e.error), /empty file|not a readable image/);
  const features = await queryParquet('SELECT path FROM read_parquet($1) ORDER BY path', [path.join(output, 'features', '*.parquet')]);
  assert.deepEqual(
    features.map((r) => r.path),
    [...good].sort(),
  );
});

test('a missing source fails at once with a message naming it', async () => {
  const missing = path.join(work, 'no-such-folder');
  const reason = await failure({ source: missing, output: path.join(work, 'out-missing') });
  assert.match(reason, /does not exist/);
  assert.ok(reason.includes(missing), reason);
});

test('an empty listing names the glob and the source', async () => {
  const reason = await failure({ source, output: path.join(work, 'out-empty'), glob: '*.png' });
  assert.match(reason, /no file matching "\*\.png"/);
});

test('a wrong option is rejected with the fix', async () => {
  const reason = await failure({ source, output: path.join(work, 'out-option'), k: 0 });
  assert.match(reason, /"k" must be a whole number from 1 to 1280/);
});

test('a relative local path is refused at once, with the fix, whoever started the run', async () => {
  const reason = await failure({ source: 'photos', output: path.join(work, 'out-relative') });
  assert.match(reason, /"source" "photos" is a relative path; give an absolute path/);
  await assert.rejects(fs.access(path.join(work, 'out-relative')), 'nothing was written');
});

test('a missing model file fails with the variable to set', async () => {
  const reason = await failure({ source, output: path.join(work, 'out-model') }, 'orchard-no-model');
  assert.match(reason, /model file .*missing-model\.onnx not found; set ORCHARD_MODEL_PATH/);
});

test('k larger than the listing allows fails before featurizing and leaves the previous result untouched', async () => {
  const output = path.join(work, 'out-keep');
  await run({ source, output, k: 2 });
  const before = await snapshotFiles(output);
  const reason = await failure({ source, output, k: 50 });
  assert.match(reason, /listImages: k=50 needs at least 51 images, found 9 .*; lower --k/);
  assert.deepEqual(await snapshotFiles(output), before);
});

test('k larger than the images that decoded fails at the PCA, naming k and the rows', async () => {
  // 9 files are listed but only 6 decode: k=7 passes the listing check and must fail in fitPca.
  const reason = await failure({ source, output: path.join(work, 'out-k-rows'), k: 7 });
  assert.match(reason, /fitPca: PCA k=7 is invalid for 6 rows .*; lower --k/);
});
