// The pipeline with S3 sources and outputs against a real S3-compatible server (SeaweedFS) on 127.0.0.1,
// including the server going away in the middle of featurization.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { failureReason } from '../../lib/temporal/client.js';
import { delay } from '../../lib/concurrency.js';
import { queryParquet } from '../../lib/storage/parquet.js';
import type { PipelineInput, PipelineProgress, RunSummary } from '../../lib/contract.js';
import type { S3Server } from '../../dev/s3Server.js';
import { startTestPipeline, tempDir, type TestPipeline } from '../support/environment.js';
import { copySample, sampleDir, writeBrokenImages } from '../support/images.js';
import { fetchResult, imagesBelow, verifyResult } from '../support/results.js';
import { createBucket, startTestS3Server, uploadDirectory } from '../support/s3.js';
import { storageFor } from '../../lib/storage/storage.js';

let work: string;
let s3: S3Server;
let pipeline: TestPipeline;
let env: TestWorkflowEnvironment;
let sampleUris: string[];
let subsetDir: string;
let subsetUris: string[];
let runs = 0;

before(async () => {
  work = await tempDir('s3-e2e');
  s3 = await startTestS3Server(path.join(work, 's3'));
  await createBucket('fruits');
  // The layout of the original notebook: photos under sample_data_train/<label>/, results under Results/.
  sampleUris = (await uploadDirectory(sampleDir, 'fruits', 'sample_data_train')).filter((uri) => uri.endsWith('.jpg'));
  subsetDir = path.join(work, 'subset');
  await copySample(subsetDir, ['apple_golden_1', 'cabbage_white_1', 'pear_3'], 20);
  subsetUris = await uploadDirectory(subsetDir, 'fruits', 'subset');
  pipeline = await startTestPipeline(path.join(work, 'scratch'));
  env = pipeline.env;
});

after(async () => {
  await pipeline?.stop();
  await s3?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function start(input: PipelineInput) {
  return env.client.workflow.start('imagePipeline', { taskQueue: 'orchard', workflowId: `s3-${++runs}`, args: [input] });
}

async function runAndVerify(input: PipelineInput, paths: string[]): Promise<void> {
  const summary = (await (await start(input)).result()) as RunSummary;
  const local = await fetchResult(input.output, path.join(work, `fetched-${runs}`));
  await verifyResult(local, summary, { paths, k: input.k ?? 5 });
}

test('s3 -> s3 on the whole sample, the layout of the original notebook; no credentials in the history', async () => {
  assert.equal(sampleUris.length, 900);
  await runAndVerify({ source: 's3://fruits/sample_data_train', output: 's3://fruits/Results', k: 5, s3Endpoint: s3.endpoint }, sampleUris);
  const history = JSON.stringify(await env.client.workflow.getHandle(`s3-${runs}`).fetchHistory());
  for (const secret of [s3.secretKey, s3.accessKey]) assert.ok(!history.includes(secret), 'credentials never enter the workflow history');
  assert.ok(!/X-Amz-Signature|X-Amz-Credential/i.test(history), 'no pre-signed URLs in the history');
});

test('local -> s3', async () => {
  await runAndVerify({ source: subsetDir, output: 's3://fruits/from-local', k: 5 }, await imagesBelow(subsetDir));
});

test('broken images with an S3 output: errors.parquet lists them (found by listing the staged errors parts), every other vector is kept', async () => {
  const source = path.join(work, 'with-broken');
  await copySample(source, ['apple_golden_1', 'pear_3'], 12);
  const broken = await writeBrokenImages(path.join(source, 'pear_3'));
  const output = 's3://fruits/with-broken';
  const summary = (await (await start({ source, output, k: 5, partitionSize: 8 })).result()) as RunSummary;
  assert.equal(summary.failed, broken.length);
  const local = await fetchResult(output, path.join(work, `fetched-${runs}`));
  const good = (await imagesBelow(source)).filter((file) => !broken.includes(file));
  await verifyResult(local, summary, { paths: good, k: 5 });
  const errors = await queryParquet('SELECT path FROM read_parquet($1) ORDER BY path', [path.join(local, 'errors.parquet')]);
  assert.deepEqual(
    errors.map((row) => row.path),
    [...broken].sort(),
  );
});

test('an incremental run into an S3 output carries the earlier vectors over from S3 and archives the earlier result whole', async () => {
  const source = path.join(work, 'growing');
  await copySample(source, ['apple_golden_1', 'pear_3'], 10);
  const output = 's3://fruits/growing';
  const first = (await (await start({ source, output, k: 3 })).result()) as RunSummary;
  await copySample(source, ['cabbage_white_1'], 6);
  const second = (await (await start({ source, output, k: 3, incremental: true })).result()) as RunSummary;
  assert.deepEqual([second.reused, second.featurized, second.failed], [20, 26, 0]);
  const local = await fetchResult(output, path.join(work, `fetched-${runs}`));
  await verifyResult(local, second, { paths: await imagesBelow(source), k: 3 });
  assert.ok((await fs.readdir(path.join(local, 'features'))).includes('carried.parquet'), 'the carried vectors are one file of the dataset');
  const archived = path.join(local, 'runs', first.runId);
  const { files, ...recorded } = JSON.parse(await fs.readFile(path.join(archived, '_SUCCESS'), 'utf8')) as RunSummary & { files: string[] };
  assert.deepEqual(recorded, first);
  assert.ok(files.includes('features/part-000000.parquet'), 'the archived _SUCCESS lists its files');
  const [rows] = await queryParquet('SELECT count(*) AS n, count(DISTINCT path) AS paths FROM read_parquet($1)', [
    path.join(archived, 'features', '*.parquet'),
  ]);
  assert.deepEqual(rows, { n: 20, paths: 20 });
});

test('s3 -> local', async () => {
  await runAndVerify({ source: 's3://fruits/subset', output: path.join(work, 'to-local'), k: 5 }, subsetUris);
});

test('the S3 server stops for a few seconds during featurization: the run completes with every image exactly once', async () => {
  const output = 's3://fruits/Results-after-outage';
  const handle = await start({ source: 's3://fruits/sample_data_train', output, k: 5, partitionSize: 32 });
  for (;;) {
    const progress = await handle.query<PipelineProgress>('progress');
    if (progress.partitionsDone >= 2) break;
    await delay(100);
  }
  await s3.stop();
  await delay(5_000);
  await s3.start();
  const summary = (await handle.result()) as RunSummary;
  assert.equal(summary.failed, 0);
  const local = await fetchResult(output, path.join(work, 'fetched-outage'));
  await verifyResult(local, summary, { paths: sampleUris, k: 5 });
});

async function failure(input: PipelineInput): Promise<string> {
  const err = await (await start(input)).result().then(
    () => assert.fail('the run should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  return failureReason(err);
}

test('a missing bucket, an empty prefix and refused credentials fail clearly', async () => {
  assert.match(
    await failure({ source: 's3://no-such-bucket/photos', output: path.join(work, 'never') }),
    /listImages: bucket of s3:\/\/no-such-bucket\/photos does not exist; create it or correct the URI/,
  );
  assert.match(
    await failure({ source: 's3://fruits/no-such-prefix', output: path.join(work, 'never') }),
    /no file matching "\*\.jpg" under s3:\/\/fruits\/no-such-prefix; check --source and --glob/,
  );
  const saved = process.env.AWS_ACCESS_KEY_ID;
  process.env.AWS_ACCESS_KEY_ID = 'intruder';
  try {
    assert.match(
      await failure({ source: 's3://fruits/subset', output: path.join(work, 'never') }),
      /access to s3:\/\/fruits\/subset was refused \(\w+, HTTP 403\); check AWS_ACCESS_KEY_ID/,
    );
  } finally {
    process.env.AWS_ACCESS_KEY_ID = saved;
  }
});

test("S3 outputs: someone else's prefix, refused credentials and a '..' URI fail before any work; the user's objects in an Orchard output stay", async () => {
  const storage = storageFor('s3://fruits');
  const objects = async (prefix: string) => {
    const found: Record<string, string> = {};
    for await (const object of storage.list(prefix)) found[object.uri] = (await storage.read(object.uri)).toString();
    return found;
  };
  // The original notebook's own output, with the user's legacy files beside it.
  await storage.write('s3://fruits/legacy/_SUCCESS', '');
  await storage.write('s3://fruits/legacy/features/legacy.csv', 'legacy');
  await storage.write('s3://fruits/legacy/report.html', 'their report');
  const before = await objects('s3://fruits/legacy');
  assert.match(
    await failure({ source: 's3://fruits/subset', output: 's3://fruits/legacy', k: 5 }),
    /checkOutput: --output s3:\/\/fruits\/legacy already holds files that Orchard did not write: _SUCCESS, features, report.html \(its _SUCCESS looks like a Spark or Hadoop output\)/,
  );
  assert.deepEqual(await objects('s3://fruits/legacy'), before);
  assert.match(
    await failure({ source: subsetDir, output: 's3://fruits/a/../evil', k: 5 }),
    /has an empty, "\." or "\.\." segment; .*s3:\/\/fruits\/a\/evil/,
  );

  const saved = process.env.AWS_ACCESS_KEY_ID;
  process.env.AWS_ACCESS_KEY_ID = 'intruder';
  try {
    // The output is checked before any work, so its refused credentials fail the run at once, not after retries.
    assert.match(
      await failure({ source: subsetDir, output: 's3://fruits/Results-denied', k: 5 }),
      /checkOutput: access to s3:\/\/fruits\/Results-denied.* was refused \(.*HTTP 403\)/,
    );
  } finally {
    process.env.AWS_ACCESS_KEY_ID = saved;
  }

  const output = 's3://fruits/owned';
  await (await start({ source: subsetDir, output, k: 5 })).result();
  await storage.write(`${output}/features/legacy.csv`, 'mine');
  await storage.write(`${output}/notes.txt`, 'notes');
  await (await start({ source: subsetDir, output, k: 5 })).result();
  assert.equal((await storage.read(`${output}/features/legacy.csv`)).toString(), 'mine');
  assert.equal((await storage.read(`${output}/notes.txt`)).toString(), 'notes');
});
