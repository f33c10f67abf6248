// One measured run of the real pipeline: a Temporal dev server, N worker processes, the workflow through the client.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { connectClient, formatProgress, runPipeline } from '../lib/temporal/client.js';
import { loadWorkerConfig } from '../lib/config.js';
import { projectRoot, stateDir } from '../lib/paths.js';
import type { Precision, RunSummary } from '../lib/contract.js';
import { startDevServer, type DevServer } from '../dev/devServer.js';
import { findFreePortBase } from '../dev/ports.js';
import { startWorkerPool, type WorkerPool } from '../workers/workerPool.js';
import type { Layout } from './ceilingRun.js';

/** Where the README's `npm run bench:make-dataset` commands write the 10,000-image set and the 100 x 100 set. */
export const generatedDatasetDir = path.join(stateDir, 'datasets', 'fruits-10k');
export const fruits100Dir = path.join(stateDir, 'datasets', 'fruits-100px-4k');

export interface PipelineRunOptions {
  source: string;
  /** Worker processes; default: what `npm run worker` starts (ORCHARD_WORKER_PROCESSES, one per core). */
  workers?: number;
  /** Extra environment for every worker process (ORCHARD_* tuning). */
  workerEnv?: Record<string, string>;
  partitionSize?: number;
  maxConcurrentPartitions?: number;
  /** The model's precision of run n (1-based) of measurePipelineRuns; default fp32. */
  precisionOfRun?: (n: number) => Precision;
  label: string;
}

export interface PipelineRunFigures {
  label: string;
  images: number;
  workers: number;
  wallSeconds: number;
  imagesPerSecond: number;
  /** Workflow wall time per stage, seconds. */
  stages: Record<string, number>;
  /** Time inside featurize activities summed over partitions, seconds (overlapping work adds up). */
  featurizeSums: Record<string, number>;
  /** Share of the workflow's wall time in which no activity was running: scheduling, workflow tasks, gaps. */
  orchestrationOverhead: number;
  /** Share of worker activity slots idle during featurization. */
  featurizeSlotIdle: number;
  peakRssMiB: Record<string, number>;
  /** Resident memory of each worker at each quarter of the run, MiB: flat when nothing accumulates. */
  workerRssByQuarterMiB: number[][];
  /** CPU seconds used by the worker processes during the run, over (cores x wall seconds). */
  workerCpuUtilisation: number;
  /** CPU seconds each process used during the run: the Temporal server and the client share the cores too. */
  cpuSeconds: Record<string, number>;
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (!pid) return NaN;
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function statusMiB(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  if (!pid) return NaN;
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

const peakRssMiB = (pid: number | undefined) => statusMiB(pid, 'VmHWM');

/** Activity busy intervals of a workflow run, local activities included, from its history (milliseconds since epoch). */
async function activityIntervals(client: Client, workflowId: string, runId: string) {
  const intervals: { type: string; start: number; end: number }[] = [];
  let next: string | undefined = runId;
  let first = Infinity;
  let last = 0;
  while (next) {
    const history = await client.workflow.getHandle(workflowId, next).fetchHistory();
    const started = new Map<string, { type: string; start: number }>();
    const scheduled = new Map<string, string>();
    const time = (t: unknown) => {
      const ts = t as { seconds?: { toNumber(): number } | number; nanos?: number };
      const seconds = typeof ts.seconds === 'number' ? ts.seconds : (ts.seconds?.toNumber() ?? 0);
      return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
    };
    next = undefined;
    let taskCompleted = 0;
    for (const event of history.events ?? []) {
      const at = time(event.eventTime);
      first = Math.min(first, at);
      last = Math.max(last, at);
      const id = String(event.eventId);
      if (event.activityTaskScheduledEventAttributes) scheduled.set(id, event.activityTaskScheduledEventAttributes.activityType?.name ?? '');
      if (event.activityTaskStartedEventAttributes) {
        started.set(id, { type: scheduled.get(String(event.activityTaskStartedEventAttributes.scheduledEventId)) ?? '', start: at });
      }
      const done = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
      if (done) {
        const begin = started.get(String(done.startedEventId));
        if (begin) intervals.push({ ...begin, end: at });
      }
      if (event.workflowTaskCompletedEventAttributes) taskCompleted = at;
      // A local activity leaves a marker after the workflow task that ran it. Its times do not share one clock (its
      // completion can read earlier than its scheduling), so it counts as running from its scheduling to the end of
      // that task: local activities in one task run back to back.
      const marker = event.markerRecordedEventAttributes;
      const data = marker?.markerName === 'core_local_activity' ? marker.details?.data?.payloads?.[0]?.data : undefined;
      if (data) {
        const local = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string; original_schedule_time: unknown };
        intervals.push({ type: local.activity_type, start: Math.min(time(local.original_schedule_time), taskCompleted), end: taskCompleted });
      }
      next = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? next;
    }
  }
  return { intervals, first, last };
}

function unionLength(intervals: { start: number; end: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let from = -Infinity;
  let to = -Infinity;
  for (const { start, end } of sorted) {
    if (start > to) {
      total += to - from > 0 ? to - from : 0;
      from = start;
      to = end;
    } else to = Math.max(to, end);
  }
  return total + (to - from > 0 ? to - from : 0);
}

/** Run the pipeline once on a fresh server and workers, and measure it. */
export async function measurePipelineRun(options: PipelineRunOptions): Promise<PipelineRunFigures> {
  const [run] = await measurePipelineRuns(options, 1);
  return run;
}

/**
 * Run the pipeline `count` times in a row on one fresh server and one set of fresh workers, and measure each run: the
 * first shows what a run gets from workers started just before it, the later ones what long-lived workers give.
 */
export async function measurePipelineRuns(options: PipelineRunOptions, count: number): Promise<PipelineRunFigures[]> {
  const base = await findFreePortBase([0, 1000]);
  const benchDir = path.join(stateDir, 'bench');
  await fs.mkdir(benchDir, { recursive: true });
  const dbFile = path.join(benchDir, `temporal-${base}.db`);
  const outputs: string[] = [];
  let server: DevServer | undefined;
  let pool: WorkerPool | undefined;
  const workerConfig = loadWorkerConfig({ ...process.env, ...options.workerEnv });
  const workerCount = options.workers ?? workerConfig.processes;
  try {
    server = await startDevServer({ port: base, uiPort: base + 1000, dbFile });
    const taskQueue = `bench-${base}`;
    pool = startWorkerPool(workerCount, {
      TEMPORAL_ADDRESS: server.address,
      ORCHARD_TASK_QUEUE: taskQueue,
      ORCHARD_LOG_LEVEL: 'WARN',
      ...options.workerEnv,
    });
    // Start timing once every worker polls: bundling the workflow code at start-up is not pipeline time.
    await pool.ready;
    const client = await connectClient(server.address);
    const figures: PipelineRunFigures[] = [];
    for (let n = 1; n <= count; n++) {
      // Each run writes to its own output, so a later run does not archive an earlier one's result on top.
      const output = path.join(benchDir, `out-${options.label}-${base}-${n}`);
      outputs.push(output);
      figures.push(
        await measureRun(client, server, pool, {
          ...options,
          workerCount,
          slots: workerCount * workerConfig.maxConcurrentActivities,
          taskQueue,
          output,
          workflowId: `bench-${options.label}-${base}-${n}`,
          precision: options.precisionOfRun?.(n) ?? 'fp32',
        }),
      );
    }
    await client.connection.close();
    return figures;
  } finally {
    await pool?.stop();
    await server?.stop();
    for (const output of outputs) await fs.rm(output, { recursive: true, force: true });
    await fs.rm(dbFile, { force: true });
  }
}

async function measureRun(
  client: Client,
  server: DevServer,
  pool: WorkerPool,
  run: PipelineRunOptions & { workerCount: number; slots: number; taskQueue: string; output: string; workflowId: string; precision: Precision },
): Promise<PipelineRunFigures> {
  const input = {
    // A dataset named on the command line may be relative; the worker takes absolute paths only.
    source: path.resolve(run.source),
    output: run.output,
    ...(run.partitionSize ? { partitionSize: run.partitionSize } : {}),
    ...(run.maxConcurrentPartitions ? { maxConcurrentPartitions: run.maxConcurrentPartitions } : {}),
    precision: run.precision,
  };
  const measured = [server.process.pid, process.pid, ...pool.children.map((child) => child.pid)];
  const cpuBefore = await Promise.all(measured.map(cpuSeconds));
  const rssSamples: number[][] = [];
  const sampler = setInterval(() => {
    void Promise.all(pool.children.map((child) => statusMiB(child.pid, 'VmRSS'))).then((sample) => rssSamples.push(sample));
  }, 500);
  const started = performance.now();
  const summary: RunSummary = await runPipeline(client, input, {
    taskQueue: run.taskQueue,
    workflowId: run.workflowId,
    onProgress: (progress, elapsedMs) => process.stderr.write(`  ${formatProgress(progress, elapsedMs)}\n`),
    intervalMs: 5000,
  });
  const wallSeconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const quarters = [0.25, 0.5, 0.75, 1].map((q) => rssSamples[Math.max(0, Math.ceil(q * rssSamples.length) - 1)] ?? []);
  const cpuAfter = await Promise.all(measured.map(cpuSeconds));
  const cpuUsed = cpuAfter.map((after, i) => after - cpuBefore[i]);
  const workerCpu = cpuUsed.slice(2).reduce((sum, used) => sum + used, 0);
  const { intervals, first, last } = await activityIntervals(client, run.workflowId, summary.runId);
  const featurize = intervals.filter((i) => i.type === 'featurizePartition');
  const featurizeWall = Math.max(...featurize.map((i) => i.end)) - Math.min(...featurize.map((i) => i.start));
  const busy = featurize.reduce((sum, i) => sum + (i.end - i.start), 0);
  const peakRssMiBs: Record<string, number> = { server: await peakRssMiB(server.process.pid), client: await peakRssMiB(process.pid) };
  for (const [i, worker] of pool.children.entries()) peakRssMiBs[`worker${i + 1}`] = await peakRssMiB(worker.pid);
  const seconds = (record: Record<string, number>) => Object.fromEntries(Object.entries(record).map(([k, v]) => [k, v / 1000]));
  return {
    label: run.label,
    images: summary.featurized + summary.failed,
    workers: run.workerCount,
    wallSeconds,
    imagesPerSecond: (summary.featurized + summary.failed) / wallSeconds,
    stages: seconds(summary.timings),
    featurizeSums: seconds(summary.featurizeTimings),
    orchestrationOverhead: 1 - unionLength(intervals) / (last - first),
    featurizeSlotIdle: 1 - busy / (run.slots * featurizeWall),
    peakRssMiB: peakRssMiBs,
    workerCpuUtilisation: workerCpu / (os.availableParallelism() * wallSeconds),
    cpuSeconds: Object.fromEntries(['server', 'client', ...pool.children.map((_, i) => `worker${i + 1}`)].map((name, i) => [name, cpuUsed[i]])),
    workerRssByQuarterMiB: pool.children.map((_, i) => quarters.map((sample) => sample[i])),
  };
}

type SavedCeiling = { figures: { datasets: Record<string, { best: Layout & { imagesPerSecond: number } }> } };

async function savedCeiling(dataset: string) {
  const file = path.join(projectRoot, 'bench', 'results', 'ceiling.json');
  const saved = JSON.parse(await fs.readFile(file, 'utf8').catch(() => 'null')) as SavedCeiling | null;
  return saved?.figures.datasets[path.basename(dataset)]?.best;
}

/** The best images/s of the ceiling benchmark on a dataset (by folder name), if it has been measured. */
export async function ceilingImagesPerSecond(dataset: string): Promise<number | undefined> {
  return (await savedCeiling(dataset))?.imagesPerSecond;
}

/** The layout the ceiling benchmark found best on a dataset (by folder name), if it has been measured. */
export async function ceilingLayout(dataset: string): Promise<Layout | undefined> {
  const best = await savedCeiling(dataset);
  return best && { processes: best.processes, threads: best.threads, batch: best.batch, decodeAhead: best.decodeAhead };
}

/** Flatten a run's figures into one table row. */
export function tableRow(run: PipelineRunFigures, ceiling: number | undefined) {
  return {
    run: run.label,
    images: run.images,
    workers: run.workers,
    'wall s': run.wallSeconds,
    'images/s': run.imagesPerSecond,
    'x ceiling': ceiling ? run.imagesPerSecond / ceiling : NaN,
    'overhead %': run.orchestrationOverhead * 100,
    'idle slots %': run.featurizeSlotIdle * 100,
    'worker cpu %': run.workerCpuUtilisation * 100,
    'cpu s': Object.entries(run.cpuSeconds)
      .map(([k, v]) => `${k}=${v.toFixed(1)}`)
      .join(' '),
    'peak RSS MiB': Object.entries(run.peakRssMiB)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  };
}
