// One worker process: a Temporal worker with the Orchard workflow and activities and one onnxruntime session.
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { loadWorkerConfig } from '../lib/config.js';
import { installCrashDrill } from './crashDrill.js';
import { createOrchardWorker } from './orchardWorker.js';

const config = loadWorkerConfig();

/** One JSON object per line, for log collectors: time, level, message and the SDK's metadata (activity, partition...). */
function jsonLine(entry: LogEntry): void {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  process.stderr.write(JSON.stringify({ time, level: entry.level, message: entry.message, pid: process.pid, ...entry.meta }) + '\n');
}

Runtime.install({ logger: new DefaultLogger(config.logLevel, config.logFormat === 'json' ? jsonLine : undefined) });
installCrashDrill();
const worker = await createOrchardWorker(config);
Runtime.instance().logger.info('orchard worker process ready', {
  taskQueue: config.taskQueue,
  address: config.address,
  namespace: config.namespace,
  maxConcurrentActivities: config.maxConcurrentActivities,
  modelPath: config.modelPath,
});
process.send?.('ready');
await worker.run();
