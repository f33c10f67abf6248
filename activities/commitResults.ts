import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { CommitInput, RunContext, RunSummary } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { heartbeatProgress } from '../lib/heartbeat.js';
import { committingUri, resultEntries, resultUri, runsUri, stagedResult, successUri } from '../lib/layout.js';
import { joinUri, readJson, type Storage, storageFor } from '../lib/storage.js';

/** Earlier results kept under `<output>/runs/<run id>/`, newest first; older ones are removed. */
export const KEEP_PREVIOUS_RUNS = 3;

/** The JSON object at `uri`, or undefined when there is none. */
async function readIfThere<T>(storage: Storage, uri: string): Promise<T | undefined> {
  if (!(await storage.exists(uri))) return undefined;
  return readJson<T>(storage, uri);
}

/** What `_COMMITTING` records: the committing run and attempt, and the result it replaces until the top level is cleared. */
interface CommitMarker {
  runId: string;
  attempt: number;
  /** When Temporal scheduled the attempt: a later one (a retry, or the commit of a reset run) takes over. */
  scheduledAt: number;
  previous?: RunSummary;
  /** Whether the top level is clear for the new result: the previous one archived, or leftovers removed. */
  cleared: boolean;
}

/** Move every result entry there is from one base to another, each after the ownership check. */
async function moveEntries(storage: Storage, from: string, to: string, owned: () => Promise<AbortSignal>): Promise<void> {
  for (const entry of resultEntries) {
    const signal = await owned();
    if (await storage.exists(resultUri(from, entry))) await storage.move(resultUri(from, entry), resultUri(to, entry), signal);
  }
}

/** Move a committed result into `runs/<its run id>/`: `_SUCCESS` leaves the top level first and arrives last. */
async function archive(storage: Storage, output: string, previous: RunSummary, owned: () => Promise<AbortSignal>): Promise<void> {
  await owned();
  await storage.removeAll(successUri(output));
  const target = joinUri(runsUri(output), previous.runId);
  await moveEntries(storage, output, target, owned);
  await owned();
  await storage.write(successUri(target), JSON.stringify(previous, null, 2) + '\n');
}

/** Clear the top level for a new result: archive the result there, or remove what a commit that stopped left. */
async function clearTopLevel(storage: Storage, output: string, previous: RunSummary | undefined, owned: () => Promise<AbortSignal>): Promise<void> {
  if (previous) return archive(storage, output, previous, owned);
  for (const entry of resultEntries) {
    await owned();
    await storage.removeAll(resultUri(output, entry));
  }
}

async function prunePreviousRuns(storage: Storage, output: string): Promise<void> {
  const runs = runsUri(output);
  if (!(await storage.exists(runs))) return;
  const prefix = runs.replace(/\/+$/, '') + '/';
  const ids = new Set<string>();
  for await (const object of storage.list(runs)) ids.add(object.uri.slice(prefix.length).split('/')[0]);
  const finished = await Promise.all(
    [...ids].map(async (id) => ({ id, at: (await readIfThere<RunSummary>(storage, successUri(joinUri(runs, id))))?.finishedAt ?? '' })),
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
    const { attempt, currentAttemptScheduledTimestampMs: scheduledAt } = context.info;
    const markerUri = committingUri(input.output);
    const readMarker = () => readIfThere<CommitMarker>(storage, markerUri);
    const takenOver = (current: CommitMarker | undefined) =>
      ApplicationFailure.nonRetryable(
        `commitResults: the commit of run ${runId} (attempt ${attempt}) was taken over by run ${current?.runId ?? '(none)'} ` +
          `(attempt ${current?.attempt ?? '-'}), so this attempt stops; if no other run writes to ${input.output}, start the run again`,
        'CommitTakenOver',
      );
    // Temporal starts a new attempt when it believes the last one dead (a heartbeat timeout, or for a local activity
    // its workflow task's), and that one may still be running. The attempt scheduled last owns the marker; an older
    // one stops before its next step instead of moving files the newer one has already placed.
    const owned = async (): Promise<AbortSignal> => {
      heartbeatProgress();
      const current = await readMarker();
      if (current?.runId !== runId || current.attempt !== attempt || current.scheduledAt !== scheduledAt) throw takenOver(current);
      return context.cancellationSignal;
    };
    const committed = await readIfThere<RunSummary>(storage, successUri(input.output));
    let marker = await readMarker();
    // A retry after the commit finished finds its own result in place.
    if (committed?.runId !== runId) {
      if (marker?.runId === runId) {
        marker = { ...marker, attempt, scheduledAt };
      } else {
        // A complete result at the top level is archived, and so is one that another run's stopped commit was
        // archiving; anything else there is left over from a commit that stopped, and is removed.
        const previous = committed ?? (marker?.previous && !marker.cleared ? marker.previous : undefined);
        marker = { runId, attempt, scheduledAt, ...(previous ? { previous } : {}), cleared: false };
      }
      // What was read above is old news if this attempt stalled since: a later attempt that claimed the commit wins.
      const latest = await readMarker();
      if (latest?.runId === runId && latest.scheduledAt > scheduledAt) throw takenOver(latest);
      await storage.write(markerUri, JSON.stringify(marker));
      if (!marker.cleared) {
        await clearTopLevel(storage, input.output, marker.previous, owned);
        marker = { ...marker, cleared: true };
        await owned();
        await storage.write(markerUri, JSON.stringify(marker));
      }
      await moveEntries(storage, stagedResult(input.staging), input.output, owned);
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
