// Which outputs a run may write into, and how an output becomes Orchard's.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { InputError } from '../../../lib/errors.js';
import { canonicalLocation, checkOutputWritable, claimOutput, inspectOutput, refusedOutput } from '../../../lib/storage/outputs.js';
import { beforeStorageMutation, storageFor } from '../../../lib/storage/storage.js';
import { tempDir, testClaimant } from '../../support/environment.js';

let work: string;

before(async () => {
  work = await tempDir('outputs');
});

after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('system folders, the home folder, a bucket root and the source (itself, inside, around) are refused', () => {
  const source = '/data/photos';
  const refused: [string, string, RegExp][] = [
    [source, '/', /is a system folder/],
    [source, '/tmp', /is a system folder/],
    [source, '/proc/self/out', /inside the system folder \/proc/],
    [source, '/etc/orchard', /inside the system folder \/etc/],
    [source, '/home/someone', /is the home folder/],
    [source, '/data/photos', /is the source itself/],
    [source, '/data/photos/out', /is inside the source \/data\/photos/],
    [source, '/data', /holds the source \/data\/photos/],
    ['s3://fruits/Training', 's3://fruits', /is the root of a bucket/],
    ['s3://fruits/Training', 's3://fruits/Training', /is the source itself/],
    ['s3://fruits/Training', 's3://fruits/Training/out', /is inside the source/],
    ['s3://fruits/a/Training', 's3://fruits/a', /holds the source/],
  ];
  for (const [from, output, reason] of refused) {
    const message = refusedOutput(from, output, '/home/someone');
    assert.match(message ?? '(allowed)', reason, `${output} for ${from}`);
    assert.match(message!, /choose a new or empty folder \(or S3 prefix\) of its own for --output/);
  }
  for (const [from, output] of [
    [source, '/data/photos-results'],
    [source, '/home/someone/orchard-out'],
    [source, '/tmp/orchard/out'],
    ['s3://fruits/Training', 's3://fruits/Training-results'],
    ['s3://fruits/Training', 's3://fruits/Results'],
    ['s3://fruits/Training', '/data/photos'],
  ]) {
    assert.equal(refusedOutput(from, output, '/home/someone'), undefined, `${output} for ${from}`);
  }
});

test('two spellings of one folder, through a symlink or "..", are one canonical location, also before it exists', async () => {
  const real = path.join(work, 'real');
  await fs.mkdir(real);
  await fs.symlink(real, path.join(work, 'link'));
  assert.equal(await canonicalLocation(path.join(work, 'link', 'out', '..', 'out')), path.join(await fs.realpath(real), 'out'));
  assert.equal(await canonicalLocation('s3://fruits/Results/'), 's3://fruits/Results');
  assert.equal(await canonicalLocation(os.homedir()), await fs.realpath(os.homedir()));
});

test("an output is new, Orchard's, or refused with what is in it and the fix", async () => {
  const storage = storageFor(work);
  assert.deepEqual(await inspectOutput(storage, path.join(work, 'missing')), { kind: 'new' });
  const spark = path.join(work, 'spark');
  await fs.mkdir(spark);
  await fs.writeFile(path.join(spark, '_SUCCESS'), '');
  await fs.writeFile(path.join(spark, 'part-00000.snappy.parquet'), 'x');
  await assert.rejects(checkOutputWritable(storage, spark), (err: Error) => {
    assert.ok(err instanceof InputError);
    assert.match(
      err.message,
      /already holds files that Orchard did not write: _SUCCESS, part-00000.snappy.parquet \(its _SUCCESS looks like a Spark or Hadoop output\)/,
    );
    assert.match(err.message, /never deletes or replaces what it did not write: choose a new --output/);
    return true;
  });
  const file = path.join(work, 'a-file');
  await fs.writeFile(file, 'x');
  await assert.rejects(checkOutputWritable(storage, file), /is a file, not a folder/);
  const forged = path.join(work, 'forged');
  await fs.mkdir(forged);
  await fs.writeFile(path.join(forged, '_ORCHARD'), '{"orchard":"output","version":1}');
  await assert.rejects(checkOutputWritable(storage, forged), /_ORCHARD is not Orchard's ownership record \(claimedAt: /);
  const future = path.join(work, 'future');
  await fs.mkdir(future);
  await fs.writeFile(path.join(future, '_ORCHARD'), JSON.stringify({ orchard: 'output', version: 9, claimedAt: 'x', claimedBy: testClaimant }));
  await assert.rejects(checkOutputWritable(storage, future), /claimed by a newer Orchard \(ownership record version 9\)/);
});

test('claiming writes the ownership record into a new output, and a claim that a crash interrupted is finished by the retry', async () => {
  const storage = storageFor(work);
  const output = path.join(work, 'claimed');
  await claimOutput(storage, output, testClaimant);
  assert.equal((await inspectOutput(storage, output)).kind, 'owned');
  await claimOutput(storage, output, testClaimant);
  assert.deepEqual(await fs.readdir(output), ['_ORCHARD']);

  // A process killed between writing the record's temporary file and renaming it leaves only that file behind.
  const interrupted = path.join(work, 'interrupted');
  await fs.mkdir(interrupted);
  await fs.writeFile(path.join(interrupted, '_ORCHARD.tmp-8f14e45f-ceea-467a-9575-0c4e1a5e2e5b'), '{"orch');
  await claimOutput(storage, interrupted, testClaimant);
  assert.deepEqual(await fs.readdir(interrupted), ['_ORCHARD']);

  // Stopped before the write itself: nothing was written, and the retry claims.
  const stopped = path.join(work, 'stopped');
  beforeStorageMutation(() => {
    throw new Error('crash');
  });
  try {
    await assert.rejects(claimOutput(storage, stopped, testClaimant), /crash/);
  } finally {
    beforeStorageMutation(undefined);
  }
  assert.deepEqual(await fs.readdir(stopped).catch(() => []), []);
  await claimOutput(storage, stopped, testClaimant);
  assert.deepEqual(await fs.readdir(stopped), ['_ORCHARD']);
});
