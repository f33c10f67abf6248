import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { columnBlocks, gramGraph, loadGramKernel } from '../../../lib/pca/gram.js';
import { encodeOnnxModel } from '../../../lib/pca/onnxGraph.js';
import { CovarianceAccumulator, fitPcaFromAccumulator, mulberry32 } from '../../../lib/pca/pca.js';

function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** sum over rows of (x_i - center_i)(x_j - center_j), full dim x dim, in float64. */
function coMoment(rows: ArrayLike<number>, count: number, dim: number, center: ArrayLike<number>): Float64Array {
  const out = new Float64Array(dim * dim);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < dim; i++) {
      const a = rows[r * dim + i] - center[i];
      for (let j = 0; j < dim; j++) out[i * dim + j] += a * (rows[r * dim + j] - center[j]);
    }
  }
  return out;
}

// Tolerance of the float32 GEMM path, per covariance entry, as a multiple of sqrt(C_ii C_jj) (which bounds
// sum |x_i x_j| / (n - 1) by Cauchy-Schwarz). Rounding the centered inputs to float32 costs 2u (u = 2^-24 = 6e-8) per
// product; MLAS sums 256-long K blocks in registers and adds at most 8192 / 256 = 32 of them into C per run, so a
// run's sum is off by at most (256 + 32)u = 1.7e-5 of sum |x_i x_j|, and float64 sums of runs keep that bound.
// Typical errors are ~100x smaller (u sqrt(K)); a misplaced block or a wrong center is off by O(1).
const FLOAT32_TOLERANCE = 2e-5;

function assertCovarianceClose(actual: Float64Array, expected: Float64Array, dim: number, rel: number, what: string) {
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) {
      const limit = rel * Math.sqrt(expected[i * dim + i] * expected[j * dim + j]);
      const diff = Math.abs(actual[i * dim + j] - expected[i * dim + j]);
      assert.ok(diff <= limit, `${what}[${i},${j}]: ${actual[i * dim + j]} vs ${expected[i * dim + j]} (limit ${limit})`);
    }
  }
}

/** count x dim rows around `offset` (a large common offset) with small, correlated spread. */
function offsetRows(count: number, dim: number, offset: number, seed: number): Float32Array {
  const normal = gaussian(mulberry32(seed));
  const rows = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    const shared = normal();
    for (let i = 0; i < dim; i++) rows[r * dim + i] = offset + i + 0.01 * (1 + i / dim) * normal() + 0.005 * shared;
  }
  return rows;
}

/** ReLU6-like features: a few decaying latent factors plus noise, clipped to [0, 6]; about a third are exactly 0. */
function reluRows(count: number, dim: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  const normal = gaussian(random);
  const rank = 12;
  const factors = Float64Array.from({ length: rank * dim }, normal);
  const base = Float64Array.from({ length: dim }, () => 0.6 * random() - 0.1);
  const rows = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    const coefficients = Array.from({ length: rank }, (_, f) => (0.3 / (f + 1)) * normal());
    for (let i = 0; i < dim; i++) {
      let v = base[i] + 0.05 * normal();
      for (let f = 0; f < rank; f++) v += coefficients[f] * factors[f * dim + i];
      rows[r * dim + i] = Math.min(6, Math.max(0, v));
    }
  }
  return rows;
}

test('encodeOnnxModel: ORT loads the graph with the declared names, types and shapes, symbolic and large', async () => {
  const graph = (dims: (number | string)[], type: 'float32' | 'float64') => ({
    name: 'identity',
    nodes: [{ opType: 'Identity', inputs: ['a'], outputs: ['b'] }],
    inputs: [{ name: 'a', type, shape: dims }],
    outputs: [{ name: 'b', type, shape: dims }],
  });
  const shapes = (metadata: readonly ort.InferenceSession.ValueMetadata[]) => metadata.map((m) => (m.isTensor ? [m.name, m.type, m.shape] : []));

  const session = await ort.InferenceSession.create(encodeOnnxModel(graph(['batch', 1280], 'float32')));
  assert.deepEqual(shapes(session.inputMetadata), [['a', 'float32', ['batch', 1280]]]);
  assert.deepEqual(shapes(session.outputMetadata), [['b', 'float32', ['batch', 1280]]]);
  const x = Float32Array.from({ length: 3 * 1280 }, (_, i) => i);
  const { b } = await session.run({ a: new ort.Tensor('float32', x, [3, 1280]) });
  assert.deepEqual(b.data, x);

  // A dimension above 2^32 needs a 5-byte varint, which 32-bit shifts would corrupt.
  const large = await ort.InferenceSession.create(encodeOnnxModel(graph([2 ** 33 + 5], 'float64')));
  assert.deepEqual(shapes(large.inputMetadata), [['a', 'float64', [2 ** 33 + 5]]]);
});

test('gramGraph: the block Gemms give X^T X for odd row counts, uneven blocks and both precisions', async () => {
  const widths = [3, 2, 4];
  const dim = 9;
  const offsets = [0, 3, 5];
  const normal = gaussian(mulberry32(11));
  for (const precision of ['float32', 'float64'] as const) {
    const session = await ort.InferenceSession.create(encodeOnnxModel(gramGraph(widths, precision)));
    for (const n of [1, 7, 33]) {
      // Small integers make every float32 product and sum exact, so the comparison can be exact too.
      const x = Float64Array.from({ length: n * dim }, () => Math.round(4 * normal()));
      const feeds: Record<string, ort.Tensor> = {};
      widths.forEach((w, b) => {
        const block = precision === 'float32' ? new Float32Array(n * w) : new Float64Array(n * w);
        for (let r = 0; r < n; r++) for (let t = 0; t < w; t++) block[r * w + t] = x[r * dim + offsets[b] + t];
        feeds[`x${b}`] = new ort.Tensor(precision, block, [n, w]);
      });
      const results = await session.run(feeds);
      const expected = coMoment(x, n, dim, new Float64Array(dim));
      assert.equal(Object.keys(results).length, 6);
      for (let i = 0; i < 3; i++) {
        for (let j = i; j < 3; j++) {
          const g = results[`g${i}_${j}`];
          assert.deepEqual(g.dims, [widths[i], widths[j]], `g${i}_${j} dims`);
          for (let a = 0; a < widths[i]; a++) {
            for (let c = 0; c < widths[j]; c++) {
              assert.equal(g.data[a * widths[j] + c], expected[(offsets[i] + a) * dim + offsets[j] + c], `${precision} n=${n} g${i}_${j}[${a},${c}]`);
            }
          }
        }
      }
    }
  }
});

test('columnBlocks splits dim into blocks of about 320 that cover it exactly', () => {
  assert.deepEqual(columnBlocks(1280), [320, 320, 320, 320]);
  assert.deepEqual(columnBlocks(1000), [334, 333, 333]);
  assert.deepEqual(columnBlocks(13), [13]);
  assert.deepEqual(columnBlocks(1), [1]);
});

test('GramKernel: odd row counts and runs longer than one session run match the float64 co-moment', async () => {
  const dim = 13;
  const kernel = await loadGramKernel(dim, { threads: 1, precision: 'float64' });
  assert.equal(await loadGramKernel(dim, { threads: 1, precision: 'float64' }), kernel, 'one kernel per settings');
  const stride = 16;
  for (const count of [1, 33, 20001]) {
    const rows = offsetRows(count, dim, 50, count);
    const center = Float64Array.from({ length: dim }, (_, i) => 50 + i);
    const out = new Float64Array(stride * stride);
    out[stride] = 42; // below the diagonal: must be left alone
    await kernel.accumulate(rows, count, center, out, stride);
    const expected = coMoment(rows, count, dim, center);
    for (let i = 0; i < dim; i++) {
      for (let j = i; j < dim; j++) {
        const e = expected[i * dim + j];
        assert.ok(
          Math.abs(out[i * stride + j] - e) <= 1e-12 * Math.sqrt(expected[i * dim + i] * expected[j * dim + j]),
          `count ${count} [${i},${j}]`,
        );
      }
    }
    assert.equal(out[stride], 42);
    assert.equal(out[dim], 0, 'padding column');
  }
});

test('addRowsFast equals addRows on data with a large common offset (float32 within 2e-5, float64 within 1e-12)', async () => {
  const dim = 700; // two column blocks of 350
  const count = 1500;
  const rows = offsetRows(count, dim, 1000, 12);
  const sizes = [5, 7, 8, 1000, 0, 480]; // below, at and above the JS cut-over of 8 rows
  const reference = new CovarianceAccumulator(dim);
  const fast32 = new CovarianceAccumulator(dim);
  const fast64 = new CovarianceAccumulator(dim);
  let start = 0;
  for (const size of sizes) {
    const batch = rows.subarray(start * dim, (start + size) * dim);
    reference.addRows(batch, size);
    await fast32.addRowsFast(batch, size);
    await fast64.addRowsFast(batch, size, { precision: 'float64' });
    start += size;
  }
  assert.equal(start, count);
  assert.equal(fast32.count, count);
  const expected = reference.covariance();
  assert.deepEqual(fast32.mean(), reference.mean());
  assertCovarianceClose(fast32.covariance(), expected, dim, FLOAT32_TOLERANCE, 'float32');
  assertCovarianceClose(fast64.covariance(), expected, dim, 1e-12, 'float64');
});

test('addRowsFast on ReLU-like features at dim 1280: covariance within 2e-5, PCA within the issue target', async () => {
  const dim = 1280;
  const count = 3000;
  const rows = reluRows(count, dim, 13);
  const zeros = rows.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / rows.length;
  assert.ok(zeros > 0.1 && zeros < 0.6, `fraction of zeros ${zeros}`);
  const reference = new CovarianceAccumulator(dim);
  const fast = new CovarianceAccumulator(dim);
  // Concurrent calls (not awaited one by one) must give the same sums.
  const pending: Promise<void>[] = [];
  for (const [from, to] of [
    [0, 2048],
    [2048, 2900],
    [2900, 3000],
  ]) {
    const batch = rows.subarray(from * dim, to * dim);
    reference.addRows(batch, to - from);
    pending.push(fast.addRowsFast(batch, to - from));
  }
  await Promise.all(pending);
  assert.equal(fast.count, count);
  assertCovarianceClose(fast.covariance(), reference.covariance(), dim, FLOAT32_TOLERANCE, 'covariance');

  const k = 5;
  const exact = await fitPcaFromAccumulator(reference, k);
  const model = await fitPcaFromAccumulator(fast, k);
  for (let c = 0; c < k; c++) {
    let cos = 0;
    for (let i = 0; i < dim; i++) cos += model.components[c][i] * exact.components[c][i];
    assert.ok(Math.abs(cos) > 0.9999, `component ${c}: |cos| = ${Math.abs(cos)}`);
    assert.ok(Math.abs(model.explainedVariance[c] - exact.explainedVariance[c]) <= 1e-6, `explained variance ${c}`);
  }
});
