import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { runBounded } from './concurrency.js';
import { InputError } from './config.js';

/** An object or file that is not there (any more); a featurize activity reports it per image. */
export class ObjectNotFound extends InputError {
  override name = 'ObjectNotFound';
}

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
  read(uri: string): Promise<Buffer>;
  /** Write a whole object; readers never see a partial one. */
  write(uri: string, data: Buffer | string): Promise<void>;
  upload(localFile: string, uri: string): Promise<void>;
  download(uri: string, localFile: string): Promise<void>;
  /** Whether an object, or anything below a prefix, exists. */
  exists(uri: string): Promise<boolean>;
  /** Remove everything below a prefix (or the single object named); missing is fine. */
  removeAll(prefix: string): Promise<void>;
  /**
   * Move an object or everything below a prefix to the same names under `to`, replacing objects of the same name
   * and keeping the others. Safe to repeat after a partial move: what has left `from` is already under `to`. Once
   * `signal` is aborted, no further object starts moving.
   */
  move(from: string, to: string, signal?: AbortSignal): Promise<void>;
  /** The local path of a URI when the storage is the local disk, so DuckDB can read it in place. */
  localPath(uri: string): string | undefined;
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

  async read(uri: string): Promise<Buffer> {
    try {
      return await fs.readFile(uri);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFound(`${uri} does not exist`);
      throw err;
    }
  }

  async write(uri: string, data: Buffer | string): Promise<void> {
    await replaceAtomically(uri, (tmp) => fs.writeFile(tmp, data));
  }

  async upload(localFile: string, uri: string): Promise<void> {
    if (path.resolve(localFile) === path.resolve(uri)) return;
    await replaceAtomically(uri, (tmp) => fs.copyFile(localFile, tmp));
  }

  async download(uri: string, localFile: string): Promise<void> {
    await this.upload(uri, localFile);
  }

  async exists(uri: string): Promise<boolean> {
    return fs.access(uri).then(
      () => true,
      () => false,
    );
  }

  async removeAll(prefix: string): Promise<void> {
    await fs.rm(prefix, { recursive: true, force: true });
  }

  async move(from: string, to: string, signal?: AbortSignal): Promise<void> {
    await fs.mkdir(path.dirname(to), { recursive: true });
    try {
      // One rename moves a whole folder at once, whenever `to` does not hold a non-empty folder of the same name.
      await fs.rename(from, to);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTDIR') {
        // A file and a folder of the same name cannot both exist on disk: the one moving in replaces the other.
        await fs.rm(to, { recursive: true, force: true });
        await fs.rename(from, to);
        return;
      }
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
    for (const entry of await fs.readdir(from)) {
      signal?.throwIfAborted();
      await this.move(path.join(from, entry), path.join(to, entry), signal);
    }
    await fs.rmdir(from);
  }

  localPath(uri: string): string {
    return uri;
  }
}

const localStorage = new LocalStorage();

/** Split s3://bucket/key into its parts. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new InputError(`${uri} is not an S3 URI; write it as s3://bucket/prefix`);
  return { bucket: match[1], key: match[2] };
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

/** Turn S3 errors that retrying cannot fix into InputError with a message that says what to do. */
function explainS3Error(err: unknown, uri: string): unknown {
  if (!(err instanceof S3ServiceException)) return err;
  switch (err.name) {
    case 'NoSuchBucket':
      return new InputError(`bucket of ${uri} does not exist; create it or correct the URI`);
    case 'NoSuchKey':
    case 'NotFound':
      return new ObjectNotFound(`${uri} does not exist`);
    case 'AccessDenied':
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'Forbidden':
      return new InputError(`access to ${uri} was refused (${err.name}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile, and the bucket policy`);
    default:
      return err;
  }
}

// Server-side copies in flight during a move: a dataset of thousands of part files moves in seconds, not minutes.
const COPIES_IN_FLIGHT = 16;

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

  async read(uri: string): Promise<Buffer> {
    const { bucket, key } = parseS3Uri(uri);
    return this.call(uri, async () => {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await response.Body!.transformToByteArray());
    });
  }

  async write(uri: string, data: Buffer | string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    await this.call(uri, () => this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data })));
  }

  async upload(localFile: string, uri: string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
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

  async removeAll(prefix: string): Promise<void> {
    await this.removeKeys(prefix, await this.keysBelow(prefix));
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

  async move(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const sources = await this.keysBelow(from);
    const fromKey = parseS3Uri(from).key;
    const target = parseS3Uri(to);
    // Each object is copied before any is deleted, and only the objects still under `from` are moved: a retry after
    // a partial move (some copied, some deleted) moves the rest and leaves the complete set under `to`.
    await runBounded(sources, COPIES_IN_FLIGHT, async (source) => {
      signal?.throwIfAborted();
      const { bucket, key } = parseS3Uri(source);
      const destination = target.key + key.slice(fromKey.length);
      await this.call(source, () =>
        this.client.send(
          new CopyObjectCommand({ Bucket: target.bucket, Key: destination, CopySource: `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}` }),
        ),
      );
    });
    await this.removeKeys(from, sources);
  }

  localPath(): undefined {
    return undefined;
  }
}

/** Read an object holding JSON (a manifest partition, pca_model.json, _SUCCESS). */
export async function readJson<T>(storage: Storage, uri: string): Promise<T> {
  return JSON.parse((await storage.read(uri)).toString('utf8')) as T;
}
