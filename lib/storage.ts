import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { InputError } from './errors.js';

/** An object or file that is not there (any more); a featurize activity reports it per image. */
export class ObjectNotFound extends InputError {
  override name = 'ObjectNotFound';
}

/** An object larger than a read allows (`maxImageBytes`); a featurize activity reports it per image. */
export class ObjectTooLarge extends InputError {
  override name = 'ObjectTooLarge';
}

const MiB = 1024 * 1024;
const tooLarge = (uri: string, size: number, maxBytes: number) =>
  new ObjectTooLarge(`${uri} is ${(size / MiB).toFixed(1)} MiB, larger than maxImageBytes (${(maxBytes / MiB).toFixed(1)} MiB)`);

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

/** The storage backend for a URI. */
export function storageFor(uri: string, options: StorageOptions = {}): Storage {
  return isS3Uri(uri) ? new S3Storage(s3ClientFor(options.s3Endpoint)) : localStorage;
}

/**
 * Fill a temporary file beside `file`, sync it, then rename it over `file`: readers see the old or the new content,
 * never half, also after a machine crash (without the sync a crash can leave an empty file under the new name, and an
 * empty `_COMMITTING` or manifest would stop every later run; 0.25 ms per file here).
 */
async function replaceAtomically(file: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomUUID()}`;
  try {
    await fill(tmp);
    const handle = await fs.open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

// Entries of a directory stat-ed at once while listing: 10,000 files list in 0.1 s instead of 0.4 s one at a time.
const STAT_BATCH = 64;

/** Local disk. Writes go through a temporary file and a rename so readers never see half a file. */
class LocalStorage implements Storage {
  async *list(prefix: string): AsyncGenerator<StoredObject> {
    let rootStat;
    try {
      rootStat = await fs.stat(prefix);
    } catch (err) {
      throw new InputError(`source ${prefix} does not exist or cannot be read (${(err as Error).message}); pass an existing directory`);
    }
    if (!rootStat.isDirectory()) throw new InputError(`source ${prefix} is not a directory; pass the folder that holds the label folders`);
    yield* this.walk(prefix, new Set([await fs.realpath(prefix)]));
  }

  // Symlinked directories are followed once each: the set of real paths stops loops.
  private async *walk(dir: string, seen: Set<string>): AsyncGenerator<StoredObject> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (let start = 0; start < entries.length; start += STAT_BATCH) {
      const batch = entries.slice(start, start + STAT_BATCH).map((entry) => path.join(dir, entry.name));
      // A dangling symlink or a file removed while listing has no stat: nothing to read.
      const stats = await Promise.all(batch.map((full) => fs.stat(full).catch(() => undefined)));
      for (const [i, full] of batch.entries()) yield* this.visit(full, stats[i], seen);
    }
  }

  // One listed entry: a file is yielded, a directory walked (each real directory once).
  private async *visit(full: string, stat: Stats | undefined, seen: Set<string>): AsyncGenerator<StoredObject> {
    if (stat?.isDirectory()) {
      const real = await fs.realpath(full);
      if (seen.has(real)) return;
      seen.add(real);
      yield* this.walk(full, seen);
    } else if (stat?.isFile()) {
      yield { uri: full, size: stat.size, version: `${stat.size}-${stat.mtimeMs}` };
    }
  }

  async children(prefix: string, limit: number): Promise<string[]> {
    const names = await fs.readdir(prefix).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
      throw err;
    });
    return names.sort().slice(0, limit);
  }

  async read(uri: string, options: ReadOptions = {}): Promise<Buffer> {
    let handle;
    try {
      handle = await fs.open(uri, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFound(`${uri} does not exist`);
      throw err;
    }
    try {
      const { maxBytes } = options;
      if (maxBytes === undefined) return await handle.readFile();
      const { size } = await handle.stat();
      if (size > maxBytes) throw tooLarge(uri, size, maxBytes);
      // The file may have grown since: read at most one byte past the cap, never the whole of it.
      const buffer = Buffer.alloc(size + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > maxBytes) throw tooLarge(uri, length, maxBytes);
        if (length === buffer.length) break;
      }
      return buffer.subarray(0, length);
    } finally {
      await handle.close();
    }
  }

  async write(uri: string, data: Buffer | string): Promise<void> {
    await mutating('write', uri);
    await replaceAtomically(uri, (tmp) => fs.writeFile(tmp, data));
  }

  async upload(localFile: string, uri: string): Promise<void> {
    await mutating('write', uri);
    if (path.resolve(localFile) === path.resolve(uri)) return;
    await replaceAtomically(uri, (tmp) => fs.copyFile(localFile, tmp));
  }

  async download(uri: string, localFile: string): Promise<void> {
    if (path.resolve(localFile) === path.resolve(uri)) return;
    await replaceAtomically(localFile, (tmp) => fs.copyFile(uri, tmp));
  }

  async exists(uri: string): Promise<boolean> {
    return fs.access(uri).then(
      () => true,
      () => false,
    );
  }

  async remove(uri: string): Promise<void> {
    await mutating('remove', uri);
    try {
      await fs.unlink(uri);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async removeAll(prefix: string): Promise<void> {
    await mutating('removeAll', prefix);
    await fs.rm(prefix, { recursive: true, force: true });
  }

  async moveObject(from: string, to: string): Promise<void> {
    await mutating('move', to);
    await fs.mkdir(path.dirname(to), { recursive: true });
    try {
      await fs.rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (await this.exists(to)) return;
      throw new ObjectNotFound(`cannot move ${from} to ${to}: neither exists`);
    }
  }

  async removeEmptyFolders(uri: string, root: string): Promise<void> {
    const top = path.resolve(root);
    for (let dir = path.dirname(path.resolve(uri)); dir.startsWith(top + path.sep); dir = path.dirname(dir)) {
      try {
        await fs.rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
        throw err;
      }
    }
  }

  localPath(uri: string): string {
    return uri;
  }
}

const localStorage = new LocalStorage();

/** Split s3://bucket/key into its parts. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/s.exec(uri);
  if (!match) throw new InputError(`${uri} is not an S3 URI; write it as s3://bucket/prefix`);
  return { bucket: match[1], key: match[2] };
}

/**
 * What is wrong with an S3 URI a user gave as source or output, or undefined: a valid bucket name, and a prefix
 * without empty, "." or ".." segments (S3 keeps them literally, so `a/../b` is not `b`).
 */
export function s3UriProblem(uri: string): string | undefined {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(uri);
  if (!match) return `${JSON.stringify(uri)} is not an S3 URI; write it as s3://bucket/prefix`;
  const [, bucket, key = ''] = match;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) return `${JSON.stringify(uri)} has no valid bucket name (3-63 lowercase letters, digits, "." or "-")`;
  const segments = key.replace(/\/$/, '').split('/');
  if (key !== '' && segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return `${JSON.stringify(uri)} has an empty, "." or ".." segment; write the prefix without them, e.g. s3://${bucket}/${segments.filter((p) => p && p !== '.' && p !== '..').join('/')}`;
  }
  if (/\p{Cc}/u.test(key)) return `${JSON.stringify(uri)} has a control character`;
  return undefined;
}

const s3Clients = new Map<string, S3Client>();

/** One S3 client per endpoint and identity, configured the AWS way (default credential chain, AWS_REGION). */
export function s3ClientFor(endpoint?: string): S3Client {
  const resolved = endpoint || process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || '';
  // Clients cache their credentials: a changed key or profile in the environment needs a new client.
  const key = [resolved, process.env.AWS_ACCESS_KEY_ID ?? '', process.env.AWS_PROFILE ?? ''].join('|');
  let client = s3Clients.get(key);
  if (!client) {
    // Orchard targets Node 20 with a pinned SDK; the SDK's notice about future Node 22 releases is noise in every log.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    client = new S3Client({
      region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1',
      ...(resolved ? { endpoint: resolved, forcePathStyle: true } : {}),
      // Recent SDKs add CRC32 checksums to every request; several S3-compatible servers reject them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 5,
    });
    s3Clients.set(key, client);
  }
  return client;
}

const refused = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden', 'InvalidToken', 'ExpiredToken']);

/**
 * Turn S3 errors that retrying cannot fix into InputError with a message that says what to do. Answers to HEAD
 * requests have no body, so the SDK cannot name them (`UnknownError`, `403`): the status code decides then.
 */
export function explainS3Error(err: unknown, uri: string): unknown {
  if (!(err instanceof S3ServiceException)) return err;
  const status = err.$metadata?.httpStatusCode;
  if (err.name === 'NoSuchBucket') return new InputError(`bucket of ${uri} does not exist; create it or correct the URI`);
  if (err.name === 'NoSuchKey' || err.name === 'NotFound') return new ObjectNotFound(`${uri} does not exist`);
  if (refused.has(err.name) || status === 401 || status === 403) {
    return new InputError(
      `access to ${uri} was refused (${err.name}, HTTP ${status ?? '?'}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile, and the bucket policy`,
    );
  }
  if (err.name === 'PermanentRedirect' || err.name === 'AuthorizationHeaderMalformed' || status === 301) {
    return new InputError(`the bucket of ${uri} is in another region (${err.name}); set AWS_REGION to the bucket's region`);
  }
  if (err.name === 'InvalidBucketName' || err.name === 'KeyTooLongError' || err.name === 'InvalidArgument') {
    return new InputError(`S3 refused ${uri} (${err.name}: ${err.message}); correct the URI`);
  }
  return err;
}

/** S3 and S3-compatible servers through @aws-sdk/client-s3. */
class S3Storage implements Storage {
  constructor(private readonly client: S3Client) {}

  private async call<T>(uri: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw explainS3Error(err, uri);
    }
  }

  async *list(prefix: string): AsyncGenerator<StoredObject> {
    const { bucket, key } = parseS3Uri(prefix);
    const keyPrefix = key === '' || key.endsWith('/') ? key : key + '/';
    let token: string | undefined;
    do {
      const page = await this.call(prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, ContinuationToken: token })),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.endsWith('/')) continue;
        yield { uri: `s3://${bucket}/${object.Key}`, size: object.Size ?? 0, version: object.ETag ?? '' };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async children(prefix: string, limit: number): Promise<string[]> {
    const { bucket, key } = parseS3Uri(prefix);
    const keyPrefix = key === '' || key.endsWith('/') ? key : key + '/';
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, Delimiter: '/', MaxKeys: Math.min(limit, 1000), ContinuationToken: token })),
      );
      for (const folder of page.CommonPrefixes ?? []) names.push((folder.Prefix ?? '').slice(keyPrefix.length).replace(/\/$/, ''));
      for (const object of page.Contents ?? []) names.push((object.Key ?? '').slice(keyPrefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token && names.length < limit);
    return names.filter((name) => name !== '').sort().slice(0, limit);
  }

  async read(uri: string, options: ReadOptions = {}): Promise<Buffer> {
    const { bucket, key } = parseS3Uri(uri);
    return this.call(uri, async () => {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const size = response.ContentLength ?? 0;
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        // Only the headers have arrived: dropping the body stops the transfer.
        (response.Body as Readable | undefined)?.destroy();
        throw tooLarge(uri, size, options.maxBytes);
      }
      return Buffer.from(await response.Body!.transformToByteArray());
    });
  }

  async write(uri: string, data: Buffer | string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    await mutating('write', uri);
    await this.call(uri, () => this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data })));
  }

  async upload(localFile: string, uri: string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    await mutating('write', uri);
    await this.call(uri, () =>
      new Upload({ client: this.client, params: { Bucket: bucket, Key: key, Body: createReadStream(localFile) }, queueSize: 4 }).done(),
    );
  }

  async download(uri: string, localFile: string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    await fs.mkdir(path.dirname(localFile), { recursive: true });
    await this.call(uri, async () => {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(response.Body as Readable, createWriteStream(localFile));
    });
  }

  async exists(uri: string): Promise<boolean> {
    const { bucket, key } = parseS3Uri(uri);
    if (await this.objectExists(bucket, key, uri)) return true;
    const below = await this.call(uri, () =>
      this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key.replace(/\/*$/, '/'), MaxKeys: 1 })),
    );
    return (below.KeyCount ?? 0) > 0;
  }

  private async objectExists(bucket: string, key: string, uri: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if (err instanceof S3ServiceException && (err.name === 'NotFound' || err.$metadata.httpStatusCode === 404)) return false;
      throw explainS3Error(err, uri);
    }
  }

  private async keysBelow(prefix: string): Promise<string[]> {
    const { bucket, key } = parseS3Uri(prefix);
    const keys: string[] = [];
    if (key !== '' && (await this.objectExists(bucket, key, prefix))) keys.push(key);
    for await (const object of this.list(prefix)) keys.push(parseS3Uri(object.uri).key);
    return keys.filter((k) => k.length > 0).map((k) => `s3://${bucket}/${k}`);
  }

  async remove(uri: string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    await mutating('remove', uri);
    await this.call(uri, () => this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })));
  }

  async removeAll(prefix: string): Promise<void> {
    const keys = await this.keysBelow(prefix);
    await mutating('removeAll', prefix);
    await this.removeKeys(prefix, keys);
  }

  // DeleteObjects reports failed keys in its answer instead of failing: a key left behind must not pass silently.
  private async removeKeys(context: string, uris: readonly string[]): Promise<void> {
    for (let i = 0; i < uris.length; i += 1000) {
      const { bucket } = parseS3Uri(uris[i]);
      const chunk = uris.slice(i, i + 1000).map((u) => ({ Key: parseS3Uri(u).key }));
      const answer = await this.call(context, () => this.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: chunk, Quiet: true } })));
      const failed = answer.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(`could not remove ${failed.length} objects below ${context}, e.g. s3://${bucket}/${first.Key ?? ''}: ${first.Code ?? ''} ${first.Message ?? ''}`);
      }
    }
  }

  // S3 has no rename: a copy, then a delete. Repeated after a crash between the two, the copy fails (the source is
  // gone) and the object found at `to` says the move is done.
  async moveObject(from: string, to: string): Promise<void> {
    const source = parseS3Uri(from);
    const target = parseS3Uri(to);
    const copySource = `${source.bucket}/${encodeURIComponent(source.key).replace(/%2F/g, '/')}`;
    await mutating('move', to);
    try {
      await this.call(from, () => this.client.send(new CopyObjectCommand({ Bucket: target.bucket, Key: target.key, CopySource: copySource })));
    } catch (err) {
      if (!(err instanceof ObjectNotFound)) throw err;
      if (await this.objectExists(target.bucket, target.key, to)) return;
      throw new ObjectNotFound(`cannot move ${from} to ${to}: neither exists`);
    }
    await this.remove(from);
  }

  async removeEmptyFolders(): Promise<void> {}

  localPath(): undefined {
    return undefined;
  }
}
