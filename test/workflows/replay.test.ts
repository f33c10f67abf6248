// Replays the recorded histories of the current workflow version (test/histories, made by `npm run record-histories`)
// against today's workflow code: a change that would break running workflows fails here instead of in production.
// The README's "Changing the workflow" says what to do when it fails.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from '@temporalio/worker';
import { projectRoot } from '../../lib/paths.js';
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
