// Where workers get the workflow code: the bundle `npm run build` writes, or the sources bundled at start-up.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerOptions } from '@temporalio/worker';

/** The workflow code that workers load (bundled by the SDK into its deterministic sandbox). */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));

/** The bundle of `workflowsPath` that `npm run build` writes (scripts/bundleWorkflows.ts). */
export const workflowBundlePath = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

function modifiedMs(file: string): number {
  return fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Number.NaN;
}

/**
 * The prebuilt bundle when it is newer than every compiled workflow file, else the sources (bundled with webpack at
 * start-up). The bundle starts a worker several times faster and leaves less on its JavaScript heap, which every full
 * garbage collection during featurization has to mark (bench/README.md, "Figures behind the code").
 */
export function workflowCode(bundle = workflowBundlePath, sources = workflowsPath): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const builtAt = modifiedMs(bundle);
  const dir = path.dirname(sources);
  const newestSource = Math.max(...fs.readdirSync(dir).map((name) => modifiedMs(path.join(dir, name))));
  return builtAt >= newestSource ? { workflowBundle: { codePath: bundle } } : { workflowsPath: sources };
}
