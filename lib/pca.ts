import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { loadGramKernel, loadMatrixProduct, type GramOptions } from './gram.js';

/** A fitted PCA: the mean, the top-k principal axes and how much of the total variance each one explains. */
export interface PcaModel {
  k: number;
  rows: number;
  mean: number[];
  /** k x dim, unit-norm principal axes in descending eigenvalue order. */
  components: number[][];
  /** eigenvalue / trace(covariance), descending, like Spark's PCAModel.explainedVariance. */
  explainedVariance: number[];
  eigenvalues: number[];
  totalVariance: number;
}

// Rows packed per kernel call: the packed dim x CHUNK_ROWS float64 block (1.3 MB at dim 1280) stays in L2/L3.
const CHUNK_ROWS = 128;
// accumulateDots walks x in blocks of X_BLOCK rows and y in blocks of Y_BLOCK rows; callers pad with zero rows.
const X_BLOCK = 3;
const Y_BLOCK = 4;

// Below this many rows addRowsFast uses the JS kernel: at dim 1280 an ORT call has a ~1.5 ms floor (mostly folding
// its dim^2 outputs into #m2), which the JS kernel beats only under ~5 rows (bench/pca.ts, "Small batches").
const FAST_MIN_ROWS = 8;

const roundUp = (n: number, multiple: number) => Math.ceil(n / multiple) * multiple;

/**
 * out[i * outStride + j] += dot(x row i, y row j) over rows of length len (xRows a multiple of 3, yRows of 4).
 * A 3x4 block of dot products keeps its 12 sums in registers and reuses every load 3 or 4 times, which is the
 * fastest shape measured for scalar JS. With upperOnly (x === y), blocks entirely below the diagonal are skipped.
 */
function accumulateDots(
  x: Float64Array,
  xRows: number,
  y: Float64Array,
  yRows: number,
  len: number,
  out: Float64Array,
  outStride: number,
  upperOnly: boolean,
): void {
  for (let ib = 0; ib < xRows; ib += X_BLOCK) {
    const a0 = ib * len;
    const a1 = a0 + len;
    const a2 = a1 + len;
    for (let jb = upperOnly ? ib - (ib % Y_BLOCK) : 0; jb < yRows; jb += Y_BLOCK) {
      const b0 = jb * len;
      const b1 = b0 + len;
      const b2 = b1 + len;
      const b3 = b2 + len;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
      let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
      for (let r = 0; r < len; r++) {
        const y0 = y[b0 + r], y1 = y[b1 + r], y2 = y[b2 + r], y3 = y[b3 + r];
        let v = x[a0 + r];
        s00 += v * y0; s01 += v * y1; s02 += v * y2; s03 += v * y3;
        v = x[a1 + r];
        s10 += v * y0; s11 += v * y1; s12 += v * y2; s13 += v * y3;
        v = x[a2 + r];
        s20 += v * y0; s21 += v * y1; s22 += v * y2; s23 += v * y3;
      }
      let o = ib * outStride + jb;
      out[o] += s00; out[o + 1] += s01; out[o + 2] += s02; out[o + 3] += s03;
      o += outStride;
      out[o] += s10; out[o + 1] += s11; out[o + 2] += s12; out[o + 3] += s13;
      o += outStride;
      out[o] += s20; out[o + 1] += s21; out[o + 2] += s22; out[o + 3] += s23;
    }
  }
}

/** Float64 mean of each of the `dim` columns of `count` (> 0) row-major rows. */
function columnMeans(rows: Float32Array | Float64Array, count: number, dim: number): Float64Array {
  const means = new Float64Array(dim);
  let r = 0;
  // Four rows per pass quarter the loads and stores of the sums (measured 12 ms -> 6 ms for 8192 x 1280).
  for (; r + 4 <= count; r += 4) {
    const b0 = r * dim, b1 = b0 + dim, b2 = b1 + dim, b3 = b2 + dim;
    for (let i = 0; i < dim; i++) means[i] += rows[b0 + i] + rows[b1 + i] + rows[b2 + i] + rows[b3 + i];
  }
  for (; r < count; r++) {
    const base = r * dim;
    for (let i = 0; i < dim; i++) means[i] += rows[base + i];
  }
  for (let i = 0; i < dim; i++) means[i] /= count;
  return means;
}

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

/** Mulberry32: a small seeded PRNG, so the eigen-solver start (and hence its result) is reproducible. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function dot(a: Float64Array, aOffset: number, b: Float64Array, bOffset: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i++) s += a[aOffset + i] * b[bOffset + i];
  return s;
}

/**
 * out row c = sum over p < rows of coefficients[c * rows + p] * src row p, for c < count (rows a multiple of 4).
 * Four source rows per pass quarter the loads and stores of the output row.
 */
function combineRows(coefficients: Float64Array, src: Float64Array, rows: number, count: number, dim: number, out: Float64Array): void {
  out.fill(0, 0, count * dim);
  for (let c = 0; c < count; c++) {
    const o = c * dim;
    for (let p = 0; p < rows; p += 4) {
      const base = c * rows + p;
      const c0 = coefficients[base], c1 = coefficients[base + 1], c2 = coefficients[base + 2], c3 = coefficients[base + 3];
      const s0 = p * dim, s1 = s0 + dim, s2 = s1 + dim, s3 = s2 + dim;
      for (let t = 0; t < dim; t++) out[o + t] += c0 * src[s0 + t] + c1 * src[s1 + t] + c2 * src[s2 + t] + c3 * src[s3 + t];
    }
  }
}

/**
 * Orthonormalize the first `count` rows (length dim) of q in place: modified Gram-Schmidt, applied twice per vector
 * ("twice is enough") so orthogonality holds to rounding even after heavy cancellation.
 */
function orthonormalize(q: Float64Array, count: number, dim: number, random: () => number): void {
  for (let j = 0; j < count; j++) {
    const vj = j * dim;
    for (;;) {
      const before = Math.sqrt(dot(q, vj, q, vj, dim));
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < j; i++) {
          const vi = i * dim;
          const proj = dot(q, vi, q, vj, dim);
          for (let t = 0; t < dim; t++) q[vj + t] -= proj * q[vi + t];
        }
      }
      const after = Math.sqrt(dot(q, vj, q, vj, dim));
      if (after > 1e-8 * before) {
        for (let t = 0; t < dim; t++) q[vj + t] /= after;
        break;
      }
      // The vector was (numerically) inside the span of the previous ones, as happens when the matrix has rank below
      // the block size: restart it from a fresh random direction.
      for (let t = 0; t < dim; t++) q[vj + t] = random() - 0.5;
    }
  }
}

/** Options of the block subspace iteration. */
export interface EigenOptions {
  tolerance?: number;
  maxIterations?: number;
  oversample?: number;
}

/** W = Q A for the row-major block Q (rows x dim) of a symmetric PSD operator A; rows x dim, row-major. */
type SymmetricOperator = (q: Float64Array, rows: number) => Promise<Float64Array>;

/** Top-k eigenpairs of a symmetric PSD matrix by block subspace iteration, until each ||Av - λv|| <= tolerance·λmax or maxIterations. */
export async function topEigenpairs(
  matrix: Float64Array,
  dim: number,
  k: number,
  options: EigenOptions = {},
): Promise<{ values: Float64Array; vectors: Float64Array; iterations: number }> {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`topEigenpairs: dim must be a positive integer, got ${dim}`);
  if (matrix.length !== dim * dim) throw new Error(`topEigenpairs: a ${dim} x ${dim} matrix needs ${dim * dim} values, got ${matrix.length}`);
  if (!matrix.every(Number.isFinite)) throw new Error('topEigenpairs: the matrix has a NaN or infinite entry');
  const product = await loadMatrixProduct();
  return topEigenpairsOf((q, rows) => product.multiply(q, rows, matrix, dim, dim), dim, k, options);
}

/** topEigenpairs for an operator given only by its products with a block of vectors. */
async function topEigenpairsOf(
  apply: SymmetricOperator,
  dim: number,
  k: number,
  options: EigenOptions,
): Promise<{ values: Float64Array; vectors: Float64Array; iterations: number }> {
  const { tolerance = 1e-10, maxIterations = 1000, oversample = 10 } = options;
  if (!Number.isInteger(k) || k < 1 || k > dim) throw new Error(`topEigenpairs: k=${k} must be an integer from 1 to dim=${dim}`);
  if (!(tolerance > 0)) throw new Error(`topEigenpairs: tolerance must be positive, got ${tolerance}`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1) throw new Error(`topEigenpairs: maxIterations must be a positive integer, got ${maxIterations}`);
  if (!Number.isInteger(oversample) || oversample < 0) throw new Error(`topEigenpairs: oversample must be a non-negative integer, got ${oversample}`);

  const b = Math.min(k + oversample, dim);
  // combineRows takes its source rows (of q and of W = QA) four at a time.
  const qRows = roundUp(b, 4);
  const random = mulberry32(0x5eed);
  // Rows b..qRows-1 of q stay zero, so the padding rows of W are zero too.
  const q = new Float64Array(qRows * dim);
  for (let t = 0; t < b * dim; t++) q[t] = random() - 0.5;
  orthonormalize(q, b, dim, random);

  // Ritz coefficients, b x qRows; the columns past b stay zero to match q's padding rows.
  const coefficients = new Float64Array(b * qRows);
  const ritzQ = new Float64Array(b * dim);
  const ritzW = new Float64Array(b * dim);
  const h: number[][] = Array.from({ length: b }, () => new Array<number>(b).fill(0));
  let theta: number[] = [];
  let iterations = 0;
  while (iterations < maxIterations) {
    iterations++;
    // Row j of W is (A q_j)^T; with A symmetric the whole block is one GEMM, W = Q A.
    const w = await apply(q, qRows);

    // H = Q^T A Q is symmetric, so one triangle is computed and mirrored.
    for (let i = 0; i < b; i++) {
      for (let j = i; j < b; j++) {
        const v = dot(q, i * dim, w, j * dim, dim);
        h[i][j] = v;
        h[j][i] = v;
      }
    }
    const evd = new EigenvalueDecomposition(new Matrix(h), { assumeSymmetric: true });
    const ritzValues = evd.realEigenvalues;
    const order = ritzValues.map((_, i) => i).sort((x, y) => ritzValues[y] - ritzValues[x]);
    theta = order.map((i) => ritzValues[i]);
    const v = evd.eigenvectorMatrix;

    // Ritz vectors Q V and, for free, A Q V = W V.
    for (let c = 0; c < b; c++) for (let p = 0; p < b; p++) coefficients[c * qRows + p] = v.get(p, order[c]);
    combineRows(coefficients, q, qRows, b, dim, ritzQ);
    combineRows(coefficients, w, qRows, b, dim, ritzW);

    const limit = tolerance * Math.max(theta[0], 0);
    let converged = true;
    for (let c = 0; c < k && converged; c++) {
      let sq = 0;
      for (let t = c * dim; t < (c + 1) * dim; t++) {
        const r = ritzW[t] - theta[c] * ritzQ[t];
        sq += r * r;
      }
      converged = Math.sqrt(sq) <= limit;
    }
    if (converged) break;
    q.set(ritzW);
    orthonormalize(q, b, dim, random);
  }

  const values = Float64Array.from(theta.slice(0, k));
  const vectors = ritzQ.slice(0, k * dim);
  for (let c = 0; c < k; c++) {
    const base = c * dim;
    const norm = Math.sqrt(dot(vectors, base, vectors, base, dim));
    let largest = base;
    for (let t = base + 1; t < base + dim; t++) if (Math.abs(vectors[t]) > Math.abs(vectors[largest])) largest = t;
    // Eigenvectors are defined up to sign; making the largest-magnitude component positive makes the output reproducible.
    const scale = vectors[largest] < 0 ? -1 / norm : 1 / norm;
    for (let t = base; t < base + dim; t++) vectors[t] *= scale;
  }
  return { values, vectors, iterations };
}

/** Throws unless k is an integer from 1 to min(dim, rows - 1). */
function checkComponents(k: number, rows: number, dim: number): void {
  // The covariance of n rows has rank at most n - 1, so more components than that would be arbitrary directions.
  const maxK = Math.min(dim, rows - 1);
  if (!Number.isInteger(k) || k < 1 || k > maxK) {
    throw new Error(
      `PCA k=${k} is invalid for ${rows} rows of dimension ${dim}: k must be an integer from 1 to min(dim, rows - 1) = ${maxK}`,
    );
  }
}

/** The model from the top-k eigenpairs of the covariance and its trace. */
function pcaModel(rows: number, mean: Float64Array, values: Float64Array, vectors: Float64Array, totalVariance: number): PcaModel {
  const dim = mean.length;
  const k = values.length;
  // Rounding can leave an exactly-zero eigenvalue slightly negative; a variance cannot be.
  const eigenvalues = Array.from(values, (value) => Math.max(value, 0));
  return {
    k,
    rows,
    mean: Array.from(mean),
    components: Array.from({ length: k }, (_, c) => Array.from(vectors.subarray(c * dim, (c + 1) * dim))),
    explainedVariance: eigenvalues.map((value) => (totalVariance > 0 ? value / totalVariance : 0)),
    eigenvalues,
    totalVariance,
  };
}

// A block larger than k converges in far fewer iterations when the spectrum is flat (measured: k=50, 15 s -> 9 s).
const eigenOptions = (k: number): EigenOptions => ({ oversample: Math.max(10, k) });

/** Fit a k-component PCA from the accumulated covariance; throws when k is outside 1..min(dim, rows - 1). */
export async function fitPcaFromAccumulator(acc: CovarianceAccumulator, k: number): Promise<PcaModel> {
  const dim = acc.dim;
  checkComponents(k, acc.count, dim);
  const covariance = acc.covariance();
  let totalVariance = 0;
  for (let i = 0; i < dim; i++) totalVariance += covariance[i * dim + i];
  const { values, vectors } = await topEigenpairs(covariance, dim, k, eigenOptions(k));
  return pcaModel(acc.count, acc.mean(), values, vectors, totalVariance);
}

/**
 * Fit a k-component PCA on count x dim rows held in memory, without forming the covariance: each iteration multiplies
 * by the centered data twice (4 n b d operations against the covariance's n d^2 once). Same model as
 * fitPcaFromAccumulator; throws when k is outside 1..min(dim, rows - 1).
 */
export async function fitPcaFromRows(rows: Float32Array | Float64Array, count: number, dim: number, k: number): Promise<PcaModel> {
  if (rows.length < count * dim) throw new Error(`fitPcaFromRows: ${count} rows of dim ${dim} need ${count * dim} values, got ${rows.length}`);
  checkComponents(k, count, dim);
  const mean = columnMeans(rows, count, dim);
  const centered = new Float64Array(count * dim);
  let sumOfSquares = 0;
  for (let r = 0; r < count; r++) {
    for (let i = 0, base = r * dim; i < dim; i++) {
      const v = rows[base + i] - mean[i];
      centered[base + i] = v;
      sumOfSquares += v * v;
    }
  }
  if (!Number.isFinite(sumOfSquares)) throw new Error('fitPcaFromRows: the rows hold a NaN or infinite value');
  const product = await loadMatrixProduct();
  const scale = 1 / (count - 1);
  const apply: SymmetricOperator = async (q, qRows) => {
    const w = await product.multiplyByGram(q, qRows, centered, count, dim);
    for (let t = 0; t < w.length; t++) w[t] *= scale;
    return w;
  };
  const { values, vectors } = await topEigenpairsOf(apply, dim, k, eigenOptions(k));
  return pcaModel(count, mean, values, vectors, sumOfSquares * scale);
}

// Up to this many rows a fit keeps them and works on the data itself: at dim 1280 and k 5, 900 rows fit in 42 ms
// instead of 72 ms through the covariance (98-176 ms in a fresh process), and from about 1,500 rows the covariance is
// cheaper (bench/pca.ts, "Small fits").
const DIRECT_FIT_MAX_ROWS = 1024;

/**
 * A PCA fit fed in batches: small inputs are fitted directly on the rows (fitPcaFromRows), larger ones streamed into
 * a covariance. The rows are also kept, for a projection without reading them again, while there are at most
 * `keepRows` of them (never fewer than the direct fit needs).
 */
export class PcaFit {
  readonly dim: number;
  readonly #keepRows: number;
  #held: Float32Array[] | undefined = [];
  #rows = 0;
  #accumulator: CovarianceAccumulator | undefined;

  /** Start an empty fit for rows of `dim` values. */
  constructor(dim: number, options: { keepRows?: number } = {}) {
    this.dim = dim;
    this.#keepRows = Math.max(options.keepRows ?? 0, DIRECT_FIT_MAX_ROWS);
  }

  /** Rows added so far. */
  get count(): number {
    return this.#rows;
  }

  /** Add `count` rows stored row-major (count x dim) in `rows`; await it before the next call. */
  async addRows(rows: Float32Array, count: number): Promise<void> {
    if (rows.length < count * this.dim) throw new Error(`addRows: ${count} rows of dim ${this.dim} need ${count * this.dim} values, got ${rows.length}`);
    const total = this.#rows + count;
    if (!this.#accumulator && total > DIRECT_FIT_MAX_ROWS) {
      this.#accumulator = new CovarianceAccumulator(this.dim);
      // The rows held so far go into the covariance first (held rows exist whenever there is no accumulator).
      for (const held of this.#held!) await this.#accumulator.addRowsFast(held, held.length / this.dim);
    }
    if (this.#accumulator) await this.#accumulator.addRowsFast(rows, count);
    if (this.#held && total <= this.#keepRows) this.#held.push(rows.slice(0, count * this.dim));
    else this.#held = undefined;
    this.#rows = total;
  }

  /** Whether the fit still holds every row added (at most `keepRows`). */
  get holdsRows(): boolean {
    return this.#held !== undefined;
  }

  /** Every row added, row-major, while the fit still holds them; else undefined. */
  heldRows(): Float32Array | undefined {
    if (!this.#held) return undefined;
    if (this.#held.length === 1) return this.#held[0];
    const rows = new Float32Array(this.#rows * this.dim);
    let offset = 0;
    for (const held of this.#held) {
      rows.set(held, offset);
      offset += held.length;
    }
    this.#held = [rows];
    return rows;
  }

  /** The k-component model of every row added. */
  async fit(k: number): Promise<PcaModel> {
    return this.#accumulator ? fitPcaFromAccumulator(this.#accumulator, k) : fitPcaFromRows(this.heldRows()!, this.#rows, this.dim, k);
  }
}

/** Project count x dim rows on the model: (x - mean) · components^T, count x k row-major. */
export function projectRows(model: PcaModel, rows: Float32Array, count: number): Float32Array {
  const dim = model.mean.length;
  const k = model.k;
  if (model.components.length !== k || model.components.some((c) => c.length !== dim)) {
    throw new Error(`projectRows: the model needs ${k} components of length ${dim}`);
  }
  if (!Number.isInteger(count) || count < 0) throw new Error(`projectRows: count must be a non-negative integer, got ${count}`);
  if (rows.length < count * dim) throw new Error(`projectRows: ${count} rows of dim ${dim} need ${count * dim} values, got ${rows.length}`);

  const kRows = roundUp(k, Y_BLOCK);
  const components = new Float64Array(kRows * dim);
  model.components.forEach((component, c) => components.set(component, c * dim));
  const mean = Float64Array.from(model.mean);
  const chunkRows = roundUp(CHUNK_ROWS, X_BLOCK);
  const centered = new Float64Array(chunkRows * dim);
  const dots = new Float64Array(chunkRows * kRows);
  const out = new Float32Array(count * k);
  for (let r0 = 0; r0 < count; r0 += chunkRows) {
    const len = Math.min(chunkRows, count - r0);
    const xRows = roundUp(len, X_BLOCK);
    for (let r = 0; r < len; r++) {
      const base = r * dim;
      const src = (r0 + r) * dim;
      for (let i = 0; i < dim; i++) centered[base + i] = rows[src + i] - mean[i];
    }
    centered.fill(0, len * dim, xRows * dim);
    dots.fill(0);
    accumulateDots(centered, xRows, components, kRows, dim, dots, kRows, false);
    for (let r = 0; r < len; r++) for (let c = 0; c < k; c++) out[(r0 + r) * k + c] = dots[r * kRows + c];
  }
  return out;
}
