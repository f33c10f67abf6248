import { FEATURE_DIM } from '../../lib/config.js';
import { readVectorParquet, type VectorRows } from '../../lib/storage/parquet.js';

/** All rows of some vector Parquet files in one VectorRows, ordered by path. */
export async function readAllVectors(files: string[], column: 'features' | 'pcaFeatures'): Promise<VectorRows> {
  const paths: string[] = [];
  const labels: string[] = [];
  const chunks: Float32Array[] = [];
  let dim = column === 'features' ? FEATURE_DIM : 0;
  for await (const batch of readVectorParquet(files, column, { orderBy: 'path' })) {
    paths.push(...batch.paths);
    labels.push(...batch.labels);
    chunks.push(batch.vectors);
    dim = batch.dim;
  }
  const vectors = new Float32Array(paths.length * dim);
  let offset = 0;
  for (const chunk of chunks) {
    vectors.set(chunk, offset);
    offset += chunk.length;
  }
  return { paths, labels, vectors, dim };
}

export { leaveOneOutAccuracy } from '../../bench/vectorMetrics.js';
