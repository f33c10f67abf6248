import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  defineSignal,
  defineUpdate,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrchardActivities } from '../activities/index.js';
import type { OutputHolder } from '../lib/contract.js';

/** Take the lease for a run; fails with `OutputBusy`, naming the holder, while another run that is alive holds it. */
export const acquireOutputUpdate = defineUpdate<void, [OutputHolder]>('acquire');
/** Give the lease back; a release by a run that does not hold it changes nothing. */
export const releaseOutputSignal = defineSignal<[OutputHolder]>('release');

const { workflowRunning } = proxyLocalActivities<OrchardActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** Runs of one workflow chain (continue-as-new keeps the first run id) are one holder. */
const sameRun = (a: OutputHolder, b: OutputHolder) => a.workflowId === b.workflowId && a.firstRunId === b.firstRunId;

// A holder that ended without releasing (terminated, timed out) is noticed at the next acquire or after this long.
const HOLDER_CHECK_INTERVAL = '10 minutes';

/**
 * One writer per output: a lease on an output, held by one pipeline run at a time (workflow id
 * `orchard-output:<output>`, started by the first run that acquires it). A second run is refused at once, naming
 * the holder, unless the holder has ended; the lease ends when it is released.
 */
export async function outputLease(output: string, holder?: OutputHolder): Promise<void> {
  let current = holder;
  // Handlers run concurrently: holder checks take turns, so two runs never both take the lease.
  let checking = false;
  const exclusively = async <T>(body: () => Promise<T>): Promise<T> => {
    await condition(() => !checking);
    checking = true;
    try {
      return await body();
    } finally {
      checking = false;
    }
  };
  setHandler(acquireOutputUpdate, (candidate) =>
    exclusively(async () => {
      if (current && !sameRun(current, candidate) && (await workflowRunning(current))) {
        throw ApplicationFailure.nonRetryable(
          `${output} is being written by workflow ${current.workflowId} (run ${current.firstRunId}); Orchard lets one run write to an ` +
            `output at a time: wait for it to finish, or cancel it (temporal workflow cancel --workflow-id ${current.workflowId}), then start again`,
          'OutputBusy',
        );
      }
      current = candidate;
    }),
  );
  setHandler(releaseOutputSignal, (releasing) => {
    if (current && sameRun(current, releasing)) current = undefined;
  });
  // Started by an acquire (update-with-start), whose handler runs after this function begins: wait for it.
  if (!(await condition(() => current !== undefined, '1 minute'))) return;
  for (;;) {
    // Ends only when nobody holds the lease and no acquire is being handled; a later acquire starts a new lease.
    if (await condition(() => current === undefined && allHandlersFinished(), HOLDER_CHECK_INTERVAL)) return;
    await exclusively(async () => {
      if (current && !(await workflowRunning(current))) current = undefined;
    });
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof outputLease>(output, current);
    }
  }
}
