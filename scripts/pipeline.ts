// `orchard pipeline --source ... --output ...`: start imagePipeline on a running server and worker and follow it
// (a progress bar on a terminal); Ctrl-C cancels the run, a second Ctrl-C leaves it running.
import type { WorkflowHandle } from '@temporalio/client';
import { connectClient, pipelineWorkflowId, runPipeline } from '../lib/temporal/client.js';
import { loadWorkerConfig } from '../lib/config.js';
import { parsePipelineArgs, printSummary, progressDisplay, runCommand } from './cli.js';

await runCommand(async () => {
  const { input, workflowId } = parsePipelineArgs(process.argv.slice(2));
  const config = loadWorkerConfig();
  const client = await connectClient(config.address, config.namespace).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${config.address} (${err.message}); start it with orchard server, or set TEMPORAL_ADDRESS`);
  });
  const id = workflowId ?? pipelineWorkflowId(input.source);
  const progress = progressDisplay();
  let handle: WorkflowHandle | undefined;
  let interrupts = 0;
  process.on('SIGINT', () => {
    interrupts++;
    if (interrupts === 1 && handle) {
      progress.message(
        `cancelling workflow ${id}: its partitions stop, its staging files go, the output stays as it was (Ctrl-C again to stop waiting)`,
      );
      void handle.cancel().catch(() => undefined);
      return;
    }
    progress.done();
    console.error(`left workflow ${id} ${handle ? 'cancelling' : 'starting'}; see it with orchard status ${id}`);
    process.exit(130);
  });
  try {
    const summary = await runPipeline(client, input, {
      taskQueue: config.taskQueue,
      workflowId: id,
      address: config.address,
      onStarted: (started) => {
        handle = started;
        console.log(`started workflow ${id} on task queue ${config.taskQueue} (Ctrl-C cancels it)`);
      },
      onProgress: progress.update,
      onWaiting: progress.message,
      warn: progress.message,
    });
    progress.done();
    printSummary(summary);
  } finally {
    progress.done();
    await client.connection.close();
  }
});
