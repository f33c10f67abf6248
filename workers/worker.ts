// `npm run worker`: ORCHARD_WORKER_PROCESSES worker processes (default: one per core) on task queue `orchard`,
// replaced if one dies, until Ctrl-C. Settings come from the environment, see README.
import { loadWorkerConfig } from '../lib/config.js';
import { startWorkerPool } from './workerPool.js';

const config = loadWorkerConfig();
const pool = startWorkerPool(config.processes);
// Before the pool is ready too: a worker still waiting for the server stops its processes with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void pool.stop().then(() => process.exit(0)));
}
await pool.ready;
console.log(`orchard worker: ${config.processes} process(es) polling task queue ${config.taskQueue} on ${config.address}; Ctrl-C stops them`);
