import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage, PIXELS_PER_IMAGE, scalePixels } from '../../lib/images.js';
import { sampleDir } from '../support/images.js';

async function decoded(bytes: Buffer): Promise<Float32Array> {
  const out = new Float32Array(PIXELS_PER_IMAGE);
  scalePixels(await decodeImage(bytes), out, 0);
  return out;
}

test('a real JPEG becomes 224x224x3 in [-1, 1], stretched like Keras load_img', async () => {
  const file = path.join(sampleDir, 'cucumber_1', (await fs.readdir(path.join(sampleDir, 'cucumber_1')))[0]);
  const bytes = await fs.readFile(file);
  const pixels = await decoded(bytes);
  assert.ok(pixels.every((v) => v >= -1 && v <= 1));
  const reference = await sharp(bytes).resize(224, 224, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  for (const i of [0, 1000, 75_000, PIXELS_PER_IMAGE - 1]) assert.equal(pixels[i], Math.fround(reference[i] / 127.5 - 1));
});

test('grayscale and alpha images decode to three channels', async () => {
  const gray = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 200, b: 200 } } }).greyscale().png().toBuffer();
  const grayPixels = await decoded(gray);
  assert.ok(Math.abs(grayPixels[0] - (200 / 127.5 - 1)) < 0.02);
  const alpha = await sharp({ create: { width: 50, height: 50, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
  const alphaPixels = await decoded(alpha);
  assert.equal(alphaPixels[0], 1);
  assert.equal(alphaPixels[1], -1);
});

test('broken input is rejected with a reason', async () => {
  await assert.rejects(decoded(Buffer.alloc(0)), /empty file/);
  await assert.rejects(decoded(Buffer.from('plain text')), /unsupported image format/);
  const real = await fs.readFile(path.join(sampleDir, 'pear_1', (await fs.readdir(path.join(sampleDir, 'pear_1')))[0]));
  await assert.rejects(decoded(real.subarray(0, real.length >> 1)));
});
