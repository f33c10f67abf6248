// Comparisons of feature vectors, shared by the fidelity benchmark and the tests.
import type { VectorRows } from '../lib/storage/parquet.js';

/** Cosine similarity of row `i` of `a` and row `i` of `b`, both `dim` wide. */
export function rowCosine(a: Float32Array, b: Float32Array, i: number, dim: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let j = i * dim; j < (i + 1) * dim; j++) {
    dot += a[j] * b[j];
    na += a[j] * a[j];
    nb += b[j] * b[j];
  }
  return dot / Math.sqrt(na * nb);
}

/** Mean, minimum and 5th percentile of the row-by-row cosines of two sets of vectors of the same images. */
export function cosineSummary(a: Float32Array, b: Float32Array, rows: number, dim: number): { mean: number; min: number; p5: number } {
  const cosines = Array.from({ length: rows }, (_, i) => rowCosine(a, b, i, dim)).sort((x, y) => x - y);
  return { mean: cosines.reduce((s, c) => s + c, 0) / rows, min: cosines[0], p5: cosines[Math.floor(rows * 0.05)] };
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
