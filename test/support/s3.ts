import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startS3Server, type S3Server } from '../../dev/s3Server.js';
import { s3ClientFor } from '../../lib/storage/storage.js';
import { startBounded } from '../../lib/concurrency.js';
import { findFreePortBase } from '../../dev/ports.js';

/** A real S3-compatible server for one test file, on free ports, with the AWS_* environment pointing at it. */
export async function startTestS3Server(dataDir: string): Promise<S3Server> {
  // The server listens on base..base+6 and, for gRPC, 10,000 above each.
  const base = await findFreePortBase([...Array(7).keys()].flatMap((i) => [i, 10_000 + i]));
  const server = await startS3Server({
    port: base,
    dataDir,
    accessKey: `test-${randomBytes(6).toString('hex')}`,
    secretKey: randomBytes(18).toString('hex'),
  });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_ACCESS_KEY_ID: server.accessKey,
    AWS_SECRET_ACCESS_KEY: server.secretKey,
    AWS_REGION: 'us-east-1',
  });
  return server;
}

/** Create a bucket on the test server. */
export async function createBucket(name: string): Promise<void> {
  await s3ClientFor().send(new CreateBucketCommand({ Bucket: name }));
}

/** Upload every file below `dir` to s3://bucket/prefix/<relative path>; returns the URIs. */
export async function uploadDirectory(dir: string, bucket: string, prefix: string): Promise<string[]> {
  const files = (await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
  const client = s3ClientFor();
  await Promise.all(
    startBounded(files, 16, async (file) => {
      const key = `${prefix}/${path.relative(dir, file)}`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await fs.readFile(file) }));
    }),
  );
  return files.map((file) => `s3://${bucket}/${prefix}/${path.relative(dir, file)}`).sort();
}
