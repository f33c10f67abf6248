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
const runs: (PipelineRunFigures & { ceilingImagesPerSecond?: number })[] = [];
for (const dir of datasets) {
  console.error(`running the pipeline on ${dir}`);
  runs.push({ ...(await measurePipelineRun({ source: dir, label: path.basename(dir) })), ceilingImagesPerSecond: await ceilingImagesPerSecond(dir) });
}
printTable('end to end through Temporal (default worker settings)', runs.map((run) => tableRow(run, run.ceilingImagesPerSecond)));
printTable(
  'stage wall times (s) and time summed inside featurize activities (s)',
  runs.map((run) => ({ run: run.label, ...run.stages, ...Object.fromEntries(Object.entries(run.featurizeSums).map(([k, v]) => [`sum ${k}`, v])) })),
);
await saveResults('end-to-end', { runs });
