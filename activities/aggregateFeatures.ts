import { ApplicationFailure } from '@temporalio/common';
import { type WorkerConfig } from '../lib/config.js';
import { InputError } from '../lib/errors.js';
import type { AggregateResult, RunContext } from '../lib/contract.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { heartbeatProgress } from '../lib/temporal/heartbeat.js';
import {
  archiveUri,
  carriedFeaturesUri,
  carriedUri,
  errorsPartUri,
  errorsPartsUri,
  featuresDatasetUri,
  failedUri,
  featuresPartUri,
  manifestPartUri,
  resultFileUri,
  resultUri,
  stagedResult,
} from '../lib/storage/layout.js';
import { literalFiles, mergeParquet, queryParquet, writeCarriedFeatures, writeErrorParquet, writeVersionParquet } from '../lib/storage/parquet.js';
import { localCopies, localTarget, publish, withScratchDir } from '../lib/storage/scratch.js';
import { readLatestResult } from '../lib/storage/outputs.js';
import { manifestSchema, readCarried, readRecord, type FailedRecord } from '../lib/storage/records.js';
import { storageFor } from '../lib/storage/storage.js';

export interface AggregateInput extends RunContext {
  partitions: number;
  /** The run, named in the record that keeps errors.parquet when no image made a vector. */
  workflowId?: string;
  runId?: string;
}

/**
 * A run in which no image became a vector has no result to commit: its errors.parquet goes to
 * `runs/<run id>/errors.parquet` beside a `_FAILED` record (so later runs prune it like an earlier result), and the
 * failure says where it is and names the first reason.
 */
async function keepErrorsOfFailedRun(input: AggregateInput, errorsFile: string, listed: number, failed: number): Promise<InputError> {
  const [first] = await queryParquet('SELECT path, error FROM read_parquet($1) ORDER BY path LIMIT 1', [literalFiles([errorsFile])]);
  const example = first ? ` (e.g. ${String(first.path)}: ${String(first.error)})` : '';
  const reason = `none of the ${listed} images could be read and decoded${example}`;
  if (!input.runId || !input.workflowId) return new InputError(`${reason}; check --source and --glob`);
  const output = storageFor(input.output, input);
  const folder = archiveUri(input.output, input.runId);
  const kept = resultFileUri(folder, 'errors.parquet');
  await output.upload(errorsFile, kept);
  const record: FailedRecord = {
    workflowId: input.workflowId,
    runId: input.runId,
    reason,
    images: listed,
    failed,
    finishedAt: new Date().toISOString(),
    files: ['errors.parquet'],
  };
  await output.write(failedUri(folder), JSON.stringify(record, null, 2) + '\n');
  return new InputError(`${reason}; errors.parquet lists the reason for each: ${kept}; check --source and --glob`);
}

/**
 * Complete the features dataset (the partitions' files, plus the vectors an incremental run carries over), merge the
 * errors parts into errors.parquet, record each image's version in versions.parquet, and check that every listed
 * image became a vector or an error and that no path repeats.
 */
export async function aggregateFeatures(input: AggregateInput, config: WorkerConfig): Promise<AggregateResult> {
  return failingClearly('aggregateFeatures', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const partitions = [...Array(input.partitions).keys()];
      const carried = await readCarried(staging, carriedUri(input.staging));
      const carriedFile = carriedFeaturesUri(input.staging);
      if (carried.length > 0) {
        const output = storageFor(input.output, input);
        // The last result's features are the files its _SUCCESS lists: nothing else in the folder is read.
        const latest = await readLatestResult(output, input.output);
        const files = (latest?.files ?? []).filter((file) => file.startsWith('features/')).map((file) => resultFileUri(input.output, file));
        const previous = await localCopies(output, files, scratch);
        if (previous.length === 0) {
          throw new InputError(
            `${carried.length} images are carried over from the last result, but its features dataset ${featuresDatasetUri(input.output)} ` +
              'holds no Parquet file: start a full run (without --incremental)',
          );
        }
        const file = localTarget(staging, carriedFile, scratch);
        await writeCarriedFeatures(
          previous,
          carried.map((c) => c.path),
          file,
        );
        await publish(staging, file, carriedFile);
      }
      heartbeatProgress({ carried: carried.length });

      // The dataset is exactly these files: anything else in the folder (the temporary file of an attempt that was
      // killed while writing) is removed, and a missing one means the result would be incomplete.
      const result = stagedResult(input.staging);
      const dataset = featuresDatasetUri(result);
      const expected = new Set(partitions.map((n) => featuresPartUri(input.staging, n)));
      if (carried.length > 0) expected.add(carriedFile);
      const present: string[] = [];
      if (await staging.exists(dataset)) {
        for await (const object of staging.list(dataset)) {
          if (expected.has(object.uri)) present.push(object.uri);
          else await staging.remove(object.uri);
        }
      }
      if (present.length !== expected.size) {
        throw ApplicationFailure.nonRetryable(
          `aggregateFeatures: ${expected.size - present.length} of the ${expected.size} files of the features dataset under ${dataset} are missing; ` +
            `the result would be incomplete: start the run again`,
          'ResultIncomplete',
        );
      }
      const featureFiles = await localCopies(staging, present, scratch);
      const [stats] = await queryParquet(
        'SELECT count(*) AS n, count(DISTINCT path) AS paths, count(DISTINCT label) AS labels FROM read_parquet($1)',
        [literalFiles(featureFiles)],
      );
      const rows = Number(stats.n);
      if (Number(stats.paths) !== rows) {
        throw new Error(`features hold ${rows} rows but ${String(stats.paths)} distinct paths; a partition was written twice`);
      }
      heartbeatProgress({ rows });

      // Only partitions with failed images wrote an errors part; a listing finds them in one call, also on S3.
      const errorUris = new Set(partitions.map((n) => errorsPartUri(input.staging, n)));
      const listedErrors: string[] = [];
      if (await staging.exists(errorsPartsUri(input.staging))) {
        for await (const object of staging.list(errorsPartsUri(input.staging))) if (errorUris.has(object.uri)) listedErrors.push(object.uri);
      }
      const errorParts = await localCopies(staging, listedErrors, scratch);
      const errorsUri = resultUri(result, 'errors.parquet');
      const versionsUri = resultUri(result, 'versions.parquet');
      const errorsFile = localTarget(staging, errorsUri, scratch);
      const versionsFile = localTarget(staging, versionsUri, scratch);
      const failed = errorParts.length > 0 ? await mergeParquet(errorParts, errorsFile, { orderBy: 'path' }) : 0;
      if (errorParts.length === 0) await writeErrorParquet(errorsFile, []);

      // The version of every image in the result: new ones from the manifest (failed ones are retried next time).
      const failedPaths = new Set(
        failed > 0 ? (await queryParquet('SELECT path FROM read_parquet($1)', [literalFiles([errorsFile])])).map((r) => String(r.path)) : [],
      );
      const versions = [...carried];
      let listed = 0;
      for (let n = 0; n < input.partitions; n++) {
        const entries = await readRecord(
          staging,
          manifestPartUri(input.staging, n),
          manifestSchema,
          'a manifest part',
          'the staging files were damaged: start the run again',
        );
        listed += entries.length;
        for (const entry of entries) if (!failedPaths.has(entry.uri)) versions.push({ path: entry.uri, version: entry.version });
      }
      // Every listed image ends up as a vector or an error, and every carried one as a vector: nothing goes missing silently.
      if (rows + failed !== listed + carried.length) {
        throw ApplicationFailure.nonRetryable(
          `aggregateFeatures: ${listed} images were listed and ${carried.length} carried over, but the parts hold ${rows} vectors and ${failed} errors; ` +
            `a staged part is missing, so the result would be incomplete: start the run again`,
          'ResultIncomplete',
        );
      }
      if (rows === 0) throw await keepErrorsOfFailedRun(input, errorsFile, listed, failed);
      await writeVersionParquet(versionsFile, versions);

      await publish(staging, errorsFile, errorsUri);
      await publish(staging, versionsFile, versionsUri);
      return { rows, failed, labels: Number(stats.labels) };
    }),
  );
}
