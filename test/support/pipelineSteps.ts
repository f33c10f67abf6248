// The pipeline's activities run in order, as the workflow runs them, without a Temporal server: the crash-point sweep
// stops any one of them between two storage mutations and then retries it, or gives the run up and starts another.
import { MockActivityEnvironment } from '@temporalio/testing';
import { aggregateFeatures } from '../../activities/aggregateFeatures.js';
import { commitResults, discardStaging } from '../../activities/commitResults.js';
import { featurizePartition } from '../../activities/featurizePartition.js';
import { fitPca } from '../../activities/fitPca.js';
import { listImages } from '../../activities/listImages.js';
import { projectFeatures } from '../../activities/projectFeatures.js';
import { writeReport } from '../../activities/writeReport.js';
import { pipelineDefaults } from '../../lib/pipelineInput.js';
import { type WorkerConfig } from '../../lib/config.js';
import type { AggregateResult, ListImagesResult, PcaSummary, RunContext, RunSummary } from '../../lib/contract.js';
import { joinUri } from '../../lib/storage/storage.js';

/** One step of a run: an activity call (featurize once per partition). */
export interface PipelineStep {
  name: string;
  run(attempt: number): Promise<unknown>;
}

/** A run of the pipeline over `source` into `output`, step by step; its results so far carry over between steps. */
export class PipelineRun {
  readonly context: RunContext;
  listing?: ListImagesResult;
  aggregate?: AggregateResult;
  pca?: PcaSummary;
  private attempts = 0;

  constructor(
    readonly runId: string,
    readonly source: string,
    readonly output: string,
    readonly config: WorkerConfig,
    readonly finishedAt: string,
    readonly incremental = false,
  ) {
    this.context = { source, output, staging: joinUri(output, '_staging', runId) };
  }

  /** The same run, its results so far, over another output (a copy of this one's storage). */
  at(output: string): PipelineRun {
    const copy = new PipelineRun(this.runId, this.source, output, this.config, this.finishedAt, this.incremental);
    Object.assign(copy, { listing: this.listing, aggregate: this.aggregate, pca: this.pca });
    return copy;
  }

  private activity(attempt: number) {
    // Each attempt is scheduled later than the one before, as Temporal schedules retries.
    return new MockActivityEnvironment({ attempt, currentAttemptScheduledTimestampMs: 1_000 * ++this.attempts });
  }

  /** The steps of the run, in the workflow's order; featurize and projection steps exist once the listing and fit say so. */
  steps(): PipelineStep[] {
    const steps: PipelineStep[] = [
      {
        name: 'listImages',
        run: async (attempt) => {
          const input = {
            ...this.context,
            glob: '*.jpg',
            partitionSize: 4,
            maxConcurrentPartitions: 2,
            k: 2,
            incremental: this.incremental,
            precision: 'fp32' as const,
          };
          this.listing = await this.activity(attempt).run(
            listImages,
            { ...input, claimant: { workflowId: `wf-${this.runId}`, runId: this.runId } },
            this.config,
          );
        },
      },
    ];
    for (let partition = 0; partition < (this.listing?.partitions ?? 2); partition++) {
      steps.push({
        name: 'featurizePartition',
        run: (attempt) =>
          this.activity(attempt).run(
            featurizePartition,
            { ...this.context, partition, maxImageBytes: pipelineDefaults.maxImageBytes, precision: 'fp32' as const },
            this.config,
          ),
      });
    }
    steps.push(
      {
        name: 'aggregateFeatures',
        run: async (attempt) => {
          const input = { ...this.context, partitions: this.listing!.partitions, workflowId: `wf-${this.runId}`, runId: this.runId };
          this.aggregate = await this.activity(attempt).run(aggregateFeatures, input, this.config);
        },
      },
      {
        name: 'fitPca',
        run: async (attempt) => {
          this.pca = await this.activity(attempt).run(fitPca, { ...this.context, k: 2, precision: 'fp32' as const }, this.config);
        },
      },
      {
        name: 'projectFeatures',
        run: async (attempt) => (this.pca?.projected ? undefined : this.activity(attempt).run(projectFeatures, this.context, this.config)),
      },
      {
        name: 'writeReport',
        run: (attempt) =>
          this.activity(attempt).run(
            writeReport,
            { ...this.context, workflowId: 'steps', runId: this.runId, startedAt: new Date().toISOString(), timings: {}, featurizeTimings: {} },
            this.config,
          ),
      },
      { name: 'commitResults', run: (attempt) => this.activity(attempt).run(commitResults, { ...this.context, summary: this.summary() }) },
    );
    return steps;
  }

  summary(): RunSummary {
    return {
      workflowId: `wf-${this.runId}`,
      runId: this.runId,
      source: this.source,
      output: this.output,
      images: this.listing!.images,
      featurized: this.aggregate!.rows,
      reused: this.listing!.reused,
      failed: this.aggregate!.failed,
      labels: this.aggregate!.labels,
      k: this.pca!.k,
      precision: 'fp32',
      explainedVariance: this.pca!.explainedVariance,
      timings: {},
      featurizeTimings: {},
      startedAt: this.finishedAt,
      finishedAt: this.finishedAt,
    };
  }

  /** Run every step from `from` on, each once. */
  async runFrom(from: number): Promise<void> {
    for (let i = from; i < this.steps().length; i++) await this.steps()[i].run(1);
  }

  /** What the workflow does when a run fails: remove its staging files. */
  giveUp(): Promise<void> {
    return new MockActivityEnvironment().run(discardStaging, this.context);
  }
}
