// The many-machine topology on one host: one control worker process, three featurize worker processes on their own
// task queue, one Temporal server and one S3-compatible server. All three featurize workers take part and the result
// is complete and exact.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { RunSummary } from '../../lib/contract.js';
import type { S3Server } from '../../dev/s3Server.js';
import { startWorkerPool, type WorkerPool } from '../../workers/workerPool.js';
import { startTestServer, tempDir } from '../support/environment.js';
import { copySample } from '../support/images.js';
import { fetchResult, verifyResult } from '../support/results.js';
import { createBucket, startTestS3Server, uploadDirectory } from '../support/s3.js';

let work: string;
let s3: S3Server;
let env: TestWorkflowEnvironment;
const pools: WorkerPool[] = [];

before(async () => {
  work = await tempDir('topology');
  s3 = await startTestS3Server(path.join(work, 's3'));
  env = await startTestServer();
});

after(async () => {
  await Promise.all(pools.map((pool) => pool.stop()));
  await env?.teardown();
  await s3?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

test('one control worker and three featurize workers on separate task queues complete an exact S3 run together', async () => {
  const local = path.join(work, 'photos');
  await copySample(local, ['apple_golden_3', 'cucumber_1', 'pear_3', 'eggplant_violet_1'], 30);
  await createBucket('fleet');
  const images = (await uploadDirectory(local, 'fleet', 'photos')).filter((uri) => uri.endsWith('.jpg'));
  const queues = { TEMPORAL_ADDRESS: env.address, ORCHARD_TASK_QUEUE: 'fleet-control', ORCHARD_FEATURIZE_TASK_QUEUE: 'fleet-featurize' };
  const control = startWorkerPool(1, { ...queues, ORCHARD_WORKER_ROLE: 'control' });
  const featurize = startWorkerPool(3, { ...queues, ORCHARD_WORKER_ROLE: 'featurize', ORCHARD_MAX_CONCURRENT_ACTIVITIES: '1' });
  pools.push(control, featurize);
  await Promise.all([control.ready, featurize.ready]);

  const handle = await env.client.workflow.start('imagePipeline', {
    taskQueue: 'fleet-control',
    workflowId: 'fleet',
    // Ordinary activities for every step, as in runs of more than localStepsMaxImages: each lands on its queue.
    args: [{ source: 's3://fleet/photos', output: 's3://fleet/Results', k: 3, partitionSize: 8, localStepsMaxImages: 0 }],
  });
  const summary = (await handle.result()) as RunSummary;
  await verifyResult(await fetchResult('s3://fleet/Results', path.join(work, 'fetched')), summary, { paths: images, k: 3 });

  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map(
    events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!]),
  );
  const byType = new Map<string, Set<string>>();
  for (const event of events) {
    const started = event.activityTaskStartedEventAttributes;
    if (!started) continue;
    const activity = scheduled.get(String(started.scheduledEventId))!;
    const type = activity.activityType?.name ?? '';
    assert.equal(activity.taskQueue?.name, type === 'featurizePartition' ? 'fleet-featurize' : 'fleet-control', type);
    byType.set(type, (byType.get(type) ?? new Set()).add(started.identity ?? ''));
  }
  const featurizers = byType.get('featurizePartition') ?? new Set();
  const pids = featurize.children.map((child) => `${child.pid}@`);
  assert.equal(featurizers.size, 3, `featurize workers that took part: ${[...featurizers].join(', ')}`);
  for (const identity of featurizers)
    assert.ok(
      pids.some((pid) => identity.startsWith(pid)),
      identity,
    );
  for (const type of ['listImages', 'aggregateFeatures', 'fitPca', 'commitResults']) {
    assert.deepEqual(
      [...(byType.get(type) ?? [])].map((id) => id.split('@')[0]),
      [String(control.children[0].pid)],
      type,
    );
  }
});
