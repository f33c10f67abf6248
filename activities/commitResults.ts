import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { CommitInput, RunContext, RunSummary } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { committingUri, resultEntries, resultUri, runsUri, stagedResult, successUri } from '../lib/layout.js';
import { joinUri, readJson, type Storage, storageFor } from '../lib/storage.js';

/** Earlier results kept under `<output>/runs/<run id>/`, newest first; older ones are removed. */
export const KEEP_PREVIOUS_RUNS = 3;

async function readSummary(storage: Storage, uri: string): Promise<RunSummary | undefined> {
  if (!(await storage.exists(uri))) return undefined;
  return readJson<RunSummary>(storage, uri);
}

/** What `_COMMITTING` records: the committing run and attempt, and the result it replaces until that is archived. */
interface CommitMarker {
  runId: string;
  attempt: number;
  previous?: RunSummary;
  archived: boolean;
}

/** Move a committed result into `runs/<its run id>/`: `_SUCCESS` leaves the top level first and arrives last. */
async function archive(storage: Storage, output: string, previous: RunSummary, owned: () => Promise<AbortSignal>): Promise<void> {
  await owned();
  await storage.removeAll(successUri(output));
  const target = joinUri(runsUri(output), previous.runId);
  for (const entry of resultEntries) {
    const from = resultUri(output, entry);
    const signal = await owned();
    if (await storage.exists(from)) await storage.move(from, resultUri(target, entry), signal);
  }
  await owned();
  await storage.write(successUri(target), JSON.stringify(previous, null, 2) + '\n');
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
 * The top level is always the latest complete result. Safe to retry after a partial commit: `_COMMITTING` tells a
 * retry which entries at the top level are its own, half moved, and which are left over from a commit that stopped.
 */
export async function commitResults(input: CommitInput): Promise<void> {
  return failingClearly('commitResults', async () => {
    const context = Context.current();
    const storage = storageFor(input.output, input);
    const runId = input.summary.runId;
    const attempt = context.info.attempt;
    const committed = await readSummary(storage, successUri(input.output));
    const markerUri = committingUri(input.output);
    const readMarker = async () => ((await storage.exists(markerUri)) ? readJson<CommitMarker>(storage, markerUri) : undefined);
    let marker = await readMarker();
    // Temporal starts a new attempt when it believes the last one dead (a heartbeat timeout), and that one may still
    // be running. The newest attempt owns the marker; an older one stops before its next step instead of moving
    // files the newer one has already placed.
    const takenOver = (current: CommitMarker | undefined) =>
      ApplicationFailure.nonRetryable(
        `commitResults: the commit of run ${runId} (attempt ${attempt}) was taken over by run ${current?.runId ?? '(none)'} ` +
          `(attempt ${current?.attempt ?? '-'}), so this attempt stops; if no other run writes to ${input.output}, start the run again`,
        'CommitTakenOver',
      );
    const owned = async (): Promise<AbortSignal> => {
      context.heartbeat();
      const current = await readMarker();
      if (current?.runId !== runId || current.attempt !== attempt) throw takenOver(current);
      return context.cancellationSignal;
    };
    // A retry after the commit finished finds its own result in place.
    if (committed?.runId !== runId) {
      if (marker?.runId !== runId) {
        let previous = committed;
        if (!previous && marker?.previous && !marker.archived) {
          // Another run's commit stopped while archiving the result before it: that archive is finished here.
          previous = marker.previous;
        } else if (!previous) {
          // No complete result is at the top level: whatever result entries are there come from a commit that stopped.
          for (const entry of resultEntries) await storage.removeAll(resultUri(input.output, entry));
        }
        marker = { runId, attempt, ...(previous ? { previous } : {}), archived: !previous };
        await storage.write(markerUri, JSON.stringify(marker));
      } else if (marker.attempt !== attempt) {
        if (marker.attempt > attempt) throw takenOver(marker);
        marker = { ...marker, attempt };
        await storage.write(markerUri, JSON.stringify(marker));
      }
      if (marker.previous && !marker.archived) {
        await archive(storage, input.output, marker.previous, owned);
        marker = { ...marker, archived: true };
        await owned();
        await storage.write(markerUri, JSON.stringify(marker));
      }
      const staged = stagedResult(input.staging);
      for (const entry of resultEntries) {
        const from = resultUri(staged, entry);
        const signal = await owned();
        if (await storage.exists(from)) await storage.move(from, resultUri(input.output, entry), signal);
      }
      await owned();
      await storage.write(successUri(input.output), JSON.stringify(input.summary, null, 2) + '\n');
    }
    // Also when a retry finds the commit finished, but stopped before the marker was removed.
    if (marker?.runId === runId) await storage.removeAll(markerUri);
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
