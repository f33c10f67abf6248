// The files Orchard reads back from storage, each checked against its shape before any field is used: a record
// may have been damaged, hand-edited or written by another program, and a run id in one becomes a path.
import { z } from 'zod';
import { FEATURE_DIM } from '../config.js';
import { InputError } from '../errors.js';
import type { RunSummary } from '../contract.js';
import { resultUri, type ManifestEntry } from './layout.js';
import type { PcaModel } from '../pca/pca.js';
import { NotAFile, ObjectNotFound, type Storage } from './storage.js';

/** Temporal run ids are UUIDs; nothing else may name a folder under `runs/`. */
export const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const runIdSchema = z.string().regex(RUN_ID, 'not a Temporal run id (a UUID)');

/** The files a result may hold, relative to its folder ('/'-separated); `_SUCCESS` is implied. */
export const RESULT_FILE =
  /^(?:features\/(?:part-\d{6}|carried)\.parquet|pca\/pca-\d{6}\.parquet|pca_model\.json|errors\.parquet|versions\.parquet|report\.(?:html|png))$/;
const resultFiles = z
  .array(z.string().regex(RESULT_FILE, 'not a file of an Orchard result'))
  .refine((files) => new Set(files).size === files.length, 'a file is listed twice');

const count = z.number().int().min(0);
const timings = z.record(z.string(), z.number());
// Results written before int8 existed are fp32.
const precision = z.enum(['fp32', 'int8']).default('fp32');

export const runSummarySchema = z.object({
  workflowId: z.string().min(1),
  runId: runIdSchema,
  source: z.string().min(1),
  output: z.string().min(1),
  images: count,
  featurized: count,
  reused: count,
  failed: count,
  labels: count,
  k: z.number().int().min(1).max(FEATURE_DIM),
  precision,
  explainedVariance: z.array(z.number()),
  timings,
  featurizeTimings: timings,
  startedAt: z.string(),
  finishedAt: z.string(),
}) satisfies z.ZodType<RunSummary>;

/** `_SUCCESS`: the run's summary and every file of its result, so Orchard moves and removes exactly those. */
export const successRecordSchema = runSummarySchema.extend({ files: resultFiles });
export type SuccessRecord = z.infer<typeof successRecordSchema>;

/** `runs/<run id>/_FAILED`: a run that produced no result, kept for its errors.parquet. */
export const failedRecordSchema = z.object({
  workflowId: z.string().min(1),
  runId: runIdSchema,
  reason: z.string(),
  images: count,
  failed: count,
  finishedAt: z.string(),
  files: resultFiles,
});
export type FailedRecord = z.infer<typeof failedRecordSchema>;

/** A folder under `runs/` is listed by one of these (`_SUCCESS`, `_FAILED`, or `_PRUNING` while it is removed). */
export const archivedRecordSchema = z.union([successRecordSchema, failedRecordSchema]);

/** `_COMMITTING`: the commit in progress (see activities/commitResults.ts). */
export const commitMarkerSchema = z.object({
  runId: runIdSchema,
  attempt: z.number().int().min(1),
  /** When Temporal scheduled the attempt: a later one (a retry, or the commit of a reset run) takes over. */
  scheduledAt: z.number(),
  /** The result being archived, until the top level is clear. */
  previous: successRecordSchema.optional(),
  /** Files a commit of another run moved in before it stopped and was given up: removed before the new ones arrive. */
  stale: resultFiles,
  /** The files of the result moving in: what a commit that stopped may have left at the top level. */
  incoming: resultFiles,
  /** Whether the top level is clear for the new result: the previous one archived, or leftovers removed. */
  cleared: z.boolean(),
});
export type CommitMarker = z.infer<typeof commitMarkerSchema>;

/** `_ORCHARD`: this output belongs to Orchard, which may write, move and remove its own entries in it. */
export const OWNERSHIP_VERSION = 1;
export const ownershipSchema = z.object({
  orchard: z.literal('output'),
  version: z.number().int().min(1),
  claimedAt: z.string(),
  claimedBy: z.object({ workflowId: z.string(), runId: runIdSchema }),
});
export type OwnershipRecord = z.infer<typeof ownershipSchema>;

const finite = z.number().refine(Number.isFinite, 'not a finite number');
export const pcaModelSchema = z
  .object({
    k: z.number().int().min(1).max(FEATURE_DIM),
    rows: count,
    mean: z.array(finite).length(FEATURE_DIM),
    components: z.array(z.array(finite).length(FEATURE_DIM)),
    explainedVariance: z.array(finite),
    eigenvalues: z.array(finite),
    totalVariance: finite,
    precision,
  })
  .refine(
    (m) => m.components.length === m.k && m.explainedVariance.length === m.k && m.eigenvalues.length === m.k,
    'k does not match its arrays',
  ) satisfies z.ZodType<PcaModel>;

export const manifestSchema = z.array(z.object({ uri: z.string().min(1), label: z.string(), size: count, version: z.string() })) satisfies z.ZodType<
  ManifestEntry[]
>;

/** `carried.jsonl`: the images an incremental run carries over, one {path, version} object per line. */
const carriedSchema = z.object({ path: z.string().min(1), version: z.string() });
export type CarriedImage = z.infer<typeof carriedSchema>;

/** The carried-over images of a run's staging, each line checked. */
export async function readCarried(storage: Storage, uri: string): Promise<CarriedImage[]> {
  const lines = (await storage.read(uri))
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '');
  return lines.map((line, i) => {
    let parsed;
    try {
      parsed = carriedSchema.safeParse(JSON.parse(line));
    } catch (err) {
      throw new CorruptRecord(`${uri} line ${i + 1} is not JSON (${(err as Error).message}); the staging files were damaged: start the run again`);
    }
    if (!parsed.success) throw new CorruptRecord(`${uri} line ${i + 1} is not a carried image (${firstIssue(parsed.error)}); start the run again`);
    return parsed.data;
  });
}

/** A record that is not what its name says: retrying cannot change it. */
export class CorruptRecord extends InputError {
  override name = 'CorruptRecord';
}

/** The first problem zod found, as "field: message". */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.length > 0 ? issue.path.join('.') + ': ' : ''}${issue.message}` : error.message;
}

/**
 * The record at `uri`, checked against `schema`. Anything else fails with CorruptRecord naming the file, what it
 * should be, and `fix`.
 */
export async function readRecord<T>(storage: Storage, uri: string, schema: z.ZodType<T>, what: string, fix: string): Promise<T> {
  let value: unknown;
  try {
    value = JSON.parse((await storage.read(uri)).toString('utf8'));
  } catch (err) {
    // A folder (or a FIFO) where a file should be, or bytes that are not JSON (an empty Spark `_SUCCESS`).
    const unreadable = err instanceof SyntaxError || err instanceof NotAFile || (err as NodeJS.ErrnoException).code === 'EISDIR';
    if (!unreadable) throw err;
    throw new CorruptRecord(`${uri} is not ${what} (${(err as Error).message}); ${fix}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CorruptRecord(`${uri} is not ${what} (${firstIssue(parsed.error)}); ${fix}`);
  return parsed.data;
}

/** `readRecord`, or undefined when there is no object at `uri`. */
export async function readRecordIfThere<T>(storage: Storage, uri: string, schema: z.ZodType<T>, what: string, fix: string): Promise<T | undefined> {
  try {
    return await readRecord(storage, uri, schema, what, fix);
  } catch (err) {
    if (err instanceof ObjectNotFound) return undefined;
    throw err;
  }
}

/** The PCA model a run's fit staged in `result`, checked. */
export function readStagedPcaModel(staging: Storage, result: string): Promise<PcaModel> {
  return readRecord(
    staging,
    resultUri(result, 'pca_model.json'),
    pcaModelSchema,
    'a PCA model',
    'the staging files were damaged: start the run again',
  );
}
