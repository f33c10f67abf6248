import path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { failureReason, formatProgress } from '../lib/temporal/client.js';
import type { LiveProgress } from '../lib/temporal/watch.js';
import { checkInputShape } from '../lib/pipelineInput.js';
import { InputError } from '../lib/errors.js';
import type { PipelineInput, RunSummary } from '../lib/contract.js';

const usage = `usage: npm run pipeline -- --source <dir | s3://bucket/prefix> --output <dir | s3://bucket/prefix>
       [--glob '*.jpg'] [--k 5] [--partition-size 256] [--max-concurrent-partitions N] [--max-image-bytes 67108864]
       [--s3-endpoint URL] [--workflow-id ID] [--precision fp32|int8]
       [--incremental]   (featurize only new or changed images since the last run to the same output)`;

/**
 * A location as the user typed it, made absolute against the folder they ran the command from (npm runs scripts in
 * the project folder and says where it was started in INIT_CWD). S3 URIs pass unchanged.
 */
export function fromUserFolder(location: string, env: NodeJS.ProcessEnv = process.env): string {
  if (location.startsWith('s3://') || location.trim() === '') return location;
  return path.resolve(env.INIT_CWD || process.cwd(), location);
}

/**
 * Parse the pipeline command line into the input the user asked for: only the options given, local paths made
 * absolute. The worker checks the values and fills in the defaults (resolveInput). Throws InputError with the usage.
 */
export function parsePipelineArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): { input: PipelineInput; workflowId?: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        source: { type: 'string' },
        output: { type: 'string' },
        glob: { type: 'string' },
        k: { type: 'string' },
        'partition-size': { type: 'string' },
        'max-concurrent-partitions': { type: 'string' },
        'max-image-bytes': { type: 'string' },
        's3-endpoint': { type: 'string' },
        'workflow-id': { type: 'string' },
        incremental: { type: 'boolean' },
        precision: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new InputError(`${(err as Error).message}\n${usage}`);
  }
  const number = (name: string, raw: string | undefined) => {
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) throw new InputError(`--${name} must be a whole number, got "${raw}"\n${usage}`);
    return Number(raw);
  };
  if (!values.source || !values.output) throw new InputError(`--source and --output are required\n${usage}`);
  const input = checkInputShape({
    source: fromUserFolder(values.source, env),
    output: fromUserFolder(values.output, env),
    ...(values.glob !== undefined ? { glob: values.glob } : {}),
    ...(values.k !== undefined ? { k: number('k', values.k) } : {}),
    ...(values['partition-size'] !== undefined ? { partitionSize: number('partition-size', values['partition-size']) } : {}),
    ...(values['max-concurrent-partitions'] !== undefined
      ? { maxConcurrentPartitions: number('max-concurrent-partitions', values['max-concurrent-partitions']) }
      : {}),
    ...(values['max-image-bytes'] !== undefined ? { maxImageBytes: number('max-image-bytes', values['max-image-bytes']) } : {}),
    ...(values['s3-endpoint'] !== undefined ? { s3Endpoint: values['s3-endpoint'] } : {}),
    ...(values.incremental ? { incremental: true } : {}),
    ...(values.precision !== undefined ? { precision: values.precision as PipelineInput['precision'] } : {}),
  });
  return { input, ...(values['workflow-id'] ? { workflowId: values['workflow-id'] } : {}) };
}

/** How a run's progress is shown: a live bar on a terminal, a plain line every few seconds otherwise. */
export interface ProgressDisplay {
  update: (progress: LiveProgress, elapsedMs: number) => void;
  /** A line of its own, above the bar. */
  message: (line: string) => void;
  /** Leave the bar, so what is printed next starts on its own line. */
  done: () => void;
}

/** The display for `stream`: cli-progress's bar (rate, ETA, partitions) on a terminal, log lines elsewhere. */
export function progressDisplay(stream: NodeJS.WriteStream = process.stdout): ProgressDisplay {
  if (!stream.isTTY) {
    let last = 0;
    return {
      update: (progress, elapsedMs) => {
        if (Date.now() - last < 5000) return;
        last = Date.now();
        stream.write(formatProgress(progress, elapsedMs) + '\n');
      },
      message: (line) => stream.write(line + '\n'),
      done: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{stage} [{bar}] {value}/{total} images | {rate} images/s | ETA {eta_formatted} | partitions {partitions} | {failed} failed',
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p, elapsedMs) => {
      const payload = {
        stage: p.stage.padEnd(11),
        rate: (elapsedMs > 0 ? (p.done / elapsedMs) * 1000 : 0).toFixed(1),
        partitions: `${p.partitionsDone}/${p.partitions}`,
        failed: p.failed,
      };
      if (!started) bar.start(p.toFeaturize, p.done, payload);
      else {
        bar.setTotal(p.toFeaturize);
        bar.update(p.done, payload);
      }
      started = true;
    },
    message: (line) => stream.write(`\r\x1b[2K${line}\n`),
    done: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}

/** Print the summary of a finished run. */
export function printSummary(summary: RunSummary): void {
  const seconds = (Date.parse(summary.finishedAt) - Date.parse(summary.startedAt)) / 1000;
  console.log(`workflow ${summary.workflowId} (run ${summary.runId}) finished in ${seconds.toFixed(1)} s`);
  // summary.featurized counts the rows of the features dataset, which include the vectors an incremental run reuses.
  const reused = summary.reused > 0 ? `, reused from the last result: ${summary.reused}` : '';
  console.log(
    `  images listed: ${summary.images}, featurized now: ${summary.featurized - summary.reused}${reused}, failed: ${summary.failed}, labels: ${summary.labels}`,
  );
  console.log(`  PCA k=${summary.k}, explained variance: [${summary.explainedVariance.map((v) => v.toFixed(4)).join(', ')}]`);
  console.log(`  results: ${summary.output} (features/, pca/, pca_model.json, errors.parquet, _SUCCESS)`);
}

/** Run a command's body; print a failure as one clear line and exit 1 instead of a stack trace. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    console.error(`error: ${failureReason(err)}`);
    process.exitCode = 1;
  }
}
