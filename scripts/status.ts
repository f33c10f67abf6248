// `npm run status -- <workflow-id>`: where a pipeline run stands (its progress query), or how it ended.
import { connectClient, failureReason, formatProgress } from '../lib/temporal/client.js';
import { liveProgress } from '../lib/temporal/watch.js';
import { loadWorkerConfig } from '../lib/config.js';
import { InputError } from '../lib/errors.js';
import type { RunSummary } from '../lib/contract.js';
import { printSummary, runCommand } from './cli.js';

await runCommand(async () => {
  const workflowId = process.argv[2];
  if (!workflowId) throw new InputError('usage: npm run status -- <workflow-id>   (the id npm run pipeline printed, or see the Web UI)');
  const config = loadWorkerConfig();
  const client = await connectClient(config.address, config.namespace).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${config.address} (${err.message}); set TEMPORAL_ADDRESS`);
  });
  try {
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe().catch((err: Error) => {
      throw new InputError(`no workflow ${workflowId} on ${config.address} (${err.message})`);
    });
    const status = description.status.name;
    console.log(`workflow ${workflowId}: ${status}, started ${description.startTime.toISOString()}`);
    if (status === 'RUNNING') {
      const progress = await liveProgress(handle);
      console.log(progress ? formatProgress(progress, Date.now() - description.startTime.getTime()) : 'waiting for a worker to take the run up');
    } else if (status === 'COMPLETED') {
      printSummary((await handle.result()) as RunSummary);
    } else {
      console.log(
        `reason: ${await handle.result().then(
          () => 'unknown',
          (err: unknown) => failureReason(err),
        )}`,
      );
    }
  } finally {
    await client.connection.close();
  }
});
