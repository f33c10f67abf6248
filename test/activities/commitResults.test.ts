// The commit protocol on local storage: results archived whole, files Orchard did not write left alone, records read
// back from the output checked before use, attempts that were taken over stopped.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { commitResults, KEEP_PREVIOUS_RUNS } from '../../activities/commitResults.js';
import type { CommitInput, RunContext, RunSummary } from '../../lib/contract.js';
import { committingUri, resultUri, stagedResult, successUri } from '../../lib/storage/layout.js';
import { tempDir } from '../support/environment.js';

let work: string;

before(async () => {
  work = await tempDir('commit');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/** Run ids are UUIDs; these name the runs of the tests. */
const FIRST = '11111111-1111-4111-8111-111111111111';
const SECOND = '22222222-2222-4222-8222-222222222222';
const THIRD = '33333333-3333-4333-8333-333333333333';
const run = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;

/** Run the commit as Temporal would: an activity attempt, scheduled at `scheduledAt` (ms). */
const commit = (input: CommitInput, attempt = 1, scheduledAt = attempt * 1000) =>
  new MockActivityEnvironment({ attempt, currentAttemptScheduledTimestampMs: scheduledAt }).run(commitResults, input);

function summaryOf(runId: string, minute: number): RunSummary {
  return {
    workflowId: `wf-${runId.slice(0, 8)}`,
    runId,
    source: '/photos',
    output: '/out',
    images: 3,
    featurized: 3,
    reused: 0,
    failed: 0,
    labels: 1,
    k: 2,
    precision: 'fp32',
    explainedVariance: [0.5, 0.2],
    timings: {},
    featurizeTimings: {},
    startedAt: '2026-11-26T05:00:00.000Z',
    finishedAt: `2026-11-26T05:${String(minute).padStart(2, '0')}:00.000Z`,
  };
}

const partNames = (parts: number) => Array.from({ length: parts }, (_, n) => `features/part-${String(n).padStart(6, '0')}.parquet`);
const filesOf = (parts: number) => [...partNames(parts), 'pca_model.json'].sort();

/** Stage a result of `parts` feature files and a model, each file naming the run that wrote it. */
async function stage(output: string, runId: string, parts: number): Promise<RunContext> {
  const context = { source: path.join(work, 'photos'), output, staging: path.join(output, '_staging', runId) };
  const result = stagedResult(context.staging);
  for (const file of filesOf(parts)) await write(path.join(result, file), runId);
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
  const files: Record<string, string> = {
    [path.join(prefix, '_SUCCESS')]: JSON.stringify({ ...summaryOf(runId, minute), files: filesOf(parts) }, null, 2) + '\n',
  };
  for (const file of filesOf(parts)) files[path.join(prefix, file)] = runId;
  return files;
}

test('a commit archives the previous result whole, _SUCCESS lists the files, and a retry after it finished changes nothing', async () => {
  const output = path.join(work, 'plain');
  await commit({ ...(await stage(output, FIRST, 4)), summary: summaryOf(FIRST, 1) });
  const second = await stage(output, SECOND, 2);
  await commit({ ...second, summary: summaryOf(SECOND, 2) });
  const expected = { ...committed(SECOND, 2, 2), ...committed(FIRST, 4, 1, path.join('runs', FIRST)) };
  assert.deepEqual(await tree(output), expected);
  // A commit that stopped after writing _SUCCESS, before removing its marker: the retry removes it.
  await write(
    committingUri(output),
    JSON.stringify({ runId: SECOND, attempt: 1, scheduledAt: 1000, stale: [], incoming: filesOf(2), cleared: true }),
  );
  await commit({ ...second, summary: summaryOf(SECOND, 2) });
  assert.deepEqual(await tree(output), expected);
});

test("files the user put in the output, beside Orchard's or inside its folders, survive every commit and pruning", async () => {
  const output = path.join(work, 'user-files');
  const users = {
    'features/my.csv': 'mine',
    'pca/analysis.ipynb': 'notebook',
    'notes.txt': 'notes',
    'runs/exp1/results.csv': 'an experiment',
    'runs/exp1/_SUCCESS': '',
  };
  await commit({ ...(await stage(output, run(1), 2)), summary: summaryOf(run(1), 1) });
  for (const [file, text] of Object.entries(users)) await write(path.join(output, file), text);
  // A file inside an archived folder of Orchard's stays too: only the files its _SUCCESS lists go when it is pruned.
  await write(path.join(output, 'runs', run(1), 'keep.txt'), 'kept');
  const runs = KEEP_PREVIOUS_RUNS + 3;
  for (let n = 2; n <= runs; n++) await commit({ ...(await stage(output, run(n), 2)), summary: summaryOf(run(n), n) });
  const files = await tree(output);
  for (const [file, text] of Object.entries(users)) assert.equal(files[file], text, `${file} is still there`);
  assert.equal(files[path.join('runs', run(1), 'keep.txt')], 'kept');
  const archived = Object.keys(files)
    .filter((f) => /^runs\/[0-9a-f-]{36}\/_SUCCESS$/.test(f))
    .sort();
  assert.deepEqual(
    archived,
    [runs - 3, runs - 2, runs - 1].map((n) => path.join('runs', run(n), '_SUCCESS')),
  );
  assert.deepEqual(
    Object.keys(files).filter((f) => f.startsWith(path.join('runs', run(1)))),
    [path.join('runs', run(1), 'keep.txt')],
  );
});

test('a file the new result would replace, which no result of Orchard lists, stops the commit before it changes anything', async () => {
  const output = path.join(work, 'would-replace');
  await commit({ ...(await stage(output, FIRST, 1)), summary: summaryOf(FIRST, 1) });
  const second = await stage(output, SECOND, 1);
  await write(path.join(stagedResult(second.staging), 'report.html'), SECOND);
  await write(path.join(output, 'report.html'), "the user's report");
  const before = await tree(output);
  await assert.rejects(commit({ ...second, summary: summaryOf(SECOND, 2) }), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(`${path.join(output, 'report.html')} was not written by Orchard, and the new result would replace it: move it out of`),
    );
    return true;
  });
  assert.deepEqual(await tree(output), before);
});

test('records read back from the output are checked before anything becomes a path', async () => {
  for (const [name, record, expected] of [
    ['escape', { ...summaryOf(FIRST, 1), runId: '../../escaped', files: ['pca_model.json'] }, /runId: not a Temporal run id/],
    ['file-escape', { ...summaryOf(FIRST, 1), files: ['../../../etc/passwd'] }, /files\.0: not a file of an Orchard result/],
    ['spark', '', /is not an Orchard _SUCCESS record \(Unexpected end of JSON input\)/],
  ] as const) {
    const output = path.join(work, `hostile-${name}`);
    await commit({ ...(await stage(output, FIRST, 1)), summary: summaryOf(FIRST, 1) });
    await fs.writeFile(successUri(output), typeof record === 'string' ? record : JSON.stringify(record));
    const before = await tree(path.dirname(output));
    const second = await stage(output, SECOND, 1);
    await assert.rejects(commit({ ...second, summary: summaryOf(SECOND, 2) }), (err: Error) => {
      assert.match(err.message, expected);
      assert.ok(err.message.includes(successUri(output)), `names the file: ${err.message}`);
      return true;
    });
    await fs.rm(second.staging, { recursive: true });
    await fs.rm(path.join(output, '_staging'), { recursive: true, force: true });
    assert.deepEqual(await tree(path.dirname(output)), before, 'nothing moved, inside the output or outside it');
  }
});

test('a retry after a partial move finishes it without losing the files already moved', async () => {
  const output = path.join(work, 'partial');
  await commit({ ...(await stage(output, FIRST, 1)), summary: summaryOf(FIRST, 1) });
  const second = await stage(output, SECOND, 3);
  // The state a commit leaves when it stops while moving the features: archived, two of three parts moved.
  const archive = path.join(output, 'runs', FIRST);
  await fs.rm(successUri(output));
  await fs.mkdir(path.join(archive, 'features'), { recursive: true });
  await fs.rename(path.join(output, 'features', 'part-000000.parquet'), path.join(archive, 'features', 'part-000000.parquet'));
  await fs.rename(resultUri(output, 'pca_model.json'), resultUri(archive, 'pca_model.json'));
  await write(successUri(archive), JSON.stringify({ ...summaryOf(FIRST, 1), files: filesOf(1) }, null, 2) + '\n');
  await write(
    committingUri(output),
    JSON.stringify({
      runId: SECOND,
      attempt: 1,
      scheduledAt: 1000,
      previous: { ...summaryOf(FIRST, 1), files: filesOf(1) },
      stale: [],
      incoming: filesOf(3),
      cleared: true,
    }),
  );
  for (const file of partNames(2)) {
    await fs.rename(path.join(stagedResult(second.staging), file), path.join(output, file));
  }

  await commit({ ...second, summary: summaryOf(SECOND, 2) });
  assert.deepEqual(await tree(output), { ...committed(SECOND, 3, 2), ...committed(FIRST, 1, 1, path.join('runs', FIRST)) });
});

test('files left by a commit that stopped and was given up are removed, and nothing else', async () => {
  const output = path.join(work, 'leftovers');
  const next = await stage(output, THIRD, 2);
  await write(path.join(output, 'features', 'part-000007.parquet'), 'abandoned');
  await write(path.join(output, 'features', 'mine.parquet'), 'the user');
  await write(
    committingUri(output),
    JSON.stringify({ runId: SECOND, attempt: 3, scheduledAt: 3000, stale: [], incoming: ['features/part-000007.parquet'], cleared: true }),
  );
  await commit({ ...next, summary: summaryOf(THIRD, 3) });
  assert.deepEqual(await tree(output), { ...committed(THIRD, 2, 3), 'features/mine.parquet': 'the user' });
});

test("another run's commit that stopped while archiving is finished first, so the earlier result stays whole", async () => {
  const output = path.join(work, 'archiving');
  await commit({ ...(await stage(output, FIRST, 3)), summary: summaryOf(FIRST, 1) });
  // The other run removed the top-level _SUCCESS and moved one part into runs/<first>, then stopped.
  await write(
    committingUri(output),
    JSON.stringify({
      runId: SECOND,
      attempt: 1,
      scheduledAt: 1000,
      previous: { ...summaryOf(FIRST, 1), files: filesOf(3) },
      stale: [],
      incoming: filesOf(9),
      cleared: false,
    }),
  );
  await fs.rm(successUri(output));
  await fs.mkdir(path.join(output, 'runs', FIRST, 'features'), { recursive: true });
  await fs.rename(path.join(output, 'features', 'part-000000.parquet'), path.join(output, 'runs', FIRST, 'features', 'part-000000.parquet'));

  await commit({ ...(await stage(output, THIRD, 1)), summary: summaryOf(THIRD, 4) });
  assert.deepEqual(await tree(output), { ...committed(THIRD, 1, 4), ...committed(FIRST, 3, 1, path.join('runs', FIRST)) });
});

/** A committed result FIRST, a staged SECOND, and attempt `attempt` of SECOND's commit holding the marker. */
async function claimedCommit(output: string, attempt: number, scheduledAt: number): Promise<RunContext> {
  await commit({ ...(await stage(output, FIRST, 1)), summary: summaryOf(FIRST, 1) });
  const second = await stage(output, SECOND, 2);
  const previous = { ...summaryOf(FIRST, 1), files: filesOf(1) };
  await write(
    committingUri(output),
    JSON.stringify({ runId: SECOND, attempt, scheduledAt, previous, stale: [], incoming: filesOf(2), cleared: false }),
  );
  return second;
}

test('an older attempt that a newer one has taken over stops before moving anything', async () => {
  const output = path.join(work, 'taken-over');
  // Temporal timed attempt 1 out and started attempt 2, which wrote the marker; attempt 1 wakes up.
  const second = await claimedCommit(output, 2, 2000);
  const before = await tree(output);
  await assert.rejects(commit({ ...second, summary: summaryOf(SECOND, 2) }, 1), {
    message: new RegExp(`taken over by run ${SECOND} \\(attempt 2\\)`),
  });
  assert.deepEqual(await tree(output), before);
  await commit({ ...second, summary: summaryOf(SECOND, 2) }, 2);
  assert.deepEqual(await tree(output), { ...committed(SECOND, 2, 2), ...committed(FIRST, 1, 1, path.join('runs', FIRST)) });
});

test('after a workflow reset, attempt 1 of the commit takes over from attempt 5 of the execution before it', async () => {
  const output = path.join(work, 'reset');
  // The reset execution keeps the run id of the first one (Temporal's first execution run id) but counts attempts anew.
  const second = await claimedCommit(output, 5, 5000);
  await commit({ ...second, summary: summaryOf(SECOND, 2) }, 1, 9000);
  assert.deepEqual(await tree(output), { ...committed(SECOND, 2, 2), ...committed(FIRST, 1, 1, path.join('runs', FIRST)) });
});

/**
 * Run `body` with every fs.rename and fs.unlink call (how local storage moves, writes and removes files) announced to
 * `before`, with the path it changes.
 */
async function intercepted<T>(before: (call: number, target: string) => Promise<void>, body: () => Promise<T>): Promise<T> {
  const realRename = fs.rename;
  const realUnlink = fs.unlink;
  let calls = 0;
  fs.rename = async (from, to) => {
    await before(calls++, String(to));
    return realRename(from, to);
  };
  fs.unlink = async (target) => {
    await before(calls++, String(target));
    return realUnlink(target);
  };
  try {
    return await body();
  } finally {
    fs.rename = realRename;
    fs.unlink = realUnlink;
  }
}

const MAX_CALLS = 200;

/** Every top-level file except the runs/ archive, staging and the marker: what a reader of the latest result sees. */
function topLevel(files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).filter(([file]) => !/^(runs|_staging)\//.test(file) && file !== '_COMMITTING'));
}

test('an attempt taken over at any step stops at its next one, and the newer attempt completes the commit', async () => {
  for (let point = 0; ; point++) {
    assert.ok(point < MAX_CALLS, 'the sweep would never end');
    const output = path.join(work, `takeover-${point}`);
    await commit({ ...(await stage(output, FIRST, 3)), summary: summaryOf(FIRST, 1) });
    const second = await stage(output, SECOND, 2);
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
      claimedBeforeSuccess = !(await fs.readFile(successUri(output), 'utf8').catch(() => '')).includes(SECOND);
      const current = JSON.parse(text) as Record<string, unknown>;
      await fs.writeFile(committingUri(output), JSON.stringify({ ...current, attempt: 2, scheduledAt: 2000 }));
    };
    const outcome = await intercepted(claim, () =>
      commit({ ...second, summary: summaryOf(SECOND, 2) }, 1).then(
        () => 'finished',
        (err: Error) => err.message,
      ),
    );
    if (point >= calls) {
      assert.ok(point >= 10, `the sweep covered only ${point} calls`);
      break;
    }
    // Claimed before the result was complete, attempt 1 must stop at its next step and leave _SUCCESS to attempt 2.
    if (claimedBeforeSuccess) {
      assert.match(outcome, new RegExp(`taken over by run ${SECOND} \\(attempt 2\\)`), `claimed at call ${point}`);
      assert.equal(topLevel(await tree(output))._SUCCESS, undefined, `claimed at call ${point}: the stopped attempt wrote no _SUCCESS`);
    }
    await commit({ ...second, summary: summaryOf(SECOND, 2) }, 2);
    assert.deepEqual(
      await tree(output),
      { ...committed(SECOND, 2, 2), ...committed(FIRST, 3, 1, path.join('runs', FIRST)) },
      `claimed at call ${point}`,
    );
  }
});
