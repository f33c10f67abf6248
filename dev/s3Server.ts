import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { projectRoot, stateDir } from '../lib/paths.js';
import { exitOf, stopChild, waitUntilReady } from './processes.js';

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
    JSON.stringify({
      identities: [{ name: 'orchard', credentials: [{ accessKey, secretKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }],
    }),
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
  // The master keeps its state in <dataDir>/m<master port>, so a start on another port gets a master without state,
  // which mints a new topology id, while the volume server reports the id of the master it last saw (kept in
  // .vid_stamp). On that mismatch the master freezes volume growth until an operator runs `volume.growth.resume`,
  // persists the freeze, and from then on anything that needs a new volume gets none: every new bucket (each bucket is
  // a collection), so its PutObjects fail with "no writable volumes for {collection…}". The freeze keeps a cluster
  // from reusing volume ids before all its volume servers have reported; here the only one, embedded, reports its
  // volumes and the highest id it has seen in its first heartbeat, so there is nothing to wait for. Hence no freeze,
  // and a freeze recorded by an earlier start (a data folder that went through a port change before) lapses after a
  // second. Values already in the environment win.
  const env = {
    WEED_MASTER_VOLUME_GROWTH_FREEZE_ON_TOPOLOGY_MISMATCH: 'false',
    WEED_MASTER_VOLUME_GROWTH_STATE_LOSS_RECOVERY_WAIT: '1s',
    ...process.env,
  };
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
    const weed = spawn(binary, args, { stdio: ['ignore', log, log], cwd: dataDir, env });
    child = weed;
    try {
      await answering(exitOf(weed));
      for (const bucket of options.buckets ?? []) {
        await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: Error) => {
          if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
        });
      }
    } catch (err) {
      // A server that started but cannot serve (a bucket S3 refuses, say) must not outlive the failure.
      await stop();
      throw err;
    }
  };

  // Until the server answers S3 requests: a bounded wait, with the reason when it exits first.
  const answering = (exited: Promise<Error>) =>
    waitUntilReady({
      ready: () =>
        client.send(new ListBucketsCommand({})).then(
          () => true,
          () => false,
        ),
      exited,
      intervalMs: 250,
      timeoutMs: 60_000,
      failed: (why) => `S3 server (${binary}) did not start: ${why}; see ${path.join(dataDir, 'server.log')}`,
      timedOut: `S3 server did not answer on ${endpoint} within 60 s; see ${path.join(dataDir, 'server.log')}`,
    });

  const stop = () => stopChild(child);

  await start();
  return { endpoint, accessKey, secretKey, start, stop };
}
