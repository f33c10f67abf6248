import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { cosineSummary } from '../../../bench/vectorMetrics.js';
import { defaultModelPath } from '../../../lib/paths.js';
import { FEATURE_DIM } from '../../../lib/config.js';
import { decodeImage, decodeWithSharp, INPUT_BYTES_PER_IMAGE, plainJpeg } from '../../../lib/features/images.js';
import { decodeJpeg224 } from '../../../lib/features/jpegDecoder.js';
import { loadFeatureModel } from '../../../lib/features/model.js';
import { sampleDir } from '../../support/images.js';

const PIXELS_PER_IMAGE = 224 * 224 * 3;

/** The colour channels of an image in a batch of model input (RGBA), as the model uses them. */
async function rgb(image: Promise<Uint8Array>): Promise<Uint8Array> {
  const pixels = await image;
  assert.equal(pixels.length, INPUT_BYTES_PER_IMAGE);
  return pixels.filter((_, i) => i % 4 !== 3);
}

/** The image as the model sees it: RGB scaled to [-1, 1]. */
async function scaled(image: Promise<Uint8Array>): Promise<Float32Array> {
  return Float32Array.from(await rgb(image), (x) => x / 127.5 - 1);
}

const samplePhoto = async (label: string, index = 0) => {
  const files = (await fs.readdir(path.join(sampleDir, label))).filter((f) => f.endsWith('.jpg')).sort();
  return fs.readFile(path.join(sampleDir, label, files[index]));
};

test('sharp decodes any image to 224x224x3 in [-1, 1], stretched like Keras load_img', async () => {
  const bytes = await samplePhoto('cucumber_1');
  const pixels = await scaled(decodeWithSharp(bytes));
  assert.ok(pixels.every((v) => v >= -1 && v <= 1));
  const reference = await sharp(bytes).resize(224, 224, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  for (const i of [0, 1000, 75_000, PIXELS_PER_IMAGE - 1]) assert.equal(pixels[i], Math.fround(reference[i] / 127.5 - 1));
});

test('plain JPEGs, small and large, take the fast path and come out as sharp would draw them, within a few levels', async () => {
  const photo = await samplePhoto('pear_1');
  const large = await sharp(photo).resize(1000, 800, { fit: 'fill' }).jpeg({ quality: 95 }).toBuffer();
  const small = await sharp(photo).resize(100, 100, { fit: 'fill' }).jpeg({ quality: 95 }).toBuffer();
  for (const [name, bytes] of Object.entries({ photo, large, small })) {
    assert.ok(plainJpeg(bytes), `${name}: a baseline YCbCr JPEG takes the fast path`);
    const fast = await scaled(decodeImage(bytes));
    const slow = await scaled(decodeWithSharp(bytes));
    let difference = 0;
    for (let i = 0; i < PIXELS_PER_IMAGE; i++) difference += Math.abs(fast[i] - slow[i]) * 127.5;
    assert.ok(difference / PIXELS_PER_IMAGE < 3, `${name}: mean difference ${difference / PIXELS_PER_IMAGE} levels`);
  }
});

test('the fast path decodes at the smallest scale M/8 that keeps both sides at least 224 pixels', async () => {
  const photo = await samplePhoto('pear_1');
  const out = new Uint8Array(INPUT_BYTES_PER_IMAGE * 2);
  const decodedAt = async (width: number, height: number) =>
    decodeJpeg224(await sharp(photo).resize(width, height, { fit: 'fill' }).jpeg().toBuffer(), out, INPUT_BYTES_PER_IMAGE);
  assert.deepEqual(await decodedAt(800, 800), { width: 300, height: 300 }, '3/8: 2/8 would give 200');
  assert.deepEqual(await decodedAt(1000, 300), { width: 750, height: 225 }, '6/8: the short side decides');
  assert.deepEqual(await decodedAt(448, 448), { width: 224, height: 224 }, '4/8, no resize left to do');
  assert.deepEqual(await decodedAt(100, 100), { width: 100, height: 100 }, 'smaller images are decoded whole');
  assert.ok(
    out.subarray(0, INPUT_BYTES_PER_IMAGE).every((v) => v === 0),
    'nothing written before the offset',
  );
  assert.throws(() => decodeJpeg224(photo, out, INPUT_BYTES_PER_IMAGE + 1), /output too small/);
  assert.throws(() => decodeJpeg224(photo.subarray(0, 200), out, 0), /JPEG/);
});

test('only plain, complete, 8-bit JPEGs without a colour profile take the fast path', async () => {
  const photo = await samplePhoto('apple_red_1');
  const size = plainJpeg(photo)!;
  assert.deepEqual(size, { width: (await sharp(photo).metadata()).width, height: (await sharp(photo).metadata()).height });
  const progressive = await sharp(photo).jpeg({ progressive: true }).toBuffer();
  const grey = await sharp(photo).greyscale().jpeg().toBuffer();
  assert.ok(plainJpeg(progressive) && plainJpeg(grey), 'progressive and grey JPEGs are plain');
  const refused: Record<string, Buffer> = {
    truncated: photo.subarray(0, photo.length >> 1),
    cmyk: await sharp(photo).toColourspace('cmyk').jpeg().toBuffer(),
    'with an ICC profile': await sharp(photo).withIccProfile('p3').jpeg().toBuffer(),
    png: await sharp(photo).png().toBuffer(),
    'over the pixel limit': claimSize(photo, 20_000, 20_000),
    text: Buffer.from('not an image'),
  };
  for (const [name, bytes] of Object.entries(refused)) assert.equal(plainJpeg(bytes), undefined, name);
});

/** The JPEG without its APP2 segments (sharp adds an sRGB profile along with the EXIF orientation). */
function withoutColourProfile(jpeg: Buffer): Buffer {
  const kept = [jpeg.subarray(0, 2)];
  let i = 2;
  while (jpeg[i + 1] !== 0xda) {
    const end = i + 2 + jpeg.readUInt16BE(i + 2);
    if (jpeg[i + 1] !== 0xe2) kept.push(jpeg.subarray(i, end));
    i = end;
  }
  kept.push(jpeg.subarray(i));
  return Buffer.concat(kept);
}

/** The JPEG with its frame header claiming another size. */
function claimSize(jpeg: Buffer, width: number, height: number): Buffer {
  const copy = Buffer.from(jpeg);
  for (let i = 2; i < copy.length - 9;) {
    if (copy[i + 1] === 0xc0 || copy[i + 1] === 0xc2) {
      copy.writeUInt16BE(height, i + 5);
      copy.writeUInt16BE(width, i + 7);
      return copy;
    }
    i += 2 + copy.readUInt16BE(i + 2);
  }
  throw new Error('no frame header');
}

test('grey, alpha and EXIF-rotated images decode to three channels, not rotated, on either path', async () => {
  const gray = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 200, b: 200 } } })
    .greyscale()
    .png()
    .toBuffer();
  assert.ok(Math.abs((await scaled(decodeImage(gray)))[0] - (200 / 127.5 - 1)) < 0.02);
  const greyJpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 90, g: 90, b: 90 } } })
    .greyscale()
    .jpeg()
    .toBuffer();
  assert.ok(plainJpeg(greyJpeg));
  const greyPixels = await scaled(decodeImage(greyJpeg));
  assert.ok(Math.abs(greyPixels[0] - (90 / 127.5 - 1)) < 0.03 && greyPixels[0] === greyPixels[1] && greyPixels[1] === greyPixels[2]);
  const alpha = await sharp({ create: { width: 50, height: 50, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } })
    .png()
    .toBuffer();
  const alphaPixels = await scaled(decodeImage(alpha));
  assert.equal(alphaPixels[0], 1);
  assert.equal(alphaPixels[1], -1);
  // A tall photo marked "rotate 90°": drawn as stored (like Keras load_img), so its left column stays its left column.
  const tall = await sharp({ create: { width: 60, height: 120, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: { create: { width: 30, height: 120, channels: 3, background: { r: 255, g: 255, b: 255 } } }, left: 0, top: 0 }])
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer()
    .then(withoutColourProfile);
  assert.equal((await sharp(tall).metadata()).orientation, 6);
  assert.ok(plainJpeg(tall));
  const rotatedPixels = await scaled(decodeImage(tall));
  assert.ok(rotatedPixels[0] > 0.9 && rotatedPixels[(223 * 224 + 0) * 3] > 0.9, 'the white left half is still on the left');
  assert.ok(rotatedPixels[223 * 3] < -0.9, 'and the black right half on the right');
});

test('broken input is rejected with a reason', async () => {
  await assert.rejects(scaled(decodeImage(Buffer.alloc(0))), /empty file/);
  await assert.rejects(scaled(decodeImage(Buffer.from('plain text'))), /unsupported image format/);
  const real = await samplePhoto('pear_1');
  await assert.rejects(scaled(decodeImage(real.subarray(0, real.length >> 1))), 'a truncated JPEG is refused, not filled in');
});

test("the fast path's features stay within cosine 0.995 of sharp's on the sample (4 photos per class)", async () => {
  const labels = (await fs.readdir(sampleDir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const photos: Buffer[] = [];
  for (const label of labels) for (const index of [0, 15, 30, 45]) photos.push(await samplePhoto(label, index));
  const model = await loadFeatureModel({ path: defaultModelPath, threads: 1 });
  const embed = async (decode: (bytes: Buffer) => Promise<Uint8Array>) => {
    const vectors = new Float32Array(photos.length * FEATURE_DIM);
    for (const [i, bytes] of photos.entries()) vectors.set(await model.embed(await decode(bytes), 1), i * FEATURE_DIM);
    return vectors;
  };
  const { mean, min } = cosineSummary(await embed(decodeImage), await embed(decodeWithSharp), photos.length, FEATURE_DIM);
  console.log(`cosine of the fast path's features to sharp's, ${photos.length} photos: mean ${mean.toFixed(5)}, min ${min.toFixed(4)}`);
  assert.ok(mean >= 0.995, `mean cosine ${mean}`);
});
