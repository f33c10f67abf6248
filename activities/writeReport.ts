import type { WorkerConfig } from '../lib/config.js';
import type { ReportInput } from '../lib/contract.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { pcaFileUri, resultUri, stagedResult } from '../lib/storage/layout.js';
import { literalFiles, queryParquet, readVectorParquet } from '../lib/storage/parquet.js';
import { renderReportHtml, type ReportData } from '../lib/report.js';
import { renderReportPng } from '../lib/reportPng.js';
import { localCopy, withScratchDir } from '../lib/storage/scratch.js';
import { readStagedPcaModel } from '../lib/storage/records.js';
import { storageFor } from '../lib/storage/storage.js';

/** Points drawn in the scatter at most: enough to see the clusters, small enough for any browser. */
const MAX_POINTS = 20_000;
const MAX_ERRORS_LISTED = 200;

const seconds = (timings: Record<string, number>): [string, number][] => Object.entries(timings).map(([stage, ms]) => [stage, ms / 1000]);

/** Write report.html (self-contained) and report.png next to the staged result. */
export async function writeReport(input: ReportInput, config: WorkerConfig): Promise<void> {
  return failingClearly('writeReport', () =>
    withScratchDir(config.scratchDir, async (scratch) => {
      const staging = storageFor(input.staging, input);
      const result = stagedResult(input.staging);
      const model = await readStagedPcaModel(staging, result);
      const pca = await localCopy(staging, pcaFileUri(result), scratch);
      const errors = await localCopy(staging, resultUri(result, 'errors.parquet'), scratch);

      const step = Math.max(1, Math.ceil(model.rows / MAX_POINTS));
      const points: ReportData['points'] = [];
      let row = 0;
      for await (const batch of readVectorParquet([pca], 'pcaFeatures', { orderBy: 'path' })) {
        for (let i = 0; i < batch.paths.length; i++, row++) {
          if (row % step !== 0) continue;
          const [pc1, pc2] = [batch.vectors[i * batch.dim], batch.dim > 1 ? batch.vectors[i * batch.dim + 1] : 0];
          points.push({ pc1, pc2, label: batch.labels[i], path: batch.paths[i] });
        }
      }
      // The PCA dataset has a row for every feature vector, so the counts need no read of the 1280-float vectors.
      const counts = await queryParquet('SELECT label, count(*) AS n FROM read_parquet($1) GROUP BY 1 ORDER BY 1', [literalFiles([pca])]);
      const [errorCount] = await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [literalFiles([errors])]);
      const listed = await queryParquet(`SELECT path, error FROM read_parquet($1) ORDER BY path LIMIT ${MAX_ERRORS_LISTED}`, [
        literalFiles([errors]),
      ]);
      const data: ReportData = {
        title: `Orchard features and PCA of ${input.source}`,
        subtitle: `workflow ${input.workflowId} (run ${input.runId}), started ${input.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`,
        points,
        explainedVariance: model.explainedVariance,
        countsByLabel: counts.map((r) => [String(r.label), Number(r.n)]),
        errors: listed.map((r) => ({ path: String(r.path), error: String(r.error) })),
        errorCount: Number(errorCount.n),
        timings: seconds(input.timings),
        featurizeTimings: seconds(input.featurizeTimings),
      };
      await staging.write(resultUri(result, 'report.html'), renderReportHtml(data));
      await staging.write(resultUri(result, 'report.png'), await renderReportPng(data));
    }),
  );
}
