// The commit protocol on local storage, including the states a commit that stopped part way leaves behind.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { commitResults } from '../../activities/commitResults.js';
import type { CommitInput, RunContext, RunSummary } from '../../lib/contract.js';
import { committingUri, resultUri, runsUri, stagedResult, successUri } from '../../lib/layout.js';
import { tempDir } from '../support/environment.js';

let work: string;

before(async () => {
  work = await tempDir('commit');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Run the commit as Temporal would: an activity attempt, scheduled at `scheduledAt` (ms). */
const commit = (input: CommitInput, attempt = 1, scheduledAt = attempt * 1000) =>
  new MockActivityEnvironment({ attempt, currentAttemptScheduledTimestampMs: scheduledAt }).run(commitResults, input);

const summaryOf = (runId: string, minute: number) => ({ runId, finishedAt: `2026-11-26T05:${String(minute).padStart(2, '0')}:00.000Z` }) as RunSummary;

/** Stage a result of `parts` feature files and a model, each file naming the run that wrote it. */
async function stage(output: string, runId: string, parts: number): Promise<RunContext> {
  const context = { source: path.join(work, 'photos'), output, staging: path.join(output, '_staging', runId) };
  const result = stagedResult(context.staging);
  for (let n = 0; n < parts; n++) await write(path.join(resultUri(result, 'features'), `part-${n}.parquet`), runId);
  await write(resultUri(result, 'pca_model.json'), runId);
  return context;
}

async function write(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
}

/** Every file below `dir` with its content, by relative path. */
async function tree(dir: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    found[path.relative(dir, file)] = await fs.readFile(file, 'utf8');
  }
  return found;
}

/** The files a committed result of `runId` holds at `prefix` ('' for the top level). */
function committed(runId: string, parts: number, minute: number, prefix = ''): Record<string, string> {
  const files: Record<string, string> = { [path.join(prefix, 'pca_model.json')]: runId, [path.join(prefix, '_SUCCESS')]: JSON.stringify(summaryOf(runId, minute), null, 2) + '\n' };
  for (let n = 0; n < parts; n++) files[path.join(prefix, 'features', `part-${n}.parquet`)] = runId;
  return files;
}

test('a commit archives the previous result whole, and a retry after it finished changes nothing', async () => {
  const output = path.join(work, 'plain');
  await commit({ ...(await stage(output, 'first', 4)), summary: summaryOf('first', 1) });
  const second = await stage(output, 'second', 2);
  await commit({ ...second, summary: summaryOf('second', 2) });
  const expected = { ...committed('second', 2, 2), ...committed('first', 4, 1, path.join('runs', 'first')) };
  assert.deepEqual(await tree(output), expected);
  // A commit that stopped after writing _SUCCESS, before removing its marker: the retry removes it.
  await write(committingUri(output), JSON.stringify({ runId: 'second', attempt: 1, scheduledAt: 1000, previous: summaryOf('first', 1), cleared: true }));
  await commit({ ...second, summary: summaryOf('second', 2) });
  assert.deepEqual(await tree(output), expected);
});

test('a retry after a partial move finishes it without losing the files already moved', async () => {
  const output = path.join(work, 'partial');
  await commit({ ...(await stage(output, 'first', 1)), summary: summaryOf('first', 1) });
  const second = await stage(output, 'second', 3);
  // The state a commit leaves when it stops while moving the features: archived, two of three parts moved.
  await fs.rm(successUri(output));
  await fs.mkdir(path.join(runsUri(output), 'first'), { recursive: true });
  await fs.rename(resultUri(output, 'features'), resultUri(path.join(runsUri(output), 'first'), 'features'));
  await fs.rename(resultUri(output, 'pca_model.json'), resultUri(path.join(runsUri(output), 'first'), 'pca_model.json'));
  await write(successUri(path.join(runsUri(output), 'first')), JSON.stringify(summaryOf('first', 1), null, 2) + '\n');
  await write(committingUri(output), JSON.stringify({ runId: 'second', attempt: 1, scheduledAt: 1000, previous: summaryOf('first', 1), cleared: true }));
  for (const n of [0, 1]) {
    await write(path.join(resultUri(output, 'features'), `part-${n}.parquet`), 'second');
    await fs.rm(path.join(resultUri(stagedResult(second.staging), 'features'), `part-${n}.parquet`));
  }

  await commit({ ...second, summary: summaryOf('second', 2) });
  assert.deepEqual(await tree(output), { ...committed('second', 3, 2), ...committed('first', 1, 1, path.join('runs', 'first')) });
});

test('files left by a commit that stopped and was given up are not mixed into the next result', async () => {
  const output = path.join(work, 'leftovers');
  const next = await stage(output, 'next', 2);
  await write(path.join(resultUri(output, 'features'), 'part-7.parquet'), 'abandoned');
  await write(committingUri(output), JSON.stringify({ runId: 'abandoned', attempt: 3, scheduledAt: 3000, cleared: true }));
  await commit({ ...next, summary: summaryOf('next', 3) });
  assert.deepEqual(await tree(output), committed('next', 2, 3));
});

test("another run's commit that stopped while archiving is finished first, so the earlier result stays whole", async () => {
  const output = path.join(work, 'archiving');
  await commit({ ...(await stage(output, 'first', 3)), summary: summaryOf('first', 1) });
  // The other run removed the top-level _SUCCESS and moved the features into runs/first, then stopped.
  await write(committingUri(output), JSON.stringify({ runId: 'abandoned', attempt: 1, scheduledAt: 1000, previous: summaryOf('first', 1), cleared: false }));
  await fs.rm(successUri(output));
  await fs.mkdir(path.join(runsUri(output), 'first'), { recursive: true });
  await fs.rename(resultUri(output, 'features'), resultUri(path.join(runsUri(output), 'first'), 'features'));

  await commit({ ...(await stage(output, 'next', 1)), summary: summaryOf('next', 4) });
  assert.deepEqual(await tree(output), { ...committed('next', 1, 4), ...committed('first', 3, 1, path.join('runs', 'first')) });
});

/** A committed result 'first', a staged 'second', and attempt `attempt` of the second's commit holding the marker. */
async function claimedCommit(output: string, attempt: number, scheduledAt: number): Promise<RunContext> {
  await commit({ ...(await stage(output, 'first', 1)), summary: summaryOf('first', 1) });
  const second = await stage(output, 'second', 2);
  await write(committingUri(output), JSON.stringify({ runId: 'second', attempt, scheduledAt, previous: summaryOf('first', 1), cleared: false }));
  return second;
}

test('an older attempt that a newer one has taken over stops before moving anything', async () => {
  const output = path.join(work, 'taken-over');
  // Temporal timed attempt 1 out and started attempt 2, which wrote the marker; attempt 1 wakes up.
  const second = await claimedCommit(output, 2, 2000);
  const before = await tree(output);
  await assert.rejects(commit({ ...second, summary: summaryOf('second', 2) }, 1), { message: /taken over by run second \(attempt 2\)/ });
  assert.deepEqual(await tree(output), before);
  await commit({ ...second, summary: summaryOf('second', 2) }, 2);
  assert.deepEqual(await tree(output), { ...committed('second', 2, 2), ...committed('first', 1, 1, path.join('runs', 'first')) });
});

test('after a workflow reset, attempt 1 of the commit takes over from attempt 5 of the execution before it', async () => {
  const output = path.join(work, 'reset');
  // The reset execution keeps the run id of the first one (Temporal's first execution run id) but counts attempts anew.
  const second = await claimedCommit(output, 5, 5000);
  await commit({ ...second, summary: summaryOf('second', 2) }, 1, 9000);
  assert.deepEqual(await tree(output), { ...committed('second', 2, 2), ...committed('first', 1, 1, path.join('runs', 'first')) });
});

/**
 * Run `body` with every fs.rename and fs.rm call (how local storage moves, writes and removes) announced to `before`,
 * with the path it changes.
 */
async function intercepted<T>(before: (call: number, target: string) => Promise<void>, body: () => Promise<T>): Promise<T> {
  const realRename = fs.rename;
  const realRm = fs.rm;
  let calls = 0;
  fs.rename = async (from, to) => {
    await before(calls++, String(to));
    return realRename(from, to);
  };
  fs.rm = async (target, options) => {
    await before(calls++, String(target));
    return realRm(target, options);
  };
  try {
    return await body();
  } finally {
    fs.rename = realRename;
    fs.rm = realRm;
  }
}

const crash = () => Promise.reject(new Error('injected crash'));
const MAX_CALLS = 200;

/** Every top-level file except the runs/ archive, staging and the marker: what a reader of the latest result sees. */
function topLevel(files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).filter(([file]) => !/^(runs|_staging)\//.test(file) && file !== '_COMMITTING'));
}

/**
 * Every rename and removal the commit makes, failed in turn: the commit stops there, and then either a retry of the
 * same run or (after that run was given up and its staging removed) the next run commits. Each must end with one
 * whole result at the top level and the earlier result whole under runs/.
 */
test('a commit stopped at any rename or removal is finished by its retry, or cleaned up by the next run', async () => {
  for (const next of ['retry', 'other run'] as const) {
    for (let point = 0; ; point++) {
      assert.ok(point < MAX_CALLS, 'the commit always stopped: the sweep would never end');
      const output = path.join(work, `crash-${next}-${point}`);
      await commit({ ...(await stage(output, 'first', 3)), summary: summaryOf('first', 1) });
      const second = await stage(output, 'second', 2);
      const stopped = await intercepted(
        (call) => (call === point ? crash() : Promise.resolve()),
        () => commit({ ...second, summary: summaryOf('second', 2) }, 1).then(
          () => false,
          (err: Error) => {
            if (!/injected crash/.test(err.message)) throw err;
            return true;
          },
        ),
      );
      if (!stopped) {
        assert.ok(point >= 10, `the sweep covered only ${point} calls`);
        break;
      }
      // Readers trust the top level while _SUCCESS is there: it must always describe exactly the files beside it.
      const top = topLevel(await tree(output));
      if (top._SUCCESS) {
        const { runId } = JSON.parse(top._SUCCESS) as RunSummary;
        assert.deepEqual(top, runId === 'first' ? committed('first', 3, 1) : committed('second', 2, 2), `stopped at call ${point}: _SUCCESS of ${runId} beside other files`);
      }
      const archived = committed('first', 3, 1, path.join('runs', 'first'));
      if (next === 'retry') {
        await commit({ ...second, summary: summaryOf('second', 2) }, 2);
        assert.deepEqual(await tree(output), { ...committed('second', 2, 2), ...archived }, `stopped at call ${point}, then retried`);
      } else {
        await fs.rm(second.staging, { recursive: true, force: true });
        await commit({ ...(await stage(output, 'third', 1)), summary: summaryOf('third', 3) });
        const files = await tree(output);
        const kept = Object.keys(files).filter((file) => file.startsWith(path.join('runs', 'second')));
        // The given-up run may have completed its commit before the crash point; then it is the one archived.
        const expected = kept.length > 0 ? { ...committed('second', 2, 2, path.join('runs', 'second')), ...archived } : archived;
        assert.deepEqual(files, { ...committed('third', 1, 3), ...expected }, `stopped at call ${point}, then another run committed`);
      }
    }
  }
});

test('an attempt taken over at any step stops at its next one, and the newer attempt completes the commit', async () => {
  for (let point = 0; ; point++) {
    assert.ok(point < MAX_CALLS, 'the sweep would never end');
    const output = path.join(work, `takeover-${point}`);
    await commit({ ...(await stage(output, 'first', 3)), summary: summaryOf('first', 1) });
    const second = await stage(output, 'second', 2);
    let calls = 0;
    let claimedBeforeSuccess = false;
    // At call `point`, attempt 2 (scheduled later) claims the commit while attempt 1 is still running. Attempt 1 checks
    // before every step, so the step right after a claim still happens: the window no fence closes without
    // conditional writes. Claims just before its marker and _SUCCESS writes would only show that window again.
    const claim = async (call: number, target: string) => {
      calls = call + 1;
      if (call !== point || target === committingUri(output) || target === successUri(output)) return;
      // Once the marker is gone the commit is done: there is nothing left to claim.
      const text = await fs.readFile(committingUri(output), 'utf8').catch(() => undefined);
      if (text === undefined) return;
      claimedBeforeSuccess = !(await fs.readFile(successUri(output), 'utf8').catch(() => '')).includes('second');
      const current = JSON.parse(text) as Record<string, unknown>;
      await fs.writeFile(committingUri(output), JSON.stringify({ ...current, attempt: 2, scheduledAt: 2000 }));
    };
    const outcome = await intercepted(claim, () => commit({ ...second, summary: summaryOf('second', 2) }, 1).then(() => 'finished', (err: Error) => err.message));
    if (point >= calls) {
      assert.ok(point >= 10, `the sweep covered only ${point} calls`);
      break;
    }
    // Claimed before the result was complete, attempt 1 must stop at its next step and leave _SUCCESS to attempt 2.
    if (claimedBeforeSuccess) {
      assert.match(outcome, /taken over by run second \(attempt 2\)/, `claimed at call ${point}`);
      assert.equal(topLevel(await tree(output))._SUCCESS, undefined, `claimed at call ${point}: the stopped attempt wrote no _SUCCESS`);
    }
    await commit({ ...second, summary: summaryOf('second', 2) }, 2);
    assert.deepEqual(await tree(output), { ...committed('second', 2, 2), ...committed('first', 3, 1, path.join('runs', 'first')) }, `claimed at call ${point}`);
  }
});
