// Bundle the workflow code once, at build time, so worker processes load it instead of running webpack at start-up.
import fs from 'node:fs/promises';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowBundlePath, workflowsPath } from '../workers/workflowCode.js';

// Warnings only: webpack's module list would print on every `npm run build`.
const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
// Through a rename, so a worker that starts during a build reads the old bundle or the new one, never half of one.
await fs.writeFile(`${workflowBundlePath}.tmp`, code);
await fs.rename(`${workflowBundlePath}.tmp`, workflowBundlePath);
