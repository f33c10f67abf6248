// Faults injected for real: a worker process killed with SIGKILL, the Temporal server killed and restarted on its
// SQLite file, activities that fail transiently or fatally, a full disk and an unwritable output.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CancelledFailure,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { connectClient, failureReason } from '../../lib/temporal/client.js';
import { delay } from '../../lib/concurrency.js';
import type { PipelineInput, PipelineProgress, RunSummary } from '../../lib/contract.js';
import { startDevServer, type DevServer } from '../../dev/devServer.js';
import { queryParquet } from '../../lib/storage/parquet.js';
import { findFreePortBase } from '../../dev/ports.js';
import { startWorkerPool, type WorkerPool } from '../../workers/workerPool.js';
import { tempDir } from '../support/environment.js';
import { copySample, sampleDir } from '../support/images.js';
import { snapshotFiles } from '../support/results.js';

let work: string;
let port: number;
let server: DevServer;
let client: Client;
let source: string;
let images: string[];
const pools: WorkerPool[] = [];
let runs = 0;

function startServer(): Promise<DevServer> {
  return startDevServer({ port, uiPort: port + 1000, dbFile: path.join(work, 'temporal.db') });
}

before(async () => {
  work = await tempDir('faults');
  source = path.join(work, 'photos');
  images = await copySample(source, ['apple_pink_lady_1', 'cucumber_3', 'pear_1', 'eggplant_violet_1'], 60);
  port = await findFreePortBase([0, 1000]);
  server = await startServer();
  client = await connectClient(server.address);
});

after(async () => {
  await Promise.all(pools.map((pool) => pool.stop()));
  await client?.connection.close();
  await server?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** Worker processes on their own task queue, with extra environment (fault rules). */
async function workers(taskQueue: string, processes: number, env: Record<string, string> = {}): Promise<WorkerPool> {
  const pool = startWorkerPool(processes, { TEMPORAL_ADDRESS: server.address, ORCHARD_TASK_QUEUE: taskQueue, ...env });
  pools.push(pool);
  await pool.ready;
  return pool;
}

function start(taskQueue: string, input: Partial<PipelineInput> = {}): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start('imagePipeline', {
    taskQueue,
    workflowId: `faults-${++runs}`,
    args: [{ source, output: path.join(work, `out-${runs}`), k: 3, partitionSize: 16, ...input }],
  });
}

async function featurizing(handle: WorkflowHandle, partitionsDone: number): Promise<void> {
  for (;;) {
    const progress = await handle.query<PipelineProgress>('progress');
    if (progress.partitionsDone >= partitionsDone) return;
    await delay(50);
  }
}

/** Every image exactly once in the committed features. */
async function assertExactlyOnce(output: string, summary: RunSummary): Promise<void> {
  assert.equal(summary.featurized, images.length);
  const rows = await queryParquet('SELECT path FROM read_parquet($1) ORDER BY path', [path.join(output, 'features', '*.parquet')]);
  assert.deepEqual(
    rows.map((r) => r.path),
    [...images].sort(),
  );
}

test('a worker process killed with SIGKILL mid-featurization: the other finishes, every image exactly once', async () => {
  const pool = await workers('kill', 2);
  const handle = await start('kill');
  await featurizing(handle, 1);
  const victim = pool.children[0];
  victim.kill('SIGKILL');
  const summary = (await handle.result()) as RunSummary;
  assert.equal(victim.signalCode, 'SIGKILL');
  await assertExactlyOnce(path.join(work, `out-${runs}`), summary);
});

test('every worker process killed during the local steps after featurizing: the replacements run them again', async () => {
  const pool = await workers('kill-local', 2);
  const handle = await start('kill-local');
  const output = path.join(work, `out-${runs}`);
  const model = path.join(output, '_staging', handle.firstExecutionRunId, 'result', 'pca_model.json');
  // fitPca has written the model: the workflow task that runs the local steps is open until the commit is done.
  while (!(await fs.stat(model).catch(() => undefined))) await delay(2);
  const victims = [...pool.children];
  for (const victim of victims) victim.kill('SIGKILL');
  assert.equal(await fs.stat(path.join(output, '_SUCCESS')).catch(() => undefined), undefined, 'killed before the commit ended');
  const summary = (await handle.result()) as RunSummary;
  assert.ok(victims.every((victim) => victim.signalCode === 'SIGKILL'));
  await assertExactlyOnce(output, summary);
  // The dead worker's workflow task timed out and the steps it had not recorded ran again elsewhere.
  const events = (await handle.fetchHistory()).events ?? [];
  assert.ok(
    events.some((e) => e.workflowTaskTimedOutEventAttributes),
    'the open workflow task timed out',
  );
});

test('every worker process killed during the commit, once the new result is in place and before _SUCCESS: the retry completes it', async () => {
  const output = path.join(work, 'out-commit-kill');
  const token = path.join(work, 'commit-kill-token');
  // The drill (workers/crashDrill.ts): the process about to write the top-level _SUCCESS kills itself, once.
  const pool = await workers('kill-commit', 2, {
    ORCHARD_CRASH_DRILL: `commitResults:write:${path.join(output, '_SUCCESS')}`,
    ORCHARD_CRASH_DRILL_TOKEN: token,
  });
  const first = (await (await start('kill-commit', { output })).result()) as RunSummary;
  await fs.writeFile(token, 'armed');
  const handle = await start('kill-commit', { output });
  while (await fs.stat(token).catch(() => undefined)) await delay(10);
  for (const child of pool.children) child.kill('SIGKILL');
  // The state of the report: the marker there, the previous result archived, the new files moved in, no _SUCCESS.
  assert.ok(await fs.stat(path.join(output, '_COMMITTING')), 'killed while committing');
  assert.equal(await fs.stat(path.join(output, '_SUCCESS')).catch(() => undefined), undefined);
  assert.ok(await fs.stat(path.join(output, 'runs', first.runId, '_SUCCESS')), 'the previous result is archived');
  assert.ok((await fs.readdir(path.join(output, 'features'))).length > 0, 'the new features are in place');

  const summary = (await handle.result()) as RunSummary;
  await assertExactlyOnce(output, summary);
  const { files } = JSON.parse(await fs.readFile(path.join(output, '_SUCCESS'), 'utf8')) as { files: string[] };
  assert.ok(files.includes('features/part-000000.parquet'));
  const left = (await fs.readdir(output, { recursive: true })).map(String).filter((name) => /_COMMITTING|_staging|\.tmp-/.test(name));
  assert.deepEqual(left, [], 'no marker, staging or temporary file is left');
});

test('the Temporal server killed and restarted on its SQLite file: the run resumes and completes', async () => {
  await workers('restart', 2);
  const handle = await start('restart');
  const output = path.join(work, `out-${runs}`);
  await featurizing(handle, 2);
  server.process.kill('SIGKILL');
  await new Promise((resolve) => server.process.once('exit', resolve));
  await delay(2_000);
  server = await startServer();
  let summary: RunSummary | undefined;
  for (let attempt = 0; !summary; attempt++) {
    // The client reconnects by itself; a call that raced with the restart is simply asked again.
    summary = await (handle.result() as Promise<RunSummary>).catch(async (err: Error) => {
      if (attempt > 20 || err instanceof WorkflowFailedError) throw err;
      await delay(1_000);
      return undefined;
    });
  }
  await assertExactlyOnce(output, summary);
});

test('activities failing transiently are retried with backoff and the run completes', async () => {
  await workers('transient', 2, { ORCHARD_FAULT_INJECTION: 'featurizePartition=transient*2,aggregateFeatures=transient*1' });
  const handle = await start('transient');
  const summary = (await handle.result()) as RunSummary;
  await assertExactlyOnce(path.join(work, `out-${runs}`), summary);
  const history = await handle.fetchHistory();
  const failedAttempts = (history.events ?? []).filter(
    (e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1,
  );
  assert.ok(failedAttempts.length >= 1, 'retried attempts show in the history');
});

test('a non-retryable failure fails the run fast with a clear message and leaves no staging files', async () => {
  await workers('fatal', 1, { ORCHARD_FAULT_INJECTION: 'fitPca=fatal' });
  const started = Date.now();
  const handle = await start('fatal');
  const err = await handle.result().then(
    () => assert.fail('the run should fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError);
  assert.match(failureReason(err), /fitPca: injected fatal fault/);
  assert.ok(Date.now() - started < 60_000);
  // The new output was claimed (its ownership record) before the run failed; nothing else was left in it.
  assert.deepEqual(await fs.readdir(path.join(work, `out-${runs}`)).catch(() => []), ['_ORCHARD']);
});

test('cancelling a run stops its activities promptly and leaves the previous result as it was', async () => {
  await workers('cancel', 2);
  const output = path.join(work, 'out-cancel');
  await (await start('cancel', { output, source: path.join(source, 'pear_1') })).result();
  const previous = await snapshotFiles(output);
  // One partition of the whole 900-image sample (several seconds), so the cancellation arrives in the middle of it.
  const handle = await start('cancel', { output, source: sampleDir, partitionSize: 1000 });
  while ((await handle.query<PipelineProgress>('progress')).stage !== 'featurizing') await delay(50);
  await delay(1000);
  const cancelled = Date.now();
  await handle.cancel();
  const err = await handle.result().then(
    () => assert.fail('the run should be cancelled'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
  const seconds = (Date.now() - cancelled) / 1000;
  assert.ok(seconds < 10, `the run took ${seconds} s to stop`);
  // The workflow waited for its activities: each one asked to cancel ended (cancelled, or done) before the run closed.
  const history = (await handle.fetchHistory()).events ?? [];
  const requested = history
    .filter((e) => e.activityTaskCancelRequestedEventAttributes)
    .map((e) => String(e.activityTaskCancelRequestedEventAttributes!.scheduledEventId));
  const ended = new Set(
    history
      .map((e) => e.activityTaskCanceledEventAttributes ?? e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes)
      .filter((a) => a)
      .map((a) => String(a!.scheduledEventId)),
  );
  assert.ok(requested.length > 0, 'activities in flight were asked to cancel');
  for (const id of requested) assert.ok(ended.has(id), `activity ${id} ended before the run closed`);
  assert.ok(
    history.some((e) => e.activityTaskCanceledEventAttributes),
    'a featurize activity stopped part-way on the cancellation',
  );
  assert.deepEqual(await snapshotFiles(output), previous);
});

test('a full disk fails clearly and the previous result stays as it was', async (t) => {
  const disk = path.join(work, 'small-disk');
  await fs.mkdir(disk);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', disk], { stdio: 'ignore' });
  } catch {
    t.skip('mounting a small tmpfs needs root; this check did not run');
    return;
  }
  try {
    const scratch = path.join(work, 'scratch-disk');
    await workers('disk', 1, { ORCHARD_SCRATCH_DIR: scratch });
    const output = path.join(disk, 'out');
    const good = await start('disk', { output, source: path.join(source, 'pear_1') });
    await good.result();
    const previous = await snapshotFiles(output);
    // Leave almost no space, then run over all images: the parts no longer fit.
    await fs.writeFile(path.join(disk, 'filler'), Buffer.alloc(8 * 1024 * 1024 - 256 * 1024)).catch(() => undefined);
    const err = await (await start('disk', { output })).result().then(
      () => assert.fail('the run should fail'),
      (e: unknown) => e,
    );
    assert.match(failureReason(err), /the disk is full \(.*\); free space or choose an --output on another disk/);
    assert.deepEqual(await snapshotFiles(output), previous);
    assert.deepEqual(await fs.readdir(scratch).catch(() => []), [], 'scratch files are removed after the failure');
  } finally {
    execFileSync('umount', [disk]);
  }
});

test('an output that cannot be written fails at once with a clear message', async () => {
  await workers('unwritable', 1);
  const file = path.join(work, 'a-file');
  await fs.writeFile(file, 'not a directory');
  const err = await (await start('unwritable', { output: path.join(file, 'out') })).result().then(
    () => assert.fail('the run should fail'),
    (e: unknown) => e,
  );
  assert.match(failureReason(err), /a file cannot be accessed \(ENOTDIR.*\); check that the source is readable and --output is writable/);
});
