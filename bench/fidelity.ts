// `npm run bench:fidelity [-- <dataset dir> ...]`: how far the pipeline's features moved when its decode path changed,
// and how both compare with the preprocessing of the original notebooks (Keras load_img, PIL) and of the independent
// loop (OpenCV): cosine of each image's vectors, leave-one-out 1-NN accuracy, and the PCA's explained variance.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultModelPath, defaultSampleDir, projectRoot } from '../lib/paths.js';
import { FEATURE_DIM } from '../lib/config.js';
import { configureSharp, decodeImage, decodeWithSharp, INPUT_BYTES_PER_IMAGE } from '../lib/features/images.js';
import { loadFeatureModel } from '../lib/features/model.js';
import { fitPcaFromRows } from '../lib/pca/pca.js';
import { listJpegs } from './ceilingRun.js';
import { benchPython } from './independentLoop.js';
import { fruits100Dir } from './pipelineRun.js';
import { printTable, saveResults } from './report.js';
import { cosineSummary, leaveOneOutAccuracy } from './vectorMetrics.js';

const LIMIT = Number(process.env.ORCHARD_FIDELITY_IMAGES || 900);

/** Features of `files` with one decoder, in order. */
async function features(files: string[], decode: (bytes: Buffer) => Promise<Uint8Array>): Promise<Float32Array> {
  const model = await loadFeatureModel({ path: process.env.ORCHARD_MODEL_PATH || defaultModelPath, threads: 1 });
  const out = new Float32Array(files.length * FEATURE_DIM);
  const batch = new Uint8Array(8 * INPUT_BYTES_PER_IMAGE);
  for (let start = 0; start < files.length; start += 8) {
    const chunk = files.slice(start, start + 8);
    for (const [i, file] of chunk.entries()) batch.set(await decode(await fs.readFile(file)), i * INPUT_BYTES_PER_IMAGE);
    out.set(await model.embed(batch, chunk.length), start * FEATURE_DIM);
  }
  return out;
}

async function measure(dir: string) {
  configureSharp(1);
  const all = await listJpegs(dir);
  const files = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / LIMIT)) === 0).slice(0, LIMIT);
  const labels = files.map((file) => path.basename(path.dirname(file)));
  const rows = (vectors: Float32Array) => ({ paths: files, labels, vectors, dim: FEATURE_DIM });
  const today = await features(files, decodeWithSharp);
  const methods: Record<string, Float32Array> = { 'sharp (before)': today, 'pipeline (now)': await features(files, decodeImage) };
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'orchard-fidelity-'));
  try {
    await fs.writeFile(path.join(scratch, 'files.json'), JSON.stringify(files));
    const script = path.join(projectRoot, 'bench', 'fidelity.py');
    const { stdout } = await promisify(execFile)(
      await benchPython(),
      [script, process.env.ORCHARD_MODEL_PATH || defaultModelPath, path.join(scratch, 'files.json'), scratch],
      { maxBuffer: 1 << 24 },
    );
    for (const name of JSON.parse(stdout.trim()) as string[]) {
      const bytes = await fs.readFile(path.join(scratch, `${name}.f32`));
      methods[name] = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  const variance = async (vectors: Float32Array) => (await fitPcaFromRows(vectors, files.length, FEATURE_DIM, 5)).explainedVariance;
  const reference = await variance(today);
  const now = methods['pipeline (now)'];
  const result = [];
  for (const [name, vectors] of Object.entries(methods)) {
    const vsToday = cosineSummary(vectors, today, files.length, FEATURE_DIM);
    const vsNow = cosineSummary(vectors, now, files.length, FEATURE_DIM);
    const ev = await variance(vectors);
    result.push({
      dataset: path.basename(dir),
      preprocessing: name,
      images: files.length,
      'cosine to sharp: mean': vsToday.mean,
      min: vsToday.min,
      p5: vsToday.p5,
      'cosine to pipeline: mean': vsNow.mean,
      'LOO 1-NN': leaveOneOutAccuracy(rows(vectors)),
      'max |EV - EV sharp|': Math.max(...ev.map((v, i) => Math.abs(v - reference[i]))),
    });
  }
  return result;
}

const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir, fruits100Dir];
const rows = [];
for (const dir of datasets) rows.push(...(await measure(path.resolve(dir))));
printTable('features by preprocessing, against the pipeline before (sharp) and now', rows);
await saveResults('fidelity', { rows });
