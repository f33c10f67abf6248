// `npm run demo`: the whole pipeline on the shared Fruits-360 sample, with a local server and worker unless
// TEMPORAL_ADDRESS points at running ones; prints where the results are and their first rows.
import path from 'node:path';
import { connectClient, pipelineWorkflowId, runPipeline } from '../lib/temporal/client.js';
import { defaultSampleDir, projectRoot } from '../lib/paths.js';
import { loadWorkerConfig } from '../lib/config.js';
import { startDevServer, type DevServer } from '../dev/devServer.js';
import { previewResults } from '../lib/storage/parquet.js';
import { startWorkerPool } from '../workers/workerPool.js';
import { fromUserFolder, printSummary, progressDisplay, runCommand } from './cli.js';

await runCommand(async () => {
  const config = loadWorkerConfig();
  const input = {
    source: fromUserFolder(process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir),
    output: fromUserFolder(process.env.ORCHARD_DEMO_OUTPUT || path.join(projectRoot, 'out', 'demo')),
  };
  let server: DevServer | undefined;
  if (!process.env.TEMPORAL_ADDRESS) {
    server = await startDevServer();
    config.address = server.address;
    console.log(`started a local Temporal dev server on ${server.address}; watch the run in the Web UI at ${server.uiUrl}`);
  }
  try {
    const client = await connectClient(config.address, config.namespace);
    const workflowId = pipelineWorkflowId(input.source);
    const progress = progressDisplay();
    const run = () =>
      runPipeline(client, input, {
        taskQueue: config.taskQueue,
        workflowId,
        address: config.address,
        onProgress: progress.update,
        onWaiting: progress.message,
        warn: progress.message,
      });
    console.log(`running workflow ${workflowId}: ${input.source} -> ${input.output}`);
    let summary;
    const pool = server
      ? startWorkerPool(config.processes, { TEMPORAL_ADDRESS: config.address, ORCHARD_LOG_LEVEL: process.env.ORCHARD_LOG_LEVEL || 'WARN' })
      : undefined;
    try {
      await pool?.ready;
      summary = await run();
    } finally {
      progress.done();
      await pool?.stop();
      await client.connection.close();
    }
    printSummary(summary);
    console.log('\nfirst 5 rows (features shows its first 3 of 1280 values):');
    const vector = (values: unknown, more: boolean) => `[${(values as number[]).map((v) => v.toFixed(4)).join(', ')}${more ? ', …' : ''}]`;
    console.table(
      (await previewResults(input.output, 5)).map((row) => ({
        path: row.path,
        label: row.label,
        features: vector(row.features, true),
        pcaFeatures: vector(row.pcaFeatures, false),
      })),
    );
    console.log(`\nread them with DuckDB: SELECT label, count(*) FROM '${path.join(input.output, 'features', '*.parquet')}' GROUP BY 1`);
    console.log(`the run's report (PCA scatter, explained variance, labels, timings, errors): ${path.join(input.output, 'report.html')}`);
  } finally {
    await server?.stop();
  }
});
