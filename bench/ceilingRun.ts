// The ceiling's tight loop, shared by bench:ceiling and bench:e2e: decode+resize as the pipeline does and onnxruntime
// inference in child processes that load the model first and then start together.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBounded } from '../lib/concurrency.js';
import { defaultModelPath } from '../lib/paths.js';
import { configureSharp, decodePlainJpeg, decodeWithSharp, INPUT_BYTES_PER_IMAGE, plainJpeg } from '../lib/features/images.js';
import { loadFeatureModel, type FeatureModel } from '../lib/features/model.js';
import { medianRun } from './report.js';

/** For a dataset the ceiling benchmark has not measured: one process per core, the layout that wins on this machine. */
export const DEFAULT_LAYOUT: Layout = { processes: os.availableParallelism(), threads: 1, batch: 2, decodeAhead: 8 };

/** A layout of the tight loop: processes x onnxruntime threads x batch, and images read ahead. */
export interface Layout {
  processes: number;
  threads: number;
  batch: number;
  decodeAhead: number;
  /** How images are decoded: as the pipeline does (default), or all with sharp, as before the fast path. */
  decoder?: 'pipeline' | 'sharp';
}

interface ChildResult {
  images: number;
  seconds: number;
  decodeSeconds: number;
  inferSeconds: number;
}

/** The model for `layout`, loaded and warmed up. */
async function prepareModel(layout: Layout): Promise<FeatureModel> {
  configureSharp(1);
  const model = await loadFeatureModel({ path: process.env.ORCHARD_MODEL_PATH || defaultModelPath, threads: layout.threads });
  await model.embed(new Uint8Array(INPUT_BYTES_PER_IMAGE * layout.batch), layout.batch);
  return model;
}

/**
 * Decode and embed `files` in one process, as featurizePartition does: reads run ahead (bounded); images the fast path
 * takes are decoded in turn on this thread, the others by sharp ahead, on libuv's threads. With `decoder: 'sharp'`
 * every image is decoded by sharp ahead, as the pipeline did before the fast path.
 */
async function embedFiles(model: FeatureModel, files: string[], layout: Layout): Promise<ChildResult> {
  let decodeSeconds = 0;
  let inferSeconds = 0;
  const started = performance.now();
  const timed = <T>(work: () => T): T => {
    const t0 = performance.now();
    try {
      return work();
    } finally {
      decodeSeconds += (performance.now() - t0) / 1000;
    }
  };
  const prepared = startBounded(files, layout.decodeAhead, async (file): Promise<Buffer | Uint8Array> => {
    const bytes = await fs.readFile(file);
    return layout.decoder !== 'sharp' && plainJpeg(bytes) ? bytes : await timed(() => decodeWithSharp(bytes));
  });
  const batch = new Uint8Array(INPUT_BYTES_PER_IMAGE * layout.batch);
  let filled = 0;
  const embed = async () => {
    const t0 = performance.now();
    await model.embed(batch, filled);
    inferSeconds += (performance.now() - t0) / 1000;
    filled = 0;
  };
  for (const next of prepared) {
    const item = await next;
    const offset = filled * INPUT_BYTES_PER_IMAGE;
    if (!Buffer.isBuffer(item)) batch.set(item, offset);
    else await timed(() => decodePlainJpeg(item, batch, offset));
    if (++filled === layout.batch) await embed();
  }
  if (filled > 0) await embed();
  return { images: files.length, seconds: (performance.now() - started) / 1000, decodeSeconds, inferSeconds };
}

/** Every .jpg under `dir`, sorted. */
export async function listJpegs(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.jpg'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/**
 * Run one layout: `processes` children load the model, then all start together and each embeds a share of the
 * files. The rate is all images over the time from the common start to the last child's end, so children that
 * start early or finish early cannot flatter it.
 */
export async function runLayout(files: string[], layout: Layout) {
  const self = fileURLToPath(import.meta.url);
  const children = [...Array(layout.processes).keys()].map(() => fork(self, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const failed = new Promise<never>((_, reject) => {
    for (const child of children) {
      child.once('error', reject);
      child.once('exit', (code) => code !== 0 && reject(new Error(`child exited with ${code}`)));
    }
  });
  const message = (child: ChildProcess) => Promise.race([failed, new Promise<unknown>((resolve) => child.once('message', resolve))]);
  const ready = children.map(message);
  children.forEach((child, i) => child.send({ files: files.filter((_, index) => index % layout.processes === i), layout }));
  await Promise.all(ready);
  const done = children.map(message);
  const started = performance.now();
  for (const child of children) child.send('start');
  const results = (await Promise.all(done)) as ChildResult[];
  const seconds = (performance.now() - started) / 1000;
  return {
    ...layout,
    imagesPerSecond: files.length / seconds,
    seconds,
    inferOnlyPerSecond: files.length / Math.max(...results.map((r) => r.inferSeconds)),
  };
}

/** Median images/s of `runs` runs of a layout (single runs on this machine vary by about 5 %). */
export async function medianOfRuns(files: string[], layout: Layout, runs: number) {
  const rows = [];
  for (let run = 0; run < runs; run++) rows.push(await runLayout(files, layout));
  const { median, values } = medianRun(rows, (row) => row.imagesPerSecond);
  return { ...median, runs: values };
}

if (process.argv.includes('--child')) {
  let go: () => void;
  const start = new Promise<void>((resolve) => (go = resolve));
  process.on('message', async (message: 'start' | { files: string[]; layout: Layout }) => {
    if (message === 'start') return go();
    const model = await prepareModel(message.layout);
    process.send!('ready');
    await start;
    process.send!(await embedFiles(model, message.files, message.layout), () => process.exit(0));
  });
}
