import path from 'node:path';
import { Context, log } from '@temporalio/activity';
import { FEATURE_DIM, type WorkerConfig } from '../lib/config.js';
import { InputError } from '../lib/errors.js';
import type { FeaturizePartitionInput, FeaturizePartitionResult } from '../lib/contract.js';
import { Budget, startBounded } from '../lib/concurrency.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { decodePlainJpeg, decodeWithSharp, INPUT_BYTES_PER_IMAGE, plainJpeg } from '../lib/features/images.js';
import { JpegDecoderMissing } from '../lib/features/jpegDecoder.js';
import { errorsPartUri, featuresPartUri, manifestPartUri, type ManifestEntry } from '../lib/storage/layout.js';
import { loadFeatureModel } from '../lib/features/model.js';
import { writeErrorParquet, writeVectorParquet } from '../lib/storage/parquet.js';
import { localTarget, publish, withScratchDir } from '../lib/storage/scratch.js';
import { manifestSchema, readRecord } from '../lib/storage/records.js';
import { isS3Uri, NotAFile, ObjectNotFound, ObjectTooLarge, overReadLimit, storageFor, type Storage } from '../lib/storage/storage.js';

// Image bytes read and not yet decoded, over every activity of this process: 16 reads ahead of 64 MiB files would
// otherwise hold 1 GiB per activity. Images decoded ahead by sharp are 200 KB each.
const readBudget = new Budget(256 * 1024 * 1024);

/** An image read: its bytes, for the fast path to decode in turn; or decoded already, by sharp; or its error. */
type Prepared = { kind: 'fast'; bytes: Buffer; release: () => void } | { kind: 'decoded'; image: Uint8Array } | { kind: 'failed'; error: string };

/**
 * Where a partition's wall time went, on its critical path, so the parts add up to the activity's time: waiting for
 * the next image (its read, or its decode by sharp ahead), decoding it in turn, inference, writing the part, and the
 * rest (manifest, model session, bookkeeping). Work done ahead, concurrently, is counted only while it is waited for.
 */
type Timings = { read: number; decode: number; infer: number; write: number; other: number };

const unreadable = (err: unknown): string => `not a readable image: ${(err as Error).message}`;

/**
 * Read one image: ahead of inference from S3, in turn from local disk. A file that is gone, too large or unreadable is
 * this image's error; anything else (a network fault) fails the activity, which is retried. Images the fast path does
 * not take (PNG, CMYK, ICC profiles...) are decoded here by sharp, on libuv's threads; the others wait, holding their
 * share of the read budget.
 */
async function prepare(source: Storage, uri: string, size: number, maxBytes: number): Promise<Prepared> {
  if (size > maxBytes) return { kind: 'failed', error: `not read: the file is ${overReadLimit(size, maxBytes)}` };
  const release = await readBudget.acquire(size);
  let bytes: Buffer;
  try {
    bytes = await source.read(uri, { maxBytes });
  } catch (err) {
    release();
    if (err instanceof ObjectTooLarge) return { kind: 'failed', error: `not read: ${err.message}` };
    const code = (err as NodeJS.ErrnoException).code;
    if (!(err instanceof ObjectNotFound || err instanceof NotAFile) && code !== 'EISDIR' && code !== 'EACCES') throw err;
    return { kind: 'failed', error: `cannot read file: ${(err as Error).message}` };
  }
  if (bytes.length > 0 && plainJpeg(bytes)) return { kind: 'fast', bytes, release };
  try {
    return { kind: 'decoded', image: await decodeWithSharp(bytes) };
  } catch (err) {
    return { kind: 'failed', error: unreadable(err) };
  } finally {
    release();
  }
}

/**
 * Put the image into the batch at `offset`: decoded there now if the fast path takes it (sharp decides when it
 * cannot read it after all), copied if sharp decoded it ahead. Undefined when it went in, else the error.
 */
async function decodeInTurn(prepared: Prepared, batch: Uint8Array, offset: number, timings: Timings): Promise<string | undefined> {
  if (prepared.kind === 'failed') return prepared.error;
  if (prepared.kind === 'decoded') {
    batch.set(prepared.image, offset);
    return undefined;
  }
  const t0 = performance.now();
  try {
    await decodePlainJpeg(prepared.bytes, batch, offset);
    return undefined;
  } catch (err) {
    if (err instanceof JpegDecoderMissing) throw err;
    return unreadable(err);
  } finally {
    prepared.release();
    timings.decode += performance.now() - t0;
  }
}

/** The model of a run's precision: the fp32 file, or the int8 one `npm run setup` derives from it. */
function modelFor(precision: FeaturizePartitionInput['precision'], config: WorkerConfig) {
  const path = precision === 'int8' ? config.int8ModelPath : config.modelPath;
  const fix = precision === 'int8' ? 'run npm run setup on this worker (it builds the int8 model) or set ORCHARD_INT8_MODEL_PATH' : undefined;
  return { path, threads: config.inferenceThreads, ...(fix ? { fix } : {}) };
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
    const timings: Timings = { read: 0, decode: 0, infer: 0, write: 0, other: 0 };
    const model = await loadFeatureModel(modelFor(input.precision, config));
    const staging = storageFor(input.staging, input);
    const source = storageFor(input.source, input);
    const manifestUri = manifestPartUri(input.staging, input.partition);
    const entries = await readRecord(staging, manifestUri, manifestSchema, 'a manifest part', 'the staging files were damaged: start the run again');
    // Nothing read from storage becomes a path unchecked: every image lies below the source that was listed.
    const sourcePrefix = input.source.replace(/[/\\]+$/, '') + (isS3Uri(input.source) ? '/' : path.sep);
    const local = !isS3Uri(input.source);
    const outside = entries.find((entry) => !entry.uri.startsWith(sourcePrefix) || (local && path.resolve(entry.uri) !== entry.uri));
    if (outside) throw new InputError(`${manifestUri} names ${outside.uri}, which is not below the source ${input.source}; start the run again`);

    const prepareEntry = (entry: ManifestEntry) => {
      context.cancellationSignal.throwIfAborted();
      return prepare(source, entry.uri, entry.size, input.maxImageBytes);
    };
    // S3 reads run ahead of inference (bounded), so their latency is hidden while a batch is embedded. Local files are
    // read in turn: the read is synchronous (lib/storage/local.ts), and reading ahead would only read them in a burst.
    const prepared = local ? undefined : startBounded(entries, config.readConcurrency, prepareEntry);

    const paths: string[] = [];
    const labels: string[] = [];
    const vectors = new Float32Array(entries.length * FEATURE_DIM);
    const errors: { path: string; error: string }[] = [];
    const batch = new Uint8Array(config.batchSize * INPUT_BYTES_PER_IMAGE);
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
    let next = 0;
    try {
      for (; next < entries.length; next++) {
        context.cancellationSignal.throwIfAborted();
        const waitStarted = performance.now();
        const image = await (prepared ? prepared[next] : prepareEntry(entries[next]));
        timings.read += performance.now() - waitStarted;
        const error = await decodeInTurn(image, batch, batchEntries.length * INPUT_BYTES_PER_IMAGE, timings);
        if (error !== undefined) {
          errors.push({ path: entries[next].uri, error });
          continue;
        }
        batchEntries.push(entries[next]);
        if (batchEntries.length === config.batchSize) await embedBatch();
      }
    } finally {
      // Images read ahead and never decoded (the activity was cancelled or failed) give their read budget back.
      for (const rest of prepared?.slice(next) ?? [])
        void rest.then(
          (p) => p.kind === 'fast' && p.release(),
          () => undefined,
        );
    }
    await embedBatch();
    context.cancellationSignal.throwIfAborted();

    const t0 = performance.now();
    await withScratchDir(config.scratchDir, async (scratch) => {
      const featuresUri = featuresPartUri(input.staging, input.partition);
      const errorsUri = errorsPartUri(input.staging, input.partition);
      const featuresFile = localTarget(staging, featuresUri, scratch);
      await writeVectorParquet(featuresFile, 'features', {
        paths,
        labels,
        vectors: vectors.subarray(0, paths.length * FEATURE_DIM),
        dim: FEATURE_DIM,
      });
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
    const ms = performance.now() - started;
    timings.other = Math.max(0, ms - timings.read - timings.decode - timings.infer - timings.write);
    log.info('featurized partition', {
      partition: input.partition,
      images: entries.length,
      featurized: paths.length,
      failed: errors.length,
      ms: Math.round(ms),
    });
    return { partition: input.partition, featurized: paths.length, failed: errors.length, timings };
  });
}
