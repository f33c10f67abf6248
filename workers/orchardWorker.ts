import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { WorkerConfig } from '../lib/config.js';
import { configureSharp } from '../lib/features/images.js';
import { loadJpegDecoder } from '../lib/features/jpegDecoder.js';
import { faultInjectionInterceptors, loadFaultRules } from './faultInjection.js';
import { warmUp } from './warmUp.js';
import { workflowCode } from './workflowCode.js';
import { connectionOptions } from '../lib/temporal/connection.js';

/** The activities a worker of each role registers. */
function activitiesFor(config: WorkerConfig) {
  const { featurizePartition, ...control } = createActivities(config);
  return config.role === 'featurize' ? { featurizePartition } : config.role === 'control' ? control : { featurizePartition, ...control };
}

/** A worker for `config.role`: the Orchard workflow and activities on `config.taskQueue`, or featurizing only. */
export async function createOrchardWorker(config: WorkerConfig, connection?: NativeConnection): Promise<Worker> {
  configureSharp(config.sharpConcurrency);
  if (config.role === 'all' && config.featurizeTaskQueue !== config.taskQueue) {
    throw new Error(
      `ORCHARD_FEATURIZE_TASK_QUEUE=${config.featurizeTaskQueue} differs from the task queue ${config.taskQueue}: run this worker with ORCHARD_WORKER_ROLE=control, and featurize workers with ORCHARD_WORKER_ROLE=featurize`,
    );
  }
  // Unlike the model (a path a run may fix), the decoder is part of the installation: without it, refuse to start.
  if (config.role !== 'control') loadJpegDecoder();
  await warmUp(config);
  const featurizeOnly = config.role === 'featurize';
  return Worker.create({
    connection: connection ?? (await NativeConnection.connect(connectionOptions(config.address))),
    namespace: config.namespace,
    taskQueue: featurizeOnly ? config.featurizeTaskQueue : config.taskQueue,
    ...(featurizeOnly ? {} : workflowCode()),
    activities: activitiesFor(config),
    interceptors: { activity: faultInjectionInterceptors(loadFaultRules()) },
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    // Heartbeats carry cancellation back to activities: send them at least every second, so a cancelled run stops
    // promptly (by default the SDK would hold them for 80 % of the heartbeat timeout).
    maxHeartbeatThrottleInterval: '1 second',
  });
}
