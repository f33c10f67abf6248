import { FEATURE_DIM, InputError, type WorkerConfig } from '../lib/config.js';
import type { FitPcaInput, PcaSummary } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { heartbeatProgress } from '../lib/heartbeat.js';
import { featuresDatasetUri, resultUri, stagedResult } from '../lib/layout.js';
import { readVectorParquet } from '../lib/parquet.js';
import { PcaFit } from '../lib/pca.js';
import { localDatasetFiles, withScratchDir } from '../lib/scratch.js';
import { storageFor } from '../lib/storage.js';

/** Fit a k-component PCA on the features dataset (on the vectors themselves when few, else a streaming covariance; top-k eigenpairs) and write pca_model.json. */
export async function fitPca(input: FitPcaInput, config: WorkerConfig): Promise<PcaSummary> {
  return failingClearly('fitPca', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const result = stagedResult(input.staging);
      const features = await localDatasetFiles(staging, featuresDatasetUri(result), scratch);
      const pca = new PcaFit(FEATURE_DIM);
      for await (const batch of readVectorParquet(features, 'features')) {
        await pca.addRows(batch.vectors, batch.paths.length);
        heartbeatProgress({ rows: pca.count });
      }
      let model;
      try {
        model = await pca.fit(input.k);
      } catch (err) {
        throw new InputError(`${(err as Error).message}; lower --k`);
      }
      await staging.write(resultUri(result, 'pca_model.json'), JSON.stringify(model));
      return { k: model.k, rows: model.rows, explainedVariance: model.explainedVariance };
    }),
  );
}
