// `npm run bench:levers [-- <dataset dir>]`: the pipeline end to end with one setting changed at a time from the
// defaults, to see which levers matter on this machine.
import { defaultSampleDir } from '../lib/paths.js';
import { ceilingImagesPerSecond, measurePipelineRun, tableRow, type PipelineRunFigures } from './pipelineRun.js';
import { printTable, saveResults } from './report.js';

interface Lever {
  label: string;
  workerEnv?: Record<string, string>;
  partitionSize?: number;
  maxConcurrentPartitions?: number;
}

const levers: Lever[] = [
  { label: 'defaults' },
  { label: '1 process x 2 ort threads', workerEnv: { ORCHARD_WORKER_PROCESSES: '1', ORCHARD_INFERENCE_THREADS: '2' } },
  { label: '1 process x 1 ort thread', workerEnv: { ORCHARD_WORKER_PROCESSES: '1' } },
  {
    label: '2 activities per process, no partition waiting',
    workerEnv: { ORCHARD_MAX_CONCURRENT_ACTIVITIES: '2', ORCHARD_MAX_CONCURRENT_PARTITIONS: '4' },
  },
  { label: '2 activities per process', workerEnv: { ORCHARD_MAX_CONCURRENT_ACTIVITIES: '2' } },
  { label: 'batch 16', workerEnv: { ORCHARD_BATCH_SIZE: '16' } },
  { label: 'batch 32', workerEnv: { ORCHARD_BATCH_SIZE: '32' } },
  { label: 'partition 128', partitionSize: 128 },
  { label: 'partition 512', partitionSize: 512 },
  { label: '2 partitions in flight (none waiting)', maxConcurrentPartitions: 2 },
  { label: '8 partitions in flight', maxConcurrentPartitions: 8 },
  { label: 'read-ahead 4', workerEnv: { ORCHARD_READ_CONCURRENCY: '4' } },
  { label: 'read-ahead 32', workerEnv: { ORCHARD_READ_CONCURRENCY: '32' } },
  { label: '4 processes', workerEnv: { ORCHARD_WORKER_PROCESSES: '4' } },
  { label: 'sharp threads 2', workerEnv: { ORCHARD_SHARP_CONCURRENCY: '2' } },
  { label: 'libuv pool 2', workerEnv: { UV_THREADPOOL_SIZE: '2' } },
  { label: 'libuv pool 8', workerEnv: { UV_THREADPOOL_SIZE: '8' } },
];

const dataset = process.argv[2] || process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir;
const ceiling = await ceilingImagesPerSecond(dataset);
const runs: (PipelineRunFigures & { lever: Lever })[] = [];
for (const lever of levers) {
  console.error(`lever: ${lever.label}`);
  const run = await measurePipelineRun({ source: dataset, ...lever, label: lever.label.replace(/\W+/g, '-') });
  runs.push({ ...run, label: lever.label, lever });
}
printTable(
  `levers, one at a time from the defaults, on ${dataset}`,
  runs.map((run) => tableRow(run, ceiling)),
);
await saveResults('levers', { dataset, ceilingImagesPerSecond: ceiling, runs });
