// Odd and hostile input on a real server with the real model: every file lands in the result or in errors.parquet
// with a reason, nothing stops the run, nothing is written outside the output directory.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import sharp from 'sharp';
import type { RunSummary } from '../../lib/contract.js';
import { queryParquet } from '../../lib/storage/parquet.js';
import { startTestPipeline, tempDir, type TestPipeline } from '../support/environment.js';
import { sampleDir, writeBrokenImages } from '../support/images.js';

let pipeline: TestPipeline;
let env: TestWorkflowEnvironment;
let work: string;
let source: string;
const expectedFeatures: string[] = [];
const expectedErrors: Record<string, RegExp> = {};

/** A JPEG whose header claims 20,000 x 20,000 pixels: the decompression-bomb guard must refuse it before decoding. */
function claimHugeSize(jpeg: Buffer): Buffer {
  const bomb = Buffer.from(jpeg);
  for (let i = 2; i < bomb.length - 9;) {
    const marker = bomb[i + 1];
    if (marker === 0xc0 || marker === 0xc2) {
      bomb.writeUInt16BE(20_000, i + 5);
      bomb.writeUInt16BE(20_000, i + 7);
      return bomb;
    }
    i += 2 + bomb.readUInt16BE(i + 2);
  }
  throw new Error('no SOF marker found');
}

before(async () => {
  work = await tempDir('hostile');
  source = path.join(work, 'photos');
  const photo = await fs.readFile(path.join(sampleDir, 'apple_red_1', (await fs.readdir(path.join(sampleDir, 'apple_red_1')))[0]));
  const put = async (relative: string, bytes: Buffer, outcome: 'features' | RegExp) => {
    const file = path.join(source, relative);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, bytes);
    if (outcome === 'features') expectedFeatures.push(file);
    else expectedErrors[file] = outcome;
  };
  await put('formats/photo.png', await sharp(photo).png().toBuffer(), 'features');
  await put('formats/photo.webp', await sharp(photo).webp().toBuffer(), 'features');
  await put('formats/photo.gif', await sharp(photo).gif().toBuffer(), 'features');
  await put('formats/gray.jpg', await sharp(photo).greyscale().jpeg().toBuffer(), 'features');
  await put('formats/cmyk.jpg', await sharp(photo).toColourspace('cmyk').jpeg().toBuffer(), 'features');
  await put('formats/deep16.png', await sharp(photo).toColourspace('rgb16').png().toBuffer(), 'features');
  await put('formats/alpha.png', await sharp(photo).ensureAlpha(0.5).png().toBuffer(), 'features');
  await put('formats/exif-rotated.jpg', await sharp(photo).withMetadata({ orientation: 6 }).jpeg().toBuffer(), 'features');
  await put('formats/huge.jpg', claimHugeSize(photo), /pixel limit/);
  await put(`names/it's "quoted" été/a b'c".jpg`, photo, 'features');
  await put('names/..dots../x..y.jpg', photo, 'features');
  for (const file of await writeBrokenImages(path.join(source, 'broken'))) expectedErrors[file] = /empty file|not a readable image/;
  await fs.symlink(source, path.join(source, 'names', 'loop'));
  await fs.writeFile(path.join(source, 'formats', 'notes.txt'), 'not matched by the glob');
  await fs.mkdir(path.join(work, 'scratch'));
  pipeline = await startTestPipeline(path.join(work, 'scratch'));
  env = pipeline.env;
});

after(async () => {
  await pipeline?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function tree(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true })).map(String).sort();
}

test('every odd file lands in the features or in errors.parquet with a reason, and nothing escapes the output', async () => {
  const output = path.join(work, 'out');
  const sourceBefore = await tree(source);
  const workBefore = (await fs.readdir(work)).sort();
  const summary: RunSummary = await env.client.workflow.execute('imagePipeline', {
    taskQueue: 'orchard',
    workflowId: 'hostile',
    args: [{ source, output, glob: '*.{jpg,jpeg,png,webp,gif}', k: 2 }],
  });
  const errorFiles = Object.keys(expectedErrors);
  assert.equal(summary.images, expectedFeatures.length + errorFiles.length, 'the symlink loop is listed once, the .txt not at all');
  assert.equal(summary.featurized, expectedFeatures.length);
  assert.equal(summary.failed, errorFiles.length);

  const features = await queryParquet('SELECT path, label FROM read_parquet($1) ORDER BY path', [path.join(output, 'features', '*.parquet')]);
  assert.deepEqual(
    features.map((r) => r.path),
    [...expectedFeatures].sort(),
  );
  for (const row of features) assert.equal(row.label, path.basename(path.dirname(String(row.path))));
  const errors = await queryParquet('SELECT path, error FROM read_parquet($1) ORDER BY path', [path.join(output, 'errors.parquet')]);
  assert.deepEqual(
    errors.map((r) => r.path),
    [...errorFiles].sort(),
  );
  for (const row of errors) assert.match(String(row.error), expectedErrors[String(row.path)], String(row.path));

  assert.deepEqual(await tree(source), sourceBefore, 'the source is untouched');
  assert.deepEqual((await fs.readdir(work)).sort(), [...workBefore, 'out'].sort(), 'nothing new beside the output');
  assert.deepEqual(await fs.readdir(path.join(work, 'scratch')), [], 'scratch files are removed');
  assert.deepEqual((await fs.readdir(output)).sort(), [
    '_ORCHARD',
    '_SUCCESS',
    'errors.parquet',
    'features',
    'pca',
    'pca_model.json',
    'report.html',
    'report.png',
    'versions.parquet',
  ]);
});
