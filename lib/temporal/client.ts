import { ApplicationFailure, Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { PipelineInput, RunSummary } from '../contract.js';
import { imagePipeline } from '../../workflows/imagePipeline.js';
import { connectionOptions } from './connection.js';
import { createSearchAttributeCommands, runSearchAttributes } from './searchAttributes.js';
import { liveProgress, noWorkerHint, workerPolling, type LiveProgress } from './watch.js';

/** A client for the Temporal server at `address`. */
export async function connectClient(address: string, namespace = 'default'): Promise<Client> {
  // A server that does not answer is reported in seconds, not after the SDK's 10 s default.
  const connection = await Connection.connect({ ...connectionOptions(address), connectTimeout: '5s' });
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
export function formatProgress(p: LiveProgress, elapsedMs: number): string {
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? p.done / seconds : 0;
  const eta = p.stage === 'featurizing' && rate > 0 ? `, ETA ${Math.ceil((p.toFeaturize - p.done) / rate)} s` : '';
  const reused = p.reused > 0 ? `, ${p.reused} reused` : '';
  return `${p.stage}: ${p.done}/${p.toFeaturize} images (${p.failed} failed${reused}), partitions ${p.partitionsDone}/${p.partitions}, ${rate.toFixed(1)} images/s${eta}`;
}

/** The run's start options a person sees in the Web UI and `temporal workflow describe`: summary, details, search attributes. */
export function runMetadata(input: PipelineInput) {
  const options = Object.entries(input)
    .filter(([key]) => key !== 'source' && key !== 'output')
    .map(([key, value]) => `- ${key}: ${JSON.stringify(value)}`);
  return {
    staticSummary: `Orchard: ${input.source} → ${input.output}`,
    staticDetails: [`**source** ${input.source}`, `**output** ${input.output}`, ...(options.length > 0 ? ['', ...options] : [])].join('\n'),
    typedSearchAttributes: [
      { key: runSearchAttributes.source, value: input.source },
      { key: runSearchAttributes.output, value: input.output },
    ],
  };
}

/**
 * `start(true)`, which sets Orchard's search attributes; on a server that lacks them, `start(false)`, saying how to add
 * them, so a run or schedule is never refused for want of a way to find it.
 */
export async function withSearchAttributesIfKnown<T>(start: (withAttributes: boolean) => Promise<T>, warn?: (line: string) => void): Promise<T> {
  try {
    return await start(true);
  } catch (err) {
    if (!/search attribute/i.test((err as Error).message)) throw err;
    warn?.(
      `this server does not know Orchard's search attributes, so runs cannot be found by them; add them with: ${createSearchAttributeCommands.join(' && ')}`,
    );
    return await start(false);
  }
}

/** Start `imagePipeline` with its metadata (summary, details and, where the server knows them, search attributes). */
export async function startPipeline(
  client: Client,
  input: PipelineInput,
  options: { taskQueue: string; workflowId: string; warn?: (line: string) => void },
) {
  const { staticSummary, staticDetails, typedSearchAttributes } = runMetadata(input);
  const start = { taskQueue: options.taskQueue, workflowId: options.workflowId, args: [input] as [PipelineInput], staticSummary, staticDetails };
  return withSearchAttributesIfKnown(
    (withAttributes) => client.workflow.start(imagePipeline, withAttributes ? { ...start, typedSearchAttributes } : start),
    options.warn,
  );
}

/** What a client is told while it follows a run. */
export interface RunObserver {
  onProgress?: (progress: LiveProgress, elapsedMs: number) => void;
  /** Once, when no worker has taken the run up after a few seconds, with what to start. */
  onWaiting?: (hint: string) => void;
  onStarted?: (handle: WorkflowHandle<typeof imagePipeline>) => void;
  warn?: (line: string) => void;
}

// How long a run may wait for its first workflow task before the client says why.
const WORKER_HINT_AFTER_MS = 3_000;

/** Start `imagePipeline`, report progress while it runs and return its summary; failures carry the workflow's reason. */
export async function runPipeline(
  client: Client,
  input: PipelineInput,
  options: { taskQueue: string; workflowId: string; intervalMs?: number; address?: string } & RunObserver,
): Promise<RunSummary> {
  const handle = await startPipeline(client, input, options);
  options.onStarted?.(handle);
  const started = Date.now();
  let finished = false;
  const result = handle.result().finally(() => (finished = true));
  let hinted = false;
  while (!finished && (options.onProgress || options.onWaiting)) {
    await Promise.race([result.catch(() => undefined), delay(options.intervalMs ?? 1000)]);
    if (finished) break;
    try {
      const progress = await liveProgress(handle);
      if (progress) options.onProgress?.(progress, Date.now() - started);
      else if (!hinted && options.onWaiting && Date.now() - started >= WORKER_HINT_AFTER_MS) {
        hinted = true;
        options.onWaiting(noWorkerHint(options.address ?? 'the server', options.taskQueue, await workerPolling(client, options.taskQueue)));
      }
    } catch {
      // The query races with continue-as-new and completion; the next tick asks again.
    }
  }
  try {
    return await result;
  } catch (err) {
    throw new Error(`workflow ${options.workflowId} failed: ${failureReason(err)}`, { cause: err });
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
