// `npm run schedule` against a real server: a nightly schedule is created, described, paused, triggered (its run
// completes) and deleted.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { projectRoot } from '../../lib/paths.js';
import { delay } from '../../lib/concurrency.js';
import type { RunSummary } from '../../lib/contract.js';
import { startTestPipeline, tempDir, type TestPipeline } from '../support/environment.js';
import { copySample } from '../support/images.js';

let pipeline: TestPipeline;
let work: string;

before(async () => {
  work = await tempDir('schedule');
  pipeline = await startTestPipeline(path.join(work, 'scratch'));
});

after(async () => {
  await pipeline?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

function schedule(...args: string[]): { code: number | null; out: string } {
  const result = spawnSync(process.execPath, [path.join(projectRoot, 'dist', 'scripts', 'schedule.js'), ...args], {
    env: { ...process.env, TEMPORAL_ADDRESS: pipeline.env.address },
    encoding: 'utf8',
  });
  return { code: result.status, out: result.stdout + result.stderr };
}

type Described = { paused: boolean; nextActionTimes: string[]; recentActions: { workflowId: string }[] };
const describe = () => JSON.parse(schedule('describe', '--id', 'nightly').out) as Described;

test('create, describe, pause, unpause, trigger and delete a nightly schedule', async () => {
  const source = path.join(work, 'photos');
  const output = path.join(work, 'out');
  await copySample(source, ['pear_1', 'cucumber_1'], 3);

  const created = schedule('create', '--id', 'nightly', '--source', source, '--output', output, '--k', '2', '--timezone', 'Europe/Paris');
  assert.equal(created.code, 0, created.out);
  assert.match(created.out, /created schedule nightly: 0 2 \* \* \* \(Europe\/Paris\), overlap SKIP/);
  // The schedule holds only what was typed: each run gets the worker's defaults of its day.
  const { action } = await pipeline.env.client.schedule.getHandle('nightly').describe();
  assert.deepEqual((action as { args?: unknown[] }).args, [{ source, output, k: 2, incremental: true }]);
  const described = describe();
  assert.equal(described.paused, false);
  assert.ok(described.nextActionTimes.length > 0);
  for (const time of described.nextActionTimes) {
    const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: 'numeric' }).format(new Date(time)));
    assert.equal(hour, 2, `next run at 02:00 Paris time, got ${time}`);
  }

  assert.equal(schedule('pause', '--id', 'nightly').code, 0);
  assert.equal(describe().paused, true);
  assert.equal(schedule('unpause', '--id', 'nightly').code, 0);
  assert.equal(describe().paused, false);

  assert.equal(schedule('trigger', '--id', 'nightly').code, 0);
  let actions: { workflowId: string }[] = [];
  for (let i = 0; i < 100 && actions.length === 0; i++) {
    await delay(200);
    actions = describe().recentActions;
  }
  assert.equal(actions.length, 1, 'the trigger started a run');
  assert.match(actions[0].workflowId, /^orchard-nightly/);
  const summary = (await pipeline.env.client.workflow.getHandle(actions[0].workflowId).result()) as RunSummary;
  assert.equal(summary.featurized, 6);
  await fs.access(path.join(output, '_SUCCESS'));

  assert.equal(schedule('delete', '--id', 'nightly').code, 0);
  const gone = schedule('describe', '--id', 'nightly');
  assert.equal(gone.code, 1);
  assert.match(gone.out, /error: .*not found/i);
});

test('trigger skips a run while the last one of the schedule still runs, as the schedule does', async () => {
  // No worker polls this task queue, so the first run stays open for as long as the test needs it to.
  const idle = (...args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(projectRoot, 'dist', 'scripts', 'schedule.js'), ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: pipeline.env.address, ORCHARD_TASK_QUEUE: 'nobody-polls' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  };
  idle('create', '--id', 'busy', '--source', path.join(work, 'photos'), '--output', path.join(work, 'out-busy'));
  const handle = pipeline.env.client.schedule.getHandle('busy');
  try {
    idle('trigger', '--id', 'busy');
    let described = await handle.describe();
    for (let i = 0; i < 100 && described.info.recentActions.length === 0; i++) {
      await delay(100);
      described = await handle.describe();
    }
    assert.equal(described.info.recentActions.length, 1, 'the first trigger started a run');
    idle('trigger', '--id', 'busy');
    for (let i = 0; i < 100 && described.info.numActionsSkippedOverlap === 0; i++) {
      await delay(100);
      described = await handle.describe();
    }
    assert.equal(described.info.numActionsSkippedOverlap, 1, 'the second trigger was skipped');
    assert.equal(described.info.recentActions.length, 1, 'no second run started');
    await pipeline.env.client.workflow.getHandle(described.info.recentActions[0].action.workflow.workflowId).terminate('test over');
  } finally {
    await handle.delete();
  }
});

test('a wrong command line is explained', () => {
  const wrong = schedule('launch', '--id', 'x');
  assert.equal(wrong.code, 1);
  assert.match(wrong.out, /unknown or missing command "launch"\nusage: npm run schedule/);
  assert.match(schedule('create', '--id', 'x').out, /--source and --output are required/);
});
