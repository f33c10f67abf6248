import fs from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { FEATURE_DIM, IMAGE_SIZE } from './config.js';
import { InputError } from './errors.js';

/** The feature extractor of this process: one onnxruntime session, shared by every activity (the weights "broadcast"). */
export interface FeatureModel {
  /** Features of `count` images laid out NHWC in `pixels` (already scaled to [-1, 1]); count x 1280 floats. */
  embed(pixels: Float32Array, count: number): Promise<Float32Array>;
  readonly path: string;
}

export interface ModelOptions {
  path: string;
  /** onnxruntime intra-op threads. */
  threads: number;
}

let loaded: { key: string; model: Promise<FeatureModel> } | undefined;

/** The process-wide model, created on first use and reused by every later call. */
export function loadFeatureModel(options: ModelOptions): Promise<FeatureModel> {
  const key = `${options.path}#${options.threads}`;
  if (loaded?.key !== key) {
    const model = createFeatureModel(options);
    // A failed load must not stick: the next activity tries again (e.g. after the file is restored).
    model.catch(() => {
      if (loaded?.model === model) loaded = undefined;
    });
    loaded = { key, model };
  }
  return loaded.model;
}

async function createFeatureModel({ path, threads }: ModelOptions): Promise<FeatureModel> {
  try {
    await fs.access(path);
  } catch {
    throw new InputError(`model file ${path} not found; set ORCHARD_MODEL_PATH to the MobileNetV2 ONNX file or run npm run setup`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new InputError(`model file ${path} could not be loaded by onnxruntime (${(err as Error).message}); check that it is the MobileNetV2 feature ONNX file`);
  }
  if (!session.inputNames.includes('input') || !session.outputNames.includes('features')) {
    throw new InputError(`model ${path} has inputs [${session.inputNames}] and outputs [${session.outputNames}]; expected "input" and "features"`);
  }
  const pixelsPerImage = IMAGE_SIZE * IMAGE_SIZE * 3;
  return {
    path,
    async embed(pixels, count) {
      const input = new ort.Tensor('float32', pixels.subarray(0, count * pixelsPerImage), [count, IMAGE_SIZE, IMAGE_SIZE, 3]);
      const output = await session.run({ input });
      const features = output.features;
      if (features.dims[1] !== FEATURE_DIM) throw new InputError(`model ${path} returned ${features.dims[1]} features per image; expected ${FEATURE_DIM}`);
      return features.data as Float32Array;
    },
  };
}
