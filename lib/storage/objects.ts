// What every storage backend is: the Storage interface, its errors, URI helpers and the test-only seam before each
// mutation. Backends: local.ts (files) and s3.ts; storage.ts picks one per URI.
import path from 'node:path';
import { InputError } from '../errors.js';

/** An object or file that is not there (any more); a featurize activity reports it per image. */
export class ObjectNotFound extends InputError {
  override name = 'ObjectNotFound';
}

/** An object larger than a read allows (`maxImageBytes`); a featurize activity reports it per image. */
export class ObjectTooLarge extends InputError {
  override name = 'ObjectTooLarge';
}

/** A FIFO, socket or device where a file was listed; a featurize activity reports it per image. */
export class NotAFile extends InputError {
  override name = 'NotAFile';
}

const MiB = 1024 * 1024;
/** "3.0 MiB, larger than maxImageBytes (1.0 MiB)": how a size over the read limit is told, wherever it is found. */
export const overReadLimit = (size: number, maxBytes: number) =>
  `${(size / MiB).toFixed(1)} MiB, larger than maxImageBytes (${(maxBytes / MiB).toFixed(1)} MiB)`;
export const tooLarge = (uri: string, size: number, maxBytes: number) => new ObjectTooLarge(`${uri} is ${overReadLimit(size, maxBytes)}`);

/** One file or object found by a listing. */
export interface StoredObject {
  /** Absolute local path or s3://bucket/key. */
  uri: string;
  size: number;
  /** Changes whenever the content may have changed: ETag on S3, mtime on disk. */
  version: string;
}

/** The one storage abstraction of Orchard: local directories and S3 prefixes behind the same calls. */
export interface Storage {
  /** Every object below a prefix, recursively, in lexicographic order of URI. */
  list(prefix: string): AsyncGenerator<StoredObject>;
  /** Names directly below a folder or prefix (files and folders), sorted, at most `limit`; none when it is missing. */
  children(prefix: string, limit: number): Promise<string[]>;
  /** A whole object; with `maxBytes`, an object larger than that is refused with ObjectTooLarge before it is read. */
  read(uri: string, options?: ReadOptions): Promise<Buffer>;
  /** Write a whole object; readers never see a partial one. */
  write(uri: string, data: Buffer | string): Promise<void>;
  upload(localFile: string, uri: string): Promise<void>;
  download(uri: string, localFile: string): Promise<void>;
  /** Whether an object, or anything below a prefix, exists. */
  exists(uri: string): Promise<boolean>;
  /** Remove exactly one object or file; missing is fine. Nothing else is touched, not even what lies below its name. */
  remove(uri: string): Promise<void>;
  /** Remove everything below a prefix (or the single object named); missing is fine. Only for Orchard's own staging. */
  removeAll(prefix: string): Promise<void>;
  /**
   * Move exactly one object or file to `to`, replacing an object of that name. Safe to repeat: when `from` is gone
   * and `to` is there, the move is done; when both are missing, ObjectNotFound.
   */
  moveObject(from: string, to: string): Promise<void>;
  /** Remove the folders on the way from `uri` up to `root` (exclusive) that are empty; S3 has no folders. */
  removeEmptyFolders(uri: string, root: string): Promise<void>;
  /** The local path of a URI when the storage is the local disk, so DuckDB can read it in place. */
  localPath(uri: string): string | undefined;
}

export interface ReadOptions {
  maxBytes?: number;
}

/** One change to storage, as the crash drills see it (see `beforeStorageMutation`). */
export interface StorageMutation {
  /** `move`: a file renamed, or an object copied to `uri` (S3, which then removes the source: a `remove`). */
  operation: 'write' | 'remove' | 'removeAll' | 'move';
  uri: string;
}

let mutationHook: ((mutation: StorageMutation) => void | Promise<void>) | undefined;

/**
 * Test-only seam: call `hook` before every storage mutation of this process, so a drill can stop a step between any
 * two of them (crash tests throw there, the worker's crash drill kills the process); `undefined` removes it. Unset in
 * production, where it costs one comparison per mutation.
 */
export function beforeStorageMutation(hook: ((mutation: StorageMutation) => void | Promise<void>) | undefined): void {
  mutationHook = hook;
}

/** Give the drill hook, if any, its chance to stop the process before a mutation. */
export async function mutating(operation: StorageMutation['operation'], uri: string): Promise<void> {
  if (mutationHook) await mutationHook({ operation, uri });
}

/** Options that select and configure a storage backend. */
export interface StorageOptions {
  s3Endpoint?: string;
}

/** Join URI or path segments with `/`, without doubling separators. */
export function joinUri(base: string, ...parts: string[]): string {
  if (!isS3Uri(base)) return path.join(base, ...parts);
  return [base.replace(/\/+$/, ''), ...parts.map((p) => p.replace(/^\/+|\/+$/g, ''))].filter((p) => p !== '').join('/');
}

/** Whether a URI names an S3 location. */
export function isS3Uri(uri: string): boolean {
  return uri.startsWith('s3://');
}
