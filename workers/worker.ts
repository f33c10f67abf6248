// `npm run worker`: one worker process on task queue `orchard` (settings from the environment, see README).
import { loadWorkerConfig } from '../lib/config.js';
import { createOrchardWorker } from './orchardWorker.js';

const config = loadWorkerConfig();
const worker = await createOrchardWorker(config);
console.log(
  `orchard worker: task queue ${config.taskQueue} on ${config.address} (namespace ${config.namespace}), ` +
    `${config.maxConcurrentActivities} activities at once, model ${config.modelPath}; Ctrl-C stops it`,
);
await worker.run();
