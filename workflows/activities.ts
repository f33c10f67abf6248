// How the pipeline calls its activities: one proxy per kind of step, each with the timeouts and retries it needs.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { ActivityOptions } from '@temporalio/workflow';
import type { OrchardActivities } from '../activities/index.js';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 };

/** Steps that run on the control workers' task queue, heartbeating. */
export const control = proxyActivities<OrchardActivities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '2 minutes', retry });

// A partition of a few hundred images takes seconds; heartbeats after every batch let a dead worker be noticed fast.
// A partition that no featurize worker picks up within FEATURIZE_PICKUP fails the run, saying so, instead of waiting
// forever (the run checks for a worker before featurizing; this bounds the wait if every one goes away later).
const FEATURIZE_PICKUP = '30 minutes';
export const featurizeOptions: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  scheduleToStartTimeout: FEATURIZE_PICKUP,
  heartbeatTimeout: '20 seconds',
  retry,
  // On cancellation, wait until the activities have stopped, so cleaning up staging cannot race with their writes.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
export const featurize = proxyActivities<OrchardActivities>(featurizeOptions);

/** Checks without I/O, as local activities in the worker that holds the workflow task: no round trip through the server. */
export const local = proxyLocalActivities<OrchardActivities>({ startToCloseTimeout: '1 minute', retry });

/**
 * The steps after featurizing, in small runs (at most `localStepsMaxImages`): each takes about a second or less there,
 * so they run in the worker that holds the workflow task. A worker that dies meanwhile costs a rerun of these steps,
 * once the workflow task times out.
 */
export const localSteps = proxyLocalActivities<OrchardActivities>({ startToCloseTimeout: '10 minutes', retry });

/** Waiting for a featurize worker, bounded by the activity itself (ORCHARD_WORKER_WAIT_SECONDS, a minute by default). */
export const waiting = proxyLocalActivities<OrchardActivities>({ startToCloseTimeout: '30 minutes', retry });

/**
 * The commit changes the output, so it runs as an ordinary activity: the steps before it are recorded first and never
 * run again after it has moved files, and a dead worker is noticed within the heartbeat timeout (it heartbeats
 * before every file it moves).
 */
export const committing = proxyActivities<OrchardActivities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '30 seconds', retry });

/** Cleaning up after a failure must not hold back the failure's report for minutes. */
export const cleanup = proxyActivities<OrchardActivities>({ startToCloseTimeout: '5 minutes', retry: { ...retry, maximumAttempts: 3 } });

/** A featurize activity that no worker picked up in time, as a failure that says what to start; else undefined. */
export function unpicked(err: unknown, partition: string, taskQueue: string): ApplicationFailure | undefined {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof TimeoutFailure) || err.cause.timeoutType !== 'SCHEDULE_TO_START') return undefined;
  return ApplicationFailure.nonRetryable(
    `featurizePartition: no worker picked up ${partition} on task queue "${taskQueue}" within ${FEATURIZE_PICKUP}: start featurize workers ` +
      `(ORCHARD_WORKER_ROLE=featurize ORCHARD_FEATURIZE_TASK_QUEUE=${taskQueue} npm run worker) and run again`,
    'NoFeaturizeWorker',
  );
}
