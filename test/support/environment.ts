import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { loadWorkerConfig, type WorkerConfig } from '../../lib/config.js';
import { temporalCliPath } from '../../lib/paths.js';
import { runSearchAttributes } from '../../lib/temporal/searchAttributes.js';
import { createOrchardWorker } from '../../workers/orchardWorker.js';

/** A real Temporal dev server (the `temporal` CLI) started for one test file. */
export async function startTestServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      ip: '127.0.0.1',
      searchAttributes: Object.values(runSearchAttributes),
    },
  });
}

/** Worker settings for tests: the real model and the machine's defaults, scratch files in a test folder. */
export function testWorkerConfig(env: TestWorkflowEnvironment, overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  const taskQueue = overrides.taskQueue ?? 'orchard';
  return { ...loadWorkerConfig(), address: env.address, taskQueue, featurizeTaskQueue: taskQueue, ...overrides };
}

/** A worker with the real activities, connected to the test server. */
export function startTestWorker(env: TestWorkflowEnvironment, config: WorkerConfig): Promise<Worker> {
  return createOrchardWorker(config, env.nativeConnection);
}

/** The run that claims outputs in tests that call the activities directly (run ids are UUIDs). */
export const testClaimant = { workflowId: 'test-run', runId: '00000000-0000-4000-8000-000000000001' };

/** A fresh directory under the OS temp folder; the test removes it. */
export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `orchard-${prefix}-`));
}

/** A running test pipeline: a real Temporal server and an in-process worker with the real activities. */
export interface TestPipeline {
  env: TestWorkflowEnvironment;
  config: WorkerConfig;
  stop(): Promise<void>;
}

/** Start a real Temporal server and a worker on task queue `orchard` that keeps its scratch files in `scratchDir`. */
export async function startTestPipeline(scratchDir: string, overrides: Partial<WorkerConfig> = {}): Promise<TestPipeline> {
  const env = await startTestServer();
  const config = testWorkerConfig(env, { scratchDir, ...overrides });
  const worker = await startTestWorker(env, config);
  const running = worker.run();
  return {
    env,
    config,
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}
