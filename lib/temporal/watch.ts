// Watching a run from a client: live counts from the progress query and the featurize activities' heartbeats, and a
// hint when no worker is there to run it.
import { type Client, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import proto, { type temporal } from '@temporalio/proto';
import type { PipelineProgress } from '../contract.js';

/** Where a run stands, images counted as they are featurized (heartbeats), not only when a partition ends. */
export interface LiveProgress extends PipelineProgress {
  /** Images featurized or failed so far, including those of partitions still running. */
  done: number;
  /** Images this run featurizes: those listed, less those an incremental run reuses. */
  toFeaturize: number;
}

type Heartbeat = { done?: unknown; of?: unknown };

/** Images done by the featurize activities still running, from their last heartbeats (`{done, of}`). */
export function inFlightImages(pending: temporal.api.workflow.v1.IPendingActivityInfo[] | null | undefined): number {
  let done = 0;
  for (const activity of pending ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (activity.activityType?.name !== 'featurizePartition' || !payload) continue;
    try {
      const details = defaultPayloadConverter.fromPayload<Heartbeat>(payload);
      if (typeof details?.done === 'number' && Number.isFinite(details.done) && details.done >= 0) done += details.done;
    } catch {
      // Details in another shape (another version's worker) count as nothing rather than stop the watch.
    }
  }
  return done;
}

/** The run's live progress, or undefined while no worker has taken it up (the query would wait for one). */
export async function liveProgress(handle: WorkflowHandle): Promise<LiveProgress | undefined> {
  const description = await handle.describe();
  if (description.historyLength <= 2) return undefined;
  const progress = await handle.query<PipelineProgress>('progress');
  const inFlight = progress.stage === 'featurizing' ? inFlightImages(description.raw.pendingActivities) : 0;
  const toFeaturize = Math.max(0, progress.images - progress.reused);
  return { ...progress, toFeaturize, done: Math.min(toFeaturize, progress.featurized + progress.failed + inFlight) };
}

/** Whether a worker polled `taskQueue` for workflow tasks within the last minute (a long poll lasts up to one). */
export async function workerPolling(client: Client, taskQueue: string): Promise<boolean> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const recent = Date.now() - 70_000;
  return (response.pollers ?? []).some((poller) => Number(poller.lastAccessTime?.seconds ?? 0) * 1000 >= recent);
}

/** What to tell a user whose run no worker has taken up after a few seconds. */
export function noWorkerHint(address: string, taskQueue: string, polled: boolean): string {
  return polled
    ? `waiting for a worker on task queue "${taskQueue}" to take the run up (the workers there are busy)`
    : `no worker is polling task queue "${taskQueue}" on ${address}: start one with \`orchard worker\` (or npm run worker) ` +
        `with TEMPORAL_ADDRESS=${address}${taskQueue === 'orchard' ? '' : ` ORCHARD_TASK_QUEUE=${taskQueue}`}; the run starts when one polls`;
}
