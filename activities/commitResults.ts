import fs from 'node:fs/promises';
import path from 'node:path';
import type { CommitInput, RunContext } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { resultEntries, resultUri, stagedResult, successUri } from '../lib/layout.js';
import { storageFor } from '../lib/storage.js';

/**
 * Move the staged result into the output and write `_SUCCESS` last. `_SUCCESS` is removed first, so a reader
 * that checks it never takes a half-replaced result for a complete one. Safe to retry after a partial move.
 */
export async function commitResults(input: CommitInput): Promise<void> {
  return failingClearly('commitResults', async () => {
    const storage = storageFor(input.output, input);
    const staged = stagedResult(input.staging);
    await storage.removeAll(successUri(input.output));
    for (const entry of resultEntries) {
      const from = resultUri(staged, entry);
      if (await storage.exists(from)) await storage.move(from, resultUri(input.output, entry));
    }
    await storage.write(successUri(input.output), JSON.stringify(input.summary, null, 2) + '\n');
    await discardStaging(input);
  });
}

/** Remove a run's staging files; the committed output is not touched. */
export async function discardStaging(input: RunContext): Promise<void> {
  const storage = storageFor(input.staging, input);
  await storage.removeAll(input.staging);
  const local = storage.localPath(input.staging);
  // Leave no empty `_staging` folder behind in a local output.
  if (local) await fs.rmdir(path.dirname(local)).catch(() => undefined);
}
