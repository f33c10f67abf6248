import fs from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { FEATURE_DIM, IMAGE_SIZE } from '../config.js';
import { InputError } from '../errors.js';
import { prependToModel, type OnnxNode } from '../pca/onnxGraph.js';

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

// The model's first nodes take RGBA bytes, as both decoders give them: drop the alpha, then Keras `preprocess_input`
// for MobileNetV2 (x / 127.5 - 1). onnxruntime does this several times faster than a JavaScript loop, and the
// decoded image goes into the batch in one copy.
const scaleInput: OnnxNode[] = [
  { opType: 'Constant', inputs: [], outputs: ['orchard_from'], attributes: { value_ints: [0] } },
  { opType: 'Constant', inputs: [], outputs: ['orchard_to'], attributes: { value_ints: [3] } },
  { opType: 'Constant', inputs: [], outputs: ['orchard_channel_axis'], attributes: { value_ints: [3] } },
  { opType: 'Slice', inputs: ['orchard_rgba', 'orchard_from', 'orchard_to', 'orchard_channel_axis'], outputs: ['orchard_rgb'] },
  { opType: 'Cast', inputs: ['orchard_rgb'], outputs: ['orchard_rgb_float'], attributes: { to: 1 } },
  { opType: 'Constant', inputs: [], outputs: ['orchard_step'], attributes: { value_float: { float: 127.5 } } },
  { opType: 'Constant', inputs: [], outputs: ['orchard_one'], attributes: { value_float: { float: 1 } } },
  { opType: 'Div', inputs: ['orchard_rgb_float', 'orchard_step'], outputs: ['orchard_ratio'] },
  { opType: 'Sub', inputs: ['orchard_ratio', 'orchard_one'], outputs: ['input'] },
];

/** The model file with `scaleInput` in front: its input is `orchard_rgba`, uint8 NHWC. */
async function modelTakingBytes(path: string, fix: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path);
  } catch (err) {
    const problem = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `cannot be read (${(err as Error).message})`;
    throw new InputError(`model file ${path} ${problem}; ${fix}`);
  }
  try {
    return prependToModel(bytes, {
      replaces: 'input',
      input: { name: 'orchard_rgba', type: 'uint8', shape: ['N', IMAGE_SIZE, IMAGE_SIZE, 4] },
      nodes: scaleInput,
    });
  } catch (err) {
    throw new InputError(`model file ${path}: ${(err as Error).message}; expected the MobileNetV2 feature ONNX file, whose input is "input"`);
  }
}

async function createFeatureModel({ path, threads, fix }: ModelOptions): Promise<FeatureModel> {
  const model = await modelTakingBytes(path, fix ?? 'set ORCHARD_MODEL_PATH to the MobileNetV2 ONNX file or run npm run setup');
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
  if (!session.outputNames.includes('features')) {
    throw new InputError(`model ${path} has outputs [${session.outputNames.join(', ')}]; expected "features"`);
  }
  const bytesPerImage = IMAGE_SIZE * IMAGE_SIZE * 4;
  return {
    path,
    async embed(pixels, count) {
      const input = new ort.Tensor('uint8', pixels.subarray(0, count * bytesPerImage), [count, IMAGE_SIZE, IMAGE_SIZE, 4]);
      const output = await session.run({ orchard_rgba: input });
      const features = output.features;
      if (features.dims[1] !== FEATURE_DIM)
        throw new InputError(`model ${path} returned ${features.dims[1]} features per image; expected ${FEATURE_DIM}`);
      return features.data as Float32Array;
    },
  };
}
