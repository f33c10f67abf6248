// A 100,000-image run keeps every workflow history small: the real workflow code on the real server, with
// activities that only count (no images), so the orchestration itself is what is measured.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { OrchardActivities } from '../../activities/index.js';
import { resolveRunOptions } from '../../lib/pipelineInput.js';
import type { RunSummary } from '../../lib/contract.js';
import { workflowsPath } from '../../workers/workflowCode.js';
import { startTestServer } from '../support/environment.js';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

const IMAGES = 100_000;
const PARTITION_SIZE = 64;
const PARTITIONS = Math.ceil(IMAGES / PARTITION_SIZE);
const MAX_HISTORY_EVENTS = 3_000;

let env: TestWorkflowEnvironment;
const calls = new Map<number, number>();

const countingActivities: OrchardActivities = {
  resolveInput: async (input) => resolveRunOptions(input, { maxConcurrentPartitions: 8, featurizeTaskQueue: 'history' }),
  checkOutput: async ({ source, output }) => ({ source, output }),
  acquireOutput: async () => undefined,
  releaseOutput: async () => undefined,
  workflowRunning: async () => true,
  waitForFeaturizeWorkers: async () => 1,
  listImages: async () => ({ images: IMAGES, reused: 0, partitions: PARTITIONS, labels: 15, bytes: IMAGES * 50_000 }),
  featurizePartition: async ({ partition }) => {
    calls.set(partition, (calls.get(partition) ?? 0) + 1);
    const size = partition === PARTITIONS - 1 ? IMAGES - PARTITION_SIZE * (PARTITIONS - 1) : PARTITION_SIZE;
    return { partition, featurized: size - 1, failed: 1, timings: { read: 1, decode: 2, infer: 3, write: 4 } };
  },
  aggregateFeatures: async () => ({ rows: IMAGES - PARTITIONS, failed: PARTITIONS, labels: 15 }),
  fitPca: async ({ k }) => ({ k, rows: IMAGES - PARTITIONS, explainedVariance: [0.3, 0.2, 0.1, 0.05, 0.01], projected: false }),
  checkVariance: async (summary) => ({ explainedVariance: summary.explainedVariance, cumulative: 0.66 }),
  projectFeatures: async () => IMAGES - PARTITIONS,
  writeReport: async () => undefined,
  commitResults: async () => undefined,
  discardStaging: async () => undefined,
};

before(async () => {
  env = await startTestServer();
});

after(async () => {
  await env?.teardown();
});

test('a 100,000-image run continues as new and every history stays far below the limits', async () => {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: 'history',
    workflowsPath,
    activities: countingActivities,
    maxConcurrentActivityTaskExecutions: 64,
  });
  const workflowId = 'history-100k';
  const summary = (await worker.runUntil(
    env.client.workflow.execute('imagePipeline', {
      taskQueue: 'history',
      workflowId,
      args: [{ source: '/data/photos', output: '/data/out', partitionSize: PARTITION_SIZE, maxHistoryEvents: MAX_HISTORY_EVENTS }],
    }),
  )) as RunSummary;

  assert.equal(summary.images, IMAGES);
  assert.equal(summary.featurized, IMAGES - PARTITIONS);
  assert.equal(calls.size, PARTITIONS, 'every partition was featurized');
  assert.ok(
    [...calls.values()].every((n) => n === 1),
    'no partition was featurized twice',
  );

  // Follow the chain of runs through their continue-as-new events and measure each history.
  const runs: { events: number; bytes: number; largestEvent: number }[] = [];
  let runId: string | undefined = summary.runId;
  while (runId) {
    const handle = env.client.workflow.getHandle(workflowId, runId);
    const history: History = await handle.fetchHistory();
    const events = history.events ?? [];
    let largestEvent = 0;
    for (const event of events) largestEvent = Math.max(largestEvent, JSON.stringify(event).length);
    runs.push({ events: events.length, bytes: (await handle.describe()).historySize ?? Infinity, largestEvent });
    const last = events[events.length - 1];
    runId = last.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  console.log(`${PARTITIONS} partitions in ${runs.length} runs:`, JSON.stringify(runs));
  // How many runs it takes depends on how completions batch into workflow tasks; that it takes more than one does not:
  // each partition adds at least its scheduled and completed events, more than one run may hold.
  assert.ok(PARTITIONS * 2 > MAX_HISTORY_EVENTS);
  assert.ok(runs.length >= 2, `a run of ${PARTITIONS} partitions continued as new (${runs.length} runs)`);
  for (const run of runs) {
    assert.ok(run.events < MAX_HISTORY_EVENTS + 200, `a run has ${run.events} events`);
    assert.ok(run.events < 51_200 / 10, 'far below the 51,200-event limit');
    assert.ok(run.bytes < 2 * 1024 * 1024, `a history is ${run.bytes} bytes`);
    // Each payload is far below the 2 MB limit: an event, payloads and all, is a few kilobytes as JSON.
    assert.ok(run.largestEvent < 16 * 1024, `an event takes ${run.largestEvent} bytes`);
  }
});
