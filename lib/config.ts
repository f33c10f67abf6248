// A worker process's settings, read from its environment, and the constants of the model it runs.
import os from 'node:os';
import path from 'node:path';
import { defaultInt8ModelPath, defaultModelPath } from './paths.js';
import { temporalSettings } from './temporal/connection.js';

export const TASK_QUEUE_DEFAULT = 'orchard';
export const FEATURE_DIM = 1280;
export const IMAGE_SIZE = 224;

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
  /** The int8 model, for runs with precision int8 (ORCHARD_INT8_MODEL_PATH). */
  int8ModelPath: string;
  /** onnxruntime intra-op threads of the single session of this process. */
  inferenceThreads: number;
  /**
   * Images per onnxruntime run. Small batches keep MobileNetV2's activations in the CPU's caches: at 2 an image takes
   * 0.85 of its time at 8 (bench/README.md, "The batch size").
   */
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
  /** Images read from S3 at once, ahead of inference, within one activity (local files are read in turn). */
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
  // TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, or those of a temporal.toml profile (lib/temporal/connection.ts).
  const temporal = temporalSettings(env);
  return {
    address: temporal.address,
    namespace: temporal.namespace,
    taskQueue: env.ORCHARD_TASK_QUEUE || TASK_QUEUE_DEFAULT,
    role,
    featurizeTaskQueue: env.ORCHARD_FEATURIZE_TASK_QUEUE || env.ORCHARD_TASK_QUEUE || TASK_QUEUE_DEFAULT,
    modelPath: path.resolve(env.ORCHARD_MODEL_PATH || defaultModelPath),
    int8ModelPath: path.resolve(env.ORCHARD_INT8_MODEL_PATH || defaultInt8ModelPath),
    inferenceThreads: intFromEnv(env, 'ORCHARD_INFERENCE_THREADS', 1),
    batchSize: intFromEnv(env, 'ORCHARD_BATCH_SIZE', 2),
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
