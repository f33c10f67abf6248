// `npm run bench:int8 [-- <dataset dir> ...]`: the pipeline end to end with the int8 model against the fp32 one, side
// by side: on one fresh server and worker pool per dataset, a warm-up run, then fp32 and int8 runs alternating
// (ROUNDS each), so both meet the same minutes of this noisy machine. Prints and saves medians, each pair's ratio, and
// the int8 model's recorded fidelity (.orchard/models/mobilenet_v2_int8.json).
import fs from 'node:fs/promises';
import path from 'node:path';
import { defaultInt8ModelPath, defaultSampleDir } from '../lib/paths.js';
import type { Precision } from '../lib/contract.js';
import { fruits100Dir, measurePipelineRuns, type PipelineRunFigures } from './pipelineRun.js';
import { medianRun, printTable, saveResults } from './report.js';

const ROUNDS = 3;
const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir, fruits100Dir];
for (const file of [defaultInt8ModelPath, ...datasets]) {
  await fs.access(file).catch(() => {
    console.error(`error: ${file} not found (the int8 model: npm run setup; the 100 x 100 set: npm run bench:make-dataset, see bench/README.md)`);
    process.exit(2);
  });
}
// Run 1 warms the pool up; then int8, fp32, int8, fp32...
const precisionOfRun = (n: number): Precision => (n === 1 || n % 2 === 1 ? 'fp32' : 'int8');

const rows = [];
const results = [];
for (const dir of datasets) {
  console.error(`${dir}: a warm-up run, then ${ROUNDS} int8 and ${ROUNDS} fp32 runs alternating, on the same workers`);
  const runs = await measurePipelineRuns({ source: dir, label: `int8-${path.basename(dir)}`, precisionOfRun }, 1 + 2 * ROUNDS);
  const measured = runs.slice(1).map((figures, i) => ({ figures, precision: precisionOfRun(i + 2) }));
  const of = (precision: Precision): PipelineRunFigures[] => measured.filter((run) => run.precision === precision).map((run) => run.figures);
  const int8 = medianRun(of('int8'), (run) => run.imagesPerSecond);
  const fp32 = medianRun(of('fp32'), (run) => run.imagesPerSecond);
  // Each int8 run against the fp32 run right after it.
  const pairRatios = of('int8').map((run, i) => run.imagesPerSecond / of('fp32')[i].imagesPerSecond);
  rows.push({
    dataset: path.basename(dir),
    images: int8.median.images,
    'fp32 images/s': fp32.median.imagesPerSecond,
    'int8 images/s': int8.median.imagesPerSecond,
    'int8 x fp32': int8.median.imagesPerSecond / fp32.median.imagesPerSecond,
    'pairs int8 x fp32': pairRatios.map((r) => r.toFixed(2)).join(' '),
    'fp32 runs': fp32.values.map((r) => r.toFixed(1)).join(' '),
    'int8 runs': int8.values.map((r) => r.toFixed(1)).join(' '),
  });
  results.push({ dataset: dir, fp32: fp32.median, int8: int8.median, fp32Runs: fp32.values, int8Runs: int8.values, pairRatios });
}
const fidelity = JSON.parse(await fs.readFile(defaultInt8ModelPath.replace(/\.onnx$/, '.json'), 'utf8')) as Record<string, unknown>;
printTable(`int8 against fp32, end to end through Temporal, medians of ${ROUNDS} alternating runs each`, rows);
console.log(`int8 model fidelity (recorded when setup built it): ${JSON.stringify(fidelity.fidelity)}`);
console.log(`saved ${await saveResults('int8', { rounds: ROUNDS, results, model: fidelity })}`);
