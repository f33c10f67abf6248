// `npm run bench:ceiling`: the best this machine does without orchestration — a tight loop of sharp decode+resize and
// onnxruntime inference over the sample, for several layouts of processes x onnxruntime threads x batch size.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBounded } from '../lib/concurrency.js';
import { defaultModelPath, defaultSampleDir } from '../lib/config.js';
import { generatedDatasetDir } from './pipelineRun.js';
import { configureSharp, decodeImage, PIXELS_PER_IMAGE, scalePixels } from '../lib/images.js';
import { loadFeatureModel, type FeatureModel } from '../lib/model.js';
import { printTable, saveResults } from './report.js';

interface Layout {
  processes: number;
  threads: number;
  batch: number;
  decodeAhead: number;
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
  await model.embed(new Float32Array(PIXELS_PER_IMAGE * layout.batch), layout.batch);
  return model;
}

/** Decode and embed `files` in one process: reads and decodes run ahead (bounded) while batches are embedded. */
async function embedFiles(model: FeatureModel, files: string[], layout: Layout): Promise<ChildResult> {
  let decodeSeconds = 0;
  let inferSeconds = 0;
  const started = performance.now();
  const decoded = startBounded(files, layout.decodeAhead, async (file) => {
    const t0 = performance.now();
    const rgb = await decodeImage(await fs.readFile(file));
    decodeSeconds += (performance.now() - t0) / 1000;
    return rgb;
  });
  const batch = new Float32Array(PIXELS_PER_IMAGE * layout.batch);
  let filled = 0;
  const embed = async () => {
    const t0 = performance.now();
    await model.embed(batch, filled);
    inferSeconds += (performance.now() - t0) / 1000;
    filled = 0;
  };
  for (const rgb of decoded) {
    scalePixels(await rgb, batch, filled * PIXELS_PER_IMAGE);
    if (++filled === layout.batch) await embed();
  }
  if (filled > 0) await embed();
  return { images: files.length, seconds: (performance.now() - started) / 1000, decodeSeconds, inferSeconds };
}

async function listSample(dir: string): Promise<string[]> {
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
async function runLayout(files: string[], layout: Layout) {
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

const RUNS = 3;

/** Median images/s of `runs` runs of a layout (single runs on this machine vary by about 5 %). */
async function medianOfRuns(files: string[], layout: Layout, runs: number) {
  const rows = [];
  for (let run = 0; run < runs; run++) rows.push(await runLayout(files, layout));
  rows.sort((a, b) => a.imagesPerSecond - b.imagesPerSecond);
  return { ...rows[Math.floor(rows.length / 2)], runs: rows.map((r) => r.imagesPerSecond) };
}

/** Every layout on the sample, then its three best on each other dataset given (the generated 10k set by default). */
async function main() {
  const sample = process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir;
  const others = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [generatedDatasetDir];
  const grid: Layout[] = [];
  for (const [processes, threads] of [
    [1, 1],
    [1, 2],
    [2, 1],
  ]) {
    for (const batch of [8, 16, 32]) grid.push({ processes, threads, batch, decodeAhead: 8 });
  }
  grid.push(
    { processes: 2, threads: 1, batch: 16, decodeAhead: 2 },
    { processes: 2, threads: 1, batch: 16, decodeAhead: 16 },
    { processes: 2, threads: 1, batch: 8, decodeAhead: 16 },
  );
  const datasets: Record<string, { source: string; images: number; best: unknown; finalists: unknown[]; screened: unknown[] }> = {};
  let layouts = grid;
  for (const source of [sample, ...others]) {
    const files = await listSample(source).catch(() => []);
    if (files.length === 0) {
      console.error(`skipping ${source}: no images (generate the 10k set with npm run bench:make-dataset)`);
      continue;
    }
    // A single pass screens the layouts; the best three are measured again, and the best median is the ceiling, so
    // one lucky run cannot set it.
    const screened = [];
    for (const layout of layouts) {
      const row = await runLayout(files, layout);
      screened.push(row);
      console.error(JSON.stringify(row));
    }
    screened.sort((a, b) => b.imagesPerSecond - a.imagesPerSecond);
    const finalists = screened.slice(0, 3).map(({ processes, threads, batch, decodeAhead }) => ({ processes, threads, batch, decodeAhead }));
    const rows = [];
    for (const layout of finalists) rows.push(await medianOfRuns(files, layout, RUNS));
    rows.sort((a, b) => b.imagesPerSecond - a.imagesPerSecond);
    printTable(`ceiling: decode+resize+infer over ${files.length} images of ${source} (median of ${RUNS} runs)`, rows.map(({ runs, ...row }) => ({ ...row, runs: runs.map((r) => r.toFixed(1)).join(' ') })));
    datasets[path.basename(source)] = { source, images: files.length, best: rows[0], finalists: rows, screened };
    layouts = finalists;
  }
  await saveResults('ceiling', { datasets });
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
} else {
  await main();
}
