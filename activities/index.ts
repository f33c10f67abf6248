import type { WorkerConfig } from '../lib/config.js';
import type { FeaturizePartitionInput, FitPcaInput, ListImagesInput, PipelineInput, ReportInput, RunContext } from '../lib/contract.js';
import { aggregateFeatures, type AggregateInput } from './aggregateFeatures.js';
import { checkVariance } from './checkVariance.js';
import { commitResults, discardStaging } from './commitResults.js';
import { featurizePartition } from './featurizePartition.js';
import { fitPca } from './fitPca.js';
import { listImages } from './listImages.js';
import { resolveInput } from './resolveInput.js';
import { writeReport } from './writeReport.js';
import { projectFeatures } from './projectFeatures.js';

/** The activities of Orchard, bound to one worker process's configuration. */
export function createActivities(config: WorkerConfig) {
  return {
    resolveInput: (input: PipelineInput) => resolveInput(input, config),
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
