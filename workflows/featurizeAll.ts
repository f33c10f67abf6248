// Featurizing, the fan-out of a run: every partition of the listing through featurizePartition, at most
// maxConcurrentPartitions at a time, continuing as new when the history grows long.
import { continueAsNew, workflowInfo } from '@temporalio/workflow';
import type { FeaturizePartitionResult, PipelineInput, PipelineState, RunContext } from '../lib/contract.js';
import { featurize, featurizeOptions, unpicked, waiting } from './activities.js';
import type { imagePipeline } from './imagePipeline.js';
import type { RunTracker } from './runTracker.js';

/**
 * Featurize the partitions this chain of runs has not started yet. After a failure nothing new starts and the ones in
 * flight finish, so the failure is reported with no work left running. Past `maxHistoryEvents` (or when the server
 * suggests it) the run continues as new with its state, once it has started at least one partition.
 */
export async function featurizeAll(run: RunTracker, input: PipelineInput, state: PipelineState, context: RunContext): Promise<void> {
  const { options } = state;
  const listing = state.listing!;
  const taskQueue = options.featurizeTaskQueue;
  if (state.nextPartition < listing.partitions) {
    run.stage = 'waiting for featurize workers';
    await waiting.waitForFeaturizeWorkers(taskQueue);
  }
  const startedHere = state.nextPartition;
  const inFlight = new Set<Promise<void>>();
  let firstFailure: unknown;
  let mustContinue = false;
  await run.step('featurizing', 'featurize', async () => {
    for (;;) {
      const info = workflowInfo();
      mustContinue ||= state.nextPartition > startedHere && (info.historyLength >= options.maxHistoryEvents || info.continueAsNewSuggested);
      const canStart = !mustContinue && firstFailure === undefined && state.nextPartition < listing.partitions;
      if (canStart && inFlight.size < options.maxConcurrentPartitions) {
        const partition = state.nextPartition++;
        // The summary makes the history in the Web UI read as a story: which partition of how many.
        const summary = `partition ${partition + 1} of ${listing.partitions}`;
        const running: Promise<void> = featurize.featurizePartition
          .executeWithOptions({ ...featurizeOptions, taskQueue, summary }, [
            { ...context, partition, maxImageBytes: options.maxImageBytes, precision: options.precision },
          ])
          .then(
            (result: FeaturizePartitionResult) => {
              run.partitionDone(result.featurized, result.failed);
              for (const [key, ms] of Object.entries(result.timings)) state.featurizeTimings[key] = (state.featurizeTimings[key] ?? 0) + ms;
            },
            (err: unknown) => {
              firstFailure ??= unpicked(err, summary, taskQueue) ?? err;
            },
          )
          .finally(() => inFlight.delete(running));
        inFlight.add(running);
        continue;
      }
      if (inFlight.size === 0) break;
      await Promise.race(inFlight);
    }
  });
  if (firstFailure !== undefined) throw firstFailure as Error;
  if (state.nextPartition < listing.partitions) await continueAsNew<typeof imagePipeline>(input, state);
}
