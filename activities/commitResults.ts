import fs from 'node:fs/promises';
import path from 'node:path';
import type { CommitInput, RunContext, RunSummary } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { resultEntries, resultUri, runsUri, stagedResult, successUri } from '../lib/layout.js';
import { joinUri, readJson, type Storage, storageFor } from '../lib/storage.js';

/** Earlier results kept under `<output>/runs/<run id>/`, newest first; older ones are removed. */
export const KEEP_PREVIOUS_RUNS = 3;

async function readSummary(storage: Storage, uri: string): Promise<RunSummary | undefined> {
  if (!(await storage.exists(uri))) return undefined;
  return readJson<RunSummary>(storage, uri);
}

/** Move the last committed result, `_SUCCESS` last, into `runs/<its run id>/`; then keep only the newest few. */
async function archivePrevious(storage: Storage, input: CommitInput): Promise<void> {
  const previous = await readSummary(storage, successUri(input.output));
  // A retried commit finds its own result in place: nothing to archive.
  if (previous && previous.runId !== input.summary.runId) {
    const target = joinUri(runsUri(input.output), previous.runId);
    for (const entry of resultEntries) {
      const from = resultUri(input.output, entry);
      if (await storage.exists(from)) await storage.move(from, resultUri(target, entry));
    }
    await storage.move(successUri(input.output), successUri(target));
  }
}

async function prunePreviousRuns(storage: Storage, output: string): Promise<void> {
  const runs = runsUri(output);
  if (!(await storage.exists(runs))) return;
  const prefix = runs.replace(/\/+$/, '') + '/';
  const ids = new Set<string>();
  for await (const object of storage.list(runs)) ids.add(object.uri.slice(prefix.length).split('/')[0]);
  const finished = await Promise.all(
    [...ids].map(async (id) => ({ id, at: (await readSummary(storage, successUri(joinUri(runs, id))))?.finishedAt ?? '' })),
  );
  finished.sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0));
  for (const { id } of finished.slice(KEEP_PREVIOUS_RUNS)) await storage.removeAll(joinUri(runs, id));
}

/**
 * Commit the staged result: the previous result moves to `runs/<run id>/`, the new one into the output, and
 * `_SUCCESS` is written last, so a reader that checks it never takes a half-replaced result for a complete one.
 * The top level is always the latest complete result. Safe to retry after a partial commit.
 */
export async function commitResults(input: CommitInput): Promise<void> {
  return failingClearly('commitResults', async () => {
    const storage = storageFor(input.output, input);
    const staged = stagedResult(input.staging);
    await archivePrevious(storage, input);
    await storage.removeAll(successUri(input.output));
    for (const entry of resultEntries) {
      const from = resultUri(staged, entry);
      if (await storage.exists(from)) await storage.move(from, resultUri(input.output, entry));
    }
    await storage.write(successUri(input.output), JSON.stringify(input.summary, null, 2) + '\n');
    await prunePreviousRuns(storage, input.output);
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
