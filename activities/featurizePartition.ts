import path from 'node:path';
import { Context, log } from '@temporalio/activity';
import { FEATURE_DIM, type WorkerConfig } from '../lib/config.js';
import { InputError } from '../lib/errors.js';
import type { FeaturizePartitionInput, FeaturizePartitionResult } from '../lib/contract.js';
import { Budget, startBounded } from '../lib/concurrency.js';
import { failingClearly } from '../lib/failures.js';
import { decodeImage, PIXELS_PER_IMAGE, scalePixels } from '../lib/images.js';
import { errorsPartUri, featuresPartUri, manifestPartUri, type ManifestEntry } from '../lib/layout.js';
import { loadFeatureModel } from '../lib/model.js';
import { writeErrorParquet, writeVectorParquet } from '../lib/parquet.js';
import { localTarget, publish, withScratchDir } from '../lib/scratch.js';
import { manifestSchema, readRecord } from '../lib/records.js';
import { isS3Uri, ObjectNotFound, ObjectTooLarge, storageFor, type Storage } from '../lib/storage.js';

// Image bytes read and not yet decoded, over every activity of this process: 16 reads ahead of 64 MiB files would
// otherwise hold 1 GiB per activity. Decoded images are 150 KB each.
const readBudget = new Budget(256 * 1024 * 1024);

const mebibytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

type Decoded = { ok: true; rgb: Buffer } | { ok: false; error: string };

/** Read and decode one image; a file that is gone, too large, unreadable or not an image is this image's error. */
async function readAndDecode(source: Storage, uri: string, maxBytes: number, timings: { read: number; decode: number }): Promise<Decoded> {
  let bytes: Buffer;
  const t0 = performance.now();
  try {
    bytes = await source.read(uri, { maxBytes });
  } catch (err) {
    // Anything else may pass (a network fault): the activity fails and is retried.
    if (err instanceof ObjectTooLarge) return { ok: false, error: `not read: ${err.message}` };
    const code = (err as NodeJS.ErrnoException).code;
    if (!(err instanceof ObjectNotFound) && code !== 'EISDIR' && code !== 'EACCES') throw err;
    return { ok: false, error: `cannot read file: ${(err as Error).message}` };
  } finally {
    timings.read += performance.now() - t0;
  }
  const t1 = performance.now();
  try {
    return { ok: true, rgb: await decodeImage(bytes) };
  } catch (err) {
    return { ok: false, error: `not a readable image: ${(err as Error).message}` };
  } finally {
    timings.decode += performance.now() - t1;
  }
}

/**
 * Featurize one partition of the manifest: read, decode and embed its images, and write one Parquet part with
 * a deterministic name, so a retry overwrites its own output instead of duplicating rows. Images that cannot be
 * read or decoded go to the partition's errors part with the reason (written only when there are some).
 */
export async function featurizePartition(input: FeaturizePartitionInput, config: WorkerConfig): Promise<FeaturizePartitionResult> {
  return failingClearly('featurizePartition', async () => {
    const started = performance.now();
    const context = Context.current();
    const timings = { read: 0, decode: 0, infer: 0, write: 0 };
    const model = await loadFeatureModel({ path: config.modelPath, threads: config.inferenceThreads });
    const staging = storageFor(input.staging, input);
    const source = storageFor(input.source, input);
    const manifestUri = manifestPartUri(input.staging, input.partition);
    const entries = await readRecord(staging, manifestUri, manifestSchema, 'a manifest part', 'the staging files were damaged: start the run again');
    // Nothing read from storage becomes a path unchecked: every image lies below the source that was listed.
    const sourcePrefix = input.source.replace(/[/\\]+$/, '') + (isS3Uri(input.source) ? '/' : path.sep);
    const local = !isS3Uri(input.source);
    const outside = entries.find((entry) => !entry.uri.startsWith(sourcePrefix) || (local && path.resolve(entry.uri) !== entry.uri));
    if (outside) throw new InputError(`${manifestUri} names ${outside.uri}, which is not below the source ${input.source}; start the run again`);

    // Reads and decodes run ahead of inference (bounded), so the cores stay busy while a batch is embedded.
    const decoded = startBounded(entries, config.readConcurrency, (entry): Promise<Decoded> => {
      context.cancellationSignal.throwIfAborted();
      if (entry.size > input.maxImageBytes) {
        return Promise.resolve({ ok: false, error: `not read: the file is ${mebibytes(entry.size)}, larger than maxImageBytes (${mebibytes(input.maxImageBytes)})` });
      }
      return readBudget.use(entry.size, () => readAndDecode(source, entry.uri, input.maxImageBytes, timings));
    });

    const paths: string[] = [];
    const labels: string[] = [];
    const vectors = new Float32Array(entries.length * FEATURE_DIM);
    const errors: { path: string; error: string }[] = [];
    const batch = new Float32Array(config.batchSize * PIXELS_PER_IMAGE);
    const batchEntries: ManifestEntry[] = [];
    const embedBatch = async () => {
      if (batchEntries.length === 0) return;
      const t0 = performance.now();
      const features = await model.embed(batch, batchEntries.length);
      timings.infer += performance.now() - t0;
      for (let i = 0; i < batchEntries.length; i++) {
        const vector = features.subarray(i * FEATURE_DIM, (i + 1) * FEATURE_DIM);
        if (!vector.every(Number.isFinite)) {
          errors.push({ path: batchEntries[i].uri, error: 'model produced non-finite features' });
          continue;
        }
        vectors.set(vector, paths.length * FEATURE_DIM);
        paths.push(batchEntries[i].uri);
        labels.push(batchEntries[i].label);
      }
      batchEntries.length = 0;
      context.heartbeat({ done: paths.length + errors.length, of: entries.length });
    };
    for (let i = 0; i < entries.length; i++) {
      context.cancellationSignal.throwIfAborted();
      const result = await decoded[i];
      if (!result.ok) {
        errors.push({ path: entries[i].uri, error: result.error });
        continue;
      }
      scalePixels(result.rgb, batch, batchEntries.length * PIXELS_PER_IMAGE);
      batchEntries.push(entries[i]);
      if (batchEntries.length === config.batchSize) await embedBatch();
    }
    await embedBatch();
    context.cancellationSignal.throwIfAborted();

    const t0 = performance.now();
    await withScratchDir(config.scratchDir, async (scratch) => {
      const featuresUri = featuresPartUri(input.staging, input.partition);
      const errorsUri = errorsPartUri(input.staging, input.partition);
      const featuresFile = localTarget(staging, featuresUri, scratch);
      await writeVectorParquet(featuresFile, 'features', { paths, labels, vectors: vectors.subarray(0, paths.length * FEATURE_DIM), dim: FEATURE_DIM });
      await publish(staging, featuresFile, featuresUri);
      // Most partitions have no failed image, and an empty Parquet file costs a DuckDB write and an fsync. The
      // removal covers a retry that succeeds where an earlier attempt of this partition failed on some images.
      if (errors.length > 0) {
        const errorsFile = localTarget(staging, errorsUri, scratch);
        await writeErrorParquet(errorsFile, errors);
        await publish(staging, errorsFile, errorsUri);
      } else {
        await staging.remove(errorsUri);
      }
    });
    timings.write += performance.now() - t0;
    log.info('featurized partition', {
      partition: input.partition,
      images: entries.length,
      featurized: paths.length,
      failed: errors.length,
      ms: Math.round(performance.now() - started),
    });
    return { partition: input.partition, featurized: paths.length, failed: errors.length, timings };
  });
}
