import { FastResizeFilter, ResizeFit, Transformer } from '@napi-rs/image';
import sharp from 'sharp';
import { IMAGE_SIZE } from './config.js';

/** Largest image accepted, in pixels: a guard against decompression bombs (about 10,000 x 10,000). */
export const MAX_INPUT_PIXELS = 100_000_000;

/** Bytes of one image in a batch of model input: 224 x 224 RGBA (the model ignores the alpha byte, lib/model.ts). */
export const INPUT_BYTES_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE * 4;

/** An image resized to 224 x 224: `channels` bytes per pixel (grey, grey+alpha, RGB or RGBA; alpha is ignored). */
export interface DecodedImage {
  pixels: Uint8Array;
  channels: number;
}

/** Set libvips threads per operation; activities already decode several images at once. */
export function configureSharp(concurrency: number): void {
  sharp.concurrency(concurrency);
  sharp.cache(false);
}

/**
 * Decode an image to 224x224, aspect ratio not kept (like Keras `load_img(target_size=(224, 224))`), alpha dropped,
 * no EXIF rotation: the fast path for the JPEGs it takes (`fastJpeg`), else sharp.
 */
export async function decodeImage(bytes: Buffer): Promise<DecodedImage> {
  if (bytes.length === 0) throw new Error('empty file (0 bytes)');
  const jpeg = fastJpeg(bytes);
  if (jpeg) {
    try {
      return decodeFast(bytes, jpeg);
    } catch {
      // sharp decides, and names the reason if it cannot read the image either.
    }
  }
  return decodeWithSharp(bytes);
}

// Above this many pixels sharp is cheaper: libjpeg's shrink-on-load decodes at 1/2 to 1/8 of the size, which the fast
// path's decoder cannot (crossover measured at about 600 x 600, bench/README.md).
const FAST_MAX_PIXELS = 600 * 600;

/** The size of a JPEG the fast path takes: a plain one (`plainJpeg`) of at most FAST_MAX_PIXELS. */
export function fastJpeg(bytes: Uint8Array): { width: number; height: number } | undefined {
  const size = plainJpeg(bytes);
  return size && size.width * size.height <= FAST_MAX_PIXELS ? size : undefined;
}

/**
 * The fast path: @napi-rs/image decodes (zune-jpeg) and resizes (fast_image_resize's SIMD convolution: Catmull-Rom
 * when enlarging, Lanczos3 when shrinking) in one call, synchronously. On the thread that also runs inference, so
 * decoding never competes with it for a core: with two processes on two cores, decoding ahead on libuv's threads was
 * slower (bench/README.md). Throws when it cannot read the image; sharp then decides.
 */
export function decodeFast(bytes: Buffer, size: { width: number; height: number }): DecodedImage {
  const shrinking = size.width >= IMAGE_SIZE && size.height >= IMAGE_SIZE;
  const filter = shrinking ? FastResizeFilter.Lanczos3 : FastResizeFilter.CatmullRom;
  const pixels = new Transformer(bytes).fastResize({ width: IMAGE_SIZE, height: IMAGE_SIZE, filter, fit: ResizeFit.Fill }).rawPixelsSync();
  const channels = pixels.length / (IMAGE_SIZE * IMAGE_SIZE);
  if (!Number.isInteger(channels) || channels < 1 || channels > 4) throw new Error(`fast decoder returned ${pixels.length} bytes`);
  return { pixels, channels };
}

/**
 * Decode with sharp: sRGB (CMYK, 16-bit, ICC profiles converted), alpha dropped (an opaque one added), resized with
 * libvips' default (bicubic when enlarging, Lanczos3 with shrink-on-load when shrinking). Throws with sharp's reason when the bytes
 * are not a readable image.
 */
export async function decodeWithSharp(bytes: Buffer): Promise<DecodedImage> {
  if (bytes.length === 0) throw new Error('empty file (0 bytes)');
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
    .toColourspace('srgb')
    // Alpha is dropped before resizing (as Keras load_img drops it), then an opaque one added for the batch layout.
    .removeAlpha()
    .ensureAlpha()
    .resize(IMAGE_SIZE, IMAGE_SIZE, { fit: 'fill' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 4 || data.length !== INPUT_BYTES_PER_IMAGE) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${IMAGE_SIZE}x${IMAGE_SIZE}x4`);
  }
  return { pixels: data, channels: 4 };
}

const SOF_BASELINE = 0xc0;
const SOF_EXTENDED = 0xc1;
const SOF_PROGRESSIVE = 0xc2;
const START_OF_SCAN = 0xda;
const APP2 = 0xe2;
const APP14 = 0xee;

/**
 * The size of a JPEG the fast path decodes like libjpeg does, or undefined: a complete file (it ends with EOI; zune
 * fills a truncated one in grey where libjpeg fails), Huffman-coded 8-bit baseline or progressive, grey or YCbCr,
 * without an ICC profile (APP2) or an Adobe marker (APP14: CMYK, YCCK or RGB), within the pixel limit. Only the
 * markers before the first scan are read.
 */
export function plainJpeg(bytes: Uint8Array): { width: number; height: number } | undefined {
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[n - 2] !== 0xff || bytes[n - 1] !== 0xd9) return undefined;
  let size: { width: number; height: number } | undefined;
  for (let i = 2; i + 4 <= n; ) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    const body = i + 4;
    if (length < 2 || i + 2 + length > n) return undefined;
    if (marker === START_OF_SCAN) return size;
    if (marker === APP2 || marker === APP14) return undefined;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (marker !== SOF_BASELINE && marker !== SOF_EXTENDED && marker !== SOF_PROGRESSIVE) return undefined;
      const precision = bytes[body];
      const height = (bytes[body + 1] << 8) | bytes[body + 2];
      const width = (bytes[body + 3] << 8) | bytes[body + 4];
      const components = bytes[body + 5];
      if (precision !== 8 || width === 0 || height === 0 || width * height > MAX_INPUT_PIXELS) return undefined;
      if (components !== 1 && components !== 3) return undefined;
      // Components named R, G, B are coded without the YCbCr transform, which a decoder must be told about.
      if (components === 3 && bytes[body + 6] === 0x52 && bytes[body + 9] === 0x47 && bytes[body + 12] === 0x42) return undefined;
      size = { width, height };
    }
    i += 2 + length;
  }
  return undefined;
}

/**
 * Write a decoded image into a batch of model input at `offset`, as RGBA bytes: the model drops the alpha and scales
 * to [-1, 1] like Keras `preprocess_input` (lib/model.ts). Both decoders give RGBA, which is one copy; grey (with or
 * without alpha) fills the three colour channels, RGB is spread out.
 */
export function copyToBatch(image: DecodedImage, out: Uint8Array, offset: number): void {
  const { pixels, channels } = image;
  if (channels === 4) {
    out.set(pixels.subarray(0, INPUT_BYTES_PER_IMAGE), offset);
    return;
  }
  const colour = channels >= 3;
  for (let p = 0, j = offset; j < offset + INPUT_BYTES_PER_IMAGE; p += channels, j += 4) {
    out[j] = pixels[p];
    out[j + 1] = pixels[colour ? p + 1 : p];
    out[j + 2] = pixels[colour ? p + 2 : p];
  }
}
