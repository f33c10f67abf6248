import { ApplicationFailure, Client, Connection } from '@temporalio/client';
import type { PipelineInput, PipelineProgress, RunSummary } from '../contract.js';
import { imagePipeline } from '../../workflows/imagePipeline.js';

/** A client for the Temporal server at `address`. */
export async function connectClient(address: string, namespace = 'default'): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace });
}

const shared = new Map<string, Promise<Client>>();

/** One client per server and namespace for this process (activities that talk to Temporal share it). */
export function sharedClient(address: string, namespace: string): Promise<Client> {
  const key = `${address}|${namespace}`;
  let client = shared.get(key);
  if (!client) {
    client = connectClient(address, namespace);
    client.catch(() => shared.delete(key));
    shared.set(key, client);
  }
  return client;
}

/** A workflow id that says what the run is: `orchard-<dataset>-<UTC time>`. */
export function pipelineWorkflowId(source: string, now = new Date()): string {
  const dataset =
    source
      .replace(/\/+$/, '')
      .split(/[/\\]/)
      .pop()
      ?.replace(/[^A-Za-z0-9._-]+/g, '-') || 'dataset';
  return `orchard-${dataset}-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

/** One line describing where a run stands. */
export function formatProgress(p: PipelineProgress, elapsedMs: number): string {
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? (p.featurized + p.failed) / seconds : 0;
  const remaining = p.images - p.featurized - p.failed;
  const eta = p.stage === 'featurizing' && rate > 0 ? `, ETA ${Math.ceil(remaining / rate)} s` : '';
  return `${p.stage}: ${p.featurized + p.failed}/${p.images} images (${p.failed} failed), partitions ${p.partitionsDone}/${p.partitions}, ${rate.toFixed(1)} images/s${eta}`;
}

/** Start `imagePipeline`, report progress while it runs and return its summary; failures carry the workflow's reason. */
export async function runPipeline(
  client: Client,
  input: PipelineInput,
  options: { taskQueue: string; workflowId: string; onProgress?: (line: string) => void; intervalMs?: number },
): Promise<RunSummary> {
  const handle = await client.workflow.start(imagePipeline, { taskQueue: options.taskQueue, workflowId: options.workflowId, args: [input] });
  const started = Date.now();
  let finished = false;
  const result = handle.result().finally(() => (finished = true));
  if (options.onProgress) {
    while (!finished) {
      await Promise.race([result.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 1000))]);
      if (finished) break;
      try {
        options.onProgress(formatProgress(await handle.query<PipelineProgress>('progress'), Date.now() - started));
      } catch {
        // The query races with continue-as-new and completion; the next tick asks again.
      }
    }
  }
  try {
    return await result;
  } catch (err) {
    throw new Error(`workflow ${options.workflowId} failed: ${failureReason(err)}`, { cause: err });
  }
}

/** The message that names what went wrong: the first application failure in the chain, else the innermost cause. */
export function failureReason(err: unknown): string {
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure) return current.message;
    if (current.message) message = current.message;
    current = current.cause;
  }
  return message;
}
