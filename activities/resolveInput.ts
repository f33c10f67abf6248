import type { WorkerConfig } from '../lib/config.js';
import type { PipelineInput, RunOptions } from '../lib/contract.js';
import { resolveRunOptions } from '../lib/pipelineInput.js';
import { failingClearly } from '../lib/temporal/failures.js';

/**
 * Check a run's input and fill in its defaults, the one place this happens, so a wrong option fails before any work
 * starts however the run was started. The featurize task queue and the fan-out default to this deployment's.
 */
export async function resolveInput(input: PipelineInput, config: WorkerConfig): Promise<RunOptions> {
  return failingClearly('resolveInput', () =>
    Promise.resolve(
      resolveRunOptions(input, { maxConcurrentPartitions: config.maxConcurrentPartitions, featurizeTaskQueue: config.featurizeTaskQueue }),
    ),
  );
}
