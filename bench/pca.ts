// PCA benchmark: the onnxruntime Gram path (addRowsFast) against the float64 JS path and an exact eigendecomposition.
//
//   node dist/bench/pca.js [--rows 10000,100000,1000000] [--k 5,50] [--batch 8192] [--threads 2] [--no-kernels]
//
// Each fit runs in a child process, so its peak RSS is its own; the parent regenerates the same rows for the reference.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import * as ort from 'onnxruntime-node';
import { columnBlocks, gramGraph, loadGramKernel, type GramPrecision } from '../lib/pca/gram.js';
import { encodeOnnxModel } from '../lib/pca/onnxGraph.js';
import { CovarianceAccumulator, fitPcaFromAccumulator, fitPcaFromRows, mulberry32, topEigenpairs } from '../lib/pca/pca.js';
import { printTable, saveResults } from './report.js';

const DIM = 1280;
// Latent factors with a power-law spectrum (variance of factor f ~ (f + 1)^-1.2), then noise and the ReLU6 clip.
const RANK = 64;
const FACTOR_SCALE = 5.8;
const FACTOR_DECAY = 0.6;
const NOISE_STD = 0.1;
const NOISE_TABLE = 1 << 20;
const SEED = 0x0bc4a2d;
// Above this the float64 JS reference (~N * 0.26 ms at dim 1280) would take minutes; the float64 ORT Gram stands in.
const JS_REFERENCE_MAX_ROWS = 100_000;
const TARGET_COS = 0.9999;
const TARGET_EXPLAINED = 1e-6;

interface Options {
  rows: number[];
  ks: number[];
  batch: number;
  threads: number;
  kernels: boolean;
}

function parseArgs(argv: string[]): Options & { child?: number } {
  const options: Options & { child?: number } = {
    rows: [10_000, 100_000, 1_000_000],
    ks: [5, 50],
    batch: 8192,
    threads: os.availableParallelism(),
    kernels: true,
  };
  const list = (value: string | undefined, flag: string) => {
    const numbers = (value ?? '').split(',').map(Number);
    if (numbers.length === 0 || !numbers.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`${flag} needs positive integers, got ${value}`);
    return numbers;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--rows') options.rows = list(argv[++i], flag);
    else if (flag === '--k') options.ks = list(argv[++i], flag);
    else if (flag === '--batch') options.batch = list(argv[++i], flag)[0];
    else if (flag === '--threads') options.threads = list(argv[++i], flag)[0];
    else if (flag === '--no-kernels') options.kernels = false;
    else if (flag === '--fit-child') options.child = list(argv[++i], flag)[0];
    else throw new Error(`unknown argument ${flag}; usage: --rows 10000,100000 --k 5,50 --batch 8192 --threads 2 --no-kernels`);
  }
  return options;
}

/** Deterministic ReLU6-like feature rows: clip(base + coefficients · factors + noise, 0, 6), streamed batch by batch. */
class FeatureSource {
  readonly #random = mulberry32(SEED);
  readonly #factors: Float32Array;
  readonly #base: Float64Array;
  readonly #noise: Float32Array;
  readonly #session: ort.InferenceSession;
  #coefficients = new Float32Array(0);

  private constructor(session: ort.InferenceSession) {
    this.#session = session;
    const random = mulberry32(SEED ^ 0x5a5a);
    const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    // Random directions in 1280 dims are nearly orthogonal, so factor f contributes an eigenvalue close to its scale^2.
    this.#factors = new Float32Array(RANK * DIM);
    for (let f = 0; f < RANK; f++) {
      const direction = Array.from({ length: DIM }, normal);
      const norm = Math.hypot(...direction);
      const scale = FACTOR_SCALE * (f + 1) ** -FACTOR_DECAY;
      for (let i = 0; i < DIM; i++) this.#factors[f * DIM + i] = (scale * direction[i]) / norm;
    }
    // Exponentially distributed levels shifted below zero: some dimensions are mostly clipped to 0, like real features.
    this.#base = Float64Array.from({ length: DIM }, () => -0.5 * Math.log(1 - random()) - 0.15);
    // Each row reads its noise from a random window of one table: one random number per row instead of 1280.
    this.#noise = Float32Array.from({ length: NOISE_TABLE }, () => NOISE_STD * normal());
  }

  static async create(): Promise<FeatureSource> {
    // One thread: the rows must be bit-identical in the fit child and in the reference parent.
    const graph = encodeOnnxModel({
      name: 'features',
      nodes: [{ opType: 'MatMul', inputs: ['c', 'f'], outputs: ['y'] }],
      inputs: [
        { name: 'c', type: 'float32', shape: ['n', RANK] },
        { name: 'f', type: 'float32', shape: [RANK, DIM] },
      ],
      outputs: [{ name: 'y', type: 'float32', shape: ['n', DIM] }],
    });
    return new FeatureSource(await ort.InferenceSession.create(graph, { intraOpNumThreads: 1, interOpNumThreads: 1 }));
  }

  /** Fill out with the next `count` rows of the stream. */
  async next(out: Float32Array, count: number): Promise<void> {
    const random = this.#random;
    if (this.#coefficients.length < count * RANK) this.#coefficients = new Float32Array(count * RANK);
    const coefficients = this.#coefficients.subarray(0, count * RANK);
    // Uniform with unit variance: cheaper than Gaussian and just as good for the spectrum.
    for (let t = 0; t < coefficients.length; t++) coefficients[t] = (random() - 0.5) * Math.sqrt(12);
    const { y } = await this.#session.run({
      c: new ort.Tensor('float32', coefficients, [count, RANK]),
      f: new ort.Tensor('float32', this.#factors, [RANK, DIM]),
    });
    const latent = y.data as Float32Array;
    const base = this.#base;
    const noise = this.#noise;
    for (let r = 0; r < count; r++) {
      const offset = Math.floor(random() * (NOISE_TABLE - DIM));
      const row = r * DIM;
      for (let i = 0; i < DIM; i++) out[row + i] = Math.min(6, Math.max(0, base[i] + latent[row + i] + noise[offset + i]));
    }
  }
}

/** Feed `rows` generated rows to `consume` in batches of `batch`; returns the milliseconds spent in consume. */
async function stream(rows: number, batch: number, consume: (rows: Float32Array, count: number) => void | Promise<void>): Promise<number> {
  const source = await FeatureSource.create();
  const buffer = new Float32Array(batch * DIM);
  let ms = 0;
  for (let done = 0; done < rows; done += batch) {
    const count = Math.min(batch, rows - done);
    await source.next(buffer, count);
    const start = performance.now();
    await consume(buffer, count);
    ms += performance.now() - start;
  }
  return ms;
}

interface ChildFit {
  k: number;
  eigenMs: number;
  components: number[][];
  eigenvalues: number[];
  explainedVariance: number[];
}

interface ChildResult {
  rows: number;
  accumulateMs: number;
  peakRssMiB: number;
  fits: ChildFit[];
}

/** The measured fit: stream the rows through addRowsFast, fit every k, report times and this process's peak RSS. */
async function fitChild(rows: number, options: Options): Promise<ChildResult> {
  const accumulator = new CovarianceAccumulator(DIM);
  const accumulateMs = await stream(rows, options.batch, (batch, count) => accumulator.addRowsFast(batch, count, { threads: options.threads }));
  const fits = [];
  for (const k of options.ks) {
    const start = performance.now();
    const model = await fitPcaFromAccumulator(accumulator, k);
    const eigenMs = performance.now() - start;
    fits.push({ k, eigenMs, components: model.components, eigenvalues: model.eigenvalues, explainedVariance: model.explainedVariance });
  }
  // ru_maxrss (KiB): the high-water mark of the whole process, generator and onnxruntime included.
  return { rows, accumulateMs, peakRssMiB: process.resourceUsage().maxRSS / 1024, fits };
}

interface Reference {
  kind: string;
  covariance: Float64Array;
  values: number[];
  vectors: Float64Array[];
  trace: number;
  jsAccumulateMs?: number;
  float64GramMs: number;
  /** max |C_js - C_ortFloat64| / max |C_js|, when both were computed. */
  float64GramVsJs?: number;
  evdMs: number;
}

/** Exact float64 covariance of the same rows and its full eigendecomposition (ml-matrix). */
async function reference(rows: number, options: Options): Promise<Reference> {
  const gram64 = new CovarianceAccumulator(DIM);
  const js = rows <= JS_REFERENCE_MAX_ROWS ? new CovarianceAccumulator(DIM) : undefined;
  let jsAccumulateMs = 0;
  let float64GramMs = 0;
  await stream(rows, options.batch, async (batch, count) => {
    let start = performance.now();
    await gram64.addRowsFast(batch, count, { threads: options.threads, precision: 'float64' });
    float64GramMs += performance.now() - start;
    if (js) {
      start = performance.now();
      js.addRows(batch, count);
      jsAccumulateMs += performance.now() - start;
    }
  });
  const covariance = (js ?? gram64).covariance();
  let float64GramVsJs: number | undefined;
  if (js) {
    const other = gram64.covariance();
    let diff = 0;
    let scale = 0;
    for (let t = 0; t < covariance.length; t++) {
      diff = Math.max(diff, Math.abs(covariance[t] - other[t]));
      scale = Math.max(scale, Math.abs(covariance[t]));
    }
    float64GramVsJs = diff / scale;
  }
  const start = performance.now();
  const evd = new EigenvalueDecomposition(Matrix.from1DArray(DIM, DIM, Array.from(covariance)), { assumeSymmetric: true });
  const evdMs = performance.now() - start;
  const eigenvalues = evd.realEigenvalues;
  const order = eigenvalues.map((_, i) => i).sort((a, b) => eigenvalues[b] - eigenvalues[a]);
  const maxK = Math.max(...options.ks);
  let trace = 0;
  for (let i = 0; i < DIM; i++) trace += covariance[i * DIM + i];
  return {
    kind: js ? 'float64 JS path (addRows) + ml-matrix EVD' : 'float64 ORT Gram (addRowsFast float64) + ml-matrix EVD',
    covariance,
    values: order.slice(0, maxK + 1).map((i) => eigenvalues[i]),
    vectors: order.slice(0, maxK).map((i) => Float64Array.from(evd.eigenvectorMatrix.getColumn(i))),
    trace,
    jsAccumulateMs: js ? jsAccumulateMs : undefined,
    float64GramMs,
    float64GramVsJs,
    evdMs,
  };
}

/** How far a fit is from the reference: worst |cos| of a component, worst explained-variance and eigenvalue errors. */
function compare(
  fit: { components: ArrayLike<number>[]; eigenvalues: ArrayLike<number>; explainedVariance: ArrayLike<number> },
  ref: Reference,
  k: number,
) {
  let minCos = 1;
  let maxExplained = 0;
  let maxEigen = 0;
  for (let c = 0; c < k; c++) {
    let dot = 0;
    let norm = 0;
    for (let i = 0; i < DIM; i++) {
      dot += fit.components[c][i] * ref.vectors[c][i];
      norm += ref.vectors[c][i] ** 2;
    }
    minCos = Math.min(minCos, Math.abs(dot) / Math.sqrt(norm));
    maxExplained = Math.max(maxExplained, Math.abs(fit.explainedVariance[c] - ref.values[c] / ref.trace));
    maxEigen = Math.max(maxEigen, Math.abs(fit.eigenvalues[c] - ref.values[c]) / ref.values[0]);
  }
  return { minCos, maxExplained, maxEigen };
}

/** Passes over the data a streaming block subspace iteration (same block as topEigenpairs) needs to reach the target. */
async function subspacePasses(ref: Reference, k: number): Promise<number | undefined> {
  for (const passes of [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]) {
    const { values, vectors } = await topEigenpairs(ref.covariance, DIM, k, { oversample: Math.max(10, k), maxIterations: passes, degree: 1 });
    const components = Array.from({ length: k }, (_, c) => vectors.subarray(c * DIM, (c + 1) * DIM));
    const { minCos, maxExplained } = compare(
      { components, eigenvalues: values, explainedVariance: Array.from(values, (v) => v / ref.trace) },
      ref,
      k,
    );
    if (minCos > TARGET_COS && maxExplained <= TARGET_EXPLAINED) return passes;
  }
  return undefined;
}

// printTable shows 4 decimals; the error figures need their exponent.
function scientific(row: Record<string, unknown>): Record<string, unknown> {
  const errors = ['oneMinusMinAbsCos', 'maxExplainedVarianceError', 'maxEigenvalueErrorRelLambda1', 'float64GramVsJs'];
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [key, errors.includes(key) && typeof value === 'number' ? value.toExponential(1) : value]),
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timeRuns(run: () => unknown, reps: number): Promise<number> {
  await run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Raw kernel speeds: the JS co-moment kernel, the ORT Gemm (full vs upper block triangle) and addRowsFast end to end. */
async function kernels(options: Options) {
  const rows = 8192;
  const random = mulberry32(7);
  const x = Float32Array.from({ length: rows * DIM }, () => random());
  const coMoment = (rows * DIM * DIM) / 2;
  const results: Record<string, unknown>[] = [];

  const jsRows = 1024;
  const jsMs = await timeRuns(() => new CovarianceAccumulator(DIM).addRows(x, jsRows), 3);
  results.push({
    kernel: 'JS float64 addRows',
    threads: 1,
    msPer8192Rows: (jsMs * rows) / jsRows,
    executedGflops: (2 * jsRows * DIM * DIM) / 2 / jsMs / 1e6,
    coMomentGmaddPerS: (jsRows * DIM * DIM) / 2 / jsMs / 1e6,
  });

  for (const precision of ['float32', 'float64'] as GramPrecision[]) {
    for (const threads of [...new Set([1, options.threads])]) {
      for (const widths of [[DIM], columnBlocks(DIM)]) {
        const session = await ort.InferenceSession.create(encodeOnnxModel(gramGraph(widths, precision)), {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
        });
        const feeds: Record<string, ort.Tensor> = {};
        let offset = 0;
        widths.forEach((w, b) => {
          const block = precision === 'float32' ? new Float32Array(rows * w) : new Float64Array(rows * w);
          for (let r = 0; r < rows; r++) for (let t = 0; t < w; t++) block[r * w + t] = x[r * DIM + offset + t];
          feeds[`x${b}`] = new ort.Tensor(precision, block, [rows, w]);
          offset += w;
        });
        const ms = await timeRuns(() => session.run(feeds), 5);
        let executed = 0;
        for (let i = 0; i < widths.length; i++) for (let j = i; j < widths.length; j++) executed += rows * widths[i] * widths[j];
        results.push({
          kernel: `ORT Gemm ${precision}, ${widths.length === 1 ? 'full X^T X' : `${widths.length} column blocks, upper triangle`}`,
          threads,
          msPer8192Rows: ms,
          executedGflops: (2 * executed) / ms / 1e6,
          coMomentGmaddPerS: coMoment / ms / 1e6,
        });
        await session.release();
      }
    }
    const accumulator = new CovarianceAccumulator(DIM);
    const ms = await timeRuns(() => accumulator.addRowsFast(x, rows, { precision, threads: options.threads }), 5);
    results.push({
      kernel: `addRowsFast ${precision} (mean, pack, Gemm, merge)`,
      threads: options.threads,
      msPer8192Rows: ms,
      executedGflops: '-',
      coMomentGmaddPerS: coMoment / ms / 1e6,
    });
  }

  // Below addRowsFast's cut-over it runs the JS kernel, so the Gram kernel is also timed on its own (plus the O(dim^2)
  // merge that addRowsFast adds, which the JS path pays too).
  const kernel = await loadGramKernel(DIM, { threads: options.threads });
  const out = new Float64Array(DIM * DIM);
  const center = new Float64Array(DIM);
  const crossover: Record<string, unknown>[] = [];
  for (const count of [4, 8, 16, 32, 64, 256]) {
    const accumulator = new CovarianceAccumulator(DIM);
    crossover.push({
      rows: count,
      addRowsMs: await timeRuns(() => accumulator.addRows(x, count), 5),
      gramKernelMs: await timeRuns(() => kernel.accumulate(x, count, center, out, DIM), 5),
      addRowsFastMs: await timeRuns(() => accumulator.addRowsFast(x, count, { threads: options.threads }), 5),
    });
  }
  return { results, crossover };
}

/** Small fits (k = 5): the vectors used directly (fitPcaFromRows) against forming the covariance first, as PcaFit chooses. */
async function smallFits(options: Options) {
  const source = await FeatureSource.create();
  const results: Record<string, unknown>[] = [];
  for (const rows of [500, 900, 1536, 2000, 3000]) {
    const x = new Float32Array(rows * DIM);
    await source.next(x, rows);
    results.push({
      rows,
      directMs: await timeRuns(() => fitPcaFromRows(x, rows, DIM, 5), 5),
      covarianceMs: await timeRuns(async () => {
        const accumulator = new CovarianceAccumulator(DIM);
        await accumulator.addRowsFast(x, rows, { threads: options.threads });
        return fitPcaFromAccumulator(accumulator, 5);
      }, 5),
    });
  }
  return results;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.child !== undefined) {
    process.stdout.write(JSON.stringify(await fitChild(options.child, options)));
    return;
  }
  const benchStart = performance.now();
  const figures: Record<string, unknown> = {
    settings: {
      dim: DIM,
      batch: options.batch,
      threads: options.threads,
      rank: RANK,
      factorScale: FACTOR_SCALE,
      factorDecay: FACTOR_DECAY,
      noiseStd: NOISE_STD,
      clip: [0, 6],
    },
  };
  if (options.kernels) {
    const { results, crossover } = await kernels(options);
    printTable('Co-moment kernels, 8192 x 1280 rows (median of 5; executedGflops counts the multiply-adds actually done)', results);
    printTable('Small batches: ms per call (median of 5)', crossover);
    figures.kernels = results;
    figures.smallBatches = crossover;
    const small = await smallFits(options);
    printTable('Small fits, k = 5: ms per fit (median of 5)', small);
    figures.smallFits = small;
  }

  const fits: Record<string, unknown>[] = [];
  const references: Record<string, unknown>[] = [];
  const passes: Record<string, unknown>[] = [];
  const script = fileURLToPath(import.meta.url);
  for (const rows of options.rows) {
    const childArgs = [
      script,
      '--fit-child',
      String(rows),
      '--k',
      options.ks.join(','),
      '--batch',
      String(options.batch),
      '--threads',
      String(options.threads),
    ];
    const { stdout } = await promisify(execFile)(process.execPath, childArgs, { maxBuffer: 256 * 2 ** 20 });
    const child = JSON.parse(stdout) as ChildResult;
    const ref = await reference(rows, options);
    references.push({
      rows,
      reference: ref.kind,
      jsAccumulateS: ref.jsAccumulateMs === undefined ? NaN : ref.jsAccumulateMs / 1000,
      float64GramS: ref.float64GramMs / 1000,
      float64GramVsJs: ref.float64GramVsJs ?? NaN,
      evdS: ref.evdMs / 1000,
      lambda1: ref.values[0],
      [`lambda${Math.max(...options.ks) + 1}`]: ref.values[Math.max(...options.ks)],
      trace: ref.trace,
    });
    for (const fit of child.fits) {
      const { minCos, maxExplained, maxEigen } = compare(fit, ref, fit.k);
      fits.push({
        rows,
        k: fit.k,
        accumulateS: child.accumulateMs / 1000,
        eigenS: fit.eigenMs / 1000,
        fitS: (child.accumulateMs + fit.eigenMs) / 1000,
        peakRssMiB: Math.round(child.peakRssMiB),
        oneMinusMinAbsCos: 1 - minCos,
        maxExplainedVarianceError: maxExplained,
        maxEigenvalueErrorRelLambda1: maxEigen,
        meetsTarget: minCos > TARGET_COS && maxExplained <= TARGET_EXPLAINED,
      });
    }
    if (rows === Math.max(...options.rows.filter((n) => n <= JS_REFERENCE_MAX_ROWS))) {
      for (const k of options.ks) passes.push({ rows, k, blockSize: k + Math.max(10, k), passesToTarget: (await subspacePasses(ref, k)) ?? '> 64' });
    }
  }
  printTable('Fits: addRowsFast (float32 Gram) + topEigenpairs, against the exact reference (peak RSS of the fit process)', fits.map(scientific));
  printTable('References', references.map(scientific));
  printTable(
    `Passes over the data a streaming subspace iteration needs for |cos| > ${TARGET_COS} and explained variance within ${TARGET_EXPLAINED}`,
    passes,
  );
  figures.fits = fits;
  figures.references = references;
  figures.subspacePasses = passes;
  figures.totalS = (performance.now() - benchStart) / 1000;
  console.log(`\ntotal ${(figures.totalS as number).toFixed(0)} s`);
  await saveResults('pca', figures);
}

await main();
