// Types exchanged between the workflow, its activities and the clients. Type-only, so workflow code may import it.

/** What a user passes to `imagePipeline` (the `--input` JSON of `temporal workflow start`). */
export interface PipelineInput {
  /** Local directory or s3://bucket/prefix, listed recursively. */
  source: string;
  /** Local directory or s3://bucket/prefix that receives the results. */
  output: string;
  /** File-name pattern, case-insensitive (default `*.jpg`). */
  glob?: string;
  /** Number of principal components (default 5). */
  k?: number;
  /** Images per featurize activity at most (default 256; the last partitions are smaller). */
  partitionSize?: number;
  /**
   * Featurize activities in flight at once (default: the resolving worker's ORCHARD_MAX_CONCURRENT_PARTITIONS, which
   * defaults to its pool's activity slots).
   */
  maxConcurrentPartitions?: number;
  /** History length after which the workflow continues as new (default 10,000; at least 100). */
  maxHistoryEvents?: number;
  /**
   * Largest image file read, in bytes (default 64 MiB): a larger file is not read and becomes a row of errors.parquet,
   * so no worker holds more than its bounded share of memory.
   */
  maxImageBytes?: number;
  /** S3-compatible endpoint such as http://127.0.0.1:9000 (MinIO); default: AWS. */
  s3Endpoint?: string;
  /**
   * Featurize only images that are new or changed (by path and ETag or size+mtime) since the last successful run to
   * the same output, carry the other vectors over and drop deleted images (default false; schedules set it).
   */
  incremental?: boolean;
  /** Task queue of the featurize activities; default: the control worker's ORCHARD_FEATURIZE_TASK_QUEUE. */
  featurizeTaskQueue?: string;
  /**
   * Runs of at most this many images run the steps after featurizing (aggregate, PCA, projection, report, commit) as
   * local activities, in the worker that holds the workflow task, instead of one round trip through the server each
   * (default 20,000; 0: always ordinary activities).
   */
  localStepsMaxImages?: number;
  /**
   * The feature model's arithmetic: `fp32` (default) or `int8`, the quantized model (about twice as fast per core,
   * mean cosine to the fp32 vectors 0.99; README, "int8"). A result records it, and an incremental run reuses only
   * vectors of its own precision.
   */
  precision?: Precision;
}

export type Precision = 'fp32' | 'int8';

/** A run's options as the worker resolved them (lib/pipelineInput.ts): every default filled in, local paths absolute. */
export type RunOptions = Required<Omit<PipelineInput, 's3Endpoint'>> & Pick<PipelineInput, 's3Endpoint'>;

/** The run that holds an output's lease: a workflow chain (continue-as-new keeps its first run id). */
export interface OutputHolder {
  workflowId: string;
  firstRunId: string;
}

/** Where a run keeps its intermediate files, and the options every activity needs. */
export interface RunContext {
  source: string;
  output: string;
  /** `<output>/_staging/<first run id>`: manifest, parts and results before they are committed. */
  staging: string;
  s3Endpoint?: string;
}

export interface ListImagesInput extends RunContext {
  glob: string;
  /** An incremental run carries over only vectors of this precision. */
  precision: Precision;
  /** The largest partition; the last ones are smaller (see tailPartitionSizes and oneWavePartitionSizes in activities/listImages.ts). */
  partitionSize: number;
  /** How many partitions run at once: the tail partitions are cut for it. */
  maxConcurrentPartitions: number;
  incremental: boolean;
  /** Checked against the number of images found, so an impossible PCA fails before any featurizing. */
  k: number;
  /** The run that claims a new output with Orchard's ownership record before staging anything in it. */
  claimant: { workflowId: string; runId: string };
}

export interface ListImagesResult {
  images: number;
  /** Unchanged images whose vectors are carried over from the previous result (incremental runs). */
  reused: number;
  partitions: number;
  labels: number;
  bytes: number;
}

export interface FeaturizePartitionInput extends RunContext {
  partition: number;
  maxImageBytes: number;
  precision: Precision;
}

/** Per-stage time in milliseconds spent inside one activity. */
export interface StageTimings {
  [stage: string]: number;
}

export interface FeaturizePartitionResult {
  partition: number;
  featurized: number;
  failed: number;
  /** Where the activity's wall time went, milliseconds: read (waiting for images), decode, infer, write, other; they add up. */
  timings: StageTimings;
}

export interface AggregateResult {
  rows: number;
  failed: number;
  labels: number;
}

export interface FitPcaInput extends RunContext {
  k: number;
  /** Written into pca_model.json beside the model. */
  precision: Precision;
}

export interface PcaSummary {
  k: number;
  rows: number;
  explainedVariance: number[];
  /** The fit held every vector and wrote the PCA dataset too, so no projection step follows. */
  projected: boolean;
}

export interface VarianceCheck {
  explainedVariance: number[];
  cumulative: number;
}

export interface ReportInput extends RunContext {
  workflowId: string;
  runId: string;
  startedAt: string;
  /** Wall time of each stage so far, milliseconds. */
  timings: StageTimings;
  /** The featurize activities' time by part, summed over partitions, milliseconds. */
  featurizeTimings: StageTimings;
}

export interface CommitInput extends RunContext {
  summary: RunSummary;
}

export type Stage =
  'listing' | 'waiting for featurize workers' | 'featurizing' | 'aggregating' | 'fitting PCA' | 'projecting' | 'reporting' | 'committing' | 'done';

/** Live state answered by the `progress` query. */
export interface PipelineProgress {
  stage: Stage;
  images: number;
  featurized: number;
  failed: number;
  partitionsDone: number;
  partitions: number;
  /** Images an incremental run carries over from the last result instead of featurizing them. */
  reused: number;
}

/** The workflow's result and the content of `_SUCCESS`: counts and references, never data. */
export interface RunSummary {
  workflowId: string;
  runId: string;
  source: string;
  output: string;
  images: number;
  featurized: number;
  /** Of the featurized images, how many were carried over unchanged from the previous result. */
  reused: number;
  failed: number;
  labels: number;
  k: number;
  /** The feature model's arithmetic every vector of the result was computed with. */
  precision: Precision;
  explainedVariance: number[];
  /** Wall time of each stage of the workflow, milliseconds. */
  timings: StageTimings;
  /**
   * The featurize activities' wall time by part (read: waiting for images, decode, infer, write, other), summed over
   * partitions, milliseconds. The parts add up to the activities' total, which exceeds the featurize stage's wall time
   * by about the number of partitions run at once.
   */
  featurizeTimings: StageTimings;
  startedAt: string;
  finishedAt: string;
}

/** State carried across continue-as-new. */
export interface PipelineState {
  options: RunOptions;
  workflowId: string;
  firstRunId: string;
  startedAt: string;
  listing?: ListImagesResult;
  nextPartition: number;
  featurized: number;
  failed: number;
  timings: StageTimings;
  featurizeTimings: StageTimings;
}
