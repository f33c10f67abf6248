import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { runBounded } from '../lib/concurrency.js';
import type { CommitInput, RunContext } from '../lib/contract.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { heartbeatProgress } from '../lib/temporal/heartbeat.js';
import { archiveUri, committingUri, failedUri, pruningUri, resultFileUri, runsUri, stagedResult, successUri } from '../lib/storage/layout.js';
import { damagedRecordFix, removeOrchardTemporaries, topLevelResultFiles } from '../lib/storage/outputs.js';
import {
  archivedRecordSchema,
  commitMarkerSchema,
  CorruptRecord,
  readRecordIfThere,
  RESULT_FILE,
  RUN_ID,
  successRecordSchema,
  type CommitMarker,
  type SuccessRecord,
} from '../lib/storage/records.js';
import { InputError } from '../lib/errors.js';
import { ObjectNotFound, storageFor, type Storage } from '../lib/storage/storage.js';

/** Earlier results kept under `<output>/runs/<run id>/`, newest first; older ones are removed. */
export const KEEP_PREVIOUS_RUNS = 3;
/** Runs that made no result (`runs/<id>/_FAILED`, kept for their errors.parquet), newest first. */
export const KEEP_FAILED_RUNS = 3;

// Files moved at once: S3 has no rename, so each move is a server-side copy and a delete.
const MOVES_IN_FLIGHT = 16;

const damaged = damagedRecordFix;

const readSuccess = (storage: Storage, uri: string, output: string) =>
  readRecordIfThere(storage, uri, successRecordSchema, 'an Orchard _SUCCESS record', damaged(output));

/** The files of the staged result, relative to it; anything else there (a writer's temporary file) is not part of it. */
async function stagedFiles(storage: Storage, staged: string): Promise<string[]> {
  const prefix = staged.replace(/[/\\]+$/, '') + (storage.localPath(staged) ? '' : '/');
  const files: string[] = [];
  if (!(await storage.exists(staged))) return files;
  for await (const object of storage.list(staged)) {
    const relative = object.uri.slice(prefix.length).replace(/\\/g, '/').replace(/^\/+/, '');
    if (RESULT_FILE.test(relative)) files.push(relative);
  }
  return files.sort();
}

/** One commit attempt: the output, its storage, and the check that this attempt still owns the commit. */
interface Commit {
  storage: Storage;
  output: string;
  /** Throws CommitTakenOver once a later attempt has claimed the commit; call before every change. */
  owned(): Promise<void>;
}

/** Move each file from one folder to the same name under another, each after the ownership check. */
async function moveFiles(commit: Commit, files: readonly string[], from: string, to: string): Promise<string[]> {
  const moved: (string | undefined)[] = await runBounded(files, MOVES_IN_FLIGHT, async (file) => {
    await commit.owned();
    try {
      await commit.storage.moveObject(resultFileUri(from, file), resultFileUri(to, file));
    } catch (err) {
      if (err instanceof ObjectNotFound) return undefined;
      throw err;
    }
    await commit.storage.removeEmptyFolders(resultFileUri(from, file), from);
    return file;
  });
  return moved.filter((file): file is string => file !== undefined);
}

/**
 * Move a committed result into `runs/<its run id>/`: its `_SUCCESS` leaves the top level first and arrives last,
 * listing the files that arrived (a file removed by hand since is no longer listed).
 */
async function archive(commit: Commit, previous: SuccessRecord): Promise<void> {
  const { storage, output } = commit;
  const target = archiveUri(output, previous.runId);
  await commit.owned();
  const top = await readSuccess(storage, successUri(output), output);
  if (top?.runId === previous.runId) await storage.remove(successUri(output));
  const moved = await moveFiles(commit, previous.files, output, target);
  if (moved.length < previous.files.length) {
    log.warn('files of the archived result were missing', { runId: previous.runId, missing: previous.files.filter((f) => !moved.includes(f)) });
  }
  await commit.owned();
  await storage.write(successUri(target), JSON.stringify({ ...previous, files: moved }, null, 2) + '\n');
}

/** Clear the top level for the new result: archive the result there, and remove files a stopped commit left. */
async function clearTopLevel(commit: Commit, marker: CommitMarker): Promise<void> {
  if (marker.previous) await archive(commit, marker.previous);
  for (const file of marker.stale) {
    await commit.owned();
    await commit.storage.remove(resultFileUri(commit.output, file));
    await commit.storage.removeEmptyFolders(resultFileUri(commit.output, file), commit.output);
  }
}

/**
 * The marker this attempt writes: its own commit resumed, or a new one that first finishes what a commit of another
 * run left (the archive it had begun, or the files it had moved in before it stopped and was given up).
 */
async function claim(
  commit: Commit,
  input: CommitInput,
  found: CommitMarker | undefined,
  committed: SuccessRecord | undefined,
): Promise<CommitMarker> {
  const { attempt, currentAttemptScheduledTimestampMs: scheduledAt } = Context.current().info;
  const runId = input.summary.runId;
  if (found?.runId === runId) return { ...found, attempt, scheduledAt };
  // A marker beside a _SUCCESS of its own run is stale: that commit finished and stopped before removing it.
  const other = found && committed?.runId !== found.runId ? found : undefined;
  const previous = committed ?? (other && !other.cleared ? other.previous : undefined);
  const stale = other ? [...new Set([...other.stale, ...(other.cleared ? other.incoming : [])])] : [];
  const incoming = await stagedFiles(commit.storage, stagedResult(input.staging));
  if (incoming.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `commitResults: the staged result of run ${runId} under ${input.staging} holds no file; start the run again`,
      'ResultIncomplete',
    );
  }
  // The result moving in replaces only files of Orchard's: a file of the same name that no result lists is the user's.
  const ours = new Set([...(previous?.files ?? []), ...stale]);
  const present = await topLevelResultFiles(commit.storage, commit.output);
  const foreign = incoming.find((file) => present.has(file) && !ours.has(file));
  if (foreign) {
    throw new InputError(
      `${resultFileUri(commit.output, foreign)} was not written by Orchard, and the new result would replace it: move it out of ${commit.output}, or choose another --output`,
    );
  }
  return { runId, attempt, scheduledAt, ...(previous ? { previous } : {}), stale, incoming, cleared: false };
}

/** The folders under `runs/` Orchard wrote, with the record that lists their files. */
async function archivedRuns(storage: Storage, output: string) {
  const found = [];
  for (const id of await storage.children(runsUri(output), 100_000)) {
    if (!RUN_ID.test(id)) continue;
    const folder = archiveUri(output, id);
    // A removal that stopped part way goes on first. A damaged record, or one of another run, is not Orchard's to act
    // on: the folder is left alone.
    for (const [kind, uri] of [
      ['pruning', pruningUri(folder)],
      ['result', successUri(folder)],
      ['failed', failedUri(folder)],
    ] as const) {
      const record = await readRecordIfThere(storage, uri, archivedRecordSchema, 'an Orchard record', damaged(output)).catch((err: unknown) => {
        if (err instanceof CorruptRecord) return undefined;
        throw err;
      });
      if (record?.runId === id) {
        found.push({ id, folder, kind, uri, files: record.files, finishedAt: record.finishedAt });
        break;
      }
    }
  }
  return found;
}

/**
 * Remove earlier runs beyond KEEP_PREVIOUS_RUNS results and KEEP_FAILED_RUNS failures: the record moves to `_PRUNING`
 * first, so a folder whose files are going is never taken for complete, then its files go, then the record.
 */
async function prunePreviousRuns(storage: Storage, output: string): Promise<void> {
  const runs = await archivedRuns(storage, output);
  const newestFirst = (kind: string) =>
    runs.filter((r) => r.kind === kind).sort((x, y) => (x.finishedAt < y.finishedAt ? 1 : x.finishedAt > y.finishedAt ? -1 : 0));
  const doomed = [
    ...runs.filter((r) => r.kind === 'pruning'),
    ...newestFirst('result').slice(KEEP_PREVIOUS_RUNS),
    ...newestFirst('failed').slice(KEEP_FAILED_RUNS),
  ];
  for (const run of doomed) {
    const pruning = pruningUri(run.folder);
    if (run.uri !== pruning) await storage.moveObject(run.uri, pruning);
    // On S3 the move is a copy and a delete: a crash between them leaves the record under both names.
    await storage.remove(successUri(run.folder));
    await storage.remove(failedUri(run.folder));
    for (const file of run.files) {
      await storage.remove(resultFileUri(run.folder, file));
      await storage.removeEmptyFolders(resultFileUri(run.folder, file), run.folder);
    }
    await removeOrchardTemporaries(storage, run.folder);
    await storage.remove(pruning);
    await storage.removeEmptyFolders(pruning, output);
  }
}

/**
 * Commit the staged result: the previous result moves to `runs/<run id>/`, the new one into the output, and
 * `_SUCCESS`, listing the result's files, is written last, so a reader that checks it never takes a half-replaced
 * result for a complete one. Only files a result lists are moved or removed: anything else in the output is the
 * user's and stays. Safe to retry after a crash at any point: `_COMMITTING` records what the commit does, so a retry
 * finishes its own moves and another run's commit first finishes or undoes what a stopped one left.
 */
export async function commitResults(input: CommitInput): Promise<void> {
  return failingClearly('commitResults', async () => {
    const context = Context.current();
    const storage = storageFor(input.output, input);
    const output = input.output;
    const runId = input.summary.runId;
    if (!RUN_ID.test(runId)) throw new InputError(`commitResults: ${JSON.stringify(runId)} is not a run id`);
    const { attempt, currentAttemptScheduledTimestampMs: scheduledAt } = context.info;
    const markerUri = committingUri(output);
    const readMarker = () => readRecordIfThere(storage, markerUri, commitMarkerSchema, 'an Orchard commit marker', damaged(output));
    const takenOver = (current: CommitMarker | undefined) =>
      ApplicationFailure.nonRetryable(
        `commitResults: the commit of run ${runId} (attempt ${attempt}) was taken over by run ${current?.runId ?? '(none)'} ` +
          `(attempt ${current?.attempt ?? '-'}), so this attempt stops; if no other run writes to ${output}, start the run again`,
        'CommitTakenOver',
      );
    // Temporal starts a new attempt when it believes the last one dead (a heartbeat timeout), and that one may still be
    // running. The attempt scheduled last owns the marker; an older one stops before its next change instead of moving
    // files the newer one has already placed.
    const commit: Commit = {
      storage,
      output,
      owned: async () => {
        heartbeatProgress();
        context.cancellationSignal.throwIfAborted();
        const current = await readMarker();
        if (current?.runId !== runId || current.attempt !== attempt || current.scheduledAt !== scheduledAt) throw takenOver(current);
      },
    };
    const committed = await readSuccess(storage, successUri(output), output);
    const found = await readMarker();
    // A retry after the commit finished finds its own result in place.
    if (committed?.runId !== runId) {
      let marker = await claim(commit, input, found, committed);
      // What was read above is old news if this attempt stalled since: a later attempt that claimed the commit wins.
      const latest = await readMarker();
      if (latest?.runId === runId && latest.scheduledAt > scheduledAt) throw takenOver(latest);
      await storage.write(markerUri, JSON.stringify(marker));
      if (!marker.cleared) {
        await clearTopLevel(commit, marker);
        marker = { ...marker, cleared: true };
        await commit.owned();
        await storage.write(markerUri, JSON.stringify(marker));
      }
      const moved = await moveFiles(commit, marker.incoming, stagedResult(input.staging), output);
      if (moved.length !== marker.incoming.length) {
        const lost = marker.incoming.filter((file) => !moved.includes(file));
        throw ApplicationFailure.nonRetryable(
          `commitResults: ${lost.length} files of the result of run ${runId} are neither staged nor in ${output} (e.g. ${lost[0]}); start the run again`,
          'ResultIncomplete',
        );
      }
      await commit.owned();
      await storage.write(successUri(output), JSON.stringify({ ...input.summary, files: marker.incoming }, null, 2) + '\n');
    }
    // Also when a retry finds the commit finished, but stopped before the marker was removed.
    if (committed?.runId !== runId || found?.runId === runId) await storage.remove(markerUri);
    await removeOrchardTemporaries(storage, output);
    await prunePreviousRuns(storage, output);
    await discardStaging(input);
  });
}

/** Remove a run's staging files; the committed output is not touched. */
export async function discardStaging(input: RunContext): Promise<void> {
  const storage = storageFor(input.staging, input);
  await storage.removeAll(input.staging);
  // Leave no empty `_staging` folder behind in a local output.
  await storage.removeEmptyFolders(input.staging, input.output);
}
