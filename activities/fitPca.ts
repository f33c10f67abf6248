import { FEATURE_DIM, type WorkerConfig } from '../lib/config.js';
import { InputError } from '../lib/errors.js';
import type { FitPcaInput, PcaSummary } from '../lib/contract.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { heartbeatProgress } from '../lib/temporal/heartbeat.js';
import { featuresDatasetUri, resultUri, stagedResult } from '../lib/storage/layout.js';
import { readVectorParquet } from '../lib/storage/parquet.js';
import { PcaFit, projectRows } from '../lib/pca/pca.js';
import { localDatasetFiles, withScratchDir } from '../lib/storage/scratch.js';
import { storageFor } from '../lib/storage/storage.js';
import { writePcaDataset } from './projectFeatures.js';

// Up to this many vectors (100 MB) the fit keeps them and projects them itself, which saves the projection step a
// second read of the features: all runs whose later steps run as local activities (pipelineDefaults).
const PROJECT_IN_FIT_MAX_ROWS = 20_000;

/**
 * Fit a k-component PCA on the features dataset (on the vectors themselves when few, else a streaming covariance;
 * top-k eigenpairs) and write pca_model.json. A fit that holds every vector also projects them and writes the PCA
 * dataset, which saves the projection step a second read of the features (`projected` in the result).
 */
export async function fitPca(input: FitPcaInput, config: WorkerConfig): Promise<PcaSummary> {
  return failingClearly('fitPca', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const result = stagedResult(input.staging);
      const features = await localDatasetFiles(staging, featuresDatasetUri(result), scratch);
      const pca = new PcaFit(FEATURE_DIM, { keepRows: PROJECT_IN_FIT_MAX_ROWS });
      const paths: string[] = [];
      const labels: string[] = [];
      for await (const batch of readVectorParquet(features, 'features')) {
        await pca.addRows(batch.vectors, batch.paths.length);
        // Paths and labels are kept only while the fit keeps the vectors, for the projection below.
        if (pca.holdsRows) {
          paths.push(...batch.paths);
          labels.push(...batch.labels);
        }
        heartbeatProgress({ rows: pca.count });
      }
      let model;
      try {
        model = await pca.fit(input.k);
      } catch (err) {
        throw new InputError(`${(err as Error).message}; lower --k`);
      }
      // Identical images give identical vectors: nothing varies, so no component explains anything.
      const meanSquare = model.mean.reduce((sum, x) => sum + x * x, 0);
      if (!(model.totalVariance > 1e-10 * Math.max(1, meanSquare))) {
        throw new InputError(
          `all ${model.rows} feature vectors are the same (total variance ${model.totalVariance}), so a PCA has no variance to explain: ` +
            'the images are copies of one picture; run on images that differ',
        );
      }
      await staging.write(resultUri(result, 'pca_model.json'), JSON.stringify({ ...model, precision: input.precision }));
      const held = pca.heldRows();
      if (held) await writePcaDataset(staging, result, scratch, { paths, labels, vectors: await projectRows(model, held, model.rows), dim: model.k });
      return { k: model.k, rows: model.rows, explainedVariance: model.explainedVariance, projected: held !== undefined };
    }),
  );
}
