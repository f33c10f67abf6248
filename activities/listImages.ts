import path from 'node:path';
import { FEATURE_DIM, type WorkerConfig } from '../lib/config.js';
import { InputError } from '../lib/errors.js';
import type { ListImagesInput, ListImagesResult } from '../lib/contract.js';
import { runBounded } from '../lib/concurrency.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { heartbeatProgress } from '../lib/temporal/heartbeat.js';
import { fileNameMatcher } from '../lib/glob.js';
import { carriedUri, manifestPartUri, resultUri, type ManifestEntry } from '../lib/storage/layout.js';
import { claimOutput, readLatestResult } from '../lib/storage/outputs.js';
import { queryParquet } from '../lib/storage/parquet.js';
import { localCopy, withScratchDir } from '../lib/storage/scratch.js';
import { isS3Uri, joinUri, storageFor } from '../lib/storage/storage.js';

/** The label of an image: the name of its parent folder. */
export function labelOf(uri: string): string {
  const parts = (isS3Uri(uri) ? uri.slice('s3://'.length).split('/') : uri.split(path.sep)).filter((p) => p !== '');
  return parts.length >= 2 ? parts[parts.length - 2] : '';
}

function baseName(uri: string): string {
  return uri.slice(uri.lastIndexOf(isS3Uri(uri) ? '/' : path.sep) + 1);
}

// Tail partitions are not split below this many images: smaller ones cost more in
// per-activity work (manifest read, Parquet part, scheduling, server CPU) than they save in balance (bench/README.md, "Figures behind the code").
const MIN_TAIL_PARTITION = 32;
// Tail sizes are multiples of 8, and so of every inference batch up to 8 that divides it: only one partition (the
// remainder) embeds a short batch.
const TAIL_MULTIPLE = 8;
// At most this many manifest entries are held back for the tail (about 13 MB), whatever the partition settings.
const MAX_TAIL_WINDOW = 65_536;
// Manifest parts of the tail written at once.
const MANIFEST_WRITES = 16;

/**
 * Sizes of the partitions for the last `remaining` images: guided self-scheduling, each partition a
 * `parallelism`-th of what is left (rounded up to whole batches), between MIN_TAIL_PARTITION and `maxSize`, largest first.
 * Equal partitions leave cores idle at the end while the last few full partitions finish on some of them;
 * shrinking ones end together.
 */
export function tailPartitionSizes(remaining: number, maxSize: number, parallelism: number): number[] {
  const minSize = Math.min(MIN_TAIL_PARTITION, maxSize);
  const sizes: number[] = [];
  while (remaining > 0) {
    const share = Math.ceil(remaining / parallelism / TAIL_MULTIPLE) * TAIL_MULTIPLE;
    let size = Math.min(maxSize, Math.max(minSize, share));
    if (remaining - size < minSize) size = Math.min(remaining, maxSize);
    sizes.push(size);
    remaining -= size;
  }
  // The remainder makes the last size larger than the ones before it; partitions start in listing order, so sorting
  // makes the run end on the smallest ones.
  return sizes.sort((a, b) => b - a);
}

/**
 * Sizes for a run whose images all fit in one wave (at most `parallelism` x `maxSize`): one partition per slot, sizes
 * within one image of each other, so partitions that start together also end together. Fewer partitions when there
 * is less than a batch of images per slot. Faster than shrinking partitions in every paired run on the sample (bench/README.md, "Figures behind the code").
 */
export function oneWavePartitionSizes(images: number, maxSize: number, parallelism: number): number[] {
  if (images === 0) return [];
  const count = Math.max(Math.ceil(images / maxSize), Math.min(parallelism, Math.ceil(images / TAIL_MULTIPLE)));
  const size = Math.floor(images / count);
  return Array.from({ length: count }, (_, i) => size + (i < images % count ? 1 : 0));
}

/**
 * A 32-bit hash of a path: FNV-1a, then MurmurHash3's finaliser, so the file name moves the high bits too (FNV-1a
 * alone sorts mostly by folder). Sorting by it gives a fixed order that mixes folders.
 */
function pathHash(uri: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < uri.length; i++) hash = Math.imul(hash ^ uri.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}

/**
 * Path -> version of every image in the last committed result, or an empty map when there is none, or when its
 * vectors come from a model of another precision (they would not mix with this run's).
 */
async function previousVersions(input: ListImagesInput, scratch: string): Promise<Map<string, string>> {
  const output = storageFor(input.output, input);
  const latest = await readLatestResult(output, input.output);
  if (!latest?.files.includes('versions.parquet') || latest.precision !== input.precision) return new Map();
  const versions = resultUri(input.output, 'versions.parquet');
  const rows = await queryParquet('SELECT path, version FROM read_parquet($1)', [await localCopy(output, versions, scratch)]);
  return new Map(rows.map((r) => [String(r.path), String(r.version)]));
}

/**
 * List the source recursively, keep the files whose name matches the glob and write the manifest in partitions.
 * Incremental runs leave out the images whose version equals the last result's and list them as carried over.
 */
export async function listImages(input: ListImagesInput, config: WorkerConfig): Promise<ListImagesResult> {
  return failingClearly('listImages', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      let matches: (name: string) => boolean;
      try {
        matches = fileNameMatcher(input.glob);
      } catch (err) {
        throw new InputError((err as Error).message);
      }
      const source = storageFor(input.source, input);
      const staging = storageFor(input.staging, input);
      // The first write into the output: it must be Orchard's, or new and then claimed (lib/storage/outputs.ts).
      await claimOutput(storageFor(input.output, input), input.output, input.claimant);
      const labels = new Set<string>();
      let images = 0;
      let bytes = 0;
      let partitions = 0;
      // Entries not yet written; the last window of them is held back for the tail partitions (or one even wave).
      const pending: ManifestEntry[] = [];
      const parallelism = input.maxConcurrentPartitions;
      const window = Math.max(input.partitionSize, Math.min((parallelism + 1) * input.partitionSize, MAX_TAIL_WINDOW));
      const writePart = async (partition: number, entries: ManifestEntry[]) => {
        await staging.write(manifestPartUri(input.staging, partition), JSON.stringify(entries));
        heartbeatProgress({ images, partitions });
      };
      await staging.removeAll(joinUri(input.staging, 'manifest'));
      const previous = input.incremental ? await previousVersions(input, scratch) : new Map<string, string>();
      const carried: string[] = [];
      for await (const object of source.list(input.source)) {
        if (!matches(baseName(object.uri))) continue;
        const label = labelOf(object.uri);
        labels.add(label);
        images++;
        bytes += object.size;
        if (previous.get(object.uri) === object.version) {
          carried.push(JSON.stringify({ path: object.uri, version: object.version }));
          continue;
        }
        pending.push({ uri: object.uri, label, size: object.size, version: object.version });
        if (pending.length === window) await writePart(partitions++, pending.splice(0, input.partitionSize));
      }
      // The held-back entries go in path-hash order, so each partition cut from them mixes folders, image sizes and so
      // decode costs, and its time follows its image count, as in the ceiling loop's round-robin split. A run that fits
      // in one wave is split evenly; after full partitions, the tail shrinks (guided self-scheduling).
      const held = pending
        .map((entry) => ({ entry, hash: pathHash(entry.uri) }))
        .sort((a, b) => a.hash - b.hash)
        .map(({ entry }) => entry);
      const oneWave = partitions === 0 && held.length <= parallelism * input.partitionSize;
      const sizes = (oneWave ? oneWavePartitionSizes : tailPartitionSizes)(held.length, input.partitionSize, parallelism);
      // These parts are written MANIFEST_WRITES at a time, not one by one.
      const tail = sizes.map((size) => ({ partition: partitions++, entries: held.splice(0, size) }));
      await runBounded(tail, MANIFEST_WRITES, ({ partition, entries }) => writePart(partition, entries));
      await staging.write(carriedUri(input.staging), carried.join('\n') + (carried.length > 0 ? '\n' : ''));
      if (images === 0) {
        throw new InputError(`no file matching "${input.glob}" under ${input.source}; check --source and --glob`);
      }
      if (input.k > Math.min(FEATURE_DIM, images - 1)) {
        throw new InputError(`k=${input.k} needs at least ${input.k + 1} images, found ${images} under ${input.source}; lower --k`);
      }
      return { images, reused: carried.length, partitions, labels: labels.size, bytes };
    }),
  );
}
