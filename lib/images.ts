import sharp from 'sharp';
import { IMAGE_SIZE } from './config.js';

/** Largest image accepted, in pixels: a guard against decompression bombs (about 10,000 x 10,000). */
export const MAX_INPUT_PIXELS = 100_000_000;

export const PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE * 3;

/** Set libvips threads per operation; activities already decode several images at once. */
export function configureSharp(concurrency: number): void {
  sharp.concurrency(concurrency);
  sharp.cache(false);
}

/**
 * Decode an image to 224x224 RGB bytes the way Keras `load_img(target_size=(224, 224))` prepares it: aspect ratio not
 * kept, alpha dropped, sRGB. Throws with sharp's reason when the bytes are not a readable image.
 */
export async function decodeImage(bytes: Buffer): Promise<Buffer> {
  if (bytes.length === 0) throw new Error('empty file (0 bytes)');
  const { data, info } = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
    .toColourspace('srgb')
    .removeAlpha()
    .resize(IMAGE_SIZE, IMAGE_SIZE, { fit: 'fill' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== PIXELS_PER_IMAGE) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${IMAGE_SIZE}x${IMAGE_SIZE}x3`);
  }
  return data;
}

// x / 127.5 - 1 for every byte value: a table lookup costs half the time of the division (measured per image).
const SCALED = Float32Array.from({ length: 256 }, (_, x) => x / 127.5 - 1);

/** Write decoded RGB bytes into the model input at `offset`, scaled to [-1, 1] like Keras `preprocess_input`. */
export function scalePixels(rgb: Uint8Array, out: Float32Array, offset: number): void {
  for (let i = 0; i < PIXELS_PER_IMAGE; i++) out[offset + i] = SCALED[rgb[i]];
}
