import path from 'node:path';
import { heartbeat } from '@temporalio/activity';
import { FEATURE_DIM, InputError } from '../lib/config.js';
import type { ListImagesInput, ListImagesResult } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { fileNameMatcher } from '../lib/glob.js';
import { manifestPartUri, type ManifestEntry } from '../lib/layout.js';
import { isS3Uri, joinUri, storageFor } from '../lib/storage.js';

/** The label of an image: the name of its parent folder. */
export function labelOf(uri: string): string {
  const parts = (isS3Uri(uri) ? uri.slice('s3://'.length).split('/') : uri.split(path.sep)).filter((p) => p !== '');
  return parts.length >= 2 ? parts[parts.length - 2] : '';
}

function baseName(uri: string): string {
  return uri.slice(uri.lastIndexOf(isS3Uri(uri) ? '/' : path.sep) + 1);
}

/** List the source recursively, keep the files whose name matches the glob and write the manifest in partitions. */
export async function listImages(input: ListImagesInput): Promise<ListImagesResult> {
  return failingClearly('listImages', async () => {
    let matches: (name: string) => boolean;
    try {
      matches = fileNameMatcher(input.glob);
    } catch (err) {
      throw new InputError((err as Error).message);
    }
    const source = storageFor(input.source, input);
    const staging = storageFor(input.staging, input);
    // The output may sit inside the source: never feed our own results back in.
    const outputPrefix = input.output.replace(/\/+$/, '') + '/';
    const labels = new Set<string>();
    let images = 0;
    let bytes = 0;
    let partitions = 0;
    let pending: ManifestEntry[] = [];
    const flush = async () => {
      await staging.write(manifestPartUri(input.staging, partitions), JSON.stringify(pending));
      partitions++;
      pending = [];
      heartbeat({ images, partitions });
    };
    await staging.removeAll(joinUri(input.staging, 'manifest'));
    for await (const object of source.list(input.source)) {
      if (object.uri.startsWith(outputPrefix)) continue;
      if (!matches(baseName(object.uri))) continue;
      const label = labelOf(object.uri);
      labels.add(label);
      images++;
      bytes += object.size;
      pending.push({ uri: object.uri, label, size: object.size, version: object.version });
      if (pending.length === input.partitionSize) await flush();
    }
    if (pending.length > 0) await flush();
    if (images === 0) {
      throw new InputError(`no file matching "${input.glob}" under ${input.source}; check --source and --glob`);
    }
    if (input.k > Math.min(FEATURE_DIM, images - 1)) {
      throw new InputError(`k=${input.k} needs at least ${input.k + 1} images, found ${images} under ${input.source}; lower --k`);
    }
    return { images, partitions, labels: labels.size, bytes };
  });
}
