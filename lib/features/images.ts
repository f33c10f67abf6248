import sharp from 'sharp';
import { IMAGE_SIZE } from '../config.js';
import { decodeJpeg224, JpegDecoderMissing } from './jpegDecoder.js';

/** Largest image accepted, in pixels: a guard against decompression bombs (about 10,000 x 10,000). */
export const MAX_INPUT_PIXELS = 100_000_000;

/** Bytes of one image in a batch of model input: 224 x 224 RGBA (the model ignores the alpha byte, lib/features/model.ts). */
export const INPUT_BYTES_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE * 4;

/** Set libvips threads per operation; activities already decode several images at once. */
export function configureSharp(concurrency: number): void {
  sharp.concurrency(concurrency);
  sharp.cache(false);
}

/**
 * Decode an image to 224x224 RGBA, aspect ratio not kept (like Keras `load_img(target_size=(224, 224))`), alpha
 * dropped (opaque), no EXIF rotation: the fast path for the JPEGs it takes (`plainJpeg`), else sharp.
 */
export async function decodeImage(bytes: Buffer): Promise<Uint8Array> {
  if (!plainJpeg(bytes)) return decodeWithSharp(bytes);
  const out = new Uint8Array(INPUT_BYTES_PER_IMAGE);
  await decodePlainJpeg(bytes, out, 0);
  return out;
}

/**
 * Write a plain JPEG (`plainJpeg`) into `out` at `offset` as 224x224 RGBA: the fast path, or sharp when libjpeg-turbo
 * cannot decode it cleanly (sharp then decodes it, or throws its reason).
 */
export async function decodePlainJpeg(bytes: Buffer, out: Uint8Array, offset: number): Promise<void> {
  if (!decodeFast(bytes, out, offset)) out.set(await decodeWithSharp(bytes), offset);
}

/**
 * The fast path, for a plain JPEG (`plainJpeg`): Orchard's decoder (lib/features/jpegDecoder.ts: libjpeg-turbo at the
 * smallest scale M/8 that keeps both sides at least 224 pixels, then Lanczos3 when shrinking, Catmull-Rom when
 * enlarging) writes the image into `out` at `offset`, synchronously. On the thread that also runs inference, so
 * decoding never competes with it for a core: with two processes on two cores, decoding ahead on libuv's threads was
 * slower (bench/README.md). False when libjpeg-turbo cannot decode it cleanly; sharp then decides.
 */
function decodeFast(bytes: Buffer, out: Uint8Array, offset: number): boolean {
  try {
    decodeJpeg224(bytes, out, offset);
    return true;
  } catch (err) {
    if (err instanceof JpegDecoderMissing) throw err;
    return false;
  }
}

/**
 * Decode with sharp to 224x224 RGBA: sRGB (CMYK, 16-bit, ICC profiles converted), alpha dropped (an opaque one
 * added), resized with libvips' default (bicubic when enlarging, Lanczos3 with shrink-on-load when shrinking). Throws
 * with sharp's reason when the bytes are not a readable image.
 */
export async function decodeWithSharp(bytes: Buffer): Promise<Uint8Array> {
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
  return data;
}

const SOF_BASELINE = 0xc0;
const SOF_EXTENDED = 0xc1;
const SOF_PROGRESSIVE = 0xc2;
const START_OF_SCAN = 0xda;
const APP2 = 0xe2;
const APP14 = 0xee;

/**
 * The size of a JPEG the fast path decodes as sharp would, or undefined: a complete file (it ends with EOI; sharp
 * decides about a truncated one), Huffman-coded 8-bit baseline or progressive, grey or YCbCr,
 * without an ICC profile (APP2) or an Adobe marker (APP14: CMYK, YCCK or RGB), within the pixel limit. Only the
 * markers before the first scan are read.
 */
export function plainJpeg(bytes: Uint8Array): { width: number; height: number } | undefined {
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[n - 2] !== 0xff || bytes[n - 1] !== 0xd9) return undefined;
  let size: { width: number; height: number } | undefined;
  for (let i = 2; i + 4 <= n;) {
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
