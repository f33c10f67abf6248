import { resolvePipelineInput, type WorkerConfig } from '../lib/config.js';
import type { PipelineInput, ResolvedPipelineInput } from '../lib/contract.js';
import { failingClearly } from '../lib/temporal/failures.js';

/**
 * Validate a run's input and fill in the defaults, so a wrong option fails before any work starts. The featurize
 * task queue and the fan-out default to what this deployment's control workers are configured with.
 */
export async function resolveInput(input: PipelineInput, config: WorkerConfig): Promise<ResolvedPipelineInput> {
  return failingClearly('resolveInput', () => {
    const valid = resolvePipelineInput(input);
    return Promise.resolve({
      ...valid,
      maxConcurrentPartitions: valid.maxConcurrentPartitions ?? config.maxConcurrentPartitions,
      featurizeTaskQueue: input.featurizeTaskQueue || config.featurizeTaskQueue,
    });
  });
}
