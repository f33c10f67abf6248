// `npm run bench:decode [-- <dataset dir> ...]`: CPU per image of each step before inference, in one thread, on the
// sample and the 100 x 100 set: decoding, resizing and scaling as the pipeline did with sharp alone, as it does now,
// and as the independent loop does with OpenCV; and inference itself, for scale.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Transformer } from '@napi-rs/image';
import sharp from 'sharp';
import { defaultModelPath, defaultSampleDir } from '../lib/config.js';
import { configureSharp, decodeFast, decodeWithSharp, fastJpeg, MAX_INPUT_PIXELS, PIXELS_PER_IMAGE, scalePixels } from '../lib/images.js';
import { loadFeatureModel } from '../lib/model.js';
import { listJpegs } from './ceilingRun.js';
import { benchPython } from './independentLoop.js';
import { fruits100Dir } from './pipelineRun.js';
import { printTable, saveResults } from './report.js';

const IMAGES = 600;
const BATCH = 8;

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

async function measure(dir: string) {
  configureSharp(1);
  const files = (await listJpegs(dir)).filter((_, i, all) => i % Math.max(1, Math.floor(all.length / IMAGES)) === 0).slice(0, IMAGES);
  const bytes = await Promise.all(files.map((file) => fs.readFile(file)));
  const fast = bytes.filter((b) => fastJpeg(b));
  const out = new Float32Array(PIXELS_PER_IMAGE);
  const sharpDecode = await cpuPerCall(bytes, (b) => sharp(b, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).toColourspace('srgb').removeAlpha().raw().toBuffer());
  const sharpAll = await cpuPerCall(bytes, async (b) => scalePixels(await decodeWithSharp(b), out, 0));
  const sharpScale = await cpuPerCall([await decodeWithSharp(bytes[0])], (image) => scalePixels(image, out, 0));
  const fastDecode = await cpuPerCall(fast, (b) => new Transformer(b).rawPixelsSync());
  const fastAll = await cpuPerCall(fast, (b) => scalePixels(decodeFast(b, fastJpeg(b)!), out, 0));
  const fastScale = await cpuPerCall([decodeFast(fast[0], fastJpeg(fast[0])!)], (image) => scalePixels(image, out, 0));
  const model = await loadFeatureModel({ path: process.env.ORCHARD_MODEL_PATH || defaultModelPath, threads: 1 });
  const batch = new Float32Array(PIXELS_PER_IMAGE * BATCH).fill(0.1);
  const inference = (await cpuPerCall([...Array(12).keys()], () => model.embed(batch, BATCH))) / BATCH;
  const python = await opencv(files);
  const row = (path: string, decode: number, all: number, scale: number) => ({
    dataset: dir.split('/').at(-1),
    path,
    'decode ms': decode,
    'resize + scale ms': all - decode,
    'of which scale ms': scale,
    'before inference ms': all,
    'inference ms': inference,
  });
  return [
    row('sharp (before)', sharpDecode, sharpAll, sharpScale),
    { ...row(`fast path (now; ${fast.length} of ${bytes.length} images take it)`, fastDecode, fastAll, fastScale) },
    row('OpenCV (independent loop)', python.decode, python.all, python.scale),
  ];
}

const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir, fruits100Dir];
const rows = [];
for (const dir of datasets) rows.push(...(await measure(path.resolve(dir))));
printTable(`CPU per image in one thread (${IMAGES} images per dataset; inference in batches of ${BATCH})`, rows);
await saveResults('decode', { rows });
