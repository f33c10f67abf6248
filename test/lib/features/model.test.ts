import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { defaultModelPath } from '../../../lib/paths.js';
import { FEATURE_DIM } from '../../../lib/config.js';
import { INPUT_BYTES_PER_IMAGE } from '../../../lib/features/images.js';
import { loadFeatureModel } from '../../../lib/features/model.js';
import { tempDir } from '../../support/environment.js';

test('the model takes RGBA bytes, ignores alpha and scales like preprocess_input: features equal the original model on x / 127.5 - 1', async () => {
  const count = 3;
  const pixels = Uint8Array.from({ length: count * INPUT_BYTES_PER_IMAGE }, (_, i) => (i * 7919 + (i >> 9)) % 256);
  const model = await loadFeatureModel({ path: defaultModelPath, threads: 1 });
  const original = await ort.InferenceSession.create(defaultModelPath, { intraOpNumThreads: 1 });
  const rgb = pixels.filter((_, i) => i % 4 !== 3);
  // Each step rounded to float32, as a float32 graph computes it.
  const scaled = Float32Array.from(rgb, (x) => Math.fround(Math.fround(x / 127.5) - 1));
  const expected = (await original.run({ input: new ort.Tensor('float32', scaled, [count, 224, 224, 3]) })).features.data as Float32Array;
  const features = await model.embed(pixels, count);
  assert.equal(features.length, count * FEATURE_DIM);
  assert.deepEqual(features, expected);
  // Pixels that do not start on a 4-byte boundary (a Buffer from Node's pool) give the same features.
  const unaligned = new Uint8Array(pixels.length + 1).subarray(1);
  unaligned.set(pixels);
  assert.deepEqual(await model.embed(unaligned, count), expected);
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
