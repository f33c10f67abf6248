// `npm run pipeline -- --source ... --output ...`: start imagePipeline on a running server and worker, wait for it.
import { connectClient, pipelineWorkflowId, runPipeline } from '../lib/temporal/client.js';
import { loadWorkerConfig } from '../lib/config.js';
import { parsePipelineArgs, printSummary, progressPrinter, runCommand } from './cli.js';

await runCommand(async () => {
  const { input, workflowId } = parsePipelineArgs(process.argv.slice(2));
  const config = loadWorkerConfig();
  const client = await connectClient(config.address, config.namespace).catch((err: Error) => {
    throw new Error(`cannot reach Temporal at ${config.address} (${err.message}); start it with npm run server, or set TEMPORAL_ADDRESS`);
  });
  const id = workflowId ?? pipelineWorkflowId(input.source);
  console.log(`started workflow ${id} on task queue ${config.taskQueue}; it needs a running worker (npm run worker)`);
  const progress = progressPrinter();
  try {
    printSummary(await runPipeline(client, input, { taskQueue: config.taskQueue, workflowId: id, onProgress: progress.print }));
  } finally {
    progress.done();
    await client.connection.close();
  }
});
