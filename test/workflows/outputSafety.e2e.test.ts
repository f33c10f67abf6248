// The output as a careful but hostile user meets it, on a real server with the real model: files Orchard did not
// write are never touched, outputs it must not write are refused before any work, one run writes an output at a
// time, and inputs that used to hang or fail slowly fail at once and say why.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import sharp from 'sharp';
import { failureReason } from '../../lib/temporal/client.js';
import type { PipelineInput, RunSummary } from '../../lib/contract.js';
import { queryParquet } from '../../lib/storage/parquet.js';
import { startTestPipeline, tempDir, type TestPipeline } from '../support/environment.js';
import { copySample, writeBrokenImages } from '../support/images.js';
import { snapshotFiles } from '../support/results.js';

let work: string;
let pipeline: TestPipeline;
let source: string;
let runs = 0;

before(async () => {
  work = await tempDir('output-safety');
  source = path.join(work, 'photos');
  await copySample(source, ['apple_pink_lady_1', 'pear_1'], 6);
  // A short wait for featurize workers, so the test of a queue nobody polls ends in seconds.
  pipeline = await startTestPipeline(path.join(work, 'scratch'), { workerWaitSeconds: 3 });
});

after(async () => {
  await pipeline?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function start(input: PipelineInput, workflowId = `safety-${++runs}`): Promise<WorkflowHandle> {
  return pipeline.env.client.workflow.start('imagePipeline', { taskQueue: 'orchard', workflowId, args: [{ k: 2, ...input }] });
}

const run = async (input: PipelineInput) => (await (await start(input)).result()) as RunSummary;

/** The failure of a run, checked to be final: a non-retryable one, reported without retries. */
async function refusal(input: PipelineInput): Promise<string> {
  const err = await run(input).then(
    () => assert.fail('the run should have been refused'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  let cause: unknown = err.cause;
  while (cause instanceof Error && !(cause instanceof ApplicationFailure)) cause = cause.cause;
  assert.ok(cause instanceof ApplicationFailure && cause.nonRetryable, `a non-retryable failure: ${failureReason(err)}`);
  return failureReason(err);
}

test('an output that holds files Orchard did not write is refused at once, names them, and stays as it was', async () => {
  const output = path.join(work, 'users-folder');
  for (const [file, text] of Object.entries({ 'features/my.csv': 'x', 'pca/a.ipynb': 'x', 'report.html': 'x', 'runs/exp1/notes.txt': 'x' })) {
    await fs.mkdir(path.dirname(path.join(output, file)), { recursive: true });
    await fs.writeFile(path.join(output, file), text);
  }
  const before = await snapshotFiles(output);
  assert.match(
    await refusal({ source, output }),
    /checkOutput: --output .*users-folder already holds files that Orchard did not write: features, pca, report.html, runs\. .*choose a new --output/,
  );
  assert.deepEqual(await snapshotFiles(output), before);

  // What the original notebook's mode("overwrite").parquet(...) leaves: an empty _SUCCESS beside part files.
  const spark = path.join(work, 'Results');
  await fs.mkdir(spark);
  await fs.writeFile(path.join(spark, '_SUCCESS'), '');
  await fs.writeFile(path.join(spark, 'part-00000-1.snappy.parquet'), 'x');
  assert.match(
    await refusal({ source, output: spark }),
    /already holds files that Orchard did not write: _SUCCESS, part-00000-1.snappy.parquet \(its _SUCCESS looks like a Spark or Hadoop output\)/,
  );
});

test("the user's own files in an Orchard output survive every run and the pruning of old results; a clash is refused before any work", async () => {
  const output = path.join(work, 'shared');
  await run({ source, output });
  const users = { 'features/my.csv': 'mine', 'pca/a.ipynb': 'notebook', 'notes.txt': 'notes', 'runs/exp1/results.csv': 'experiment' };
  for (const [file, text] of Object.entries(users)) {
    await fs.mkdir(path.dirname(path.join(output, file)), { recursive: true });
    await fs.writeFile(path.join(output, file), text);
  }
  // Four more runs: three results are archived and one is pruned.
  for (let i = 0; i < 4; i++) await run({ source, output });
  for (const [file, text] of Object.entries(users)) assert.equal(await fs.readFile(path.join(output, file), 'utf8'), text, file);
  const archived = (await fs.readdir(path.join(output, 'runs'))).filter((name) => name !== 'exp1');
  assert.equal(archived.length, 3);

  // A file of the user's where the result goes would have to be replaced: refused before the listing.
  await fs.writeFile(path.join(output, 'features', 'part-000099.parquet'), 'not ours');
  const handle = await start({ source, output });
  const reason = await (handle.result() as Promise<unknown>).then(
    () => assert.fail('refused'),
    (e: unknown) => failureReason(e),
  );
  assert.match(reason, /holds features\/part-000099.parquet, which Orchard did not write, where its result goes/);
  const scheduled = ((await handle.fetchHistory()).events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
  assert.deepEqual(scheduled, [], 'no work was scheduled');
});

test('outputs a run must never write are refused before any work: system and home folders, the source, inside it, around it', async () => {
  const cases: [string, RegExp][] = [
    ['/', /--output \/ is a system folder/],
    [os.homedir(), /is (the home folder|a system folder)/],
    ['/proc/orchard-out', /is inside the system folder \/proc/],
    [source, /is the source itself/],
    [path.join(source, 'out'), /is inside the source/],
    [work, /holds the source/],
  ];
  for (const [output, reason] of cases) assert.match(await refusal({ source, output }), reason, output);
  // Another spelling of the source (a symlink) is the source all the same.
  await fs.symlink(source, path.join(work, 'photos-link'));
  assert.match(await refusal({ source, output: path.join(work, 'photos-link') }), /is the source itself/);
});

test('one writer per output: runs started together to one output, under any spelling, leave one to write and refuse the others at start', async () => {
  const output = path.join(work, 'contested');
  await fs.mkdir(path.join(work, 'spellings'));
  await fs.symlink(work, path.join(work, 'spellings', 'work'));
  const outputs = [output, path.join(work, 'spellings', 'work', 'contested'), `${output}/`, output, output, output];
  const handles = await Promise.all(outputs.map((o) => start({ source, output: o })));
  const outcomes = await Promise.all(
    handles.map((h) =>
      h.result().then(
        () => 'completed',
        (e: unknown) => failureReason(e),
      ),
    ),
  );
  const completed = outcomes.filter((o) => o === 'completed');
  assert.equal(completed.length, 1, JSON.stringify(outcomes));
  const winner = handles[outcomes.indexOf('completed')].workflowId;
  for (const [i, outcome] of outcomes.entries()) {
    if (outcome === 'completed') continue;
    assert.match(
      outcome,
      new RegExp(`acquireOutput: .*contested is being written by workflow ${winner} \\(run [0-9a-f-]+\\); .*wait for it to finish, or cancel it`),
    );
    const scheduled = ((await handles[i].fetchHistory()).events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
    assert.deepEqual(scheduled, [], `${handles[i].workflowId} did no work`);
  }
  // Once the writer is done, the next run takes the output.
  assert.equal((await run({ source, output })).featurized, 12);
});

test('a run whose images all fail says so and keeps errors.parquet where the user can read it', async () => {
  const broken = path.join(work, 'broken');
  await writeBrokenImages(path.join(broken, 'pear_1'));
  const output = path.join(work, 'out-broken');
  const reason = await refusal({ source: broken, output });
  const match =
    /aggregateFeatures: none of the 3 images could be read and decoded \(e\.g\. .*empty\.jpg: not a readable image: empty file \(0 bytes\)\); errors\.parquet lists the reason for each: (\S+); check --source and --glob/.exec(
      reason,
    );
  assert.ok(match, reason);
  const rows = await queryParquet('SELECT path, error FROM read_parquet($1) ORDER BY path', [match[1]]);
  assert.equal(rows.length, 3);
  assert.ok(match[1].startsWith(path.join(output, 'runs')), 'kept under the output');
});

test('a run whose images are all the same picture fails at the PCA, saying so', async () => {
  const copies = path.join(work, 'copies', 'pear_1');
  const [one] = await copySample(path.join(work, 'one'), ['pear_1'], 1);
  await fs.mkdir(copies, { recursive: true });
  for (let i = 0; i < 5; i++) await fs.copyFile(one, path.join(copies, `copy-${i}.jpg`));
  assert.match(
    await refusal({ source: path.dirname(copies), output: path.join(work, 'out-copies') }),
    /fitPca: all 5 feature vectors are the same .* the images are copies of one picture/,
  );
});

test('a file larger than maxImageBytes is not read: it becomes a row of errors.parquet', async () => {
  const mixed = path.join(work, 'mixed', 'noise');
  await fs.mkdir(mixed, { recursive: true });
  for (let i = 0; i < 3; i++) {
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 40 * i, g: 120, b: 200 - 40 * i } } })
      .jpeg()
      .toFile(path.join(mixed, `small-${i}.jpg`));
  }
  const noise = Buffer.from(Array.from({ length: 600 * 600 * 3 }, (_, i) => (i * 2654435761) >>> 24));
  await sharp(noise, { raw: { width: 600, height: 600, channels: 3 } })
    .jpeg({ quality: 100 })
    .toFile(path.join(mixed, 'large.jpg'));
  assert.ok((await fs.stat(path.join(mixed, 'large.jpg'))).size > 64 * 1024);
  // A 3 GiB file named .jpg (sparse: it takes no disk), past what a Buffer holds, which used to fail the whole run.
  await fs.writeFile(path.join(mixed, 'huge.jpg'), '');
  await fs.truncate(path.join(mixed, 'huge.jpg'), 3 * 1024 ** 3);
  const output = path.join(work, 'out-mixed');
  const summary = await run({ source: path.dirname(mixed), output, maxImageBytes: 64 * 1024 });
  assert.deepEqual([summary.featurized, summary.failed], [3, 2]);
  const errors = await queryParquet('SELECT path, error FROM read_parquet($1) ORDER BY path', [path.join(output, 'errors.parquet')]);
  assert.deepEqual(
    errors.map((e) => e.path),
    [path.join(mixed, 'huge.jpg'), path.join(mixed, 'large.jpg')],
  );
  assert.match(String(errors[0].error), /not read: the file is 3072\.0 MiB, larger than maxImageBytes \(0\.1 MiB\)/);
  assert.match(String(errors[1].error), /not read: the file is \d+\.\d MiB, larger than maxImageBytes \(0\.1 MiB\)/);
});

test('a run with no worker on its featurize task queue fails after a bounded wait, naming the queue and what to start', async () => {
  const reason = await refusal({ source, output: path.join(work, 'out-no-worker'), featurizeTaskQueue: 'nobody-polls-this' });
  assert.match(
    reason,
    /no worker polls task queue "nobody-polls-this" for featurize activities \(waited 3 s\): start one .*ORCHARD_FEATURIZE_TASK_QUEUE=nobody-polls-this/,
  );
  assert.match(
    await refusal({ source, output: path.join(work, 'out-history'), maxHistoryEvents: 3 }),
    /"maxHistoryEvents" must be a whole number from 100 /,
  );
  assert.match(await refusal({ source, output: path.join(work, 'out-glob'), glob: '[jpg' }), /"glob": glob "\[jpg" has an unclosed "\["/);
});
