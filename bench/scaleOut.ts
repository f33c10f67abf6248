// `npm run bench:scale-out [-- <dataset dir>]`: 1, 2 and 4 worker processes against one server on this machine.
import { ceilingImagesPerSecond, generatedDatasetDir, measurePipelineRun, tableRow, type PipelineRunFigures } from './pipelineRun.js';
import { printTable, saveResults } from './report.js';

const dataset = process.argv[2] || generatedDatasetDir;
const ceiling = await ceilingImagesPerSecond(dataset);
const runs: PipelineRunFigures[] = [];
for (const workers of [1, 2, 4]) {
  console.error(`${workers} worker process(es) on ${dataset}`);
  runs.push(await measurePipelineRun({ source: dataset, workers, label: `${workers}-workers` }));
}
printTable(
  `scale-out on one machine: ${dataset}`,
  runs.map((run) => tableRow(run, ceiling)),
);
await saveResults('scale-out', { dataset, ceilingImagesPerSecond: ceiling, runs });
