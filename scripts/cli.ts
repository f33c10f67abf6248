import path from 'node:path';
import { parseArgs } from 'node:util';
import { failureReason } from '../lib/temporal/client.js';
import { checkInputShape } from '../lib/pipelineInput.js';
import { InputError } from '../lib/errors.js';
import type { PipelineInput, RunSummary } from '../lib/contract.js';

const usage = `usage: npm run pipeline -- --source <dir | s3://bucket/prefix> --output <dir | s3://bucket/prefix>
       [--glob '*.jpg'] [--k 5] [--partition-size 256] [--max-concurrent-partitions N] [--max-image-bytes 67108864]
       [--s3-endpoint URL] [--workflow-id ID]
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
  });
  return { input, ...(values['workflow-id'] ? { workflowId: values['workflow-id'] } : {}) };
}

/** Progress printer: one rewritten line on a terminal, a plain log line every few seconds otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stdout): { print: (line: string) => void; done: () => void } {
  if (stream.isTTY) {
    return {
      print: (line) => stream.write(`\r\x1b[2K${line}`),
      done: () => stream.write('\n'),
    };
  }
  let last = 0;
  return {
    print: (line) => {
      if (Date.now() - last < 5000) return;
      last = Date.now();
      stream.write(line + '\n');
    },
    done: () => undefined,
  };
}

/** Print the summary of a finished run. */
export function printSummary(summary: RunSummary): void {
  const seconds = (Date.parse(summary.finishedAt) - Date.parse(summary.startedAt)) / 1000;
  console.log(`workflow ${summary.workflowId} (run ${summary.runId}) finished in ${seconds.toFixed(1)} s`);
  console.log(`  images listed: ${summary.images}, featurized: ${summary.featurized}, failed: ${summary.failed}, labels: ${summary.labels}`);
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
