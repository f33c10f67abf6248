// The whole pipeline on the 900-image Fruits-360 sample: real Temporal server, real model, real Parquet files.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { defaultSampleDir, FEATURE_DIM, temporalCliPath } from '../../lib/config.js';
import type { RunSummary } from '../../lib/contract.js';
import { queryParquet, type VectorRows } from '../../lib/parquet.js';
import type { PcaModel } from '../../lib/pca.js';
import { startTestServer, startTestWorker, tempDir, testWorkerConfig } from '../support/environment.js';
import { leaveOneOutAccuracy, readAllVectors } from '../support/vectors.js';

const sample = process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir;
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let work: string;
let output: string;
let first: { summary: RunSummary; features: VectorRows };

before(async () => {
  work = await tempDir('e2e');
  output = path.join(work, 'out');
  env = await startTestServer();
  worker = await startTestWorker(env, testWorkerConfig(env, { scratchDir: path.join(work, 'scratch') }));
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await fs.rm(work, { recursive: true, force: true });
});

const featureFiles = async (out: string) => (await fs.readdir(path.join(out, 'features'))).map((f) => path.join(out, 'features', f));

test('featurizes all 900 sample images with their folder labels and semantically real vectors', async () => {
  const summary = await env.client.workflow.execute('imagePipeline', {
    taskQueue: 'orchard',
    workflowId: 'e2e-first',
    args: [{ source: sample, output, k: 5 }],
  });
  assert.equal(summary.images, 900);
  assert.equal(summary.featurized, 900);
  assert.equal(summary.failed, 0);
  assert.equal(summary.labels, 15);
  const success = JSON.parse(await fs.readFile(path.join(output, '_SUCCESS'), 'utf8')) as RunSummary;
  assert.deepEqual(success, summary);
  await assert.rejects(fs.access(path.join(output, '_staging')), 'no staging files are left behind');

  const files = await featureFiles(output);
  // Parquet has no fixed-size list: DuckDB reads the column back as FLOAT[], every row exactly 1280 long.
  const [schema] = await queryParquet(
    'SELECT any_value(typeof(features::FLOAT[1280])) AS t, min(len(features)) AS shortest, max(len(features)) AS longest, count(*) AS n, count(DISTINCT path) AS paths FROM read_parquet($1)',
    [files],
  );
  assert.equal(schema.t, `FLOAT[${FEATURE_DIM}]`);
  assert.equal(schema.shortest, FEATURE_DIM);
  assert.equal(schema.longest, FEATURE_DIM);
  assert.equal(Number(schema.n), 900);
  assert.equal(Number(schema.paths), 900);
  const folders = (await fs.readdir(sample, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const labels = (await queryParquet('SELECT label, count(*) AS n FROM read_parquet($1) GROUP BY 1 ORDER BY 1', [files])).map((r) => [r.label, Number(r.n)]);
  assert.deepEqual(labels, folders.map((f) => [f, 60]));

  const features = await readAllVectors(files, 'features');
  for (let i = 0; i < features.paths.length; i++) {
    assert.ok(path.isAbsolute(features.paths[i]) && features.paths[i].startsWith(sample), features.paths[i]);
    assert.equal(features.labels[i], path.basename(path.dirname(features.paths[i])));
  }
  assert.ok(features.vectors.every(Number.isFinite), 'every feature is a finite float');
  const accuracy = leaveOneOutAccuracy(features);
  console.log(`leave-one-out 1-NN accuracy on the 1280-d features: ${accuracy.toFixed(4)}`);
  assert.ok(accuracy >= 0.9, `1-NN accuracy ${accuracy} < 0.9`);
  const errors = await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [path.join(output, 'errors.parquet')]);
  assert.equal(Number(errors[0].n), 0);
  first = { summary, features };
});

test('the PCA matches an independent eigendecomposition and the PCA dataset is its projection', async () => {
  assert.ok(first, 'needs the first run');
  const model = JSON.parse(await fs.readFile(path.join(output, 'pca_model.json'), 'utf8')) as PcaModel;
  assert.equal(model.k, 5);
  assert.equal(model.rows, 900);
  assert.equal(model.mean.length, FEATURE_DIM);
  assert.equal(model.components.length, 5);
  const ratios = model.explainedVariance;
  assert.deepEqual(first.summary.explainedVariance, ratios);
  for (let i = 1; i < ratios.length; i++) assert.ok(ratios[i] <= ratios[i - 1], 'descending');
  const sum = ratios.reduce((a, b) => a + b, 0);
  assert.ok(sum > 0 && sum <= 1, `sum ${sum}`);

  // Independent: eigenvalues of the centred Gram matrix (n x n), which equal the covariance's non-zero ones.
  const { vectors, paths } = first.features;
  const n = paths.length;
  const centred = new Matrix(n, FEATURE_DIM);
  const mean = new Float64Array(FEATURE_DIM);
  for (let i = 0; i < n; i++) for (let j = 0; j < FEATURE_DIM; j++) mean[j] += vectors[i * FEATURE_DIM + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < FEATURE_DIM; j++) centred.set(i, j, vectors[i * FEATURE_DIM + j] - mean[j]);
  const gram = centred.mmul(centred.transpose()).div(n - 1);
  const eigenvalues = new EigenvalueDecomposition(gram, { assumeSymmetric: true }).realEigenvalues.sort((a, b) => b - a);
  const total = gram.trace();
  for (let i = 0; i < 5; i++) {
    assert.ok(Math.abs(ratios[i] - eigenvalues[i] / total) < 1e-6, `component ${i}: ${ratios[i]} vs ${eigenvalues[i] / total}`);
  }

  const pcaFiles = (await fs.readdir(path.join(output, 'pca'))).map((f) => path.join(output, 'pca', f));
  const projected = await readAllVectors(pcaFiles, 'pcaFeatures');
  assert.equal(projected.dim, 5);
  assert.deepEqual(projected.paths, paths);
  for (const i of [0, 1, 450, 899]) {
    for (let c = 0; c < 5; c++) {
      let expected = 0;
      for (let j = 0; j < FEATURE_DIM; j++) expected += (vectors[i * FEATURE_DIM + j] - model.mean[j]) * model.components[c][j];
      assert.ok(Math.abs(projected.vectors[i * 5 + c] - expected) < 1e-3 * (1 + Math.abs(expected)), `row ${i} pc ${c}`);
    }
  }
});

test('started from the temporal CLI, a second run over the same output gives the same rows and no duplicates', async () => {
  assert.ok(first, 'needs the first run');
  const input = JSON.stringify({ source: sample, output, k: 5 });
  const args = ['workflow', 'start', '--address', env.address, '--task-queue', 'orchard', '--type', 'imagePipeline', '--workflow-id', 'e2e-cli', '--input', input];
  const cli = spawn(temporalCliPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  cli.stdout.on('data', (d) => (printed += d));
  cli.stderr.on('data', (d) => (printed += d));
  const code = await new Promise((resolve) => cli.once('exit', resolve));
  assert.equal(code, 0, printed);
  const summary = (await env.client.workflow.getHandle('e2e-cli').result()) as RunSummary;
  assert.equal(summary.featurized, 900);

  const again = await readAllVectors(await featureFiles(output), 'features');
  assert.deepEqual(again.paths, first.features.paths);
  assert.deepEqual(again.labels, first.features.labels);
  let maxDifference = 0;
  for (let i = 0; i < again.vectors.length; i++) maxDifference = Math.max(maxDifference, Math.abs(again.vectors[i] - first.features.vectors[i]));
  assert.ok(maxDifference < 1e-5, `features differ by up to ${maxDifference}`);
});
