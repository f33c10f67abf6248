// The storage of a run: local files or S3, chosen per URI. Everything a caller needs is exported here.
import { localStorage } from './local.js';
import { isS3Uri, type Storage, type StorageOptions } from './objects.js';
import { S3Storage, s3ClientFor } from './s3.js';

export * from './objects.js';
export { explainS3Error, parseS3Uri, s3ClientFor, s3UriProblem } from './s3.js';

/** The storage backend for a URI. */
export function storageFor(uri: string, options: StorageOptions = {}): Storage {
  return isS3Uri(uri) ? new S3Storage(s3ClientFor(options.s3Endpoint)) : localStorage;
}
