// One worker process: a Temporal worker with the Orchard workflow and activities and one onnxruntime session.
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { loadWorkerConfig } from '../lib/config.js';
import { installCrashDrill } from './crashDrill.js';
import { connectWithBackoff } from './connect.js';
import { createOrchardWorker } from './orchardWorker.js';

const config = loadWorkerConfig();

/** One JSON object per line, for log collectors: time, level, message and the SDK's metadata (activity, partition...). */
function jsonLine(entry: LogEntry): void {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  process.stderr.write(JSON.stringify({ time, level: entry.level, message: entry.message, pid: process.pid, ...entry.meta }) + '\n');
}

Runtime.install({ logger: new DefaultLogger(config.logLevel, config.logFormat === 'json' ? jsonLine : undefined) });
installCrashDrill();
// Until the worker runs, Ctrl-C or the pool's stop has nothing to drain: exit at once rather than wait for a server.
const exitNow = () => process.exit(0);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, exitNow);
// Connected first: a server that cannot be reached is said at once, before the model loads.
const worker = await createOrchardWorker(config, await connectWithBackoff(config.address));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, exitNow);
Runtime.instance().logger.info('orchard worker process ready', {
  taskQueue: config.taskQueue,
  address: config.address,
  namespace: config.namespace,
  maxConcurrentActivities: config.maxConcurrentActivities,
  modelPath: config.modelPath,
});
process.send?.('ready');
await worker.run();
