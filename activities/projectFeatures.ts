import type { WorkerConfig } from '../lib/config.js';
import type { RunContext } from '../lib/contract.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { heartbeatProgress } from '../lib/temporal/heartbeat.js';
import { featuresDatasetUri, pcaFileUri, stagedResult } from '../lib/storage/layout.js';
import { readVectorParquet, writeVectorParquet, type VectorRows } from '../lib/storage/parquet.js';
import { projectRows } from '../lib/pca/pca.js';
import { localDatasetFiles, localTarget, publish, withScratchDir } from '../lib/storage/scratch.js';
import { readStagedPcaModel } from '../lib/storage/records.js';
import { storageFor, type Storage } from '../lib/storage/storage.js';

/** Project every feature vector on the fitted components and write the PCA dataset (path, label, pcaFeatures). */
export async function projectFeatures(input: RunContext, config: WorkerConfig): Promise<number> {
  return failingClearly('projectFeatures', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const result = stagedResult(input.staging);
      const model = await readStagedPcaModel(staging, result);
      const features = await localDatasetFiles(staging, featuresDatasetUri(result), scratch);
      const paths: string[] = [];
      const labels: string[] = [];
      const projected: Float32Array[] = [];
      for await (const batch of readVectorParquet(features, 'features')) {
        paths.push(...batch.paths);
        labels.push(...batch.labels);
        projected.push(await projectRows(model, batch.vectors, batch.paths.length));
        heartbeatProgress({ rows: paths.length });
      }
      const vectors = new Float32Array(paths.length * model.k);
      let offset = 0;
      for (const part of projected) {
        vectors.set(part, offset);
        offset += part.length;
      }
      await writePcaDataset(staging, result, scratch, { paths, labels, vectors, dim: model.k });
      return paths.length;
    }),
  );
}

/** Write the PCA dataset (path, label, pcaFeatures) of the staged result `result`. */
export async function writePcaDataset(staging: Storage, result: string, scratch: string, rows: VectorRows): Promise<void> {
  const pcaUri = pcaFileUri(result);
  const file = localTarget(staging, pcaUri, scratch);
  await writeVectorParquet(file, 'pcaFeatures', rows);
  await publish(staging, file, pcaUri);
}
