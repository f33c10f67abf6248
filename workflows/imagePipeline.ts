import { CancellationScope, ContinueAsNew, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type {
  AggregateResult,
  PcaSummary,
  PipelineInput,
  PipelineState,
  ReportInput,
  RunContext,
  RunSummary,
  VarianceCheck,
} from '../lib/contract.js';
import { cleanup, committing, control, local, localSteps } from './activities.js';
import { featurizeAll } from './featurizeAll.js';
import { RunTracker } from './runTracker.js';
import { recordImagesCount } from './searchAttributes.js';

export { progressQuery } from './runTracker.js';

/**
 * The whole job of the original notebook: list and partition the images, featurize the partitions in parallel,
 * aggregate the vectors, fit and check a PCA, write the PCA dataset and a report, and commit the result with
 * `_SUCCESS` last. Long runs continue as new during featurization, so no history grows with the dataset.
 */
export async function imagePipeline(input: PipelineInput, resumed?: PipelineState): Promise<RunSummary> {
  const run = new RunTracker(resumed);
  const state = (run.state = resumed ?? (await startRun(input)));
  const context = runContext(state);
  const lease = {
    output: state.options.output,
    holder: { workflowId: state.workflowId, firstRunId: state.firstRunId },
    taskQueue: workflowInfo().taskQueue,
  };
  // One writer per output: every run of the chain takes the lease (the same holder) before it writes anything.
  await local.acquireOutput(lease);
  const releaseLease = () => CancellationScope.nonCancellable(() => local.releaseOutput(lease)).catch(() => undefined);
  try {
    state.listing ??= await run.step('listing', 'list', () => control.listImages(listInput(state, context)));
    recordImagesCount(state.listing.images);
    await featurizeAll(run, input, state, context);
    const steps = state.listing.images <= state.options.localStepsMaxImages ? localSteps : control;
    const partitions = state.listing.partitions;
    const aggregate = await run.step('aggregating', 'aggregate', () =>
      steps.aggregateFeatures({ ...context, partitions, workflowId: state.workflowId, runId: state.firstRunId }),
    );
    const pca = await run.step('fitting PCA', 'fitPca', () => steps.fitPca({ ...context, k: state.options.k, precision: state.options.precision }));
    const variance = await run.step('fitting PCA', 'checkVariance', () => local.checkVariance(pca));
    // A fit that held every vector has written the PCA dataset already.
    if (!pca.projected) await run.step('projecting', 'project', () => steps.projectFeatures(context));
    await run.step('reporting', 'report', () => steps.writeReport(reportInput(state, context)));
    const summary = runSummary(state, context, aggregate, pca, variance);
    run.stage = 'committing';
    // Once the commit has started it finishes: a cancel arriving now must not leave the output half replaced.
    await CancellationScope.nonCancellable(() => committing.commitResults({ ...context, summary }));
    // The counts show in the Web UI and `temporal workflow describe`.
    upsertMemo({ images: summary.images, featurized: summary.featurized, reused: summary.reused, failed: summary.failed, labels: summary.labels });
    // The result is committed: a lease that could not be given back ends by itself once this run is closed.
    await releaseLease();
    run.stage = 'done';
    return summary;
  } catch (err) {
    // Staging files are useless after a failure; the committed output was never touched.
    if (!(err instanceof ContinueAsNew)) {
      await CancellationScope.nonCancellable(() => cleanup.discardStaging(context)).catch(() => undefined);
      await releaseLease();
    }
    throw err;
  }
}

/** The first run of a chain: the input checked and given its defaults, the source and output made canonical. */
async function startRun(input: PipelineInput): Promise<PipelineState> {
  const options = await local.resolveInput(input);
  // The canonical source and output (symlinks resolved), checked before any work: refused outputs fail here.
  const { source, output, s3Endpoint } = options;
  const canonical = await local.checkOutput({ source, output, ...(s3Endpoint ? { s3Endpoint } : {}) });
  const info = workflowInfo();
  return {
    options: { ...options, ...canonical },
    workflowId: info.workflowId,
    firstRunId: info.firstExecutionRunId,
    startedAt: new Date().toISOString(),
    nextPartition: 0,
    featurized: 0,
    failed: 0,
    timings: {},
    featurizeTimings: {},
  };
}

/** Where the run's files go, and what every activity needs to reach them. */
function runContext({ options, firstRunId }: PipelineState): RunContext {
  return {
    source: options.source,
    output: options.output,
    staging: `${options.output.replace(/\/+$/, '')}/_staging/${firstRunId}`,
    ...(options.s3Endpoint ? { s3Endpoint: options.s3Endpoint } : {}),
  };
}

function listInput({ options, workflowId, firstRunId }: PipelineState, context: RunContext) {
  const { glob, partitionSize, maxConcurrentPartitions, k, incremental, precision } = options;
  return { ...context, glob, partitionSize, maxConcurrentPartitions, k, incremental, precision, claimant: { workflowId, runId: firstRunId } };
}

function reportInput({ workflowId, firstRunId, startedAt, timings, featurizeTimings }: PipelineState, context: RunContext): ReportInput {
  return { ...context, workflowId, runId: firstRunId, startedAt, timings, featurizeTimings };
}

function runSummary(state: PipelineState, context: RunContext, aggregate: AggregateResult, pca: PcaSummary, variance: VarianceCheck): RunSummary {
  const listing = state.listing!;
  return {
    workflowId: state.workflowId,
    runId: state.firstRunId,
    source: context.source,
    output: context.output,
    images: listing.images,
    featurized: aggregate.rows,
    reused: listing.reused,
    failed: aggregate.failed,
    labels: aggregate.labels,
    k: pca.k,
    precision: state.options.precision,
    explainedVariance: variance.explainedVariance,
    timings: { ...state.timings },
    featurizeTimings: state.featurizeTimings,
    startedAt: state.startedAt,
    finishedAt: new Date().toISOString(),
  };
}
