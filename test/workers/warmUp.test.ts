// The warm-up before a worker polls is best effort: it never stops a worker from starting, and it leaves no files.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import proto from '@temporalio/proto';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadWorkerConfig } from '../../lib/config.js';
import { warmUp } from '../../workers/warmUp.js';
import { tempDir } from '../support/environment.js';

const warnings: string[] = [];
let work: string;

before(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN', (entry) => warnings.push(`${entry.message} ${JSON.stringify(entry.meta)}`)) });
  work = await tempDir('warm-up');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('warm-up runs the model and the steps once and leaves the scratch directory empty', async () => {
  const scratch = path.join(work, 'scratch');
  warnings.length = 0;
  await warmUp(loadWorkerConfig({ ...process.env, ORCHARD_SCRATCH_DIR: scratch }));
  assert.deepEqual(warnings, []);
  assert.deepEqual(await fs.readdir(scratch), []);
});

test('warm-up generates the protobuf codecs of activations and client calls, which protobufjs would build on first use', async () => {
  // Nothing in this test process decodes an activation or calls the server: the codecs exist only if the warm-up made them.
  await warmUp(loadWorkerConfig({ ...process.env, ORCHARD_WORKER_ROLE: 'control', ORCHARD_SCRATCH_DIR: path.join(work, 'scratch') }));
  const root = proto as unknown as { lookup(path: string): object | null };
  const activation = root.lookup('coresdk.workflow_activation.WorkflowActivation');
  const updateWithStart = root.lookup('temporal.api.workflowservice.v1.ExecuteMultiOperationRequest');
  assert.ok(activation && updateWithStart);
  assert.ok(Object.hasOwn(activation, 'decode') && Object.hasOwn(updateWithStart, 'encode'));
});

test('a missing model and an unusable scratch directory are logged, and the warm-up still returns', async () => {
  const notADirectory = path.join(work, 'a-file');
  await fs.writeFile(notADirectory, 'not a directory');
  warnings.length = 0;
  await warmUp(loadWorkerConfig({ ...process.env, ORCHARD_MODEL_PATH: path.join(work, 'missing.onnx'), ORCHARD_SCRATCH_DIR: notADirectory }));
  assert.equal(warnings.length, 2, warnings.join('\n'));
  assert.match(warnings[0], /warm-up of the model failed.*missing\.onnx/);
  assert.match(warnings[1], /warm-up of the steps failed.*a-file/);
});
