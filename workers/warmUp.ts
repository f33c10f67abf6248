// What a worker process does before it polls: create the per-process resources the activities use lazily (the model
// session, DuckDB, the PCA products, the SVG renderer, the SDK's protobuf codecs) and run their code once on a few
// rows, so the first run does not pay for it in its critical path.
import { existsSync } from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import { Runtime } from '@temporalio/worker';
import { FEATURE_DIM, type WorkerConfig } from '../lib/config.js';
import { INPUT_BYTES_PER_IMAGE } from '../lib/features/images.js';
import { loadFeatureModel } from '../lib/features/model.js';
import { literalFiles, queryParquet, readVectorParquet, writeVectorParquet } from '../lib/storage/parquet.js';
import { CovarianceAccumulator, DIRECT_FIT_MAX_ROWS, fitPcaFromAccumulator, fitPcaFromRows, projectRows } from '../lib/pca/pca.js';
import { renderReportPng } from '../lib/reportPng.js';
import { withScratchDir } from '../lib/storage/scratch.js';

const ROWS = 8;
// The steps after featurizing are warmed up on as many rows as one read batch (DuckDB chunk, covariance batch) of a
// real run: their first call at that size was 100-300 ms slower than later ones (onnxruntime's buffers grow, the
// loops' optimised code), measured in the first fit of each fresh worker.
const STEP_ROWS = 2048;

/** `count` synthetic feature vectors with two labels. */
function syntheticRows(count = ROWS) {
  const vectors = Float32Array.from({ length: count * FEATURE_DIM }, (_, i) => Math.sin(i * 0.37) + (i % 7) / 7 + ((i * 2654435761) % 1000) / 1000);
  const paths = Array.from({ length: count }, (_, i) => `warm-up/${i}.jpg`);
  const labels = paths.map((_, i) => (i % 2 === 0 ? 'a' : 'b'));
  return { paths, labels, vectors, dim: FEATURE_DIM };
}

/** Load the models and run one batch each: the first partition of each process no longer pays about 75 ms. */
async function warmUpModel(config: WorkerConfig): Promise<void> {
  // The int8 model only where setup built it: a worker without it serves fp32 runs, and int8 ones fail saying why.
  const paths = [config.modelPath, ...(existsSync(config.int8ModelPath) ? [config.int8ModelPath] : [])];
  for (const path of paths) {
    const model = await loadFeatureModel({ path, threads: config.inferenceThreads });
    await model.embed(new Uint8Array(config.batchSize * INPUT_BYTES_PER_IMAGE), config.batchSize);
  }
}

/**
 * Write and read a small features file, and for workers that run the steps after featurizing, fit and project a PCA
 * on it (directly and through a covariance) and render a report drawing. In a fresh process these cost tens of milliseconds the first time (DuckDB's instance,
 * the PCA's onnxruntime session, librsvg, and the code's first run), paid at the end of a run otherwise.
 */
async function warmUpSteps(config: WorkerConfig): Promise<void> {
  await withScratchDir(config.scratchDir, async (dir) => {
    const file = path.join(dir, 'warm-up.parquet');
    if (config.role === 'featurize') {
      await writeVectorParquet(file, 'features', syntheticRows());
      return;
    }
    const rows = syntheticRows(STEP_ROWS);
    await writeVectorParquet(file, 'features', rows);
    for await (const batch of readVectorParquet([file], 'features')) {
      // A direct fit of as many rows as it takes (DIRECT_FIT_MAX_ROWS), and a fit of more through a covariance.
      const direct = Math.min(batch.paths.length, DIRECT_FIT_MAX_ROWS);
      const model = await fitPcaFromRows(batch.vectors, direct, batch.dim, 5);
      await projectRows(model, batch.vectors, batch.paths.length);
      const covariance = new CovarianceAccumulator(batch.dim);
      await covariance.addRowsFast(batch.vectors, batch.paths.length);
      await fitPcaFromAccumulator(covariance, 5);
    }
    await queryParquet('SELECT label, count(*) AS n FROM read_parquet($1) GROUP BY 1', [literalFiles([file])]);
    await renderReportPng({
      title: 'warm-up',
      subtitle: 'warm-up',
      points: rows.labels.map((label, i) => ({ pc1: i, pc2: -i, label, path: rows.paths[i] })),
      explainedVariance: [0.5, 0.25],
      countsByLabel: [
        ['a', STEP_ROWS / 2],
        ['b', STEP_ROWS / 2],
      ],
      errors: [],
      errorCount: 0,
      timings: [],
      featurizeTimings: [],
    });
  });
}

/** A node of the SDK's protobuf reflection tree: a namespace (nested nodes), and a message type when it has fields. */
interface ProtoNode {
  nestedArray?: ProtoNode[];
  fieldsArray?: unknown[];
  setup?: () => unknown;
}

// The SDK's protobuf root is a protobufjs Root at run time; its typings describe only the generated message classes.
const protoRoot = proto as unknown as { lookup(path: string): ProtoNode | null };

/**
 * Generate the codecs of every message type under `namespace`. protobufjs generates each type's encoder and decoder
 * the first time a message of it passes, which made a fresh worker's first workflow task and first client calls
 * tens of milliseconds slower than later ones.
 */
function generateCodecs(namespace: string): number {
  let types = 0;
  const visit = (node: ProtoNode) => {
    if (node.fieldsArray && node.setup) {
      node.setup();
      types++;
    }
    for (const child of node.nestedArray ?? []) visit(child);
  };
  const root = protoRoot.lookup(namespace);
  if (root) visit(root);
  return types;
}

/**
 * The codecs this process uses: every worker decodes activity tasks and encodes their results (coresdk); workers
 * that run workflows also decode activations and make the control steps' client calls (workflowservice).
 */
function warmUpCodecs(config: WorkerConfig): Promise<void> {
  const namespaces = config.role === 'featurize' ? ['coresdk'] : ['coresdk', 'temporal.api.workflowservice.v1'];
  for (const namespace of namespaces) if (generateCodecs(namespace) === 0) throw new Error(`no protobuf message types under ${namespace}`);
  return Promise.resolve();
}

/**
 * Prepare this process's resources before the worker polls. Best effort: a missing model or an unwritable scratch
 * directory is reported by the first activity that needs it, with the fix, and the worker stays up.
 */
export async function warmUp(config: WorkerConfig): Promise<void> {
  const steps: [string, () => Promise<void>][] = [
    ['steps', () => warmUpSteps(config)],
    ['codecs', () => warmUpCodecs(config)],
  ];
  if (config.role !== 'control') steps.unshift(['model', () => warmUpModel(config)]);
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      Runtime.instance().logger.warn(`warm-up of the ${name} failed; the activities will report why`, { error: (err as Error).message });
    }
  }
}
