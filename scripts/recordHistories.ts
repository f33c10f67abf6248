// `npm run record-histories -- <tag>`: run imagePipeline on a few sample images and save every run's history as
// test/histories/<tag>-<case>-<n>.json, where test/workflows/replay.test.ts replays them all, so a workflow change
// that breaks running workflows fails CI. After a change made compatible with patched(), record a new tag beside the
// old one; when the patch is retired, delete the old tag's files (README, "Changing the workflow").
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { outputLeaseId } from '../activities/outputLease.js';
import { connectClient, startPipeline } from '../lib/temporal/client.js';
import { defaultSampleDir, projectRoot, temporalCliPath } from '../lib/paths.js';
import { loadWorkerConfig } from '../lib/config.js';
import { startDevServer } from '../dev/devServer.js';
import { canonicalLocation } from '../lib/storage/outputs.js';
import { findFreePortBase } from '../dev/ports.js';
import { createOrchardWorker } from '../workers/orchardWorker.js';

const tag = process.argv[2];
if (!tag || !/^[\w.-]+$/.test(tag)) {
  console.error('usage: npm run record-histories -- <tag>   (e.g. v3; files are named <tag>-<case>-<n>.json)');
  process.exit(2);
}
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'orchard-record-'));
const source = path.join(work, 'photos');
for (const label of ['apple_hit_1', 'cucumber_1', 'pear_3']) {
  await fs.mkdir(path.join(source, label), { recursive: true });
  for (const file of (await fs.readdir(path.join(defaultSampleDir, label))).sort().slice(0, 6)) {
    await fs.copyFile(path.join(defaultSampleDir, label, file), path.join(source, label, file));
  }
}
const port = await findFreePortBase([0, 1000]);
const server = await startDevServer({ port, uiPort: port + 1000, dbFile: path.join(work, 'temporal.db') });
const target = path.join(projectRoot, 'test', 'histories');
try {
  const config = {
    ...loadWorkerConfig(),
    address: server.address,
    taskQueue: 'record',
    featurizeTaskQueue: 'record',
    scratchDir: path.join(work, 'scratch'),
  };
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createOrchardWorker(config, connection);
  const client = await connectClient(server.address);
  const cases = {
    // A plain run, and one that continues as new after every few events.
    plain: { source, output: path.join(work, 'out-plain'), k: 2, partitionSize: 4 },
    'continue-as-new': { source, output: path.join(work, 'out-can'), k: 2, partitionSize: 1, maxConcurrentPartitions: 1, maxHistoryEvents: 100 },
  };
  await fs.mkdir(target, { recursive: true });
  await worker.runUntil(async () => {
    for (const [name, input] of Object.entries(cases)) {
      // Started as `orchard pipeline` starts runs, with their metadata and search attributes.
      const summary = await (await startPipeline(client, input, { taskQueue: 'record', workflowId: `record-${name}` })).result();
      let runId: string | undefined = summary.runId;
      for (let n = 1; runId; n++) {
        // The CLI's JSON is the format Temporal's replayer reads (historyFromJSON).
        const json = execFileSync(
          temporalCliPath(),
          ['workflow', 'show', '--address', server.address, '--workflow-id', `record-${name}`, '--run-id', runId, '--output', 'json'],
          {
            encoding: 'utf8',
            maxBuffer: 64 * 1024 * 1024,
          },
        );
        await fs.writeFile(path.join(target, `${tag}-${name}-${n}.json`), json.trim() + '\n');
        const history = await client.workflow.getHandle(`record-${name}`, runId).fetchHistory();
        const last = history.events?.at(-1);
        runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
      }
      // The output's lease, held and given back by that run.
      const lease = outputLeaseId(await canonicalLocation(input.output));
      await client.workflow.getHandle(lease).result();
      const json = execFileSync(temporalCliPath(), ['workflow', 'show', '--address', server.address, '--workflow-id', lease, '--output', 'json'], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      await fs.writeFile(path.join(target, `${tag}-${name}-lease.json`), json.trim() + '\n');
    }
  });
  await client.connection.close();
  await connection.close();
  console.log(`saved the ${tag} histories in ${path.relative(process.cwd(), target)}`);
} finally {
  await server.stop();
  await fs.rm(work, { recursive: true, force: true });
}
