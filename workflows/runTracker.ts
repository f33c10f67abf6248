// The bookkeeping of a run, kept out of its story: the stage the `progress` query reports, and each step's wall time.
import { defineQuery, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { PipelineProgress, PipelineState, Stage } from '../lib/contract.js';

export const progressQuery = defineQuery<PipelineProgress>('progress');

export class RunTracker {
  stage: Stage;
  state: PipelineState | undefined;
  partitionsDone: number;

  /** Answer the progress query from now on: a client may ask before the first activity returns. */
  constructor(resumed: PipelineState | undefined) {
    this.state = resumed;
    this.stage = resumed?.listing ? 'featurizing' : 'listing';
    this.partitionsDone = resumed?.nextPartition ?? 0;
    setHandler(progressQuery, () => ({
      stage: this.stage,
      images: this.state?.listing?.images ?? 0,
      featurized: this.state?.featurized ?? 0,
      failed: this.state?.failed ?? 0,
      partitionsDone: this.partitionsDone,
      partitions: this.state?.listing?.partitions ?? 0,
      reused: this.state?.listing?.reused ?? 0,
    }));
  }

  /** Run one step as `stage`, adding its wall time to the run's timings under `timing`. */
  async step<T>(stage: Stage, timing: string, body: () => Promise<T>): Promise<T> {
    this.stage = stage;
    const start = Date.now();
    try {
      return await body();
    } finally {
      const timings = this.state!.timings;
      timings[timing] = (timings[timing] ?? 0) + (Date.now() - start);
    }
  }

  /** A partition finished: the counts, and the line the Web UI shows for the run. */
  partitionDone(featurized: number, failed: number): void {
    const state = this.state!;
    state.featurized += featurized;
    state.failed += failed;
    this.partitionsDone++;
    setCurrentDetails(
      `featurized ${state.featurized} of ${state.listing!.images} images (${state.failed} failed), ${this.partitionsDone}/${state.listing!.partitions} partitions`,
    );
  }
}
