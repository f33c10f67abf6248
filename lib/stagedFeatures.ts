import { heartbeat } from '@temporalio/activity';
import type { RunContext } from './contract.js';
import { carriedUri, featuresFileUri, featuresPartUri } from './layout.js';
import type { FeatureRows } from './parquet.js';
import { localCopy } from './scratch.js';
import { storageFor } from './storage.js';

/** An unchanged image of an incremental run, whose vector comes from the previous result. */
export interface CarriedImage {
  path: string;
  version: string;
}

/** Local copies of partition parts 0..partitions-1 named by `uriOf` (downloads on S3), heartbeating as it goes. */
export async function fetchParts(input: RunContext & { partitions: number }, uriOf: (staging: string, n: number) => string, scratch: string): Promise<string[]> {
  const staging = storageFor(input.staging, input);
  const files: string[] = [];
  for (let n = 0; n < input.partitions; n++) {
    files.push(await localCopy(staging, uriOf(input.staging, n), scratch));
    if (n % 100 === 0) heartbeat({ fetched: n });
  }
  return files;
}

/** A run's feature rows as local files: the featurized parts, and the previous result's rows of the carried images. */
export async function fetchFeatureRows(input: RunContext & { partitions: number }, scratch: string): Promise<{ rows: FeatureRows; carried: CarriedImage[] }> {
  const staging = storageFor(input.staging, input);
  const parts = await fetchParts(input, featuresPartUri, scratch);
  const carried = (await staging.read(carriedUri(input.staging)))
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as CarriedImage);
  if (carried.length === 0) return { rows: { parts }, carried };
  const previous = await localCopy(storageFor(input.output, input), featuresFileUri(input.output), scratch);
  return { rows: { parts, carried: { previous, paths: carried.map((c) => c.path) } }, carried };
}
