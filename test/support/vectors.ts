import { FEATURE_DIM } from '../../lib/config.js';
import { readVectorParquet, type VectorRows } from '../../lib/parquet.js';

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

/** Leave-one-out 1-nearest-neighbour accuracy by label, Euclidean distance. */
export function leaveOneOutAccuracy(rows: VectorRows): number {
  const n = rows.paths.length;
  const d = rows.dim;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += rows.vectors[i * d + j] ** 2;
    norms[i] = s;
  }
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestDistance = Infinity;
    for (let k = 0; k < n; k++) {
      if (k === i) continue;
      let dot = 0;
      for (let j = 0; j < d; j++) dot += rows.vectors[i * d + j] * rows.vectors[k * d + j];
      const distance = norms[i] + norms[k] - 2 * dot;
      if (distance < bestDistance) {
        bestDistance = distance;
        best = k;
      }
    }
    if (rows.labels[best] === rows.labels[i]) correct++;
  }
  return correct / n;
}
