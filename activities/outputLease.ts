import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { sharedClient } from '../lib/temporal/client.js';
import type { WorkerConfig } from '../lib/config.js';
import type { OutputHolder } from '../lib/contract.js';
import { failingClearly } from '../lib/temporal/failures.js';
import type { outputLease } from '../workflows/outputLease.js';

export interface OutputLeaseInput {
  /** The canonical output (activities/checkOutput.ts), so two spellings of one folder share one lease. */
  output: string;
  holder: OutputHolder;
  /** Where the lease workflow runs: the task queue of the run's own workflow. */
  taskQueue: string;
}

/** The lease's workflow id: readable in the Web UI, and a hash past 200 characters (ids are limited in length). */
export function outputLeaseId(output: string): string {
  const id = `orchard-output:${output}`;
  if (id.length <= 200) return id;
  return `${id.slice(0, 150)}…${createHash('sha256').update(output).digest('hex').slice(0, 32)}`;
}

/**
 * Take the output's lease for this run (update-with-start of its lease workflow). Another run that holds it and is
 * alive refuses it: a non-retryable `OutputBusy` failure naming that run.
 */
export async function acquireOutput(input: OutputLeaseInput, config: WorkerConfig): Promise<void> {
  return failingClearly('acquireOutput', async () => {
    const client = await sharedClient(config.address, config.namespace);
    const start = new WithStartWorkflowOperation<typeof outputLease>('outputLease', {
      workflowId: outputLeaseId(input.output),
      taskQueue: input.taskQueue,
      args: [input.output],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    try {
      await client.workflow.executeUpdateWithStart<typeof outputLease, void, [OutputHolder]>('acquire', {
        args: [input.holder],
        startWorkflowOperation: start,
      });
    } catch (err) {
      const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === 'OutputBusy')
        throw ApplicationFailure.nonRetryable(`acquireOutput: ${cause.message}`, 'OutputBusy');
      // A lease that was ending as the update arrived: the retry starts a new one.
      throw err;
    }
  });
}

/** Give the output's lease back; nothing to do when the lease has ended already. */
export async function releaseOutput(input: OutputLeaseInput, config: WorkerConfig): Promise<void> {
  const client = await sharedClient(config.address, config.namespace);
  try {
    await client.workflow.getHandle(outputLeaseId(input.output)).signal('release', input.holder);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/** Whether the run chain `holder` names is still running (the lease workflow's check of a holder that went silent). */
export async function workflowRunning(holder: OutputHolder, config: WorkerConfig): Promise<boolean> {
  const client = await sharedClient(config.address, config.namespace);
  try {
    const description = await client.workflow.getHandle(holder.workflowId).describe();
    const firstRunId = description.raw.workflowExecutionInfo?.firstRunId;
    return description.status.name === 'RUNNING' && (!firstRunId || firstRunId === holder.firstRunId);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
