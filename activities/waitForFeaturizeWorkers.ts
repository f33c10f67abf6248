import { ApplicationFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import { sharedClient } from '../lib/temporal/client.js';
import { delay } from '../lib/concurrency.js';
import type { WorkerConfig } from '../lib/config.js';
import { failingClearly } from '../lib/temporal/failures.js';

/**
 * Wait until a worker polls the featurize task queue for activities, for at most `config.workerWaitSeconds`: without
 * one (none started, or a typo in featurizeTaskQueue) featurize activities would wait in the queue forever.
 */
export async function waitForFeaturizeWorkers(taskQueue: string, config: WorkerConfig): Promise<number> {
  return failingClearly('waitForFeaturizeWorkers', async () => {
    const client = await sharedClient(config.address, config.namespace);
    const waitMs = config.workerWaitSeconds * 1000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const { pollers } = await client.workflowService.describeTaskQueue({
        namespace: config.namespace,
        taskQueue: { name: taskQueue, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      });
      if (pollers && pollers.length > 0) return pollers.length;
      if (Date.now() >= deadline) {
        throw ApplicationFailure.nonRetryable(
          `waitForFeaturizeWorkers: no worker polls task queue "${taskQueue}" for featurize activities (waited ${waitMs / 1000} s): start one ` +
            `(ORCHARD_WORKER_ROLE=featurize ORCHARD_FEATURIZE_TASK_QUEUE=${taskQueue} npm run worker, or npm run worker for a single pool), ` +
            'or correct featurizeTaskQueue',
          'NoFeaturizeWorker',
        );
      }
      await delay(1_000);
    }
  });
}
