// Checks of a committed pipeline result, shared by the local and S3 end-to-end tests.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { FEATURE_DIM } from '../../lib/config.js';
import type { RunSummary } from '../../lib/contract.js';
import { queryParquet, type VectorRows } from '../../lib/storage/parquet.js';
import type { PcaModel } from '../../lib/pca/pca.js';
import { RESULT_FILE } from '../../lib/storage/records.js';
import { storageFor } from '../../lib/storage/storage.js';
import { leaveOneOutAccuracy, readAllVectors } from './vectors.js';

/** Copy a result (local or s3://) into a local directory, so the checks read plain files. */
export async function fetchResult(output: string, localDir: string): Promise<string> {
  const storage = storageFor(output);
  if (storage.localPath(output)) return output;
  const prefix = output.replace(/\/+$/, '') + '/';
  for await (const object of storage.list(output)) {
    await storage.download(object.uri, path.join(localDir, object.uri.slice(prefix.length)));
  }
  return localDir;
}

/** The files of the result at the top level of a local output, as `_SUCCESS` lists them (relative, sorted). */
async function resultFilesIn(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .filter((file) => RESULT_FILE.test(file))
    .sort();
}

const filesIn = async (dir: string) => (await fs.readdir(dir)).map((f) => path.join(dir, f));

/** The feature rows of a local result, ordered by path. */
export async function readFeatures(dir: string): Promise<VectorRows> {
  return readAllVectors(await filesIn(path.join(dir, 'features')), 'features');
}

/**
 * Check a local copy of a committed result: `_SUCCESS` equals the summary, no staging left, one row per image with its
 * folder label, 1280 finite floats per row that separate the labels (leave-one-out 1-NN accuracy >= 0.9), and a PCA
 * that matches an independent eigendecomposition and whose dataset is the projection of the features.
 */
export async function verifyResult(dir: string, summary: RunSummary, expected: { paths: string[]; k: number }): Promise<VectorRows> {
  assert.equal(summary.featurized, expected.paths.length);
  const { files: listed, ...recorded } = JSON.parse(await fs.readFile(path.join(dir, '_SUCCESS'), 'utf8')) as RunSummary & { files: string[] };
  assert.deepEqual(recorded, summary);
  assert.deepEqual(listed, await resultFilesIn(dir), '_SUCCESS lists exactly the files of the result');
  await assert.rejects(fs.access(path.join(dir, '_staging')), 'no staging files are left behind');
  await assert.rejects(fs.access(path.join(dir, '_COMMITTING')), 'no commit marker is left behind');
  assert.ok((await fs.readFile(path.join(dir, '_ORCHARD'), 'utf8')).includes('"orchard": "output"'), 'the output holds its ownership record');

  const files = await filesIn(path.join(dir, 'features'));
  // Parquet has no fixed-size list: DuckDB reads the column back as FLOAT[], every row exactly 1280 long.
  const [schema] = await queryParquet(
    'SELECT any_value(typeof(features::FLOAT[1280])) AS t, min(len(features)) AS shortest, max(len(features)) AS longest, count(*) AS n, count(DISTINCT path) AS paths FROM read_parquet($1)',
    [files],
  );
  assert.deepEqual(schema, {
    t: `FLOAT[${FEATURE_DIM}]`,
    shortest: FEATURE_DIM,
    longest: FEATURE_DIM,
    n: expected.paths.length,
    paths: expected.paths.length,
  });

  const features = await readAllVectors(files, 'features');
  assert.deepEqual(features.paths, [...expected.paths].sort());
  for (let i = 0; i < features.paths.length; i++) {
    const parts = features.paths[i].split('/');
    assert.equal(features.labels[i], parts[parts.length - 2]);
  }
  assert.ok(features.vectors.every(Number.isFinite), 'every feature is a finite float');
  const accuracy = leaveOneOutAccuracy(features);
  console.log(`leave-one-out 1-NN accuracy on the 1280-d features: ${accuracy.toFixed(4)}`);
  assert.ok(accuracy >= 0.9, `1-NN accuracy ${accuracy} < 0.9`);
  const [errors] = await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [path.join(dir, 'errors.parquet')]);
  assert.equal(errors.n, summary.failed);

  await verifyPca(dir, summary, features, expected.k);
  return features;
}

async function verifyPca(dir: string, summary: RunSummary, features: VectorRows, k: number): Promise<void> {
  const model = JSON.parse(await fs.readFile(path.join(dir, 'pca_model.json'), 'utf8')) as PcaModel;
  const { vectors, paths } = features;
  const n = paths.length;
  assert.equal(model.k, k);
  assert.equal(model.rows, n);
  assert.equal(model.mean.length, FEATURE_DIM);
  assert.equal(model.components.length, k);
  const ratios = model.explainedVariance;
  assert.deepEqual(summary.explainedVariance, ratios);
  for (let i = 1; i < ratios.length; i++) assert.ok(ratios[i] <= ratios[i - 1], 'descending');
  const sum = ratios.reduce((a, b) => a + b, 0);
  assert.ok(sum > 0 && sum <= 1, `sum ${sum}`);

  // Independent: eigenvalues of the centred Gram matrix (n x n), which equal the covariance's non-zero ones.
  const centred = new Matrix(n, FEATURE_DIM);
  const mean = new Float64Array(FEATURE_DIM);
  for (let i = 0; i < n; i++) for (let j = 0; j < FEATURE_DIM; j++) mean[j] += vectors[i * FEATURE_DIM + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < FEATURE_DIM; j++) centred.set(i, j, vectors[i * FEATURE_DIM + j] - mean[j]);
  const gram = centred.mmul(centred.transpose()).div(n - 1);
  const eigenvalues = new EigenvalueDecomposition(gram, { assumeSymmetric: true }).realEigenvalues.sort((a, b) => b - a);
  const total = gram.trace();
  for (let i = 0; i < k; i++) {
    assert.ok(Math.abs(ratios[i] - eigenvalues[i] / total) < 1e-6, `component ${i}: ${ratios[i]} vs ${eigenvalues[i] / total}`);
  }

  const projected = await readAllVectors(await filesIn(path.join(dir, 'pca')), 'pcaFeatures');
  assert.equal(projected.dim, k);
  assert.deepEqual(projected.paths, paths);
  for (const i of [0, 1, Math.floor(n / 2), n - 1]) {
    for (let c = 0; c < k; c++) {
      let expected = 0;
      for (let j = 0; j < FEATURE_DIM; j++) expected += (vectors[i * FEATURE_DIM + j] - model.mean[j]) * model.components[c][j];
      assert.ok(Math.abs(projected.vectors[i * k + c] - expected) < 1e-3 * (1 + Math.abs(expected)), `row ${i} pc ${c}`);
    }
  }
}

/** Every image file below a local sample directory, as absolute paths. */
export async function imagesBelow(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.jpg'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** Every file below `dir` with its content, to compare a result before and after a failed run. */
export async function snapshotFiles(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(dir, full)] = (await fs.readFile(full)).toString('base64');
  }
  return files;
}
