// S3 (or any S3-compatible server) as a Storage, and the S3 URI and error helpers.
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
import { InputError } from '../errors.js';
import { mutating, ObjectNotFound, tooLarge, type ReadOptions, type Storage, type StoredObject } from './objects.js';

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
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    return `${JSON.stringify(uri)} has no valid bucket name (3-63 lowercase letters, digits, "." or "-")`;
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
export class S3Storage implements Storage {
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
        this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, Delimiter: '/', MaxKeys: Math.min(limit, 1000), ContinuationToken: token }),
        ),
      );
      for (const folder of page.CommonPrefixes ?? []) names.push((folder.Prefix ?? '').slice(keyPrefix.length).replace(/\/$/, ''));
      for (const object of page.Contents ?? []) names.push((object.Key ?? '').slice(keyPrefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token && names.length < limit);
    return names
      .filter((name) => name !== '')
      .sort()
      .slice(0, limit);
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
      const answer = await this.call(context, () =>
        this.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: chunk, Quiet: true } })),
      );
      const failed = answer.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(
          `could not remove ${failed.length} objects below ${context}, e.g. s3://${bucket}/${first.Key ?? ''}: ${first.Code ?? ''} ${first.Message ?? ''}`,
        );
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
