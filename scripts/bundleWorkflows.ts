// Bundle the workflow code once, at build time, so worker processes load it instead of running webpack at start-up.
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { storageFor } from '../lib/storage/storage.js';
import { workflowBundlePath, workflowsPath } from '../workers/workflowCode.js';

// Warnings only: webpack's module list would print on every `npm run build`.
const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
// Storage writes go through a rename, so a worker that starts during a build reads the old bundle or the new one.
await storageFor(workflowBundlePath).write(workflowBundlePath, code);
