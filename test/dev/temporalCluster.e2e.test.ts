// The production path on this machine: the Temporal server built from go.temporal.io/server on PostgreSQL (what
// `orchard cluster` starts), one control worker and featurize workers in their own processes, the sample S3 -> S3.
// Then the faults only a real cluster has, each in the middle of featurizing: the Temporal server process killed and
// started again, PostgreSQL restarted, a featurize worker process killed. Every run ends complete and exact.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { PipelineProgress, RunSummary } from '../../lib/contract.js';
import type { S3Server } from '../../dev/s3Server.js';
import { findFreePortBase } from '../../dev/ports.js';
import { startTemporalCluster, temporalPortOffsets, type TemporalCluster } from '../../dev/temporalCluster.js';
import { delay } from '../../lib/concurrency.js';
import { startPipeline } from '../../lib/temporal/client.js';
import { startWorkerPool, type WorkerPool } from '../../workers/workerPool.js';
import { tempDir } from '../support/environment.js';
import { sampleDir } from '../support/images.js';
import { fetchResult, verifyResult } from '../support/results.js';
import { createBucket, startTestS3Server, uploadDirectory } from '../support/s3.js';
import type { VectorRows } from '../../lib/storage/parquet.js';

let work: string;
let cluster: TemporalCluster;
let s3: S3Server;
let client: Client;
let images: string[];
let control: WorkerPool;
let featurize: WorkerPool;
let reference: VectorRows | undefined;

before(async () => {
  work = await tempDir('cluster');
  // PostgreSQL's own user (the server refuses root) must be able to enter the test's folder.
  await fs.chmod(work, 0o755);
  const frontendPort = await findFreePortBase([...temporalPortOffsets, 50]);
  const started = Date.now();
  cluster = await startTemporalCluster({ dir: path.join(work, 'cluster'), frontendPort, postgresPort: frontendPort + 50 });
  console.log(`cluster (PostgreSQL, schemas, Temporal server, namespace) up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  s3 = await startTestS3Server(path.join(work, 's3'));
  await createBucket('fruits');
  images = (await uploadDirectory(sampleDir, 'fruits', 'sample')).filter((uri) => uri.endsWith('.jpg'));
  client = new Client({ connection: await Connection.connect({ address: cluster.address }) });
  const queues = { TEMPORAL_ADDRESS: cluster.address, ORCHARD_TASK_QUEUE: 'cluster-control', ORCHARD_FEATURIZE_TASK_QUEUE: 'cluster-featurize' };
  control = startWorkerPool(1, { ...queues, ORCHARD_WORKER_ROLE: 'control' });
  featurize = startWorkerPool(2, { ...queues, ORCHARD_WORKER_ROLE: 'featurize' });
  await Promise.all([control.ready, featurize.ready]);
});

after(async () => {
  await Promise.all([control?.stop(), featurize?.stop()]);
  await client?.connection.close();
  await s3?.stop();
  await cluster?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** Start a run of the sample to its own output; with `fault`, inject it once featurizing is under way. */
async function runWithFault(name: string, fault?: () => Promise<void>): Promise<{ summary: RunSummary; seconds: number }> {
  const started = Date.now();
  const handle = await startPipeline(
    client,
    { source: 's3://fruits/sample', output: `s3://fruits/${name}`, k: 5, partitionSize: 100 },
    { taskQueue: 'cluster-control', workflowId: name },
  );
  if (fault) {
    // Mid-run: at least one partition done and more to come.
    for (;;) {
      assert.ok(Date.now() - started < 180_000, `${name}: featurizing did not get under way within 3 minutes`);
      const progress = await handle.query<PipelineProgress>('progress').catch(() => undefined);
      if (progress?.stage === 'featurizing' && progress.partitionsDone >= 1) {
        assert.ok(progress.partitionsDone < progress.partitions, `${name}: the fault came after featurizing`);
        break;
      }
      await delay(100);
    }
    await fault();
  }
  const summary = (await handle.result()) as RunSummary;
  return { summary, seconds: (Date.now() - started) / 1000 };
}

/** The result is complete and exact: every image once, its folder's label, the PCA of an independent computation, the vectors of the clean run. */
async function verify(name: string, summary: RunSummary): Promise<void> {
  assert.deepEqual([summary.images, summary.featurized, summary.failed, summary.labels], [900, 900, 0, 15]);
  const features = await verifyResult(await fetchResult(`s3://fruits/${name}`, path.join(work, name)), summary, { paths: images, k: 5 });
  reference ??= features;
  assert.deepEqual(features.paths, reference.paths);
  let largest = 0;
  for (let i = 0; i < features.vectors.length; i++) largest = Math.max(largest, Math.abs(features.vectors[i] - reference.vectors[i]));
  assert.equal(largest, 0, `${name}: the vectors equal the clean run's`);
}

test('on Temporal with PostgreSQL: the sample S3 -> S3 with a control worker and featurize workers', async () => {
  const { summary, seconds } = await runWithFault('clean');
  console.log(`clean run: ${seconds.toFixed(1)} s`);
  await verify('clean', summary);
  const listed: string[] = [];
  for await (const run of client.workflow.list({ query: `OrchardOutput="s3://fruits/clean" AND OrchardImages=900` })) listed.push(run.workflowId);
  assert.deepEqual(listed, ['clean'], 'found by its search attributes in SQL visibility');
});

test('the Temporal server killed mid-run and started again: the run completes, exact', async () => {
  let downFor = 0;
  const { summary, seconds } = await runWithFault('server-restart', async () => {
    const killed = Date.now();
    await cluster.server.kill();
    await delay(2_000);
    await cluster.server.start();
    downFor = (Date.now() - killed) / 1000;
  });
  console.log(`server killed and serving again after ${downFor.toFixed(1)} s; run took ${seconds.toFixed(1)} s`);
  await verify('server-restart', summary);
});

test('PostgreSQL restarted mid-run: the run completes, exact', async () => {
  let downFor = 0;
  const { summary, seconds } = await runWithFault('postgres-restart', async () => {
    const stopped = Date.now();
    await cluster.postgres.stop();
    await delay(2_000);
    await cluster.postgres.start();
    downFor = (Date.now() - stopped) / 1000;
  });
  console.log(`PostgreSQL down for ${downFor.toFixed(1)} s; run took ${seconds.toFixed(1)} s`);
  await verify('postgres-restart', summary);
});

test('a featurize worker process killed mid-run: its partitions are retried elsewhere, the run completes, exact', async () => {
  let victim = '';
  const { summary, seconds } = await runWithFault('worker-kill', async () => {
    // The process that holds a partition now (its identity is pid@host), so the kill loses work in flight.
    const pending = (await client.workflow.getHandle('worker-kill').describe()).raw.pendingActivities ?? [];
    const holders = pending.map((activity) => activity.lastWorkerIdentity ?? '').filter(Boolean);
    const child = featurize.children.find((process) => holders.some((identity) => identity.startsWith(`${process.pid}@`)));
    assert.ok(child, `a featurize process holds a partition (${holders.join(', ')})`);
    victim = `${child.pid}@`;
    child.kill('SIGKILL');
  });
  console.log(`worker killed; run took ${seconds.toFixed(1)} s`);
  await verify('worker-kill', summary);
  // The partition the killed process held was started again, by another process.
  const events = (await client.workflow.getHandle('worker-kill').fetchHistory()).events ?? [];
  const retried = events
    .map((event) => event.activityTaskStartedEventAttributes)
    .filter((started) => started && (started.attempt ?? 1) > 1 && !(started.identity ?? '').startsWith(victim));
  assert.ok(retried.length >= 1, 'a partition was retried after the kill');
});
