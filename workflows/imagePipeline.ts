import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  continueAsNew,
  defineQuery,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  upsertMemo,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { OrchardActivities } from '../activities/index.js';
import type {
  FeaturizePartitionResult,
  OutputHolder,
  PipelineInput,
  PipelineProgress,
  PipelineState,
  RunContext,
  RunSummary,
  Stage,
} from '../lib/contract.js';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 };

const control = proxyActivities<OrchardActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry,
});

// A partition of a few hundred images takes seconds; heartbeats after every batch let a dead worker be noticed fast.
// A partition that no featurize worker picks up within FEATURIZE_PICKUP fails the run, saying so, instead of waiting
// forever (the run checks for a worker before featurizing; this bounds the wait if every one goes away later).
const FEATURIZE_PICKUP = '30 minutes';
const featurizeOptions: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  scheduleToStartTimeout: FEATURIZE_PICKUP,
  heartbeatTimeout: '20 seconds',
  retry,
  // On cancellation, wait until the activities have stopped, so cleaning up staging cannot race with their writes.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
const featurize = proxyActivities<OrchardActivities>(featurizeOptions);

// Checks without I/O run as local activities, in the worker that holds the workflow task: no round trip through the
// server and its task queues (about 15 ms each on the dev server).
const local = proxyLocalActivities<OrchardActivities>({ startToCloseTimeout: '1 minute', retry });

// The steps after featurizing, in small runs: each takes about a second or less there, so they run in the worker that
// holds the workflow task. A worker that dies meanwhile costs a rerun of these steps, once the workflow task times out.
const localSteps = proxyLocalActivities<OrchardActivities>({ startToCloseTimeout: '10 minutes', retry });

// Waiting for a featurize worker is bounded by the activity itself (ORCHARD_WORKER_WAIT_SECONDS, a minute by default).
const waiting = proxyLocalActivities<OrchardActivities>({ startToCloseTimeout: '30 minutes', retry });

// The commit changes the output, so it runs as an ordinary activity: the steps before it are recorded first and never
// run again after it has moved files, and a dead worker is noticed within the heartbeat timeout (it heartbeats
// before every file it moves).
const committing = proxyActivities<OrchardActivities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '30 seconds', retry });

// Cleaning up after a failure must not hold back the failure's report for minutes.
const cleanup = proxyActivities<OrchardActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { ...retry, maximumAttempts: 3 },
});

export const progressQuery = defineQuery<PipelineProgress>('progress');

/**
 * The whole job of the original notebook: list and partition the images, featurize the partitions in parallel,
 * aggregate the vectors, fit and check a PCA, write the PCA dataset and commit the result with `_SUCCESS` last.
 * Long runs continue as new during featurization, so no history grows with the dataset.
 */
export async function imagePipeline(input: PipelineInput, resumed?: PipelineState): Promise<RunSummary> {
  // The query handler comes first: a client may ask for progress before the first activity returns.
  let current = resumed;
  let stage: Stage = resumed?.listing ? 'featurizing' : 'listing';
  let partitionsDone = resumed?.nextPartition ?? 0;
  setHandler(progressQuery, () => ({
    stage,
    images: current?.listing?.images ?? 0,
    featurized: current?.featurized ?? 0,
    failed: current?.failed ?? 0,
    partitionsDone,
    partitions: current?.listing?.partitions ?? 0,
  }));

  const info = workflowInfo();
  // Runs recorded before the local activities replay with the checks as ordinary ones.
  const checks = patched('local-checks') ? local : control;
  // Runs recorded before output ownership, the output lease and the ordinary-activity commit replay without them.
  const safe = patched('output-safety');
  const state: PipelineState = resumed ?? {
    options: await checks.resolveInput(input),
    workflowId: info.workflowId,
    firstRunId: info.firstExecutionRunId,
    startedAt: new Date().toISOString(),
    nextPartition: 0,
    featurized: 0,
    failed: 0,
    timings: {},
    featurizeTimings: {},
  };
  current = state;
  if (safe && !resumed) {
    // The canonical source and output (symlinks resolved), checked before any work: refused outputs fail here.
    const { source, output, s3Endpoint } = state.options;
    state.options = { ...state.options, ...(await local.checkOutput({ source, output, ...(s3Endpoint ? { s3Endpoint } : {}) })) };
  }
  const options = state.options;
  const context: RunContext = {
    source: options.source,
    output: options.output,
    staging: `${options.output.replace(/\/+$/, '')}/_staging/${state.firstRunId}`,
    ...(options.s3Endpoint ? { s3Endpoint: options.s3Endpoint } : {}),
  };
  // One writer per output: the lease is taken before anything is written, by every run of the chain (the same holder).
  const holder: OutputHolder = { workflowId: state.workflowId, firstRunId: state.firstRunId };
  const lease = { output: options.output, holder, taskQueue: info.taskQueue };
  if (safe) await local.acquireOutput(lease);
  const release = () => (safe ? CancellationScope.nonCancellable(() => local.releaseOutput(lease)) : Promise.resolve());
  const featurizeQueue = options.featurizeTaskQueue ?? info.taskQueue;

  const timed = async <T>(name: string, step: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      return await step();
    } finally {
      state.timings[name] = (state.timings[name] ?? 0) + (Date.now() - start);
    }
  };

  try {
    if (!state.listing) {
      const { glob, partitionSize, maxConcurrentPartitions, k } = options;
      const incremental = options.incremental === true;
      const listInput = { ...context, glob, partitionSize, maxConcurrentPartitions, k, incremental, claimant: { workflowId: holder.workflowId, runId: holder.firstRunId } };
      state.listing = await timed('list', () => control.listImages(listInput));
      stage = 'featurizing';
    }
    const listing = state.listing;
    if (safe && state.nextPartition < listing.partitions) {
      stage = 'waiting for featurize workers';
      await waiting.waitForFeaturizeWorkers(featurizeQueue);
      stage = 'featurizing';
    }
    const startedHere = state.nextPartition;

    // Bounded fan-out: at most maxConcurrentPartitions featurize activities exist at any time. After a failure
    // nothing new starts and the ones in flight finish, so the failure is reported with no work left running.
    const inFlight = new Set<Promise<void>>();
    const featurizeStart = Date.now();
    let firstFailure: unknown;
    let mustContinue = false;
    for (;;) {
      // A run continues as new only once it has started a partition, so every run makes progress.
      const mayContinue = !safe || state.nextPartition > startedHere;
      mustContinue ||= mayContinue && (workflowInfo().historyLength >= options.maxHistoryEvents || workflowInfo().continueAsNewSuggested);
      const canStart = !mustContinue && firstFailure === undefined && state.nextPartition < listing.partitions;
      if (canStart && inFlight.size < options.maxConcurrentPartitions) {
        const partition = state.nextPartition++;
        // The summary makes the history in the Web UI read as a story: which partition of how many.
        const summary = `partition ${partition + 1} of ${listing.partitions}`;
        const taskQueue = options.featurizeTaskQueue ? { taskQueue: options.featurizeTaskQueue } : {};
        const featurizeInput = { ...context, partition, maxImageBytes: options.maxImageBytes };
        const running: Promise<void> = featurize.featurizePartition.executeWithOptions({ ...featurizeOptions, ...taskQueue, summary }, [featurizeInput]).then(
          (result: FeaturizePartitionResult) => {
            state.featurized += result.featurized;
            state.failed += result.failed;
            partitionsDone++;
            setCurrentDetails(`featurized ${state.featurized} of ${listing.images} images (${state.failed} failed), ${partitionsDone}/${listing.partitions} partitions`);
            for (const [key, ms] of Object.entries(result.timings)) state.featurizeTimings[key] = (state.featurizeTimings[key] ?? 0) + ms;
            inFlight.delete(running);
          },
          (err: unknown) => {
            firstFailure ??= unpicked(err, summary, featurizeQueue) ?? err;
            inFlight.delete(running);
          },
        );
        inFlight.add(running);
        continue;
      }
      if (inFlight.size === 0) break;
      await Promise.race(inFlight);
    }
    if (firstFailure !== undefined) throw firstFailure;
    state.timings.featurize = (state.timings.featurize ?? 0) + (Date.now() - featurizeStart);
    if (state.nextPartition < listing.partitions) {
      await continueAsNew<typeof imagePipeline>(input, state);
    }

    // Runs resolved before the option existed have none, and run every step as an ordinary activity.
    const steps = listing.images <= (options.localStepsMaxImages ?? 0) ? localSteps : control;
    stage = 'aggregating';
    const aggregate = await timed('aggregate', () =>
      steps.aggregateFeatures({ ...context, partitions: listing.partitions, workflowId: state.workflowId, runId: state.firstRunId }),
    );
    stage = 'fitting PCA';
    const pca = await timed('fitPca', () => steps.fitPca({ ...context, k: options.k }));
    const variance = await timed('checkVariance', () => checks.checkVariance(pca));
    // A fit that held every vector has written the PCA dataset already. The patch keeps runs recorded before it, or by
    // a workflow worker of the version before (which scheduled the step whatever the fit said), replaying with the step.
    if (!(pca.projected && patched('fit-projects-held-rows'))) {
      stage = 'projecting';
      await timed('project', () => steps.projectFeatures(context));
    }
    // Runs recorded before the report existed replay without it (test/histories).
    if (patched('run-report')) {
      stage = 'reporting';
      await timed('report', () => steps.writeReport({ ...context, runId: state.firstRunId, timings: state.timings }));
    }
    stage = 'committing';
    const summary: RunSummary = {
      workflowId: state.workflowId,
      runId: state.firstRunId,
      source: context.source,
      output: context.output,
      images: listing.images,
      featurized: aggregate.rows,
      reused: listing.reused ?? 0,
      failed: aggregate.failed,
      labels: aggregate.labels,
      k: pca.k,
      explainedVariance: variance.explainedVariance,
      timings: { ...state.timings },
      featurizeTimings: state.featurizeTimings,
      startedAt: state.startedAt,
      finishedAt: new Date().toISOString(),
    };
    const commit = () => (safe ? committing : steps).commitResults({ ...context, summary });
    // Once the commit has started it finishes: a cancel arriving now must not leave the output half replaced. Runs
    // recorded before this replay with a cancellable commit.
    await (patched('commit-not-cancellable') ? CancellationScope.nonCancellable(commit) : commit());
    // The counts show in the Web UI and `temporal workflow describe` (runs recorded before this replay without it).
    if (patched('run-memo')) {
      upsertMemo({ images: summary.images, featurized: summary.featurized, reused: summary.reused, failed: summary.failed, labels: summary.labels });
    }
    // The result is committed: a lease that could not be given back ends by itself once this run is closed.
    await release().catch(() => undefined);
    stage = 'done';
    return summary;
  } catch (err) {
    // Staging files are useless after a failure; the committed output was never touched.
    if (!(err instanceof ContinueAsNew)) {
      await CancellationScope.nonCancellable(() => cleanup.discardStaging(context)).catch(() => undefined);
      await release().catch(() => undefined);
    }
    throw err;
  }
}

/** A featurize activity that no worker picked up in time, as a failure that says what to start; else undefined. */
function unpicked(err: unknown, partition: string, taskQueue: string): ApplicationFailure | undefined {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof TimeoutFailure) || err.cause.timeoutType !== 'SCHEDULE_TO_START') return undefined;
  return ApplicationFailure.nonRetryable(
    `featurizePartition: no worker picked up ${partition} on task queue "${taskQueue}" within ${FEATURIZE_PICKUP}: start featurize workers ` +
      `(ORCHARD_WORKER_ROLE=featurize ORCHARD_FEATURIZE_TASK_QUEUE=${taskQueue} npm run worker) and run again`,
    'NoFeaturizeWorker',
  );
}
