// The top eigenpairs of a symmetric positive semi-definite operator, by block subspace iteration with a seeded start,
// accelerated by Chebyshev filtering between Rayleigh-Ritz steps.
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { loadMatrixProduct } from './gram.js';
import { roundUp } from './kernel.js';

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
      const c0 = coefficients[base],
        c1 = coefficients[base + 1],
        c2 = coefficients[base + 2],
        c3 = coefficients[base + 3];
      const s0 = p * dim,
        s1 = s0 + dim,
        s2 = s1 + dim,
        s3 = s2 + dim;
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
  /** Rayleigh-Ritz steps at most. */
  maxIterations?: number;
  oversample?: number;
  /**
   * Degree of the Chebyshev filter applied between Rayleigh-Ritz steps: products with the operator per step. 1 is
   * the plain subspace iteration (one product per step).
   */
  degree?: number;
}

/** The eigenpairs found, with the Rayleigh-Ritz steps and the block products with the operator they took. */
export interface Eigenpairs {
  values: Float64Array;
  vectors: Float64Array;
  iterations: number;
  products: number;
}

/** W = Q A for the row-major block Q (rows x dim) of a symmetric PSD operator A; rows x dim, row-major. */
export type SymmetricOperator = (q: Float64Array, rows: number) => Promise<Float64Array>;

/** Top-k eigenpairs of a symmetric PSD matrix by block subspace iteration, until each ||Av - λv|| <= tolerance·λmax or maxIterations. */
export async function topEigenpairs(matrix: Float64Array, dim: number, k: number, options: EigenOptions = {}): Promise<Eigenpairs> {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`topEigenpairs: dim must be a positive integer, got ${dim}`);
  if (matrix.length !== dim * dim) throw new Error(`topEigenpairs: a ${dim} x ${dim} matrix needs ${dim * dim} values, got ${matrix.length}`);
  if (!matrix.every(Number.isFinite)) throw new Error('topEigenpairs: the matrix has a NaN or infinite entry');
  const product = await loadMatrixProduct();
  return topEigenpairsOf((q, rows) => product.multiply(q, rows, matrix, dim, dim), dim, k, options);
}

/** topEigenpairs for an operator given only by its products with a block of vectors. */
export async function topEigenpairsOf(apply: SymmetricOperator, dim: number, k: number, options: EigenOptions): Promise<Eigenpairs> {
  const { tolerance = 1e-10, maxIterations = 1000, oversample = 10, degree = 6 } = options;
  if (!Number.isInteger(k) || k < 1 || k > dim) throw new Error(`topEigenpairs: k=${k} must be an integer from 1 to dim=${dim}`);
  if (!(tolerance > 0)) throw new Error(`topEigenpairs: tolerance must be positive, got ${tolerance}`);
  if (!Number.isInteger(maxIterations) || maxIterations < 1)
    throw new Error(`topEigenpairs: maxIterations must be a positive integer, got ${maxIterations}`);
  if (!Number.isInteger(oversample) || oversample < 0) throw new Error(`topEigenpairs: oversample must be a non-negative integer, got ${oversample}`);
  if (!Number.isInteger(degree) || degree < 1) throw new Error(`topEigenpairs: degree must be a positive integer, got ${degree}`);

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
  let products = 0;
  const multiply = (block: Float64Array) => {
    products++;
    return apply(block, qRows);
  };
  while (iterations < maxIterations) {
    iterations++;
    // Row j of W is (A q_j)^T; with A symmetric the whole block is one GEMM, W = Q A.
    const w = await multiply(q);

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
    q.set(await chebyshevFilter(multiply, ritzQ, ritzW, theta, degree, qRows, dim));
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
  return { values, vectors, iterations, products };
}

/**
 * p(A) X for the Ritz vectors X (rows of `ritz`, with A X in `ritzA`) and the Chebyshev polynomial p of `degree` that
 * stays within ±1 on [0, θmin] (θmin the block's smallest Ritz value: there lie the eigenvalues the block should lose)
 * and grows fastest above it, scaled to 1 at θmax. Degree d damps an eigenvalue below θmin against the k-th by about
 * T_d((2λk - θmin) / θmin), far more than the d-th power of λ/λk that d plain steps give, for one orthonormalization
 * and one Rayleigh-Ritz step instead of d. The recurrence is the scaled one of Zhou and Saad (2007, algorithm 4.1).
 * Returns qRows x dim (rows past the block zero); the plain step A X when the bounds do not allow a filter.
 */
async function chebyshevFilter(
  multiply: (block: Float64Array) => Promise<Float64Array>,
  ritz: Float64Array,
  ritzA: Float64Array,
  theta: number[],
  degree: number,
  qRows: number,
  dim: number,
): Promise<Float64Array> {
  const size = ritz.length;
  const lowest = theta[theta.length - 1];
  const highest = theta[0];
  if (degree === 1 || !(lowest > 0) || !(highest > lowest)) return ritzA;
  // The damped interval [0, lowest] mapped onto [-1, 1]: centre c and half-width e (equal, as it starts at 0).
  const e = lowest / 2;
  const c = lowest / 2;
  const sigma1 = e / (highest - c);
  let sigma = sigma1;
  let previous = Float64Array.from(ritz);
  let current = new Float64Array(qRows * dim);
  for (let t = 0; t < size; t++) current[t] = ((ritzA[t] - c * ritz[t]) * sigma1) / e;
  for (let step = 2; step <= degree; step++) {
    const product = await multiply(current);
    const sigmaNext = 1 / (2 / sigma1 - sigma);
    const scale = (2 * sigmaNext) / e;
    const carry = sigma * sigmaNext;
    // The buffer two steps back is free again: it takes the next one.
    const next = previous.length === qRows * dim ? previous : new Float64Array(qRows * dim);
    for (let t = 0; t < size; t++) next[t] = (product[t] - c * current[t]) * scale - carry * previous[t];
    previous = current;
    current = next;
    sigma = sigmaNext;
  }
  return current;
}
