// Step of scripts/build-int8-model.sh: decode images exactly as featurizing does (Orchard's decoders, 224 x 224 RGBA)
// into one raw file, N x 224 x 224 x 4 bytes, for the quantizer to calibrate and measure on.
//   node dist/scripts/quantize/calibrationInputs.js <image dir> <list of relative paths | -> <out.u8>
import fs from 'node:fs/promises';
import path from 'node:path';
import { decodeImage, INPUT_BYTES_PER_IMAGE } from '../../lib/features/images.js';
import { loadJpegDecoder } from '../../lib/features/jpegDecoder.js';

const [dir, list, out] = process.argv.slice(2);
if (!dir || !list || !out) {
  console.error('usage: calibrationInputs.js <image dir> <list file | -> <out.u8>   (- takes every .jpg below dir, sorted)');
  process.exit(2);
}
loadJpegDecoder();
const names =
  list === '-'
    ? (await fs.readdir(dir, { recursive: true })).filter((name) => name.endsWith('.jpg')).sort()
    : (await fs.readFile(list, 'utf8')).split('\n').filter((line) => line.trim() !== '');
const file = await fs.open(out, 'w');
try {
  for (const name of names) {
    const pixels = await decodeImage(await fs.readFile(path.join(dir, name)));
    if (pixels.length !== INPUT_BYTES_PER_IMAGE) throw new Error(`${name}: decoded to ${pixels.length} bytes`);
    await file.write(pixels);
  }
} finally {
  await file.close();
}
// The names, in order, beside the pixels: the quantizer labels rows by their folder.
await fs.writeFile(`${out}.names`, names.join('\n') + '\n');
console.error(`decoded ${names.length} images from ${dir} into ${out}`);
