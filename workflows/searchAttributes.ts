// The search attributes of a run, by which it is found in the Web UI and with `temporal workflow list --query`:
// the client sets the source and output when it starts the run, the workflow adds the images count once listed.
// Defined here, with @temporalio/workflow only, so workflow code can use them; lib/temporal/searchAttributes.ts
// registers them on dev servers.
import { upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';

// Plain {name, type} keys: what @temporalio/common's defineSearchAttributeKey returns, written out because workflow
// code imports only @temporalio/workflow.
export const runSearchAttributes = {
  source: { name: 'OrchardSource', type: 'KEYWORD' },
  output: { name: 'OrchardOutput', type: 'KEYWORD' },
  images: { name: 'OrchardImages', type: 'INT' },
} as const;

/**
 * Record the run's images count. Only on runs started with Orchard's attributes: they prove the namespace has them,
 * and upserting one it lacks would fail every workflow task of the run. Runs continued as new keep the value.
 */
export function recordImagesCount(images: number): void {
  const attributes = workflowInfo().typedSearchAttributes;
  if (attributes.get(runSearchAttributes.output) === undefined || attributes.get(runSearchAttributes.images) === images) return;
  upsertSearchAttributes([{ key: runSearchAttributes.images, value: images }]);
}
