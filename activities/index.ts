import type { WorkerConfig } from '../lib/config.js';
import type { FeaturizePartitionInput, FitPcaInput, ListImagesInput, OutputHolder, PipelineInput, ReportInput, RunContext } from '../lib/contract.js';
import { aggregateFeatures, type AggregateInput } from './aggregateFeatures.js';
import { checkOutput } from './checkOutput.js';
import { checkVariance } from './checkVariance.js';
import { commitResults, discardStaging } from './commitResults.js';
import { featurizePartition } from './featurizePartition.js';
import { fitPca } from './fitPca.js';
import { listImages } from './listImages.js';
import { acquireOutput, releaseOutput, workflowRunning, type OutputLeaseInput } from './outputLease.js';
import { resolveInput } from './resolveInput.js';
import { writeReport } from './writeReport.js';
import { projectFeatures } from './projectFeatures.js';
import { waitForFeaturizeWorkers } from './waitForFeaturizeWorkers.js';

/** The activities of Orchard, bound to one worker process's configuration. */
export function createActivities(config: WorkerConfig) {
  return {
    resolveInput: (input: PipelineInput) => resolveInput(input, config),
    checkOutput,
    acquireOutput: (input: OutputLeaseInput) => acquireOutput(input, config),
    releaseOutput: (input: OutputLeaseInput) => releaseOutput(input, config),
    workflowRunning: (holder: OutputHolder) => workflowRunning(holder, config),
    waitForFeaturizeWorkers: (taskQueue: string) => waitForFeaturizeWorkers(taskQueue, config),
    listImages: (input: ListImagesInput) => listImages(input, config),
    featurizePartition: (input: FeaturizePartitionInput) => featurizePartition(input, config),
    aggregateFeatures: (input: AggregateInput) => aggregateFeatures(input, config),
    fitPca: (input: FitPcaInput) => fitPca(input, config),
    checkVariance,
    projectFeatures: (input: RunContext) => projectFeatures(input, config),
    writeReport: (input: ReportInput) => writeReport(input, config),
    commitResults,
    discardStaging,
  };
}

export type OrchardActivities = ReturnType<typeof createActivities>;
