// Listing and partitioning: the sizes of the tail partitions, and a real listing of the sample split by them.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { listImages, oneWavePartitionSizes, tailPartitionSizes } from '../../activities/listImages.js';
import { defaultSampleDir } from '../../lib/paths.js';
import { loadWorkerConfig } from '../../lib/config.js';
import type { ListImagesResult } from '../../lib/contract.js';
import { manifestPartUri, type ManifestEntry } from '../../lib/storage/layout.js';
import { tempDir, testClaimant } from '../support/environment.js';

let work: string;

before(async () => {
  work = await tempDir('list');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

const sum = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);

test('tail partitions shrink from the full size to 32 images, in whole batches of 8 but one, and cover every image once', () => {
  for (const remaining of [1, 31, 32, 33, 63, 64, 100, 900, 1151]) {
    const sizes = tailPartitionSizes(remaining, 128, 8);
    assert.equal(sum(sizes), remaining, `${remaining}: ${sizes}`);
    assert.ok(
      sizes.every((size) => size <= 128),
      `${remaining}: ${sizes}`,
    );
    assert.ok(
      sizes.every((size, i) => i === 0 || size <= sizes[i - 1]),
      `${remaining}: not shrinking: ${sizes}`,
    );
    // Only a remainder below 32 may make a smaller partition, and then it is the only one.
    assert.ok(sizes.every((size) => size >= 32) || sizes.length === 1, `${remaining}: ${sizes}`);
    assert.ok(sizes.filter((size) => size % 8 !== 0).length <= 1, `${remaining}: ${sizes}`);
  }
  assert.deepEqual(tailPartitionSizes(1151, 128, 8).slice(0, 3), [128, 128, 112]);
  assert.deepEqual(tailPartitionSizes(900, 128, 8).slice(0, 3), [120, 104, 88]);
  assert.deepEqual(tailPartitionSizes(900, 256, 8).slice(-3), [32, 32, 32]);
  assert.deepEqual(tailPartitionSizes(80, 128, 8), [48, 32]);
});

test('without parallelism, or with partitions of 32 or fewer, every partition is full but the last', () => {
  assert.deepEqual(tailPartitionSizes(300, 128, 1), [128, 128, 44]);
  assert.deepEqual(tailPartitionSizes(13, 5, 8), [5, 5, 3]);
  assert.deepEqual(tailPartitionSizes(0, 128, 8), []);
});

test('a run that fits in one wave gets one partition per slot, within one image of each other', () => {
  for (const [images, maxSize, parallelism] of [
    [900, 256, 4],
    [1024, 256, 4],
    [13, 5, 8],
    [40, 128, 8],
    [7, 128, 4],
    [1, 256, 4],
  ]) {
    const sizes = oneWavePartitionSizes(images, maxSize, parallelism);
    assert.equal(sum(sizes), images, `${images}: ${sizes}`);
    assert.ok(
      sizes.every((size) => size <= maxSize && size > 0),
      `${images}: ${sizes}`,
    );
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${images}: ${sizes}`);
  }
  assert.deepEqual(oneWavePartitionSizes(900, 256, 4), [225, 225, 225, 225]);
  assert.deepEqual(oneWavePartitionSizes(13, 5, 8), [5, 4, 4]);
  // Less than a batch of images per slot makes fewer partitions.
  assert.deepEqual(oneWavePartitionSizes(40, 128, 8), [8, 8, 8, 8, 8]);
  assert.deepEqual(oneWavePartitionSizes(0, 128, 8), []);
});

/** The manifest parts a listing wrote. */
async function manifestParts(staging: string, listing: ListImagesResult): Promise<ManifestEntry[][]> {
  const parts: ManifestEntry[][] = [];
  for (let n = 0; n < listing.partitions; n++) parts.push(JSON.parse(await fs.readFile(manifestPartUri(staging, n), 'utf8')) as ManifestEntry[]);
  return parts;
}

test('the sample lists into full partitions in listing order, then shrinking ones that mix the folders', async () => {
  const staging = path.join(work, 'staging');
  const config = { ...loadWorkerConfig(), scratchDir: path.join(work, 'scratch') };
  const input = {
    source: defaultSampleDir,
    output: path.join(work, 'out'),
    staging,
    glob: '*.jpg',
    k: 5,
    incremental: false,
    precision: 'fp32' as const,
    claimant: testClaimant,
  };
  const listing: ListImagesResult = await new MockActivityEnvironment().run(
    listImages,
    { ...input, partitionSize: 64, maxConcurrentPartitions: 4 },
    config,
  );
  const parts = await manifestParts(staging, listing);
  const sizes = parts.map((part) => part.length);
  assert.deepEqual(sizes, [...Array(9).fill(64), ...tailPartitionSizes(900 - 9 * 64, 64, 4)]);
  assert.ok(sizes.at(-1)! < 64 && sizes.at(-1)! >= 32, `tail: ${sizes}`);
  const uris = parts.flat().map((entry) => entry.uri);
  assert.equal(new Set(uris).size, 900);
  const full = uris.slice(0, 9 * 64);
  assert.deepEqual(full, [...uris].sort().slice(0, 9 * 64), 'full partitions follow the listing order');
  // The last partition (32 images) holds images of several of the last folders, not of one.
  const lastLabels = new Set(parts.at(-1)!.map((entry) => entry.label));
  assert.ok(lastLabels.size >= 3, `labels of the last partition: ${[...lastLabels]}`);
});

test('the sample fits in one wave: one partition per slot, each mixing all 15 folders, the same on every listing', async () => {
  const staging = path.join(work, 'staging-wave');
  const config = { ...loadWorkerConfig(), scratchDir: path.join(work, 'scratch') };
  const input = {
    source: defaultSampleDir,
    output: path.join(work, 'out'),
    staging,
    glob: '*.jpg',
    k: 5,
    incremental: false,
    precision: 'fp32' as const,
    claimant: testClaimant,
    partitionSize: 256,
    maxConcurrentPartitions: 4,
  };
  const listing: ListImagesResult = await new MockActivityEnvironment().run(listImages, input, config);
  const parts = await manifestParts(staging, listing);
  assert.deepEqual(
    parts.map((part) => part.length),
    [225, 225, 225, 225],
  );
  for (const part of parts) assert.equal(new Set(part.map((entry) => entry.label)).size, 15);
  assert.equal(new Set(parts.flat().map((entry) => entry.uri)).size, 900);
  // A retried listing writes the same partitions.
  await new MockActivityEnvironment().run(listImages, input, config);
  assert.deepEqual(await manifestParts(staging, listing), parts);
});
