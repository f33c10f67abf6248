// fitPca projects the vectors itself when the fit holds them all, exactly as the projection step would; a larger fit
// leaves the PCA dataset to projectFeatures.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { fitPca } from '../../activities/fitPca.js';
import { projectFeatures } from '../../activities/projectFeatures.js';
import { FEATURE_DIM, loadWorkerConfig } from '../../lib/config.js';
import type { PcaSummary, RunContext } from '../../lib/contract.js';
import { featuresPartUri, pcaFileUri, resultUri, stagedResult } from '../../lib/storage/layout.js';
import { writeVectorParquet } from '../../lib/storage/parquet.js';
import { mulberry32, projectRows, type PcaModel } from '../../lib/pca/pca.js';
import { tempDir } from '../support/environment.js';
import { readAllVectors } from '../support/vectors.js';

let work: string;
const config = () => loadWorkerConfig({ ...process.env, ORCHARD_SCRATCH_DIR: path.join(work, 'scratch') });

before(async () => {
  work = await tempDir('fit-pca');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** A staged features dataset of `parts` part files with these row counts: a few latent factors plus noise. */
async function stagedFeatures(name: string, parts: number[]): Promise<RunContext> {
  const output = path.join(work, name);
  const context = { source: path.join(work, 'photos'), output, staging: path.join(output, '_staging', 'run') };
  const random = mulberry32(parts.length * 1000 + parts[0]);
  const factors = Array.from({ length: 6 }, () => Float32Array.from({ length: FEATURE_DIM }, () => random() - 0.5));
  for (const [n, rows] of parts.entries()) {
    const vectors = new Float32Array(rows * FEATURE_DIM);
    for (let r = 0; r < rows; r++) {
      const weights = factors.map((_, f) => (random() - 0.5) / (f + 1));
      for (let i = 0; i < FEATURE_DIM; i++) {
        vectors[r * FEATURE_DIM + i] = factors.reduce((sum, factor, f) => sum + weights[f] * factor[i], 0) + 0.01 * (random() - 0.5);
      }
    }
    const paths = Array.from({ length: rows }, (_, r) => path.join(context.source, `label_${r % 3}`, `part${n}_${r}.jpg`));
    const file = featuresPartUri(context.staging, n);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeVectorParquet(file, 'features', { paths, labels: paths.map((p) => path.basename(path.dirname(p))), vectors, dim: FEATURE_DIM });
  }
  return context;
}

test('a fit that holds every vector writes the PCA dataset itself, the same as the projection step writes it', async () => {
  const context = await stagedFeatures('held', [300, 200]);
  const env = new MockActivityEnvironment();
  const summary = (await env.run(fitPca, { ...context, k: 3, precision: 'fp32' as const }, config())) as PcaSummary;
  assert.deepEqual([summary.rows, summary.k, summary.projected], [500, 3, true]);

  const result = stagedResult(context.staging);
  const pcaFile = pcaFileUri(result);
  const byFit = await readAllVectors([pcaFile], 'pcaFeatures');
  assert.equal(byFit.paths.length, 500);
  const model = JSON.parse(await fs.readFile(resultUri(result, 'pca_model.json'), 'utf8')) as PcaModel;
  const features = await readAllVectors([featuresPartUri(context.staging, 0), featuresPartUri(context.staging, 1)], 'features');
  assert.deepEqual(byFit.paths, features.paths);
  assert.deepEqual(byFit.labels, features.labels);
  assert.deepEqual(byFit.vectors, await projectRows(model, features.vectors, 500));

  await fs.rm(pcaFile);
  assert.equal(await env.run(projectFeatures, context, config()), 500);
  assert.deepEqual(await readAllVectors([pcaFile], 'pcaFeatures'), byFit);
});

test('a fit through the covariance also projects the vectors it kept, as the projection step would', async () => {
  const context = await stagedFeatures('streamed', [700, 400]);
  const env = new MockActivityEnvironment();
  const summary = (await env.run(fitPca, { ...context, k: 3, precision: 'fp32' as const }, config())) as PcaSummary;
  assert.deepEqual([summary.rows, summary.projected], [1100, true]);
  const pcaFile = pcaFileUri(stagedResult(context.staging));
  const byFit = await readAllVectors([pcaFile], 'pcaFeatures');
  await fs.rm(pcaFile);
  assert.equal(await env.run(projectFeatures, context, config()), 1100);
  assert.deepEqual(await readAllVectors([pcaFile], 'pcaFeatures'), byFit);
});
