import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { createdOnce } from '../concurrency.js';
import { encodeOnnxModel, type OnnxGraph } from './onnxGraph.js';

/** Element type of the GEMM: float32 is about twice as fast, float64 agrees with the JS kernel to rounding. */
export type GramPrecision = 'float32' | 'float64';

export interface GramOptions {
  /** onnxruntime intra-op threads of the session; default os.availableParallelism(). */
  threads?: number;
  /** Default float32. */
  precision?: GramPrecision;
}

// X^T X is symmetric, so X is fed as column blocks and only the block pairs i <= j are multiplied; four blocks of 320
// were fastest, narrower GEMMs lose efficiency (bench/README.md, "Figures behind the code").
const BLOCK_WIDTH = 320;
// Rows per session run. The packed copy stays at 42 MB (float32, dim 1280), and each float32 partial sum spans at
// most this many products before it is added to the float64 total.
const RUN_ROWS = 8192;

/** Widths of the column blocks a dim-wide matrix is split into (about BLOCK_WIDTH each, the first ones wider by 1). */
export function columnBlocks(dim: number): number[] {
  const count = Math.max(1, Math.round(dim / BLOCK_WIDTH));
  return Array.from({ length: count }, (_, b) => Math.floor(dim / count) + (b < dim % count ? 1 : 0));
}

/** The graph computing the upper block triangle of X^T X from X's column blocks x0..x{B-1} ([n, width] each, n symbolic). */
export function gramGraph(widths: number[], precision: GramPrecision): OnnxGraph {
  const graph: OnnxGraph = {
    name: 'gram',
    nodes: [],
    inputs: widths.map((width, b) => ({ name: `x${b}`, type: precision, shape: ['n', width] })),
    outputs: [],
  };
  for (let i = 0; i < widths.length; i++) {
    for (let j = i; j < widths.length; j++) {
      // Gemm reads A transposed in place (transA), so no transposed copy of the block is ever made.
      graph.nodes.push({ opType: 'Gemm', inputs: [`x${i}`, `x${j}`], outputs: [`g${i}_${j}`], attributes: { transA: 1 } });
      graph.outputs.push({ name: `g${i}_${j}`, type: precision, shape: [widths[i], widths[j]] });
    }
  }
  return graph;
}

/** Co-moments (x - center)^T (x - center) of row batches on onnxruntime's (MLAS) GEMM; one per process per settings. */
export class GramKernel {
  readonly dim: number;
  readonly precision: GramPrecision;
  readonly #session: ort.InferenceSession;
  readonly #widths: number[];
  readonly #offsets: number[];
  #packed: (Float32Array | Float64Array)[] = [];
  // Runs are serialized: the packed buffers are shared, and ORT runs synchronously on this thread anyway.
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dim: number, precision: GramPrecision, session: ort.InferenceSession) {
    this.dim = dim;
    this.precision = precision;
    this.#session = session;
    this.#widths = columnBlocks(dim);
    this.#offsets = this.#widths.map((_, b) => this.#widths.slice(0, b).reduce((s, w) => s + w, 0));
  }

  /** Build the Gram graph for `dim` and open an onnxruntime session on it. */
  static async create(dim: number, options: GramOptions = {}): Promise<GramKernel> {
    const { threads = os.availableParallelism(), precision = 'float32' } = options;
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`GramKernel: dim must be a positive integer, got ${dim}`);
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`GramKernel: threads must be a positive integer, got ${threads}`);
    const model = encodeOnnxModel(gramGraph(columnBlocks(dim), precision));
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new GramKernel(dim, precision, session);
  }

  /**
   * out[i * outStride + j] += sum over rows of (x_i - center_i)(x_j - center_j) for i <= j < dim; entries below the
   * diagonal are left alone. Rows are centered in float64 before the conversion to the GEMM's element type.
   */
  accumulate(rows: Float32Array | Float64Array, count: number, center: Float64Array, out: Float64Array, outStride: number): Promise<void> {
    const d = this.dim;
    if (rows.length < count * d) throw new Error(`GramKernel: ${count} rows of dim ${d} need ${count * d} values, got ${rows.length}`);
    if (center.length < d || outStride < d || out.length < (d - 1) * outStride + d) throw new Error('GramKernel: center or out is too small for dim');
    const job = this.#queue.then(async () => {
      for (let r0 = 0; r0 < count; r0 += RUN_ROWS) await this.#run(rows, r0, Math.min(RUN_ROWS, count - r0), center, out, outStride);
    });
    this.#queue = job.catch(() => undefined);
    return job;
  }

  async #run(rows: Float32Array | Float64Array, r0: number, n: number, center: Float64Array, out: Float64Array, outStride: number): Promise<void> {
    const d = this.dim;
    const widths = this.#widths;
    const offsets = this.#offsets;
    const blocks = widths.map((w, b) => {
      if ((this.#packed[b]?.length ?? 0) < RUN_ROWS * w)
        this.#packed[b] = this.precision === 'float32' ? new Float32Array(RUN_ROWS * w) : new Float64Array(RUN_ROWS * w);
      return this.#packed[b].subarray(0, n * w);
    });
    // Row-major over the source (every block per row) reads each row once, which beat block by block.
    for (let r = 0; r < n; r++) {
      const row = (r0 + r) * d;
      for (let b = 0; b < widths.length; b++) {
        const block = blocks[b];
        const w = widths[b];
        const o = offsets[b];
        const src = row + o;
        const dst = r * w;
        for (let t = 0; t < w; t++) block[dst + t] = rows[src + t] - center[o + t];
      }
    }
    const feeds: Record<string, ort.Tensor> = {};
    blocks.forEach((block, b) => (feeds[`x${b}`] = new ort.Tensor(this.precision, block, [n, widths[b]])));
    const results = await this.#session.run(feeds);
    for (let i = 0; i < widths.length; i++) {
      for (let j = i; j < widths.length; j++) {
        const g = results[`g${i}_${j}`].data as Float32Array | Float64Array;
        const wj = widths[j];
        for (let a = 0; a < widths[i]; a++) {
          const row = (offsets[i] + a) * outStride + offsets[j];
          const src = a * wj;
          for (let c = i === j ? a : 0; c < wj; c++) out[row + c] += g[src + c];
        }
      }
    }
  }
}

const kernels = createdOnce<GramKernel>();

/** The process-wide Gram kernel for these settings, created on first use. */
export function loadGramKernel(dim: number, options: GramOptions = {}): Promise<GramKernel> {
  const { threads = os.availableParallelism(), precision = 'float32' } = options;
  return kernels(`${dim}:${threads}:${precision}`, () => GramKernel.create(dim, { threads, precision }));
}

/** The graph computing Y = Q A for Q [b, d] and A [d, m] in float64 (b, d and m symbolic). */
function productGraph(): OnnxGraph {
  return {
    name: 'product',
    nodes: [{ opType: 'MatMul', inputs: ['q', 'a'], outputs: ['y'] }],
    inputs: [
      { name: 'q', type: 'float64', shape: ['b', 'd'] },
      { name: 'a', type: 'float64', shape: ['d', 'm'] },
    ],
    outputs: [{ name: 'y', type: 'float64', shape: ['b', 'm'] }],
  };
}

/** The graph computing Y = (Q X^T) X for Q [b, d] and X [n, d] in float64: Q times X^T X without forming X^T X. */
function gramProductGraph(): OnnxGraph {
  return {
    name: 'gramProduct',
    nodes: [
      // Gemm reads X transposed in place (transB), so no transposed copy of the data is made.
      { opType: 'Gemm', inputs: ['q', 'x'], outputs: ['t'], attributes: { transB: 1 } },
      { opType: 'MatMul', inputs: ['t', 'x'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'q', type: 'float64', shape: ['b', 'd'] },
      { name: 'x', type: 'float64', shape: ['n', 'd'] },
    ],
    outputs: [{ name: 'y', type: 'float64', shape: ['b', 'd'] }],
  };
}

// One thread: the matrices are small, and a second thread costs more in hand-offs than it saves.
function openProductSession(graph: OnnxGraph): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeOnnxModel(graph), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
}

/**
 * Float64 matrix products on onnxruntime's GEMM (an order of magnitude faster than JavaScript (bench/README.md, "Figures behind the code")): Q A, and
 * Q X^T X for a data matrix X small enough to hold (2nbd operations instead of forming X^T X, nd^2 / 2).
 */
export class MatrixProduct {
  readonly #product: ort.InferenceSession;
  readonly #gram: ort.InferenceSession;

  private constructor(product: ort.InferenceSession, gram: ort.InferenceSession) {
    this.#product = product;
    this.#gram = gram;
  }

  /** Open an onnxruntime session on each product graph. */
  static async create(): Promise<MatrixProduct> {
    const [product, gram] = await Promise.all([openProductSession(productGraph()), openProductSession(gramProductGraph())]);
    return new MatrixProduct(product, gram);
  }

  /** Q A for row-major Q (rows x inner) and A (inner x columns); rows x columns, row-major. */
  async multiply(q: Float64Array, rows: number, a: Float64Array, inner: number, columns: number): Promise<Float64Array> {
    if (q.length < rows * inner || a.length < inner * columns)
      throw new Error(`MatrixProduct: operands too small for ${rows} x ${inner} times ${inner} x ${columns}`);
    const results = await this.#product.run({ q: float64Matrix(q, rows, inner), a: float64Matrix(a, inner, columns) });
    return results.y.data as Float64Array;
  }

  /** (Q X^T) X for row-major Q (rows x dim) and X (n x dim); rows x dim, row-major. */
  async multiplyByGram(q: Float64Array, rows: number, x: Float64Array, n: number, dim: number): Promise<Float64Array> {
    if (q.length < rows * dim || x.length < n * dim) throw new Error(`MatrixProduct: operands too small for ${rows} x ${dim} and ${n} x ${dim}`);
    const results = await this.#gram.run({ q: float64Matrix(q, rows, dim), x: float64Matrix(x, n, dim) });
    return results.y.data as Float64Array;
  }
}

/** The leading rows x columns values of `data` as a row-major float64 matrix tensor (no copy). */
function float64Matrix(data: Float64Array, rows: number, columns: number): ort.Tensor {
  return new ort.Tensor('float64', data.subarray(0, rows * columns), [rows, columns]);
}

const products = createdOnce<MatrixProduct>();

/** The process-wide float64 matrix products, created on first use. */
export function loadMatrixProduct(): Promise<MatrixProduct> {
  return products('float64', () => MatrixProduct.create());
}
