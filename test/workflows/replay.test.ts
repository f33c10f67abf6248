// Replays recorded histories (test/histories, made by `npm run record-histories`) against today's workflow code:
// a change that would break running workflows fails here instead of in production.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { projectRoot } from '../../lib/config.js';
import { workflowsPath } from '../../workers/workflowCode.js';

const directory = path.join(projectRoot, 'test', 'histories');

test('recorded histories replay without non-determinism', async () => {
  const files = (await fs.readdir(directory)).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length >= 3, `expected recorded histories in ${directory}, found ${files.length}`);
  const histories = await Promise.all(
    // The CLI's JSON as it is: the replayer converts it itself.
    files.map(async (file) => ({ workflowId: file, history: JSON.parse(await fs.readFile(path.join(directory, file), 'utf8')) as unknown })),
  );
  const replayed: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowsPath }, histories)) {
    assert.equal(result.error, undefined, `${result.workflowId}: ${result.error?.message}`);
    replayed.push(result.workflowId);
  }
  assert.deepEqual(replayed.sort(), files);
});

interface RecordedHistory {
  events: { markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, { payloads: { data: string }[] }> } }[];
}

const decode = (data: string) => JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as Record<string, unknown>;

test('a fit that projected, seen by a workflow worker of the version before, replays with the projection step', async () => {
  // In a rolling upgrade a new worker can run fitPca (result: projected) while an old one runs the workflow task,
  // which schedules projectFeatures anyway. Such a history is a v4 history whose fitPca result says projected.
  const history = JSON.parse(await fs.readFile(path.join(directory, 'v4-plain-1.json'), 'utf8')) as RecordedHistory;
  const fit = history.events
    .map((e) => e.markerRecordedEventAttributes)
    .find((m) => m?.markerName === 'core_local_activity' && decode(m.details!.data.payloads[0].data).activity_type === 'fitPca');
  const result = fit!.details!.result.payloads[0];
  result.data = Buffer.from(JSON.stringify({ ...decode(result.data), projected: true })).toString('base64');
  await Worker.runReplayHistory({ workflowsPath }, history, 'v4-plain-1 with a projected fit');
});
