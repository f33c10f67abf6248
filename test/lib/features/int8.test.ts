// The int8 model setup builds (scripts/build-int8-model.sh) against the fp32 one, on the 600 sample images outside its
// calibration set, through Orchard's own decoder and model sessions: the fidelity README promises.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { cosineSummary, leaveOneOutAccuracy } from '../../../bench/vectorMetrics.js';
import { FEATURE_DIM } from '../../../lib/config.js';
import { decodeImage, INPUT_BYTES_PER_IMAGE } from '../../../lib/features/images.js';
import { loadJpegDecoder } from '../../../lib/features/jpegDecoder.js';
import { loadFeatureModel } from '../../../lib/features/model.js';
import { fitPcaFromRows } from '../../../lib/pca/pca.js';
import { defaultInt8ModelPath, defaultModelPath, projectRoot } from '../../../lib/paths.js';
import { sampleDir } from '../../support/images.js';

const BATCH = 8;

async function heldOutImages(): Promise<string[]> {
  const calibration = new Set((await fs.readFile(path.join(projectRoot, 'scripts', 'quantize', 'calibration.txt'), 'utf8')).split('\n'));
  const all = (await fs.readdir(sampleDir, { recursive: true })).filter((name) => name.endsWith('.jpg')).sort();
  return all.filter((name) => !calibration.has(name));
}

async function embedAll(modelPath: string, pixels: Uint8Array, count: number): Promise<Float32Array> {
  const model = await loadFeatureModel({ path: modelPath, threads: 1 });
  const out = new Float32Array(count * FEATURE_DIM);
  for (let i = 0; i < count; i += BATCH) {
    const n = Math.min(BATCH, count - i);
    out.set(await model.embed(pixels.subarray(i * INPUT_BYTES_PER_IMAGE, (i + n) * INPUT_BYTES_PER_IMAGE), n), i * FEATURE_DIM);
  }
  return out;
}

// Orchard's own PCA, checked against ml-pca and numpy in test/lib/pca (ml-pca's 1280 x 1280 eigensolver would take
// most of a minute here).
async function explainedVariance(vectors: Float32Array, rows: number): Promise<number[]> {
  return (await fitPcaFromRows(vectors, rows, FEATURE_DIM, 5)).explainedVariance;
}

test('int8 against fp32 on held-out sample images: mean cosine >= 0.98, the same 1-NN, explained variance within 0.01', async () => {
  await fs.access(defaultInt8ModelPath).catch(() => assert.fail(`${defaultInt8ModelPath} is missing: npm run setup builds it`));
  loadJpegDecoder();
  const names = await heldOutImages();
  assert.equal(names.length, 600, 'the 600 images outside the 300 of the calibration set');
  const pixels = new Uint8Array(names.length * INPUT_BYTES_PER_IMAGE);
  for (const [i, name] of names.entries()) pixels.set(await decodeImage(await fs.readFile(path.join(sampleDir, name))), i * INPUT_BYTES_PER_IMAGE);
  const fp32 = await embedAll(defaultModelPath, pixels, names.length);
  const int8 = await embedAll(defaultInt8ModelPath, pixels, names.length);

  const cosine = cosineSummary(fp32, int8, names.length, FEATURE_DIM);
  console.log(`int8 vs fp32 on ${names.length} held-out images: cosine mean ${cosine.mean.toFixed(4)}, min ${cosine.min.toFixed(4)}`);
  assert.ok(cosine.mean >= 0.98, `mean cosine ${cosine.mean}`);
  assert.ok(cosine.min >= 0.9, `min cosine ${cosine.min}`);

  const labels = names.map((name) => name.split('/')[0]);
  const rows = (vectors: Float32Array) => ({ paths: names, labels, vectors, dim: FEATURE_DIM });
  assert.equal(leaveOneOutAccuracy(rows(int8)), leaveOneOutAccuracy(rows(fp32)), 'leave-one-out 1-NN');

  const [ev32, ev8] = [await explainedVariance(fp32, names.length), await explainedVariance(int8, names.length)];
  console.log(`explained variance fp32 [${ev32.map((v) => v.toFixed(4))}], int8 [${ev8.map((v) => v.toFixed(4))}]`);
  ev32.forEach((v, i) => assert.ok(Math.abs(v - ev8[i]) <= 0.01, `PC${i + 1}: ${v} vs ${ev8[i]}`));
});

test('the int8 model carries its recipe and fidelity beside it, with its own sha256', async () => {
  const record = JSON.parse(await fs.readFile(defaultInt8ModelPath.replace(/\.onnx$/, '.json'), 'utf8')) as {
    sha256: string;
    derivedFrom: { sha256: string };
    recipe: { format: string; keptFp32: { convolutions: number }; quantizedConvolutions: number; biasCorrection: { convolutions: number } };
    fidelity: { cosineHeldOut: { mean: number; min: number } };
  };
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  assert.equal(record.sha256, sha256(await fs.readFile(defaultInt8ModelPath)));
  assert.equal(record.derivedFrom.sha256, sha256(await fs.readFile(defaultModelPath)));
  assert.equal(record.recipe.format, 'QDQ');
  assert.equal(record.recipe.biasCorrection.convolutions, record.recipe.quantizedConvolutions, 'every quantized convolution bias-corrected');
  assert.ok(record.fidelity.cosineHeldOut.mean >= 0.98);
});
