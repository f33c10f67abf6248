// A worker process with ORCHARD_LOG_FORMAT=json logs one JSON object per line, saying which partition, how many
// images and how long.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { projectRoot } from '../../lib/paths.js';
import { startTestServer, tempDir } from '../support/environment.js';
import { copySample } from '../support/images.js';

let env: TestWorkflowEnvironment;
let work: string;

before(async () => {
  work = await tempDir('json-logs');
  env = await startTestServer();
});

after(async () => {
  await env?.teardown();
  await fs.rm(work, { recursive: true, force: true });
});

test('structured logs: JSON lines with the partition, the image count and the duration', async () => {
  const source = path.join(work, 'photos');
  await copySample(source, ['pear_1', 'cucumber_1'], 3);
  const worker = spawn(process.execPath, [path.join(projectRoot, 'dist', 'workers', 'workerProcess.js')], {
    env: { ...process.env, TEMPORAL_ADDRESS: env.address, ORCHARD_TASK_QUEUE: 'json-logs', ORCHARD_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let logged = '';
  worker.stdout!.on('data', (chunk) => (logged += chunk));
  worker.stderr!.on('data', (chunk) => (logged += chunk));
  try {
    await env.client.workflow.execute('imagePipeline', {
      taskQueue: 'json-logs',
      workflowId: 'json-logs',
      args: [{ source, output: path.join(work, 'out'), k: 2, partitionSize: 4 }],
    });
  } finally {
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.kill('SIGINT');
    await exited;
  }
  const lines = logged.split('\n').filter((line) => line.trim() !== '');
  assert.ok(lines.length > 0);
  const entries = lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return assert.fail(`not a JSON line: ${line}`);
    }
  });
  for (const entry of entries) assert.ok(entry.time && entry.level && entry.message, JSON.stringify(entry));
  const partitions = entries.filter((e) => e.message === 'featurized partition');
  assert.deepEqual(partitions.map((e) => e.partition).sort(), [0, 1]);
  // Six images fit in one wave of partitions of at most 4: two even ones.
  assert.deepEqual(partitions.map((e) => e.images).sort(), [3, 3]);
  for (const entry of partitions) {
    assert.equal(entry.activityType, 'featurizePartition');
    assert.equal(typeof entry.ms, 'number');
  }
});
