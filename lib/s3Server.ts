import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { delay } from './concurrency.js';
import { projectRoot, stateDir } from './config.js';

/** A running S3-compatible server (SeaweedFS `weed mini`) on 127.0.0.1. */
export interface S3Server {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Stop the server; its data folder stays, so `start` brings the same buckets back. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface S3ServerOptions {
  /** S3 port; the server's other listeners take the next few ports. */
  port?: number;
  dataDir?: string;
  accessKey?: string;
  secretKey?: string;
  buckets?: string[];
  foreground?: boolean;
}

/** Path of the SeaweedFS binary: $ORCHARD_SEAWEEDFS, else the cached build of the pinned version (built on first use). */
export function seaweedfsPath(): string {
  if (process.env.ORCHARD_SEAWEEDFS) return process.env.ORCHARD_SEAWEEDFS;
  const script = path.join(projectRoot, 'scripts', 'build-seaweedfs.sh');
  return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** Default credentials of the local S3 server, also what `npm run s3-server` prints. */
export const localS3Credentials = {
  accessKey: process.env.ORCHARD_S3_ACCESS_KEY || 'orchard',
  secretKey: process.env.ORCHARD_S3_SECRET_KEY || 'orchard-secret',
};

/** Start SeaweedFS with its S3 gateway on 127.0.0.1:`port` and wait until it answers S3 requests. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const port = options.port ?? 9000;
  const dataDir = path.resolve(options.dataDir ?? path.join(stateDir, 'seaweedfs'));
  const accessKey = options.accessKey ?? localS3Credentials.accessKey;
  const secretKey = options.secretKey ?? localS3Credentials.secretKey;
  const endpoint = `http://127.0.0.1:${port}`;
  fs.mkdirSync(dataDir, { recursive: true });
  const identities = path.join(dataDir, 's3-identities.json');
  fs.writeFileSync(
    identities,
    JSON.stringify({ identities: [{ name: 'orchard', credentials: [{ accessKey, secretKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }] }),
  );
  const binary = seaweedfsPath();
  // Every listener gets an explicit port next to the S3 one, so several servers (and restarts) never collide.
  const args = [
    'mini',
    `-dir=${dataDir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-s3.port=${port}`,
    `-master.port=${port + 1}`,
    `-volume.port=${port + 2}`,
    `-filer.port=${port + 3}`,
    `-s3.port.iceberg=${port + 4}`,
    `-s3.port.lance=${port + 5}`,
    `-admin.port=${port + 6}`,
    '-admin.port.legacy=0',
    '-admin.ui=false',
    '-webdav=false',
    `-s3.config=${identities}`,
    '-master.volumeSizeLimitMB=64',
    ...(options.buckets?.length ? [`-bucket=${options.buckets.join(',')}`] : []),
  ];
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    maxAttempts: 1,
  });
  let child: ChildProcess | undefined;

  const start = async () => {
    const log = options.foreground ? 'inherit' : fs.openSync(path.join(dataDir, 'server.log'), 'a');
    const weed = spawn(binary, args, { stdio: ['ignore', log, log], cwd: dataDir });
    child = weed;
    const exited = new Promise<Error>((resolve) => weed.once('exit', (code) => resolve(new Error(`exited with code ${code}`))));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ready = await client.send(new ListBucketsCommand({})).then(
        () => true,
        () => false,
      );
      if (ready) break;
      const failure = await Promise.race([exited, delay(250)]);
      if (failure) throw new Error(`S3 server (${binary}) did not start: ${failure.message}; see ${path.join(dataDir, 'server.log')}`);
      if (Date.now() > deadline) throw new Error(`S3 server did not answer on ${endpoint} within 60 s; see ${path.join(dataDir, 'server.log')}`);
    }
    for (const bucket of options.buckets ?? []) {
      await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
        if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
      });
    }
  };

  const stop = async () => {
    const weed = child;
    if (!weed || weed.exitCode !== null || weed.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => weed.once('exit', () => resolve()));
    weed.kill('SIGTERM');
    const timer = setTimeout(() => weed.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return { endpoint, accessKey, secretKey, start, stop };
}
