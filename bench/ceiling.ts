// `npm run bench:ceiling`: the best this machine does without orchestration — a tight loop of sharp decode+resize and
// onnxruntime inference over the sample, for several layouts of processes x onnxruntime threads x batch size.
import { fork } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBounded } from '../lib/concurrency.js';
import { defaultModelPath, defaultSampleDir } from '../lib/config.js';
import { generatedDatasetDir } from './pipelineRun.js';
import { configureSharp, decodeImage, PIXELS_PER_IMAGE, scalePixels } from '../lib/images.js';
import { loadFeatureModel } from '../lib/model.js';
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

/** Decode and embed `files` in one process: reads and decodes run ahead (bounded) while batches are embedded. */
async function embedFiles(files: string[], layout: Layout): Promise<ChildResult> {
  configureSharp(1);
  const model = await loadFeatureModel({ path: process.env.ORCHARD_MODEL_PATH || defaultModelPath, threads: layout.threads });
  await model.embed(new Float32Array(PIXELS_PER_IMAGE * layout.batch), layout.batch); // warm-up
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

/** Run one layout: `processes` children each embed a share of the files at the same time. */
async function runLayout(files: string[], layout: Layout) {
  const self = fileURLToPath(import.meta.url);
  const started = performance.now();
  const results = await Promise.all(
    [...Array(layout.processes).keys()].map(
      (i) =>
        new Promise<ChildResult>((resolve, reject) => {
          const share = files.filter((_, index) => index % layout.processes === i);
          const child = fork(self, ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
          child.once('message', (message) => resolve(message as ChildResult));
          child.once('error', reject);
          child.once('exit', (code) => code !== 0 && reject(new Error(`child exited with ${code}`)));
          child.send({ files: share, layout });
        }),
    ),
  );
  const wall = (performance.now() - started) / 1000;
  // Each child times its own loop after loading the model: the rate is images over the slowest child's loop.
  const loop = Math.max(...results.map((r) => r.seconds));
  return {
    ...layout,
    imagesPerSecond: files.length / loop,
    wallSeconds: wall,
    inferOnlyPerSecond: files.length / Math.max(...results.map((r) => r.inferSeconds)),
  };
}

/** Every layout on the sample, then the best three on each other dataset given (the generated 10k set by default). */
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
  grid.push({ processes: 2, threads: 1, batch: 16, decodeAhead: 2 }, { processes: 2, threads: 1, batch: 16, decodeAhead: 16 });
  const datasets: Record<string, { source: string; images: number; best: unknown; layouts: unknown[] }> = {};
  let layouts = grid;
  for (const source of [sample, ...others]) {
    const files = await listSample(source).catch(() => []);
    if (files.length === 0) {
      console.error(`skipping ${source}: no images (generate the 10k set with npm run bench:make-dataset)`);
      continue;
    }
    const rows = [];
    for (const layout of layouts) {
      const row = await runLayout(files, layout);
      rows.push(row);
      console.error(JSON.stringify(row));
    }
    rows.sort((a, b) => b.imagesPerSecond - a.imagesPerSecond);
    printTable(`ceiling: decode+resize+infer over ${files.length} images of ${source}`, rows);
    datasets[path.basename(source)] = { source, images: files.length, best: rows[0], layouts: rows };
    layouts = rows.slice(0, 3).map(({ processes, threads, batch, decodeAhead }) => ({ processes, threads, batch, decodeAhead }));
  }
  await saveResults('ceiling', { datasets });
}

if (process.argv.includes('--child')) {
  process.once('message', async (message: { files: string[]; layout: Layout }) => {
    process.send!(await embedFiles(message.files, message.layout), () => process.exit(0));
  });
} else {
  await main();
}
