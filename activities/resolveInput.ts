import { resolvePipelineInput } from '../lib/config.js';
import type { PipelineInput, ResolvedPipelineInput } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';

/** Validate a run's input and fill in the defaults, so a wrong option fails before any work starts. */
export async function resolveInput(input: PipelineInput): Promise<ResolvedPipelineInput> {
  return failingClearly('resolveInput', async () => resolvePipelineInput(input));
}
