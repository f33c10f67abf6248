import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { generateDataset } from '../../bench/makeDataset.js';
import { projectRoot } from '../../lib/paths.js';
import { sampleDir } from '../support/images.js';

const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'orchard-make-dataset-'));
after(() => fs.rm(tempDir, { recursive: true, force: true }));

async function listJpegs(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true });
  return entries.filter((f) => f.endsWith('.jpg')).sort();
}

test('makes the same 60 valid JPEGs, 4 per class, on every run, and a re-run writes nothing', async () => {
  const [first, second] = [path.join(tempDir, 'first'), path.join(tempDir, 'second')];
  const options = { count: 60, source: sampleDir, seed: 7 };
  const summary = await generateDataset({ ...options, out: first });
  await generateDataset({ ...options, out: second });

  const classes = (await fs.readdir(sampleDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.equal(classes.length, 15);
  assert.deepEqual(summary.perClass, Object.fromEntries(classes.sort().map((name) => [name, 4])));
  const files = await listJpegs(first);
  assert.equal(files.length, 60);
  for (const name of classes) assert.equal(files.filter((f) => path.dirname(f) === name).length, 4, name);

  for (const file of files) {
    const { data, info } = await sharp(path.join(first, file), { failOn: 'error' }).raw().toBuffer({ resolveWithObject: true });
    assert.equal(data.length, info.width * info.height * 3, file);
    const metadata = await sharp(path.join(first, file)).metadata();
    assert.equal(metadata.format, 'jpeg', file);
    assert.equal(metadata.isProgressive, false, file);
    for (const side of [info.width, info.height]) assert.ok(side >= 98 && side <= 1061, `${file} is ${info.width}x${info.height}`);
    if (/^(cucumber|eggplant)/.test(file))
      assert.ok(info.height > 1.5 * info.width, `${file} is ${info.width}x${info.height}, no longer tall and narrow`);
  }

  assert.deepEqual(await listJpegs(second), files);
  for (const file of files) {
    assert.ok((await fs.readFile(path.join(first, file))).equals(await fs.readFile(path.join(second, file))), `${file} differs between runs`);
  }
  const manifest = JSON.parse(await fs.readFile(path.join(first, 'MANIFEST.json'), 'utf8'));
  assert.equal(manifest.seed, 7);
  assert.deepEqual(manifest.perClass, summary.perClass);

  const rerun = await generateDataset({ ...options, out: first });
  assert.equal(rerun.written, 0);
  assert.equal(rerun.skipped, 60);
  assert.equal(rerun.totalBytes, summary.totalBytes);
});

test('with --size 100, every image is 100 x 100 like the real Fruits-360, and the manifest says so', async () => {
  const out = path.join(tempDir, 'fruits-100');
  const summary = await generateDataset({ out, count: 30, source: sampleDir, seed: 3, size: 100 });
  assert.deepEqual(
    [summary.width, summary.height],
    [
      { min: 100, median: 100, max: 100 },
      { min: 100, median: 100, max: 100 },
    ],
  );
  for (const file of await listJpegs(out)) {
    const metadata = await sharp(path.join(out, file)).metadata();
    assert.deepEqual([metadata.format, metadata.width, metadata.height], ['jpeg', 100, 100], file);
  }
  assert.equal(JSON.parse(await fs.readFile(path.join(out, 'MANIFEST.json'), 'utf8')).size, 100);
});

test('refuses an output folder that holds images made with another seed', async () => {
  const out = path.join(tempDir, 'other-seed');
  await generateDataset({ out, count: 15, source: sampleDir, seed: 1 });
  await assert.rejects(generateDataset({ out, count: 15, source: sampleDir, seed: 2 }), /15 \.jpg files that are not part of this dataset/);
});

test('the command explains bad input in one line and exits with code 2', () => {
  const script = path.join(projectRoot, 'dist', 'bench', 'makeDataset.js');
  const cases: [string[], RegExp][] = [
    [['--count', '60'], /^error: --out is required/],
    [['--out', tempDir, '--count', 'many'], /^error: --count must be a whole number, got "many"/],
    [['--out', tempDir, '--source', path.join(tempDir, 'missing')], /^error: source directory .*missing does not exist/],
  ];
  for (const [args, message] of cases) {
    const run = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, message);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});
