// Orchard's native JPEG decoder (native/jpeg, built by `npm run setup` into .orchard/native): libjpeg-turbo decoding
// at a reduced scale, then a SIMD resize, written straight into a batch of model input. No npm package exposes
// libjpeg-turbo's scaled decoding outside sharp, whose per-image pipeline costs several times the decode itself.
import { createRequire } from 'node:module';
import path from 'node:path';
import { stateDir } from '../paths.js';

interface JpegDecoderModule {
  decodeJpeg224(jpeg: Buffer, out: Uint8Array, offset: number): [number, number];
}

export const jpegDecoderPath = path.join(stateDir, 'native', 'orchard_jpeg.node');

/** The decoder module is missing or broken: a setup problem, not a problem with any image. */
export class JpegDecoderMissing extends Error {}

let loaded: JpegDecoderModule | undefined;

/** The decoder module, loaded once; throws naming the fix when setup has not built it. */
function decoder(): JpegDecoderModule {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)(jpegDecoderPath) as JpegDecoderModule;
  } catch (err) {
    throw new JpegDecoderMissing(
      `the JPEG decoder ${jpegDecoderPath} cannot be loaded (${(err as Error).message.split('\n')[0]}): run npm run setup, which builds it (needs Rust, CMake and NASM)`,
    );
  }
  return loaded;
}

/**
 * Decode a JPEG into `out` at byte `offset` as 224 x 224 RGBA, synchronously. Returns the size it was decoded at
 * before resizing. Throws with libjpeg-turbo's reason when it cannot decode the JPEG cleanly.
 */
export function decodeJpeg224(jpeg: Buffer, out: Uint8Array, offset: number): { width: number; height: number } {
  const [width, height] = decoder().decodeJpeg224(jpeg, out, offset);
  return { width, height };
}

/** Load the decoder now, so a worker without it fails at start rather than on its first image. */
export function loadJpegDecoder(): void {
  decoder();
}
