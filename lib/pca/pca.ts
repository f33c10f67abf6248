// The PCA fit policy: the model, a fit on the rows themselves when few or on a streaming covariance when many, and
// the projection. Below it: covariance.ts, eigen.ts, kernel.ts (JavaScript) and gram.ts (onnxruntime).
import { loadMatrixProduct } from './gram.js';
import { CovarianceAccumulator } from './covariance.js';
import { columnMeans } from './kernel.js';
import { topEigenpairs, topEigenpairsOf, type EigenOptions, type SymmetricOperator } from './eigen.js';

export { CovarianceAccumulator } from './covariance.js';
export { mulberry32, topEigenpairs, type EigenOptions } from './eigen.js';

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

/** Throws unless k is an integer from 1 to min(dim, rows - 1). */
function checkComponents(k: number, rows: number, dim: number): void {
  // The covariance of n rows has rank at most n - 1, so more components than that would be arbitrary directions.
  const maxK = Math.min(dim, rows - 1);
  if (!Number.isInteger(k) || k < 1 || k > maxK) {
    throw new Error(`PCA k=${k} is invalid for ${rows} rows of dimension ${dim}: k must be an integer from 1 to min(dim, rows - 1) = ${maxK}`);
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

// A block larger than k converges in far fewer iterations when the spectrum is flat (bench/README.md, "Figures behind the code").
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

// Up to this many rows a fit keeps them and works on the data itself, which is cheaper than forming the covariance
// below about 1,500 rows at dim 1280 (bench/pca.ts, "Small fits"; bench/README.md, "Figures behind the code").
export const DIRECT_FIT_MAX_ROWS = 1024;

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
    if (rows.length < count * this.dim)
      throw new Error(`addRows: ${count} rows of dim ${this.dim} need ${count * this.dim} values, got ${rows.length}`);
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

// Rows centred per GEMM call of the projection: a 10 MB float64 buffer at dim 1280.
const PROJECT_CHUNK_ROWS = 1024;

/** Project count x dim rows on the model: (x - mean) · components^T, count x k row-major, in float64 on onnxruntime's GEMM. */
export async function projectRows(model: PcaModel, rows: Float32Array, count: number): Promise<Float32Array> {
  const dim = model.mean.length;
  const k = model.k;
  if (model.components.length !== k || model.components.some((c) => c.length !== dim)) {
    throw new Error(`projectRows: the model needs ${k} components of length ${dim}`);
  }
  if (!Number.isInteger(count) || count < 0) throw new Error(`projectRows: count must be a non-negative integer, got ${count}`);
  if (rows.length < count * dim) throw new Error(`projectRows: ${count} rows of dim ${dim} need ${count * dim} values, got ${rows.length}`);

  const product = await loadMatrixProduct();
  const axes = new Float64Array(dim * k);
  model.components.forEach((component, c) => component.forEach((value, i) => (axes[i * k + c] = value)));
  const mean = Float64Array.from(model.mean);
  const centered = new Float64Array(Math.min(count, PROJECT_CHUNK_ROWS) * dim);
  const out = new Float32Array(count * k);
  for (let r0 = 0; r0 < count; r0 += PROJECT_CHUNK_ROWS) {
    const len = Math.min(PROJECT_CHUNK_ROWS, count - r0);
    for (let r = 0; r < len; r++) {
      const base = r * dim;
      const src = (r0 + r) * dim;
      for (let i = 0; i < dim; i++) centered[base + i] = rows[src + i] - mean[i];
    }
    out.set(await product.multiply(centered, len, axes, dim, k), r0 * k);
  }
  return out;
}
