import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { formatProgress } from '../../../lib/temporal/client.js';
import { inFlightImages, noWorkerHint } from '../../../lib/temporal/watch.js';

const pending = (name: string, details: unknown) => ({
  activityType: { name },
  heartbeatDetails: { payloads: [defaultPayloadConverter.toPayload(details)] },
});

test("images in flight are the featurize activities' last heartbeats; anything else counts as nothing", () => {
  assert.equal(inFlightImages([pending('featurizePartition', { done: 40, of: 225 }), pending('featurizePartition', { done: 2, of: 225 })]), 42);
  assert.equal(inFlightImages([pending('listImages', { images: 900, partitions: 4 })]), 0);
  assert.equal(
    inFlightImages([
      pending('featurizePartition', { done: -5 }),
      pending('featurizePartition', 'garbage'),
      { activityType: { name: 'featurizePartition' } },
    ]),
    0,
  );
  assert.equal(inFlightImages(undefined), 0);
});

test('one line of progress counts what this run featurizes, and what it reuses', () => {
  const progress = {
    stage: 'featurizing' as const,
    images: 1000,
    reused: 100,
    toFeaturize: 900,
    done: 450,
    featurized: 400,
    failed: 2,
    partitionsDone: 2,
    partitions: 4,
  };
  assert.equal(formatProgress(progress, 10_000), 'featurizing: 450/900 images (2 failed, 100 reused), partitions 2/4, 45.0 images/s, ETA 10 s');
});

test('the hint without a worker says what to start, and where', () => {
  assert.match(
    noWorkerHint('127.0.0.1:7233', 'orchard', false),
    /no worker is polling task queue "orchard" on 127\.0\.0\.1:7233: start one with `orchard worker`/,
  );
  assert.match(noWorkerHint('127.0.0.1:7233', 'gpu', false), /ORCHARD_TASK_QUEUE=gpu/);
  assert.match(noWorkerHint('127.0.0.1:7233', 'orchard', true), /busy/);
});
