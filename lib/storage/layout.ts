import { RUN_ID } from './records.js';
import { joinUri } from './storage.js';

// Where every file of a run lives. Everything is written under the staging prefix first and moved into
// the output by the commit step, so a failed or cancelled run leaves the previous result untouched. The staging
// prefix itself, `<output>/_staging/<first run id>`, is named by the workflow (shared by its continue-as-new runs).

const part = (n: number) => `part-${String(n).padStart(6, '0')}`;

/** Images an incremental run carries over unchanged: JSON lines of {path, version}. */
export const carriedUri = (staging: string) => joinUri(staging, 'carried.jsonl');
export const manifestPartUri = (staging: string, n: number) => joinUri(staging, 'manifest', `${part(n)}.json`);
/**
 * Each partition's vectors go straight into the staged features dataset, one Parquet file per partition: the dataset
 * is those files (like a Spark output folder), so no step rewrites every vector into one file.
 */
export const featuresPartUri = (staging: string, n: number) => joinUri(featuresDatasetUri(stagedResult(staging)), `${part(n)}.parquet`);
/** The vectors an incremental run carries over from the last result, one more file of the features dataset. */
export const carriedFeaturesUri = (staging: string) => joinUri(featuresDatasetUri(stagedResult(staging)), 'carried.parquet');
/** Where the errors parts live: only partitions with failed images have one. */
export const errorsPartsUri = (staging: string) => joinUri(staging, 'parts', 'errors');
export const errorsPartUri = (staging: string, n: number) => joinUri(errorsPartsUri(staging), `${part(n)}.parquet`);

/** Top-level folders and files of a result; a result's exact files are listed in its `_SUCCESS` (lib/storage/records.ts). */
export const resultEntries = ['features', 'pca', 'pca_model.json', 'errors.parquet', 'versions.parquet', 'report.html', 'report.png'] as const;
export const resultUri = (base: string, entry: (typeof resultEntries)[number]) => joinUri(base, entry);
/** A file of a result by its relative name (`features/part-000000.parquet`), under `base`. */
export const resultFileUri = (base: string, file: string) => joinUri(base, ...file.split('/'));
export const stagedResult = (staging: string) => joinUri(staging, 'result');
/** The features dataset: every `*.parquet` file in this folder. */
export const featuresDatasetUri = (base: string) => joinUri(base, 'features');
export const pcaFileUri = (base: string) => joinUri(base, 'pca', 'pca-000000.parquet');
export const successUri = (output: string) => joinUri(output, '_SUCCESS');
/** Names the run id of a commit in progress, so a retried commit can tell its own half-moved entries from leftovers. */
export const committingUri = (output: string) => joinUri(output, '_COMMITTING');
/** The ownership record: Orchard only writes into outputs that hold one, or that were empty when it wrote it. */
export const ownershipUri = (output: string) => joinUri(output, '_ORCHARD');
/** Where runs keep their staging files, one folder per run. */
export const stagingRootUri = (output: string) => joinUri(output, '_staging');
/** Earlier committed results, one folder per run id. */
export const runsUri = (output: string) => joinUri(output, 'runs');
/** The folder of one earlier run; the id must be a run id (lib/storage/records.ts RUN_ID), since it becomes a path. */
export function archiveUri(output: string, runId: string): string {
  if (!RUN_ID.test(runId)) throw new Error(`refusing ${JSON.stringify(runId)} as a folder name under runs/: not a run id`);
  return joinUri(runsUri(output), runId);
}
/** `runs/<id>/_FAILED`: a run that made no result, kept for its errors.parquet. */
export const failedUri = (folder: string) => joinUri(folder, '_FAILED');
/**
 * A record's temporary file, left where a process died between writing and renaming it (local disk writes through
 * `<name>.tmp-<uuid>`, lib/storage/storage.ts): Orchard's own, removed by the next commit or claim.
 */
export const ORCHARD_TEMPORARY =
  /^(?:_SUCCESS|_COMMITTING|_ORCHARD|_FAILED|_PRUNING)\.tmp-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `runs/<id>/_PRUNING`: an earlier result being removed; its files are removed before it. */
export const pruningUri = (folder: string) => joinUri(folder, '_PRUNING');

/** One partition of the manifest: the images a single featurize activity processes. */
export interface ManifestEntry {
  uri: string;
  label: string;
  size: number;
  version: string;
}
