// The streaming covariance of feature vectors: rows are added in batches (a JS kernel for a few rows, the Gram
// product on onnxruntime for more), then the dim x dim covariance is read out.
import { loadGramKernel, type GramOptions } from './gram.js';
import { accumulateDots, columnMeans, CHUNK_ROWS, roundUp, X_BLOCK, Y_BLOCK } from './kernel.js';

// Below this many rows addRowsFast uses the JS kernel: an onnxruntime call has a fixed cost (mostly folding its dim^2
// outputs into #m2) that the JS kernel beats only on a few rows (bench/pca.ts, "Small batches").
const FAST_MIN_ROWS = 8;

/** Streaming, mergeable mean and covariance of dim-dimensional rows in float64 (Chan et al. pairwise combination). */
export class CovarianceAccumulator {
  readonly dim: number;
  #n = 0;
  // dim rounded up so the co-moment kernel needs no edge cases; the padding rows and columns stay zero.
  readonly #stride: number;
  readonly #mean: Float64Array;
  // Centered co-moment sum (x - mean)(x - mean)^T, stride x stride; only its upper triangle (i <= j < dim) is maintained.
  readonly #m2: Float64Array;
  #chunk: Float64Array | undefined;

  /** Start an empty accumulator for rows of `dim` values. */
  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`CovarianceAccumulator: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.#stride = roundUp(dim, X_BLOCK * Y_BLOCK);
    this.#mean = new Float64Array(dim);
    this.#m2 = new Float64Array(this.#stride * this.#stride);
  }

  /** Number of rows accumulated so far. */
  get count(): number {
    return this.#n;
  }

  /** Add `count` rows stored row-major (count x dim) in `rows`, with the float64 JS kernel. */
  addRows(rows: Float32Array | Float64Array, count: number): void {
    const batchMean = this.#batchMean(rows, count);
    if (!batchMean) return;
    const d = this.dim;
    // The batch is centered on its own mean before any product, so a large common offset costs no precision.
    // Its co-moment goes straight into #m2 (M2 = M2a + M2b + correction below).
    const stride = this.#stride;
    const chunk = (this.#chunk ??= new Float64Array(stride * CHUNK_ROWS));
    for (let r0 = 0; r0 < count; r0 += CHUNK_ROWS) {
      const len = Math.min(CHUNK_ROWS, count - r0);
      // Transposed packing (dim-major) makes every dot product of the kernel a contiguous walk.
      for (let r = 0; r < len; r++) {
        const base = (r0 + r) * d;
        for (let i = 0; i < d; i++) chunk[i * len + r] = rows[base + i] - batchMean[i];
      }
      chunk.fill(0, d * len, stride * len);
      accumulateDots(chunk, stride, chunk, stride, len, this.#m2, stride, true);
    }
    this.#combine(count, batchMean, null);
  }

  /**
   * Like addRows, but the batch co-moment is an onnxruntime GEMM (lib/gram.ts): at dim 1280 and 8192 rows, 28x faster
   * with float32 (the default), 16x with float64. Await it before reading or merging; after a rejection, discard the
   * accumulator (a run can fail after an earlier run of the same batch was added).
   */
  async addRowsFast(rows: Float32Array | Float64Array, count: number, options: GramOptions = {}): Promise<void> {
    if (count < FAST_MIN_ROWS) return this.addRows(rows, count);
    const batchMean = this.#batchMean(rows, count);
    if (!batchMean) return;
    const kernel = await loadGramKernel(this.dim, options);
    // Concurrent calls stay correct: the kernel only adds into #m2, and each #combine runs whole, in any order.
    await kernel.accumulate(rows, count, batchMean, this.#m2, this.#stride);
    this.#combine(count, batchMean, null);
  }

  // Validates a batch and returns its float64 mean, or undefined for an empty batch.
  #batchMean(rows: Float32Array | Float64Array, count: number): Float64Array | undefined {
    const d = this.dim;
    if (!Number.isInteger(count) || count < 0) throw new Error(`addRows: count must be a non-negative integer, got ${count}`);
    if (rows.length < count * d) throw new Error(`addRows: ${count} rows of dim ${d} need ${count * d} values, got ${rows.length}`);
    return count === 0 ? undefined : columnMeans(rows, count, d);
  }

  /** Fold another accumulator of the same dim into this one. */
  merge(other: CovarianceAccumulator): void {
    if (other.dim !== this.dim) throw new Error(`merge: dim ${other.dim} does not match dim ${this.dim}`);
    if (other.#n === 0) return;
    this.#combine(other.#n, other.#mean, other.#m2);
  }

  // Chan et al.: M2 = M2a + M2b + delta delta^T * na * nb / n, with delta = meanB - meanA.
  #combine(nB: number, meanB: Float64Array, m2B: Float64Array | null): void {
    const d = this.dim;
    const stride = this.#stride;
    const nA = this.#n;
    const n = nA + nB;
    const mean = this.#mean;
    const m2 = this.#m2;
    const delta = new Float64Array(d);
    for (let i = 0; i < d; i++) delta[i] = meanB[i] - mean[i];
    const f = (nA * nB) / n;
    for (let i = 0; i < d; i++) {
      const row = i * stride;
      const fi = f * delta[i];
      if (m2B) for (let j = i; j < d; j++) m2[row + j] += m2B[row + j] + fi * delta[j];
      else for (let j = i; j < d; j++) m2[row + j] += fi * delta[j];
    }
    const w = nB / n;
    for (let i = 0; i < d; i++) mean[i] += delta[i] * w;
    this.#n = n;
  }

  /** Mean of the rows accumulated so far (a copy). */
  mean(): Float64Array {
    return Float64Array.from(this.#mean);
  }

  /** Sample covariance (divided by n - 1), dim x dim row-major, full symmetric. */
  covariance(): Float64Array {
    const n = this.#n;
    if (n < 2) throw new Error(`covariance: needs at least 2 rows, got ${n}`);
    const d = this.dim;
    const stride = this.#stride;
    const out = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = this.#m2[i * stride + j] / (n - 1);
        out[i * d + j] = v;
        out[j * d + i] = v;
      }
    }
    return out;
  }
}
