import { heartbeat } from '@temporalio/activity';
import { FEATURE_DIM, InputError, type WorkerConfig } from '../lib/config.js';
import type { FitPcaInput, PcaSummary } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { featuresFileUri, resultUri, stagedResult } from '../lib/layout.js';
import { readFeatureRows, readVectorParquet } from '../lib/parquet.js';
import { CovarianceAccumulator, fitPcaFromAccumulator } from '../lib/pca.js';
import { localCopy, withScratchDir } from '../lib/scratch.js';
import { fetchFeatureRows } from '../lib/stagedFeatures.js';
import { storageFor } from '../lib/storage.js';

/**
 * Fit a k-component PCA (streaming covariance, top-k eigenpairs) and write pca_model.json: on the run's staged parts
 * when `partitions` is given, so it can run beside the merge, else on the merged features dataset.
 */
export async function fitPca(input: FitPcaInput, config: WorkerConfig): Promise<PcaSummary> {
  return failingClearly('fitPca', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const result = stagedResult(input.staging);
      const batches =
        input.partitions === undefined
          ? readVectorParquet([await localCopy(staging, featuresFileUri(result), scratch)], 'features')
          : readFeatureRows((await fetchFeatureRows({ ...input, partitions: input.partitions }, scratch)).rows);
      const accumulator = new CovarianceAccumulator(FEATURE_DIM);
      for await (const batch of batches) {
        await accumulator.addRowsFast(batch.vectors, batch.paths.length);
        heartbeat({ rows: accumulator.count });
      }
      let model;
      try {
        model = await fitPcaFromAccumulator(accumulator, input.k);
      } catch (err) {
        throw new InputError(`${(err as Error).message}; lower --k`);
      }
      await staging.write(resultUri(result, 'pca_model.json'), JSON.stringify(model));
      return { k: model.k, rows: model.rows, explainedVariance: model.explainedVariance };
    }),
  );
}
