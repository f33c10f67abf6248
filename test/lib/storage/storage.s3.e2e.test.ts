// The S3 side of the storage abstraction against a real S3-compatible server (SeaweedFS) on 127.0.0.1.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startBounded } from '../../../lib/concurrency.js';
import { InputError } from '../../../lib/errors.js';
import type { S3Server } from '../../../dev/s3Server.js';
import { s3ClientFor, storageFor, type Storage } from '../../../lib/storage/storage.js';
import { tempDir } from '../../support/environment.js';
import { checkStorageContract } from '../../support/storageMove.js';
import { createBucket, startTestS3Server } from '../../support/s3.js';

let work: string;
let server: S3Server;
let storage: Storage;

before(async () => {
  work = await tempDir('s3-storage');
  server = await startTestS3Server(path.join(work, 's3'));
  await createBucket('storage-test');
  storage = storageFor('s3://storage-test');
});

after(async () => {
  await server?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

async function listed(prefix: string): Promise<string[]> {
  const uris: string[] = [];
  for await (const object of storage.list(prefix)) uris.push(object.uri);
  return uris;
}

test('listing pages past 1,000 keys', async () => {
  const keys = [...Array(1_050).keys()].map((i) => `many/label-${i % 3}/img-${String(i).padStart(5, '0')}.jpg`);
  const client = s3ClientFor();
  await Promise.all(startBounded(keys, 32, (key) => client.send(new PutObjectCommand({ Bucket: 'storage-test', Key: key, Body: 'x' }))));
  const uris = await listed('s3://storage-test/many');
  assert.equal(uris.length, 1_050);
  assert.equal(new Set(uris).size, 1_050);
  assert.deepEqual(uris, keys.map((k) => `s3://storage-test/${k}`).sort());
});

test('keys with spaces, quotes and non-ASCII characters survive write, list, read, move and remove', async () => {
  const uri = "s3://storage-test/odd/Cherry 3/pomme d'été (1).jpg";
  await storage.write(uri, 'cherry');
  assert.deepEqual(await listed('s3://storage-test/odd'), [uri]);
  assert.equal((await storage.read(uri)).toString(), 'cherry');
  assert.ok(await storage.exists(uri));
  assert.ok(await storage.exists('s3://storage-test/odd/Cherry 3'), 'a prefix with objects below it exists');
  await storage.moveObject(uri, "s3://storage-test/moved dir/Cherry 3/pomme d'été (1).jpg");
  assert.deepEqual(await listed('s3://storage-test/odd'), []);
  assert.deepEqual(await listed('s3://storage-test/moved dir'), ["s3://storage-test/moved dir/Cherry 3/pomme d'été (1).jpg"]);
  await storage.removeAll('s3://storage-test/moved dir');
  assert.equal(await storage.exists('s3://storage-test/moved dir'), false);
});

test('moves, removals, listings of one level and capped reads keep the commit contract', async () => {
  await checkStorageContract(storage, 's3://storage-test/contract');
});

test('a file larger than the part size goes up as a multipart upload and comes back intact', async () => {
  const file = path.join(work, 'big.parquet');
  const bytes = randomBytes(12 * 1024 * 1024);
  await fs.writeFile(file, bytes);
  await storage.upload(file, 's3://storage-test/big/big.parquet');
  const head = await s3ClientFor().send(new HeadObjectCommand({ Bucket: 'storage-test', Key: 'big/big.parquet' }));
  assert.match(head.ETag ?? '', /-\d+"?$/, `a multipart ETag ends in -<parts>, got ${head.ETag}`);
  const back = path.join(work, 'back.parquet');
  await storage.download('s3://storage-test/big/big.parquet', back);
  assert.ok((await fs.readFile(back)).equals(bytes));
});

test('requests carry no default CRC32 checksums, which several S3-compatible servers reject', async () => {
  const client = s3ClientFor();
  const seen: Record<string, string>[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      seen.push({ ...(args.request as { headers: Record<string, string> }).headers });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordHeaders' },
  );
  try {
    await storage.write('s3://storage-test/checksum/a.json', '{}');
    await storage.read('s3://storage-test/checksum/a.json');
  } finally {
    client.middlewareStack.remove('recordHeaders');
  }
  assert.equal(seen.length, 2);
  for (const headers of seen) {
    const checksumHeaders = Object.keys(headers).filter((h) => /checksum/i.test(h));
    assert.deepEqual(checksumHeaders, [], 'no checksum headers');
  }
});

test('a missing bucket and refused credentials are clear InputErrors', async () => {
  await assert.rejects(storageFor('s3://no-such-bucket').list('s3://no-such-bucket/photos').next(), (err: Error) => {
    assert.ok(err instanceof InputError);
    assert.match(err.message, /bucket of s3:\/\/no-such-bucket\/photos does not exist; create it or correct the URI/);
    return true;
  });
  const saved = process.env.AWS_ACCESS_KEY_ID;
  process.env.AWS_ACCESS_KEY_ID = 'intruder';
  try {
    await assert.rejects(storageFor('s3://storage-test').read('s3://storage-test/checksum/a.json'), (err: Error) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /access to s3:\/\/storage-test\/checksum\/a.json was refused \(\w+, HTTP 403\); check AWS_ACCESS_KEY_ID/);
      return true;
    });
    // A HEAD answer has no body, so the SDK cannot name the error: the status code makes it an InputError all the same.
    await assert.rejects(storageFor('s3://storage-test').exists('s3://storage-test/checksum/a.json'), (err: Error) => {
      assert.ok(err instanceof InputError, `${err.name}: ${err.message}`);
      assert.match(err.message, /access to s3:\/\/storage-test\/checksum\/a.json was refused \(.*HTTP 403\)/);
      return true;
    });
  } finally {
    process.env.AWS_ACCESS_KEY_ID = saved;
  }
});
