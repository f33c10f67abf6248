// The local S3 server (SeaweedFS `weed mini`) keeps its data folder across restarts, as `npm run s3-server` does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { runBounded } from '../../lib/concurrency.js';
import { findFreePortBase } from '../../dev/ports.js';
import { startS3Server, type S3Server } from '../../dev/s3Server.js';

// The server listens on base..base+6 and, for gRPC, 10,000 above each.
const portOffsets = [...Array(7).keys()].flatMap((i) => [i, 10_000 + i]);
// The SDK's notice about its future Node 22 requirement is noise here, as in lib/storage/storage.ts.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const credentials = { accessKey: `test-${randomBytes(6).toString('hex')}`, secretKey: randomBytes(18).toString('hex') };

let work: string | undefined;
let running: S3Server | undefined;

after(async () => {
  await running?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

async function start(dataDir: string, port: number): Promise<S3Server> {
  running = await startS3Server({ port, dataDir, buckets: ['orchard'], ...credentials });
  return running;
}

async function stop(server: S3Server): Promise<void> {
  await server.stop();
  running = undefined;
}

function clientFor(server: S3Server): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A few KB that name their own key, so a read-back shows which object came back. */
function body(bucket: string, key: string): Buffer {
  return Buffer.alloc(3 * 1024, `${bucket}/${key};`);
}

function keys(prefix: string, count: number): string[] {
  return [...Array(count).keys()].map((i) => `${prefix}/img-${String(i).padStart(5, '0')}.jpg`);
}

// A request that fails must fail the test, not hang it: without the fix a PutObject waits for a volume that never
// comes.
const requestTimeout = () => ({ abortSignal: AbortSignal.timeout(30_000) });

async function createBucket(server: S3Server, bucket: string): Promise<void> {
  const client = clientFor(server);
  await client.send(new CreateBucketCommand({ Bucket: bucket }), requestTimeout());
  client.destroy();
}

async function put(server: S3Server, bucket: string, all: string[]): Promise<void> {
  const client = clientFor(server);
  try {
    await runBounded(all, 32, (key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body(bucket, key) }), requestTimeout()));
  } catch (err) {
    assert.fail(`PutObject into ${bucket} on ${server.endpoint} failed: ${String(err)}`);
  } finally {
    client.destroy();
  }
}

async function assertReadBack(server: S3Server, bucket: string, all: string[]): Promise<void> {
  const client = clientFor(server);
  const wrong: string[] = [];
  await runBounded(all, 32, async (key) => {
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), requestTimeout());
    const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
    if (!bytes.equals(body(bucket, key))) wrong.push(key);
  });
  client.destroy();
  assert.deepEqual(wrong, [], `objects in ${bucket} that did not read back as written`);
}

test('a persisted data folder keeps taking writes after restarts, on the same port and on another, into a new bucket', async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'orchard-s3-server-'));
  const dataDir = path.join(work, 's3');
  const first = await findFreePortBase(portOffsets);
  let second = await findFreePortBase(portOffsets);
  while (second === first) second = await findFreePortBase(portOffsets);

  // The first run: the bucket `npm run s3-server` creates, with some objects.
  let server = await start(dataDir, first);
  const orchard = keys('run-1', 50);
  await put(server, 'orchard', orchard);
  await stop(server);

  // A restart on the same port still has them.
  await server.start();
  running = server;
  await assertReadBack(server, 'orchard', orchard);
  await stop(server);

  // A restart on another port, whose master starts without state, then a new bucket and uploads into it: before the
  // fix that master froze volume growth, and not one PutObject into the new bucket succeeded.
  server = await start(dataDir, second);
  await assertReadBack(server, 'orchard', orchard);
  await createBucket(server, 'fruits');
  const fruits = keys('apples', 200);
  await put(server, 'fruits', fruits);
  await assertReadBack(server, 'fruits', fruits);
  await stop(server);
});
