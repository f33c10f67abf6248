import { ApplicationFailure } from '@temporalio/common';
import { InputError, type WorkerConfig } from '../lib/config.js';
import type { AggregateResult, RunContext } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { heartbeatProgress } from '../lib/heartbeat.js';
import {
  carriedFeaturesUri,
  carriedUri,
  errorsPartUri,
  errorsPartsUri,
  featuresDatasetUri,
  featuresPartUri,
  manifestPartUri,
  resultUri,
  stagedResult,
  type ManifestEntry,
} from '../lib/layout.js';
import { literalFiles, mergeParquet, queryParquet, writeCarriedFeatures, writeErrorParquet, writeVersionParquet } from '../lib/parquet.js';
import { localCopies, localDatasetFiles, localTarget, publish, withScratchDir } from '../lib/scratch.js';
import { readJson, storageFor } from '../lib/storage.js';

export interface AggregateInput extends RunContext {
  partitions: number;
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
      const carried = (await staging.read(carriedUri(input.staging)))
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { path: string; version: string });
      const carriedFile = carriedFeaturesUri(input.staging);
      if (carried.length > 0) {
        const output = storageFor(input.output, input);
        const previous = await localDatasetFiles(output, featuresDatasetUri(input.output), scratch);
        if (previous.length === 0) {
          throw new InputError(
            `${carried.length} images are carried over from the last result, but its features dataset ${featuresDatasetUri(input.output)} ` +
              'holds no Parquet file: start a full run (without --incremental)',
          );
        }
        const file = localTarget(staging, carriedFile, scratch);
        await writeCarriedFeatures(previous, carried.map((c) => c.path), file);
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
          else await staging.removeAll(object.uri);
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
      const failedPaths = new Set(failed > 0 ? (await queryParquet('SELECT path FROM read_parquet($1)', [literalFiles([errorsFile])])).map((r) => String(r.path)) : []);
      const versions = [...carried];
      let listed = 0;
      for (let n = 0; n < input.partitions; n++) {
        const entries = await readJson<ManifestEntry[]>(staging, manifestPartUri(input.staging, n));
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
      await writeVersionParquet(versionsFile, versions);

      await publish(staging, errorsFile, errorsUri);
      await publish(staging, versionsFile, versionsUri);
      return { rows, failed, labels: Number(stats.labels) };
    }),
  );
}
