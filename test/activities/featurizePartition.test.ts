// The featurize and aggregate activities on real files with the real model, run as Temporal would retry them.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { aggregateFeatures } from '../../activities/aggregateFeatures.js';
import { featurizePartition } from '../../activities/featurizePartition.js';
import { listImages } from '../../activities/listImages.js';
import { loadWorkerConfig, type WorkerConfig } from '../../lib/config.js';
import { pipelineDefaults } from '../../lib/pipelineInput.js';
import type { FeaturizePartitionResult, ListImagesResult, RunContext } from '../../lib/contract.js';
import { errorsPartUri, featuresDatasetUri, featuresPartUri, stagedResult } from '../../lib/storage/layout.js';
import { queryParquet } from '../../lib/storage/parquet.js';
import { tempDir, testClaimant } from '../support/environment.js';
import { copySample, writeBrokenImages } from '../support/images.js';

let work: string;
let context: RunContext;
let config: WorkerConfig;
const activity = new MockActivityEnvironment();
const { maxImageBytes } = pipelineDefaults;
/** The listing of a test run: every JPEG, in partitions of `partitionSize`, fp32. */
const listInput = (run: RunContext, partitionSize: number) => ({
  ...run,
  glob: '*.jpg',
  partitionSize,
  k: 2,
  incremental: false,
  precision: 'fp32' as const,
  maxConcurrentPartitions: 1,
  claimant: testClaimant,
});

before(async () => {
  work = await tempDir('featurize');
  const source = path.join(work, 'photos');
  await copySample(source, ['apple_red_1', 'eggplant_violet_1'], 5);
  await writeBrokenImages(path.join(source, 'apple_red_1'));
  const output = path.join(work, 'out');
  context = { source, output, staging: path.join(output, '_staging', 'test-run') };
  config = { ...loadWorkerConfig(), scratchDir: path.join(work, 'scratch'), batchSize: 4 };
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('a retried partition overwrites its own part: the aggregate holds every image exactly once', async () => {
  const listing: ListImagesResult = await activity.run(listImages, listInput(context, 6), config);
  assert.deepEqual(listing, { images: 13, reused: 0, partitions: 3, labels: 2, bytes: listing.bytes });
  const results: FeaturizePartitionResult[] = [];
  for (let partition = 0; partition < listing.partitions; partition++) {
    results.push(await activity.run(featurizePartition, { ...context, partition, maxImageBytes, precision: 'fp32' as const }, config));
  }
  const firstPart = await fs.readFile(featuresPartUri(context.staging, 1));
  // Temporal retries an activity whose worker died after writing: run partition 1 again.
  const retried: FeaturizePartitionResult = await activity.run(
    featurizePartition,
    { ...context, partition: 1, maxImageBytes, precision: 'fp32' as const },
    config,
  );
  assert.deepEqual({ ...retried, timings: {} }, { ...results[1], timings: {} });
  assert.ok((await fs.readFile(featuresPartUri(context.staging, 1))).equals(firstPart), 'the retry wrote the same bytes');

  // An attempt killed while writing leaves its temporary file in the dataset's folder.
  const dataset = featuresDatasetUri(stagedResult(context.staging));
  await fs.writeFile(`${featuresPartUri(context.staging, 2)}.tmp-killed`, 'half a parquet file');
  const aggregate = await activity.run(aggregateFeatures, { ...context, partitions: listing.partitions }, config);
  assert.deepEqual(aggregate, { rows: 10, failed: 3, labels: 2 });
  assert.deepEqual((await fs.readdir(dataset)).sort(), ['part-000000.parquet', 'part-000001.parquet', 'part-000002.parquet']);
  const [counts] = await queryParquet('SELECT count(*) AS n, count(DISTINCT path) AS paths FROM read_parquet($1)', [path.join(dataset, '*.parquet')]);
  assert.deepEqual(counts, { n: 10, paths: 10 });
  const leftovers = (await fs.readdir(context.staging, { recursive: true })).filter((f) => String(f).includes('.tmp-'));
  assert.deepEqual(leftovers, []);
});

test('heartbeats report progress through the partition', async () => {
  const beats: unknown[] = [];
  const env = new MockActivityEnvironment();
  env.on('heartbeat', (details: unknown) => beats.push(details));
  await env.run(featurizePartition, { ...context, partition: 0, maxImageBytes, precision: 'fp32' as const }, { ...config, batchSize: 2 });
  assert.ok(beats.length >= 2, `got ${beats.length} heartbeats`);
  assert.deepEqual(beats.at(-1), { done: 6, of: 6 });
});

test('a cancelled activity stops instead of finishing the partition', async () => {
  const env = new MockActivityEnvironment();
  const running = env.run(featurizePartition, { ...context, partition: 0, maxImageBytes, precision: 'fp32' as const }, config);
  env.cancel();
  await assert.rejects(running);
});

test('a retry that no longer fails removes the errors part an earlier attempt wrote', async () => {
  const source = path.join(work, 'flaky');
  await copySample(source, ['apple_red_1'], 3);
  const flaky = path.join(source, 'apple_red_1', 'flaky.jpg');
  await fs.writeFile(flaky, 'not a jpeg yet');
  const run: RunContext = { source, output: path.join(work, 'flaky-out'), staging: path.join(work, 'flaky-out', '_staging', 'r') };
  const listing: ListImagesResult = await activity.run(listImages, listInput(run, 8), config);
  assert.equal(listing.partitions, 1);
  const first: FeaturizePartitionResult = await activity.run(
    featurizePartition,
    { ...run, partition: 0, maxImageBytes, precision: 'fp32' as const },
    config,
  );
  assert.equal(first.failed, 1);
  assert.ok(await fs.stat(errorsPartUri(run.staging, 0)), 'the failing attempt wrote an errors part');

  // The file is complete now (a copy that was still uploading, say); Temporal runs the partition again.
  await fs.copyFile(
    path.join(
      source,
      'apple_red_1',
      (await fs.readdir(path.join(source, 'apple_red_1'))).find((f) => f !== 'flaky.jpg')!,
    ),
    flaky,
  );
  const retried: FeaturizePartitionResult = await activity.run(
    featurizePartition,
    { ...run, partition: 0, maxImageBytes, precision: 'fp32' as const },
    config,
  );
  assert.deepEqual([retried.featurized, retried.failed], [4, 0]);
  await assert.rejects(fs.stat(errorsPartUri(run.staging, 0)), { code: 'ENOENT' });
  assert.deepEqual(await activity.run(aggregateFeatures, { ...run, partitions: 1 }, config), { rows: 4, failed: 0, labels: 1 });
});

test("an image replaced by a FIFO after listing is that image's error, and the partition goes on", async () => {
  const source = path.join(work, 'fifo');
  const [fifo] = await copySample(source, ['apple_red_1'], 3);
  const run: RunContext = { source, output: path.join(work, 'fifo-out'), staging: path.join(work, 'fifo-out', '_staging', 'r') };
  await activity.run(listImages, listInput(run, 8), config);
  await fs.rm(fifo);
  execFileSync('mkfifo', [fifo]);
  // Bounds a regression: a read that blocks on the FIFO gets an empty file after 30 s, and the assertions below fail.
  const writer = spawn(process.execPath, ['-e', `setTimeout(() => require('fs').writeFileSync(${JSON.stringify(fifo)}, ''), 30000)`], {
    stdio: 'ignore',
  });
  try {
    const result: FeaturizePartitionResult = await activity.run(
      featurizePartition,
      { ...run, partition: 0, maxImageBytes, precision: 'fp32' as const },
      config,
    );
    assert.deepEqual([result.featurized, result.failed], [2, 1]);
    const errors = await queryParquet('SELECT path, error FROM read_parquet($1)', [errorsPartUri(run.staging, 0)]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].path, fifo);
    assert.match(String(errors[0].error), /^cannot read file: .* is not a regular file/);
  } finally {
    writer.kill();
  }
});

test('a staged errors part that went missing fails the aggregate instead of dropping those images silently', async () => {
  const source = path.join(work, 'lost');
  await copySample(source, ['eggplant_violet_1'], 4);
  await writeBrokenImages(path.join(source, 'eggplant_violet_1'));
  const run: RunContext = { source, output: path.join(work, 'lost-out'), staging: path.join(work, 'lost-out', '_staging', 'r') };
  const listing: ListImagesResult = await activity.run(listImages, listInput(run, 64), config);
  const result: FeaturizePartitionResult = await activity.run(
    featurizePartition,
    { ...run, partition: 0, maxImageBytes, precision: 'fp32' as const },
    config,
  );
  assert.deepEqual([listing.partitions, result.featurized, result.failed], [1, 4, 3]);
  await fs.rm(errorsPartUri(run.staging, 0));
  await assert.rejects(activity.run(aggregateFeatures, { ...run, partitions: 1 }, config), {
    message: /7 images were listed and 0 carried over, but the parts hold 4 vectors and 0 errors/,
  });
});

test('a features part that went missing fails the aggregate and names the dataset', async () => {
  const source = path.join(work, 'gone');
  await copySample(source, ['eggplant_violet_1'], 6);
  const run: RunContext = { source, output: path.join(work, 'gone-out'), staging: path.join(work, 'gone-out', '_staging', 'r') };
  const listing: ListImagesResult = await activity.run(listImages, listInput(run, 3), config);
  assert.equal(listing.partitions, 2);
  for (let partition = 0; partition < listing.partitions; partition++)
    await activity.run(featurizePartition, { ...run, partition, maxImageBytes, precision: 'fp32' as const }, config);
  await fs.rm(featuresPartUri(run.staging, 1));
  await assert.rejects(activity.run(aggregateFeatures, { ...run, partitions: 2 }, config), {
    message: new RegExp(
      `1 of the 2 files of the features dataset under ${featuresDatasetUri(stagedResult(run.staging)).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} are missing`,
    ),
  });
});
