// One worker process: a Temporal worker with the Orchard workflow and activities and one onnxruntime session.
import { loadWorkerConfig } from '../lib/config.js';
import { createOrchardWorker } from './orchardWorker.js';

const config = loadWorkerConfig();
const worker = await createOrchardWorker(config);
console.log(
  `orchard worker process ${process.pid}: task queue ${config.taskQueue} on ${config.address} (namespace ${config.namespace}), ` +
    `${config.maxConcurrentActivities} activities at once, model ${config.modelPath}`,
);
process.send?.('ready');
await worker.run();
