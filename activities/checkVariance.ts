import { ApplicationFailure } from '@temporalio/common';
import type { PcaSummary, VarianceCheck } from '../lib/contract.js';

/** Check the explained variance of a fitted PCA the way the notebook inspects it: k finite ratios, descending, summing to at most 1. */
export function checkVariance(summary: PcaSummary): Promise<VarianceCheck> {
  const ratios = summary.explainedVariance;
  const problems: string[] = [];
  if (ratios.length !== summary.k) problems.push(`${ratios.length} ratios for k=${summary.k}`);
  if (!ratios.every((r) => Number.isFinite(r) && r >= 0 && r <= 1)) problems.push('a ratio is not a number in [0, 1]');
  if (ratios.some((r, i) => i > 0 && r > ratios[i - 1] + 1e-12)) problems.push('ratios are not in descending order');
  const cumulative = ratios.reduce((a, b) => a + b, 0);
  if (!(cumulative > 0 && cumulative <= 1 + 1e-9)) problems.push(`the ratios sum to ${cumulative}, outside (0, 1]`);
  if (problems.length > 0) {
    // A wrong PCA is a defect, not bad luck: retrying cannot change it.
    return Promise.reject(
      ApplicationFailure.nonRetryable(
        `checkVariance: explained variance [${ratios.join(', ')}] failed the check: ${problems.join('; ')}`,
        'PcaCheckFailed',
      ),
    );
  }
  return Promise.resolve({ explainedVariance: ratios, cumulative });
}
