import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import { PCA } from 'ml-pca';
import {
  CovarianceAccumulator,
  fitPcaFromAccumulator,
  fitPcaFromRows,
  mulberry32,
  PcaFit,
  projectRows,
  topEigenpairs,
  type PcaModel,
} from '../../../lib/pca/pca.js';

function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Random dim x dim orthogonal matrix (row-major), from the QR decomposition of a Gaussian matrix. */
function randomRotation(dim: number, normal: () => number): Float64Array {
  const g = Matrix.from1DArray(dim, dim, Array.from({ length: dim * dim }, normal));
  return Float64Array.from(new QrDecomposition(g).orthogonalMatrix.to1DArray());
}

/** Reference mean and covariance: two passes over the rows in float64. */
function twoPassCovariance(rows: ArrayLike<number>, count: number, dim: number) {
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let i = 0; i < dim; i++) mean[i] += rows[r * dim + i];
  for (let i = 0; i < dim; i++) mean[i] /= count;
  const cov = new Float64Array(dim * dim);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < dim; i++) {
      const di = rows[r * dim + i] - mean[i];
      for (let j = 0; j < dim; j++) cov[i * dim + j] += di * (rows[r * dim + j] - mean[j]);
    }
  }
  for (let t = 0; t < cov.length; t++) cov[t] /= count - 1;
  return { mean, cov };
}

function assertRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let t = 0; t < expected.length; t++) scale = Math.max(scale, Math.abs(expected[t]));
  for (let t = 0; t < expected.length; t++) {
    assert.ok(Math.abs(actual[t] - expected[t]) <= rel * scale, `${what}[${t}]: ${actual[t]} vs ${expected[t]}`);
  }
}

/** count x dim Float32 rows around `offset` with small per-dimension spread. */
function offsetRows(count: number, dim: number, offset: number, seed: number): Float32Array {
  const normal = gaussian(mulberry32(seed));
  const rows = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < dim; i++) rows[r * dim + i] = offset + i + 0.01 * (1 + i / dim) * normal();
  }
  return rows;
}

test('CovarianceAccumulator: uneven batches and merges match a two-pass covariance despite a large offset', () => {
  const dim = 13;
  const count = 1000;
  const rows = offsetRows(count, dim, 1000, 1);
  const reference = twoPassCovariance(rows, count, dim);

  const batched = new CovarianceAccumulator(dim);
  let start = 0;
  for (const size of [1, 7, 150, 333, 0, 509]) {
    batched.addRows(rows.subarray(start * dim, (start + size) * dim), size);
    start += size;
  }
  assert.equal(start, count);
  assert.equal(batched.count, count);
  assertRelClose(batched.mean(), reference.mean, 1e-12, 'batched mean');
  assertRelClose(batched.covariance(), reference.cov, 1e-9, 'batched covariance');

  const left = new CovarianceAccumulator(dim);
  const right = new CovarianceAccumulator(dim);
  left.addRows(rows.subarray(0, 400 * dim), 400);
  right.addRows(rows.subarray(400 * dim, 700 * dim), 300);
  right.addRows(rows.subarray(700 * dim), 300);
  const empty = new CovarianceAccumulator(dim);
  empty.merge(left);
  empty.merge(right);
  empty.merge(new CovarianceAccumulator(dim));
  assert.equal(empty.count, count);
  assertRelClose(empty.mean(), reference.mean, 1e-12, 'merged mean');
  assertRelClose(empty.covariance(), reference.cov, 1e-9, 'merged covariance');
});

/** count x dim rows (row-major, float64) with a decaying spectrum in random directions, around an offset. */
function decayingRows(count: number, dim: number, seed: number): Float64Array {
  const normal = gaussian(mulberry32(seed));
  const rotation = randomRotation(dim, normal);
  const rows = new Float64Array(count * dim);
  for (let r = 0; r < count; r++) {
    const latent = Array.from({ length: dim }, (_, i) => Math.sqrt(20 * 0.75 ** i) * normal());
    for (let j = 0; j < dim; j++) {
      let v = 5 + 0.1 * j + 0.05 * normal();
      for (let i = 0; i < dim; i++) v += latent[i] * rotation[i * dim + j];
      rows[r * dim + j] = v;
    }
  }
  return rows;
}

/** Asserts that `model` is ml-pca's fit of the same rows, to rounding (or to `tolerance`, relative). */
function assertMatchesMlPca(model: PcaModel, rows: Float64Array, count: number, dim: number, what: string, tolerance = 1e-9) {
  const reference = new PCA(Array.from({ length: count }, (_, r) => Array.from(rows.subarray(r * dim, (r + 1) * dim))));
  const explained = reference.getExplainedVariance();
  const eigenvalues = reference.getEigenvalues();
  const eigenvectors = reference.getEigenvectors();
  assert.equal(model.rows, count, `${what}: rows`);
  assert.equal(model.components.length, model.k, `${what}: components`);
  for (let c = 0; c < model.k; c++) {
    assert.ok(
      Math.abs(model.explainedVariance[c] - explained[c]) <= tolerance,
      `${what}: explained variance ${c}: ${model.explainedVariance[c]} vs ${explained[c]}`,
    );
    assert.ok(Math.abs(model.eigenvalues[c] - eigenvalues[c]) <= tolerance * eigenvalues[0], `${what}: eigenvalue ${c}`);
    const ours = model.components[c];
    const theirs = eigenvectors.getColumn(c);
    let cos = 0;
    for (let j = 0; j < dim; j++) cos += ours[j] * theirs[j];
    assert.ok(Math.abs(cos) > 1 - Math.max(tolerance, 1e-6), `${what}: component ${c}: |cos| = ${Math.abs(cos)}`);
  }
  const trace = eigenvalues.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(model.totalVariance - trace) <= tolerance * trace, `${what}: total variance`);
}

test('fitPcaFromAccumulator and fitPcaFromRows match ml-pca on data with a decaying spectrum', async () => {
  const count = 600;
  const dim = 96;
  const rows = decayingRows(count, dim, 2);
  const acc = new CovarianceAccumulator(dim);
  acc.addRows(rows.subarray(0, 250 * dim), 250);
  acc.addRows(rows.subarray(250 * dim), count - 250);
  assertMatchesMlPca(await fitPcaFromAccumulator(acc, 5), rows, count, dim, 'covariance');
  assertMatchesMlPca(await fitPcaFromRows(rows, count, dim, 5), rows, count, dim, 'rows');
});

test('PcaFit keeps every row when it moves from the rows to a covariance part way', async () => {
  const dim = 24;
  // 1,000 rows are held for a direct fit; the second batch passes the limit, so the held ones go into a covariance.
  for (const batches of [[1000], [1000, 1000, 7]]) {
    const count = batches.reduce((a, b) => a + b, 0);
    const rows = decayingRows(count, dim, 8);
    const fit = new PcaFit(dim);
    let start = 0;
    for (const size of batches) {
      await fit.addRows(Float32Array.from(rows.subarray(start * dim, (start + size) * dim)), size);
      start += size;
    }
    assert.equal(fit.count, count);
    // The fit sees the rows as float32, so compare with ml-pca on the same rounded values. The covariance's float32
    // GEMM (addRowsFast) is exact to about 1e-7; losing the held rows would change the fit far more.
    assertMatchesMlPca(await fit.fit(4), Float64Array.from(Float32Array.from(rows)), count, dim, `batches ${batches}`, 1e-6);
  }
});

test('PcaFit keeps the rows for a projection up to keepRows, and fits the same either way', async () => {
  const dim = 24;
  const rows = decayingRows(2500, dim, 8);
  const fits = [];
  for (const keepRows of [2000, 3000]) {
    const fit = new PcaFit(dim, { keepRows });
    for (let start = 0; start < 2500; start += 500) await fit.addRows(Float32Array.from(rows.subarray(start * dim, (start + 500) * dim)), 500);
    assert.equal(fit.holdsRows, keepRows >= 2500, `keepRows ${keepRows}`);
    if (fit.holdsRows) assert.deepEqual(fit.heldRows(), Float32Array.from(rows));
    fits.push(await fit.fit(3));
  }
  assert.deepEqual(fits[0], fits[1]);
});

test('topEigenpairs converges through tiny eigengaps and is deterministic', async () => {
  const dim = 60;
  const normal = gaussian(mulberry32(3));
  const rotation = randomRotation(dim, normal);
  // Near-degenerate pairs inside the top 5 and straddling the k = 5 boundary.
  const spectrum = [10, 10 - 1e-7, 4, 3, 3 - 1e-9, 3 - 2e-9];
  while (spectrum.length < dim) spectrum.push(2 * 0.8 ** (spectrum.length - 6));
  const matrix = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) {
      let s = 0;
      for (let e = 0; e < dim; e++) s += rotation[i * dim + e] * spectrum[e] * rotation[j * dim + e];
      matrix[i * dim + j] = s;
    }
  }
  for (let i = 0; i < dim; i++) for (let j = 0; j < i; j++) matrix[i * dim + j] = matrix[j * dim + i];

  const k = 5;
  const result = await topEigenpairs(matrix, dim, k);
  const reference = new EigenvalueDecomposition(Matrix.from1DArray(dim, dim, Array.from(matrix)), { assumeSymmetric: true });
  const expected = [...reference.realEigenvalues].sort((a, b) => b - a).slice(0, k);
  for (let c = 0; c < k; c++) {
    assert.ok(Math.abs(result.values[c] - expected[c]) <= 1e-12 * expected[0], `value ${c}: ${result.values[c]} vs ${expected[c]}`);
    const v = result.vectors.subarray(c * dim, (c + 1) * dim);
    let residual = 0;
    for (let i = 0; i < dim; i++) {
      let av = 0;
      for (let j = 0; j < dim; j++) av += matrix[i * dim + j] * v[j];
      residual += (av - result.values[c] * v[i]) ** 2;
    }
    assert.ok(Math.sqrt(residual) <= 1e-9 * expected[0], `residual ${c}`);
    for (let d = 0; d <= c; d++) {
      let inner = 0;
      for (let i = 0; i < dim; i++) inner += v[i] * result.vectors[d * dim + i];
      assert.ok(Math.abs(inner - (c === d ? 1 : 0)) <= 1e-12, `orthonormality ${c},${d}`);
    }
  }
  assert.ok(result.iterations < 1000, `converged in ${result.iterations} iterations`);
  assert.deepEqual(await topEigenpairs(matrix, dim, k), result);
});

test('the Chebyshev filter finds the eigenpairs of the plain subspace iteration in fewer Rayleigh-Ritz steps', async () => {
  const dim = 80;
  const normal = gaussian(mulberry32(7));
  const rotation = randomRotation(dim, normal);
  // A slowly decaying spectrum, where plain subspace iteration needs many steps.
  const spectrum = Array.from({ length: dim }, (_, i) => 0.93 ** i);
  const matrix = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let e = 0; e < dim; e++) s += rotation[i * dim + e] * spectrum[e] * rotation[j * dim + e];
      matrix[i * dim + j] = s;
      matrix[j * dim + i] = s;
    }
  }
  const k = 5;
  const plain = await topEigenpairs(matrix, dim, k, { degree: 1 });
  const filtered = await topEigenpairs(matrix, dim, k);
  assert.equal(plain.products, plain.iterations);
  assert.ok(filtered.iterations < plain.iterations / 2, `${filtered.iterations} steps against ${plain.iterations}`);
  assert.ok(filtered.products < plain.products, `${filtered.products} products against ${plain.products}`);
  for (let c = 0; c < k; c++) {
    assert.ok(Math.abs(filtered.values[c] - spectrum[c]) <= 1e-13, `value ${c}: ${filtered.values[c]} vs ${spectrum[c]}`);
    let inner = 0;
    for (let i = 0; i < dim; i++) inner += filtered.vectors[c * dim + i] * plain.vectors[c * dim + i];
    assert.ok(Math.abs(inner - 1) <= 1e-12, `vector ${c}: inner product ${inner}`);
  }
});

test('fitPcaFromAccumulator and fitPcaFromRows reject k outside 1..min(dim, rows - 1), and fitPcaFromRows a NaN', async () => {
  const wide = new CovarianceAccumulator(20);
  wide.addRows(offsetRows(10, 20, 0, 4), 10);
  await assert.rejects(fitPcaFromAccumulator(wide, 0), { name: 'Error', message: /k=0\b.*10 rows.*= 9\b/ });
  await assert.rejects(fitPcaFromAccumulator(wide, 10), { name: 'Error', message: /k=10\b.*10 rows.*= 9\b/ });
  assert.equal((await fitPcaFromAccumulator(wide, 9)).k, 9);

  const narrow = new CovarianceAccumulator(8);
  narrow.addRows(offsetRows(50, 8, 0, 5), 50);
  await assert.rejects(fitPcaFromAccumulator(narrow, 9), { name: 'Error', message: /k=9\b.*50 rows.*= 8\b/ });
  assert.equal((await fitPcaFromAccumulator(narrow, 8)).k, 8);

  const rows = offsetRows(10, 20, 0, 4);
  await assert.rejects(fitPcaFromRows(rows, 10, 20, 10), { name: 'Error', message: /k=10\b.*10 rows.*= 9\b/ });
  assert.equal((await fitPcaFromRows(rows, 10, 20, 9)).k, 9);
  rows[17] = Number.NaN;
  await assert.rejects(fitPcaFromRows(rows, 10, 20, 2), { name: 'Error', message: /NaN or infinite/ });
});

test('projectRows equals (x - mean) · components^T, across its chunks of rows', async () => {
  const dim = 37;
  const k = 4;
  const train = offsetRows(300, dim, 3, 6);
  const acc = new CovarianceAccumulator(dim);
  acc.addRows(train, 300);
  const model = await fitPcaFromAccumulator(acc, k);

  const count = 1100;
  const rows = offsetRows(count, dim, 3, 7);
  const projected = await projectRows(model, rows, count);
  assert.equal(projected.length, count * k);
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < k; c++) {
      let expected = 0;
      for (let i = 0; i < dim; i++) expected += (rows[r * dim + i] - model.mean[i]) * model.components[c][i];
      const actual = projected[r * k + c];
      assert.ok(Math.abs(actual - expected) <= 1e-6 * Math.abs(expected) + 1e-12, `row ${r} component ${c}: ${actual} vs ${expected}`);
    }
  }
});
