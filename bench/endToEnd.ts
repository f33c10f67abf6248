// `npm run bench:e2e [-- <dataset dir> ...]`: the real pipeline through Temporal (dev server, worker processes) on the
// 900-image sample and on the generated 10,000-image set, with stage times, peak memory and the ratio to the ceiling.
import fs from 'node:fs/promises';
import path from 'node:path';
import { defaultSampleDir } from '../lib/config.js';
import { ceilingImagesPerSecond, generatedDatasetDir, measurePipelineRun, tableRow, type PipelineRunFigures } from './pipelineRun.js';
import { printTable, saveResults } from './report.js';

const datasets = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir, generatedDatasetDir];
for (const dir of datasets) {
  await fs.access(dir).catch(() => {
    console.error(`error: dataset ${dir} not found${dir === generatedDatasetDir ? '; generate it with npm run bench:make-dataset' : ''}`);
    process.exit(2);
  });
}
// Single runs on this machine vary by about 5 %: each dataset runs three times and the median run is reported.
const RUNS = 3;
const runs: (PipelineRunFigures & { ceilingImagesPerSecond?: number; imagesPerSecondOfRuns: number[] })[] = [];
for (const dir of datasets) {
  const measured: PipelineRunFigures[] = [];
  for (let run = 1; run <= RUNS; run++) {
    console.error(`running the pipeline on ${dir} (run ${run} of ${RUNS})`);
    measured.push(await measurePipelineRun({ source: dir, label: path.basename(dir) }));
  }
  measured.sort((a, b) => a.imagesPerSecond - b.imagesPerSecond);
  const median = measured[Math.floor(RUNS / 2)];
  runs.push({ ...median, imagesPerSecondOfRuns: measured.map((run) => run.imagesPerSecond), ceilingImagesPerSecond: await ceilingImagesPerSecond(dir) });
}
printTable(
  `end to end through Temporal (default worker settings), median of ${RUNS} runs`,
  runs.map((run) => ({ ...tableRow(run, run.ceilingImagesPerSecond), runs: run.imagesPerSecondOfRuns.map((r) => r.toFixed(1)).join(' ') })),
);
printTable(
  'stage wall times (s) and time summed inside featurize activities (s)',
  runs.map((run) => ({ run: run.label, ...run.stages, ...Object.fromEntries(Object.entries(run.featurizeSums).map(([k, v]) => [`sum ${k}`, v])) })),
);
await saveResults('end-to-end', { runs });
