// Incremental runs on a real server with the real model: only new or changed images are featurized, unchanged
// vectors are carried over, deleted images drop out, and the PCA is refitted on the whole current set.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { PipelineInput, RunSummary } from '../../lib/contract.js';
import { queryParquet, type VectorRows } from '../../lib/storage/parquet.js';
import { startTestPipeline, tempDir, type TestPipeline } from '../support/environment.js';
import { copySample, sampleDir } from '../support/images.js';
import { readFeatures } from '../support/results.js';

let pipeline: TestPipeline;
let work: string;
let source: string;
let output: string;
let runs = 0;

before(async () => {
  work = await tempDir('incremental');
  source = path.join(work, 'photos');
  output = path.join(work, 'out');
  await copySample(source, ['apple_golden_1', 'cucumber_3', 'pear_1'], 4);
  pipeline = await startTestPipeline(path.join(work, 'scratch'));
});

after(async () => {
  await pipeline?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function run(input: Partial<PipelineInput> = {}): Promise<{ summary: RunSummary; featurizeActivities: number }> {
  const workflowId = `incremental-${++runs}`;
  const summary: RunSummary = await pipeline.env.client.workflow.execute('imagePipeline', {
    taskQueue: 'orchard',
    workflowId,
    args: [{ source, output, k: 2, partitionSize: 2, incremental: true, ...input }],
  });
  const events = (await pipeline.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const featurizeActivities = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'featurizePartition').length;
  return { summary, featurizeActivities };
}

const vectorOf = (rows: VectorRows, file: string) => {
  const i = rows.paths.indexOf(file);
  assert.ok(i >= 0, `${file} is in the features`);
  return Array.from(rows.vectors.subarray(i * rows.dim, (i + 1) * rows.dim));
};

test('a second run with no change featurizes nothing and keeps every row', async () => {
  const first = await run();
  assert.deepEqual([first.summary.images, first.summary.reused, first.summary.featurized], [12, 0, 12]);
  assert.equal(first.featurizeActivities, 6);
  const before = await readFeatures(output);

  const second = await run();
  assert.deepEqual([second.summary.images, second.summary.reused, second.summary.featurized], [12, 12, 12]);
  assert.equal(second.featurizeActivities, 0, 'nothing was featurized');
  const after = await readFeatures(output);
  assert.deepEqual(after.paths, before.paths);
  assert.deepEqual(Array.from(after.vectors), Array.from(before.vectors));
  const [versions] = await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [path.join(output, 'versions.parquet')]);
  assert.equal(versions.n, 12);
});

test('added, changed and deleted images: only the new and changed ones are featurized', async () => {
  const before = await readFeatures(output);
  const pears = before.paths.filter((p) => p.includes('/pear_1/'));
  const [changed, deleted, unchanged] = [pears[0], pears[1], pears[2]];
  // A different photo under the same name: its content, size and mtime change.
  const other = path.join(sampleDir, 'eggplant_violet_1', (await fs.readdir(path.join(sampleDir, 'eggplant_violet_1'))).sort()[0]);
  await fs.copyFile(other, changed);
  await fs.rm(deleted);
  const added = await copySample(path.join(source, 'added'), ['apple_red_1'], 2);

  const third = await run();
  assert.deepEqual([third.summary.images, third.summary.reused, third.summary.featurized], [13, 10, 13]);
  assert.equal(third.featurizeActivities, 2, '3 images in partitions of 2');
  const after = await readFeatures(output);
  assert.ok(!after.paths.includes(deleted), 'the deleted image is gone');
  for (const file of added) assert.ok(after.paths.includes(file), `${file} was added`);
  assert.notDeepEqual(vectorOf(after, changed), vectorOf(before, changed), 'the changed image was featurized again');
  assert.deepEqual(vectorOf(after, unchanged), vectorOf(before, unchanged), 'unchanged vectors are carried over as they were');
  const [pca] = await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [path.join(output, 'pca', '*.parquet')]);
  assert.equal(pca.n, 13, 'the PCA dataset covers the whole current set');
  const model = JSON.parse(await fs.readFile(path.join(output, 'pca_model.json'), 'utf8')) as { rows: number };
  assert.equal(model.rows, 13, 'the PCA was refitted on every current image');
});

test('incremental: false (the --full of schedules) featurizes everything again', async () => {
  const full = await run({ incremental: false });
  assert.deepEqual([full.summary.reused, full.summary.featurized], [0, 13]);
  assert.equal(full.featurizeActivities, 7);
});

test('earlier results are kept under runs/<run id>/, the newest three', async () => {
  const runIds = await fs.readdir(path.join(output, 'runs'));
  assert.equal(runIds.length, 3, 'four runs: the latest at the top level, the three before it under runs/');
  const latest = JSON.parse(await fs.readFile(path.join(output, '_SUCCESS'), 'utf8')) as RunSummary;
  assert.ok(!runIds.includes(latest.runId));
  for (const id of runIds) {
    const archived = JSON.parse(await fs.readFile(path.join(output, 'runs', id, '_SUCCESS'), 'utf8')) as RunSummary;
    assert.equal(archived.runId, id);
    await fs.access(path.join(output, 'runs', id, 'features'));
    await fs.access(path.join(output, 'runs', id, 'pca_model.json'));
  }
});

test('precision: an int8 run records it, and the incremental runs after it never mix int8 and fp32 vectors', async () => {
  const recorded = async () => {
    const success = JSON.parse(await fs.readFile(path.join(output, '_SUCCESS'), 'utf8')) as RunSummary;
    const model = JSON.parse(await fs.readFile(path.join(output, 'pca_model.json'), 'utf8')) as { precision: string };
    return [success.precision, model.precision];
  };
  assert.deepEqual(await recorded(), ['fp32', 'fp32']);
  const fp32 = await readFeatures(output);

  // The last result is fp32: an incremental int8 run carries nothing over.
  const int8 = await run({ precision: 'int8' });
  assert.deepEqual([int8.summary.precision, int8.summary.reused, int8.summary.featurized], ['int8', 0, 13]);
  assert.deepEqual(await recorded(), ['int8', 'int8']);
  const quantized = await readFeatures(output);
  assert.deepEqual(quantized.paths, fp32.paths);
  assert.notDeepEqual(vectorOf(quantized, fp32.paths[0]), vectorOf(fp32, fp32.paths[0]), 'the int8 model computed them');

  // Another int8 run reuses the int8 vectors; an fp32 run after it featurizes everything again.
  const again = await run({ precision: 'int8' });
  assert.deepEqual([again.summary.reused, again.featurizeActivities], [13, 0]);
  const back = await run();
  assert.deepEqual([back.summary.precision, back.summary.reused, back.summary.featurized], ['fp32', 0, 13]);
  const restored = await readFeatures(output);
  assert.deepEqual(vectorOf(restored, fp32.paths[0]), vectorOf(fp32, fp32.paths[0]), 'fp32 vectors again, as before');
});
