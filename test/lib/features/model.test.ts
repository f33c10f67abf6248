import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { cosineSummary } from '../../../bench/vectorMetrics.js';
import { defaultModelPath } from '../../../lib/paths.js';
import { FEATURE_DIM } from '../../../lib/config.js';
import { INPUT_BYTES_PER_IMAGE } from '../../../lib/features/images.js';
import { loadFeatureModel } from '../../../lib/features/model.js';
import { tempDir } from '../../support/environment.js';

test('the model takes RGBA bytes, ignores alpha and scales like preprocess_input: features equal the original model on x / 127.5 - 1', async () => {
  const count = 3;
  const pixels = Uint8Array.from({ length: count * INPUT_BYTES_PER_IMAGE }, (_, i) => (i * 7919 + (i >> 9)) % 256);
  const model = await loadFeatureModel({ path: defaultModelPath, threads: 1 });
  const features = await model.embed(pixels, count);
  const original = await ort.InferenceSession.create(defaultModelPath, { intraOpNumThreads: 1 });
  const rgb = pixels.filter((_, i) => i % 4 !== 3);
  const input = new ort.Tensor(
    'float32',
    Float32Array.from(rgb, (x) => x / 127.5 - 1),
    [count, 224, 224, 3],
  );
  const expected = (await original.run({ input })).features.data as Float32Array;
  assert.equal(features.length, count * FEATURE_DIM);
  // Equal up to float rounding: scaling in float32 inside the graph may differ from the double-precision formula by
  // one unit in the last place of a pixel.
  const { min } = cosineSummary(features, expected, count, FEATURE_DIM);
  assert.ok(min > 1 - 1e-9, `cosine ${min}`);
  const largest = expected.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  assert.ok(features.every((x, i) => Math.abs(x - expected[i]) < 1e-4 * largest));
});

test('a model file that is not the feature model is refused with the fix', async () => {
  const dir = await tempDir('model');
  try {
    const notOnnx = path.join(dir, 'not.onnx');
    await fs.writeFile(notOnnx, 'hello, this is text');
    await assert.rejects(loadFeatureModel({ path: notOnnx, threads: 1 }), /not\.onnx.*MobileNetV2 feature ONNX file/);
    await assert.rejects(loadFeatureModel({ path: path.join(dir, 'missing.onnx'), threads: 1 }), /not found; set ORCHARD_MODEL_PATH/);
    await assert.rejects(loadFeatureModel({ path: dir, threads: 1 }), /cannot be read \(EISDIR.*; set ORCHARD_MODEL_PATH/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
