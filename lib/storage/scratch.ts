import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { runBounded } from '../concurrency.js';
import { mutating, type Storage } from './storage.js';

/** Run `body` with a fresh local scratch directory that is removed afterwards, also when `body` fails. */
export async function withScratchDir<T>(root: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = path.join(root, randomUUID());
  await fs.mkdir(dir, { recursive: true });
  try {
    return await body(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** A local path holding the object: the object itself on local storage, else a download into `scratch`. */
export async function localCopy(storage: Storage, uri: string, scratch: string): Promise<string> {
  const local = storage.localPath(uri);
  if (local) return local;
  const file = path.join(scratch, `${randomUUID()}${path.extname(uri)}`);
  await storage.download(uri, file);
  return file;
}

// Downloads of a dataset's files in flight at once: S3 latency, not bandwidth, bounds small files.
const DOWNLOADS_IN_FLIGHT = 8;

/**
 * Local paths of every `*.parquet` file of a dataset folder, in name order: the files themselves on local storage,
 * else downloads into `scratch`. Other names (a writer's temporary file) are not part of the dataset.
 */
export async function localDatasetFiles(storage: Storage, folder: string, scratch: string): Promise<string[]> {
  if (!(await storage.exists(folder))) return [];
  const uris: string[] = [];
  for await (const object of storage.list(folder)) if (object.uri.endsWith('.parquet')) uris.push(object.uri);
  return localCopies(storage, uris, scratch);
}

/** `localCopy` of each object, in order, with a bounded number of downloads in flight. */
export function localCopies(storage: Storage, uris: readonly string[], scratch: string): Promise<string[]> {
  return runBounded(uris, DOWNLOADS_IN_FLIGHT, (uri) => localCopy(storage, uri, scratch));
}

/** Where to write a file that must end up at `uri`: in place on local storage, else in `scratch` for an upload. */
export function localTarget(storage: Storage, uri: string, scratch: string): string {
  return storage.localPath(uri) ?? path.join(scratch, `${randomUUID()}${path.extname(uri)}`);
}

/**
 * Upload a file written at `localTarget(...)` to `uri`. On local storage it is in place already (written through a
 * temporary file and a rename); the crash drills still get their point here, as on S3.
 */
export async function publish(storage: Storage, local: string, uri: string): Promise<void> {
  if (storage.localPath(uri) !== local) await storage.upload(local, uri);
  else await mutating('write', uri);
}
