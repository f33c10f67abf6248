import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { labelOf } from '../../../activities/listImages.js';
import { InputError } from '../../../lib/errors.js';
import { joinUri, parseS3Uri, s3UriProblem, storageFor } from '../../../lib/storage/storage.js';
import { tempDir } from '../../support/environment.js';
import { checkStorageContract } from '../../support/storageMove.js';

let root: string;

before(async () => {
  root = await tempDir('storage');
  await fs.mkdir(path.join(root, 'Cherry 3'), { recursive: true });
  await fs.mkdir(path.join(root, 'pomme été'), { recursive: true });
  await fs.writeFile(path.join(root, 'Cherry 3', 'b.jpg'), 'b');
  await fs.writeFile(path.join(root, 'Cherry 3', 'a.jpg'), 'a');
  await fs.writeFile(path.join(root, 'pomme été', "l'été.jpg"), 'c');
  await fs.symlink(root, path.join(root, 'pomme été', 'loop'));
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

test('local listing is recursive, sorted, survives a symlink loop and labels by parent folder', async () => {
  const storage = storageFor(root);
  const listed = [];
  for await (const object of storage.list(root)) listed.push(object);
  assert.deepEqual(
    listed.map((o) => path.relative(root, o.uri)),
    ['Cherry 3/a.jpg', 'Cherry 3/b.jpg', "pomme été/l'été.jpg"],
  );
  assert.deepEqual(
    listed.map((o) => labelOf(o.uri)),
    ['Cherry 3', 'Cherry 3', 'pomme été'],
  );
  assert.equal(listed[0].size, 1);
});

test('FIFOs and sockets are not listed, and one put where a file was listed is refused at once instead of waited on', async () => {
  const dir = await tempDir('fifo');
  const socketServer = net.createServer();
  try {
    const fifo = path.join(dir, 'Cherry 3', 'a.jpg');
    const socket = path.join(dir, 'Cherry 3', 'b.jpg');
    await fs.mkdir(path.dirname(fifo));
    execFileSync('mkfifo', [fifo]);
    await new Promise<void>((resolve) => socketServer.listen(socket, resolve));
    const listed = [];
    for await (const object of storageFor(dir).list(dir)) listed.push(object.uri);
    assert.deepEqual(listed, []);
    // In a child process, so that a read that blocks (until a writer comes, which none will) fails this test after
    // 20 s instead of hanging the test run: a blocking open holds the whole thread.
    const storageModule = new URL('../../../lib/storage/storage.js', import.meta.url).href;
    const script = `
      const { storageFor } = await import(${JSON.stringify(storageModule)});
      for (const uri of ${JSON.stringify([fifo, socket])}) {
        for (const options of [{}, { maxBytes: 1024 }]) {
          console.log(await storageFor(uri).read(uri, options).then(() => 'read', (err) => err.name + ': ' + err.message));
        }
      }`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(child.signal, null, `reading a FIFO blocked for 20 s; stderr: ${child.stderr}`);
    const said = child.stdout.trim().split('\n');
    assert.equal(said.length, 4, child.stdout + child.stderr);
    for (const [i, line] of said.entries()) {
      const name = i < 2 ? 'a\\.jpg' : 'b\\.jpg';
      assert.match(line, new RegExp(`^NotAFile: .*${name} is not a regular file .*; put the file back or remove the entry$`));
    }
  } finally {
    socketServer.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a missing or non-directory source is an InputError naming it', async () => {
  const storage = storageFor(root);
  const missing = path.join(root, 'nope');
  await assert.rejects(storage.list(missing).next(), (err: Error) => err instanceof InputError && err.message.includes(missing));
  await assert.rejects(storage.list(path.join(root, 'Cherry 3', 'a.jpg')).next(), /is not a directory/);
});

test('writes are whole, removeAll is recursive, and empty folders go only up to the root given', async () => {
  const storage = storageFor(root);
  const target = path.join(root, 'out', 'x', 'file.json');
  await storage.write(target, '{"a":1}');
  assert.equal(await fs.readFile(target, 'utf8'), '{"a":1}');
  assert.ok(await storage.exists(path.join(root, 'out', 'x')));
  await storage.remove(target);
  await storage.removeEmptyFolders(target, path.join(root, 'out'));
  assert.deepEqual(await fs.readdir(path.join(root, 'out')), [], 'x went, out stayed');
  await storage.write(target, 'again');
  await storage.removeAll(path.join(root, 'out'));
  assert.equal(await storage.exists(path.join(root, 'out')), false);
});

test('moves, removals, listings of one level and capped reads keep the commit contract', async () => {
  await checkStorageContract(storageFor(root), path.join(root, 'contract'));
});

test('S3 URIs given as source or output have a bucket and no empty, "." or ".." segment', () => {
  assert.equal(s3UriProblem('s3://fruits/sample_data_train'), undefined);
  assert.equal(s3UriProblem('s3://fruits'), undefined);
  assert.equal(s3UriProblem('s3://fruits/Results/'), undefined);
  assert.match(s3UriProblem('s3://fruits/a/../evil')!, /"\.\." segment; .*s3:\/\/fruits\/a\/evil/);
  assert.match(s3UriProblem('s3://fruits/a//b')!, /empty/);
  assert.match(s3UriProblem('s3://Bad_Bucket/x')!, /no valid bucket name/);
  assert.match(s3UriProblem('s3:///x')!, /no valid bucket name/);
});

test('S3 URIs are parsed and joined without doubled slashes', () => {
  assert.deepEqual(parseS3Uri('s3://bucket/sample data/Cherry 3/a.jpg'), { bucket: 'bucket', key: 'sample data/Cherry 3/a.jpg' });
  assert.deepEqual(parseS3Uri('s3://bucket'), { bucket: 'bucket', key: '' });
  assert.equal(joinUri('s3://bucket/Results/', '/features/', 'a.parquet'), 's3://bucket/Results/features/a.parquet');
  assert.equal(labelOf('s3://bucket/sample_data_train/Cherry 3/a.jpg'), 'Cherry 3');
  assert.throws(() => parseS3Uri('http://bucket/x'), /not an S3 URI/);
});
