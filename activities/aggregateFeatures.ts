import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerConfig } from '../lib/config.js';
import type { AggregateResult, RunContext } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { carriedUri, errorsPartUri, errorsPartsUri, featuresFileUri, featuresPartUri, manifestPartUri, resultUri, stagedResult, type ManifestEntry } from '../lib/layout.js';
import { mergeFeatures, mergeParquet, queryParquet, writeErrorParquet, writeVersionParquet } from '../lib/parquet.js';
import { localCopy, localTarget, publish, withScratchDir } from '../lib/scratch.js';
import { readJson, storageFor } from '../lib/storage.js';

export interface AggregateInput extends RunContext {
  partitions: number;
}

/**
 * Merge the per-partition parts, and the vectors an incremental run carries over, into the features dataset and
 * errors.parquet; record each image's version in versions.parquet; check that no path repeats.
 */
export async function aggregateFeatures(input: AggregateInput, config: WorkerConfig): Promise<AggregateResult> {
  return failingClearly('aggregateFeatures', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const fetchAll = async (uris: string[]) => {
        const files: string[] = [];
        for (const [n, uri] of uris.entries()) {
          files.push(await localCopy(staging, uri, scratch));
          if (n % 100 === 0) heartbeat({ fetched: n });
        }
        return files;
      };
      const partitions = [...Array(input.partitions).keys()];
      const featureParts = await fetchAll(partitions.map((n) => featuresPartUri(input.staging, n)));
      // Only partitions with failed images wrote an errors part; a listing finds them in one call, also on S3.
      const errorUris = new Set(partitions.map((n) => errorsPartUri(input.staging, n)));
      const listedErrors: string[] = [];
      if (await staging.exists(errorsPartsUri(input.staging))) {
        for await (const object of staging.list(errorsPartsUri(input.staging))) if (errorUris.has(object.uri)) listedErrors.push(object.uri);
      }
      const errorParts = await fetchAll(listedErrors);
      const carried = (await staging.read(carriedUri(input.staging)))
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { path: string; version: string });
      const result = stagedResult(input.staging);
      const featuresUri = featuresFileUri(result);
      const errorsUri = resultUri(result, 'errors.parquet');
      const versionsUri = resultUri(result, 'versions.parquet');
      const featuresFile = localTarget(staging, featuresUri, scratch);
      const errorsFile = localTarget(staging, errorsUri, scratch);
      const versionsFile = localTarget(staging, versionsUri, scratch);

      const previous = carried.length > 0 ? await localCopy(storageFor(input.output, input), featuresFileUri(input.output), scratch) : '';
      const rows = await mergeFeatures(featureParts, featuresFile, { previous, paths: carried.map((c) => c.path) });
      const failed = errorParts.length > 0 ? await mergeParquet(errorParts, errorsFile, { orderBy: 'path' }) : 0;
      if (errorParts.length === 0) await writeErrorParquet(errorsFile, []);
      const [stats] = await queryParquet('SELECT count(DISTINCT path) AS paths, count(DISTINCT label) AS labels FROM read_parquet($1)', [featuresFile]);
      if (Number(stats.paths) !== rows) {
        throw new Error(`features hold ${rows} rows but ${String(stats.paths)} distinct paths; a partition was written twice`);
      }

      // The version of every image in the result: new ones from the manifest (failed ones are retried next time).
      const failedPaths = new Set(failed > 0 ? (await queryParquet('SELECT path FROM read_parquet($1)', [errorsFile])).map((r) => String(r.path)) : []);
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

      await publish(staging, featuresFile, featuresUri);
      await publish(staging, errorsFile, errorsUri);
      await publish(staging, versionsFile, versionsUri);
      return { rows, failed, labels: Number(stats.labels) };
    }),
  );
}
