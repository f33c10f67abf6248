import { heartbeat } from '@temporalio/activity';
import type { WorkerConfig } from '../lib/config.js';
import type { AggregateResult, RunContext } from '../lib/contract.js';
import { failingClearly } from '../lib/failures.js';
import { errorsPartUri, featuresFileUri, featuresPartUri, resultUri, stagedResult } from '../lib/layout.js';
import { mergeParquet, queryParquet } from '../lib/parquet.js';
import { localCopy, localTarget, publish, withScratchDir } from '../lib/scratch.js';
import { storageFor } from '../lib/storage.js';

export interface AggregateInput extends RunContext {
  partitions: number;
}

/** Merge the per-partition parts into the features dataset and errors.parquet, and check that no path repeats. */
export async function aggregateFeatures(input: AggregateInput, config: WorkerConfig): Promise<AggregateResult> {
  return failingClearly('aggregateFeatures', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const fetchAll = async (uriOf: (staging: string, n: number) => string) => {
        const files: string[] = [];
        for (let n = 0; n < input.partitions; n++) {
          files.push(await localCopy(staging, uriOf(input.staging, n), scratch));
          if (n % 100 === 0) heartbeat({ fetched: n });
        }
        return files;
      };
      const featureParts = await fetchAll(featuresPartUri);
      const errorParts = await fetchAll(errorsPartUri);
      const result = stagedResult(input.staging);
      const featuresUri = featuresFileUri(result);
      const errorsUri = resultUri(result, 'errors.parquet');
      const featuresFile = localTarget(staging, featuresUri, scratch);
      const errorsFile = localTarget(staging, errorsUri, scratch);
      const rows = await mergeParquet(featureParts, featuresFile, { orderBy: 'path' });
      const failed = await mergeParquet(errorParts, errorsFile, { orderBy: 'path' });
      const [stats] = await queryParquet(
        'SELECT count(DISTINCT path) AS paths, count(DISTINCT label) AS labels FROM read_parquet($1)',
        [featuresFile],
      );
      if (Number(stats.paths) !== rows) {
        throw new Error(`features hold ${rows} rows but ${String(stats.paths)} distinct paths; a partition was written twice`);
      }
      await publish(staging, featuresFile, featuresUri);
      await publish(staging, errorsFile, errorsUri);
      return { rows, failed, labels: Number(stats.labels) };
    }),
  );
}
