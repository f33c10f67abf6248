import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import type { WorkerConfig } from '../lib/config.js';
import { configureSharp } from '../lib/images.js';

/** The workflow code that workers load (bundled by the SDK into its deterministic sandbox). */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

/** A worker that runs the Orchard workflow and activities on `config.taskQueue`. */
export async function createOrchardWorker(config: WorkerConfig, connection?: NativeConnection): Promise<Worker> {
  configureSharp(config.sharpConcurrency);
  return Worker.create({
    connection: connection ?? (await NativeConnection.connect({ address: config.address })),
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    workflowsPath,
    activities: createActivities(config),
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    // Heartbeats carry cancellation back to activities: send them at least every second, so a cancelled run stops
    // promptly (by default the SDK would hold them for 80 % of the heartbeat timeout).
    maxHeartbeatThrottleInterval: '1 second',
  });
}
