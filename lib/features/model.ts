import fs from 'node:fs/promises';
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { FEATURE_DIM, IMAGE_SIZE } from '../config.js';
import { InputError } from '../errors.js';

/** The feature extractor of this process: one onnxruntime session, shared by every activity (the weights "broadcast"). */
export interface FeatureModel {
  /** Features of `count` 224 x 224 RGBA images laid out NHWC in `pixels` (alpha ignored); count x 1280 floats. */
  embed(pixels: Uint8Array, count: number): Promise<Float32Array>;
  readonly path: string;
}

export interface ModelOptions {
  path: string;
  /** onnxruntime intra-op threads. */
  threads: number;
  /** What to do when the file is missing, if not to set ORCHARD_MODEL_PATH. */
  fix?: string;
}

// One session per model file (fp32, int8) for the life of the process.
const loaded = new Map<string, Promise<FeatureModel>>();

/** The process-wide model of `options.path`, created on first use and reused by every later call. */
export function loadFeatureModel(options: ModelOptions): Promise<FeatureModel> {
  const key = `${options.path}#${options.threads}`;
  let model = loaded.get(key);
  if (!model) {
    model = createFeatureModel(options);
    // A failed load must not stick: the next activity tries again (e.g. after the file is restored).
    model.catch(() => loaded.delete(key));
    loaded.set(key, model);
  }
  return model;
}

// Keras `preprocess_input` for MobileNetV2 (x / 127.5 - 1) of every byte value, each step rounded to float32 as
// onnxruntime's Div and Sub round it, so the model sees exactly the values those two nodes would give it. Looking the
// values up costs about 0.14 ms per image; the same scaling as nodes in front of the model (Slice, Cast, Div, Sub over
// the batch) cost 0.3-0.6 ms (bench/README.md, "Scaling the pixels").
const SCALED = Float32Array.from({ length: 256 }, (_, v) => Math.fround(Math.fround(v / 127.5) - 1));
const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

const littleEndian = os.endianness() === 'LE';

/** The model's input for `count` RGBA images: RGB scaled to [-1, 1], NHWC, alpha dropped. */
function scaleInto(rgba: Uint8Array, count: number, input: Float32Array): void {
  if (littleEndian && rgba.byteOffset % 4 === 0) {
    // A pixel's four bytes read at once: a fifth faster than byte by byte.
    const words = new Uint32Array(rgba.buffer, rgba.byteOffset, count * PIXELS);
    for (let i = 0, q = 0; i < words.length; i++, q += 3) {
      const word = words[i];
      input[q] = SCALED[word & 255];
      input[q + 1] = SCALED[(word >>> 8) & 255];
      input[q + 2] = SCALED[(word >>> 16) & 255];
    }
    return;
  }
  for (let p = 0, q = 0, end = count * PIXELS * 4; p < end; p += 4, q += 3) {
    input[q] = SCALED[rgba[p]];
    input[q + 1] = SCALED[rgba[p + 1]];
    input[q + 2] = SCALED[rgba[p + 2]];
  }
}

/** The model file's bytes, or an InputError naming the fix. */
async function readModelFile(path: string, fix: string): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (err) {
    const problem = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `cannot be read (${(err as Error).message})`;
    throw new InputError(`model file ${path} ${problem}; ${fix}`);
  }
}

async function createFeatureModel({ path, threads, fix }: ModelOptions): Promise<FeatureModel> {
  const model = await readModelFile(path, fix ?? 'set ORCHARD_MODEL_PATH to the MobileNetV2 ONNX file or run npm run setup');
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new InputError(
      `model file ${path} could not be loaded by onnxruntime (${(err as Error).message}); check that it is the MobileNetV2 feature ONNX file`,
    );
  }
  if (!session.inputNames.includes('input') || !session.outputNames.includes('features')) {
    throw new InputError(
      `model ${path} has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; expected the MobileNetV2 ` +
        'feature ONNX file, whose input is "input" and output "features"',
    );
  }
  // Input buffers of finished runs, reused: a batch's input (1.2 MB at 2 images) allocated anew each time would add
  // garbage collections. One per run in flight, as the input must stay untouched until its run has read it.
  const free: Float32Array[] = [];
  return {
    path,
    async embed(pixels, count) {
      if (!Number.isInteger(count) || count < 1 || pixels.length < count * PIXELS * 4)
        throw new Error(`embed: ${count} images of ${IMAGE_SIZE} x ${IMAGE_SIZE} RGBA need ${count * PIXELS * 4} bytes, got ${pixels.length}`);
      const size = count * PIXELS * 3;
      let buffer = free.pop();
      if (!buffer || buffer.length < size) buffer = new Float32Array(size);
      try {
        scaleInto(pixels, count, buffer);
        const input = new ort.Tensor('float32', buffer.subarray(0, size), [count, IMAGE_SIZE, IMAGE_SIZE, 3]);
        const features = (await session.run({ input })).features;
        if (features.dims[1] !== FEATURE_DIM)
          throw new InputError(`model ${path} returned ${features.dims[1]} features per image; expected ${FEATURE_DIM}`);
        return features.data as Float32Array;
      } finally {
        free.push(buffer);
      }
    },
  };
}
