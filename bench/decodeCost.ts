// `npm run bench:decode [-- <dataset dir> ...]`: CPU per image of each step, in one thread, on the sample and the
// 100 x 100 set: decoding, resizing, scaling and inference as the pipeline did before (sharp alone, scaling in
// JavaScript, a float input), as it does now (Orchard's JPEG decoder, scaling inside the model), and as the independent
// loop does (OpenCV, numpy). Orchard's decoder decodes and resizes in one call, so its row has no decode column.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { defaultModelPath, defaultSampleDir } from '../lib/paths.js';
import { IMAGE_SIZE, loadWorkerConfig } from '../lib/config.js';
import { configureSharp, decodePlainJpeg, decodeWithSharp, INPUT_BYTES_PER_IMAGE, MAX_INPUT_PIXELS, plainJpeg } from '../lib/features/images.js';
import { loadFeatureModel } from '../lib/features/model.js';
import { listJpegs } from './ceilingRun.js';
import { benchPython } from './independentLoop.js';
import { fruits100Dir } from './pipelineRun.js';
import { printTable, saveResults } from './report.js';

const IMAGES = 600;
// Inference in the pipeline's batches (ORCHARD_BATCH_SIZE, 2 by default).
const BATCH = loadWorkerConfig().batchSize;

/** CPU milliseconds (user + system, every thread of this process) per call of `step` over `inputs`, after a warm-up. */
async function cpuPerCall<T>(inputs: T[], step: (input: T) => unknown): Promise<number> {
  for (const input of inputs.slice(0, 20)) await step(input);
  const before = process.cpuUsage();
  for (const input of inputs) await step(input);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / inputs.length;
}

// The independent loop's steps, timed the same way in Python (time.process_time).
const opencvSteps = `
import cv2, numpy as np, sys, time, json
cv2.setNumThreads(1)
bufs = [open(f, 'rb').read() for f in sys.argv[1:]]
def cost(step):
    for b in bufs[:20]: step(b)
    t = time.process_time()
    for b in bufs: step(b)
    return (time.process_time() - t) * 1000 / len(bufs)
decode = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)
resized = lambda b: cv2.cvtColor(cv2.resize(decode(b), (224, 224), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
# Scaled per batch of 16, as ceiling.py does.
batch = [resized(b) for b in bufs[:16]]
scale = cost(lambda b: np.stack(batch).astype(np.float32) / 127.5 - 1.0) / 16
print(json.dumps({'decode': cost(decode), 'all': cost(resized) + scale, 'scale': scale}))
`;

async function opencv(files: string[]): Promise<{ decode: number; all: number; scale: number }> {
  const { stdout } = await promisify(execFile)(await benchPython(), ['-c', opencvSteps, ...files], { maxBuffer: 1 << 24 });
  return JSON.parse(stdout.trim()) as { decode: number; all: number; scale: number };
}

/** The pipeline's scaling before it moved into the model: a table lookup per byte into the float input. */
const SCALED = Float32Array.from({ length: 256 }, (_, x) => x / 127.5 - 1);
const PIXELS_PER_IMAGE = IMAGE_SIZE * IMAGE_SIZE * 3;
function scaleInJavaScript(pixels: Uint8Array, out: Float32Array): void {
  for (let i = 0, p = 0; i < PIXELS_PER_IMAGE; i += 3, p += 4) {
    out[i] = SCALED[pixels[p]];
    out[i + 1] = SCALED[pixels[p + 1]];
    out[i + 2] = SCALED[pixels[p + 2]];
  }
}

/** Inference ms per image of the model file as it is (float input, scaled already), in batches of BATCH. */
async function floatInference(modelPath: string): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const input = new ort.Tensor('float32', new Float32Array(PIXELS_PER_IMAGE * BATCH).fill(0.1), [BATCH, IMAGE_SIZE, IMAGE_SIZE, 3]);
  return (await cpuPerCall([...Array(24).keys()], () => session.run({ input }))) / BATCH;
}

async function measure(dir: string) {
  configureSharp(1);
  const files = (await listJpegs(dir)).filter((_, i, all) => i % Math.max(1, Math.floor(all.length / IMAGES)) === 0).slice(0, IMAGES);
  const bytes = await Promise.all(files.map((file) => fs.readFile(file)));
  const fast = bytes.filter((b) => plainJpeg(b));
  const floats = new Float32Array(PIXELS_PER_IMAGE);
  const bytesOut = new Uint8Array(INPUT_BYTES_PER_IMAGE);
  const sharpDecode = await cpuPerCall(bytes, (b) =>
    sharp(b, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).toColourspace('srgb').removeAlpha().raw().toBuffer(),
  );
  const sharpAll = await cpuPerCall(bytes, async (b) => scaleInJavaScript(await decodeWithSharp(b), floats));
  const sharpScale = await cpuPerCall(Array(200).fill(await decodeWithSharp(bytes[0])), (image: Uint8Array) => scaleInJavaScript(image, floats));
  // As featurizePartition does: plain JPEGs straight into the batch, the others through sharp and a copy.
  const nowAll = await cpuPerCall(bytes, async (b) => (plainJpeg(b) ? decodePlainJpeg(b, bytesOut, 0) : bytesOut.set(await decodeWithSharp(b), 0)));
  const modelPath = process.env.ORCHARD_MODEL_PATH || defaultModelPath;
  const model = await loadFeatureModel({ path: modelPath, threads: 1 });
  const batch = new Uint8Array(INPUT_BYTES_PER_IMAGE * BATCH).fill(140);
  const inference = (await cpuPerCall([...Array(24).keys()], () => model.embed(batch, BATCH))) / BATCH;
  const inferenceOfFloats = await floatInference(modelPath);
  const python = await opencv(files);
  const row = (path: string, decode: number | undefined, all: number, scale: number | undefined, infer: number) => ({
    dataset: dir.split('/').at(-1),
    path,
    'decode ms': decode,
    'resize + scale ms': decode === undefined ? undefined : all - decode,
    'of which scale (or copy) ms': scale,
    'before inference ms': all,
    'inference ms': infer,
    'total ms': all + infer,
  });
  return [
    row('sharp, scaled in JavaScript (before)', sharpDecode, sharpAll, sharpScale, inferenceOfFloats),
    row(
      `Orchard's JPEG decoder (${fast.length} of ${bytes.length} images) or sharp, scaled through a table before inference (now)`,
      undefined,
      nowAll,
      undefined,
      inference,
    ),
    row('OpenCV, numpy (independent loop)', python.decode, python.all, python.scale, inferenceOfFloats),
  ];
}

const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir, fruits100Dir];
const rows = [];
for (const dir of datasets) rows.push(...(await measure(path.resolve(dir))));
printTable(`CPU per image in one thread (${IMAGES} images per dataset; inference in batches of ${BATCH})`, rows);
await saveResults('decode', { rows });
