// `orchard pipeline` as a user runs it, against a real server: live progress in a terminal, the summary on its own
// lines, the run found by its output and described by its summary, Ctrl-C cancelling the run, and a clear hint when
// no worker polls.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultSampleDir, projectRoot, temporalCliPath } from '../../lib/paths.js';
import { delay } from '../../lib/concurrency.js';
import { startTestPipeline, tempDir, type TestPipeline } from '../support/environment.js';

let pipeline: TestPipeline;
let work: string;

before(async () => {
  work = await tempDir('pipeline-cli');
  pipeline = await startTestPipeline(path.join(work, 'scratch'));
});

after(async () => {
  await pipeline?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const pipelineScript = path.join(projectRoot, 'dist', 'scripts', 'pipeline.js');
/** The exit status and output of a child, once it has ended. */
function finished(child: ChildProcess): Promise<{ status: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

const temporal = (...args: string[]) => spawnSync(temporalCliPath(), [...args, '--address', pipeline.env.address], { encoding: 'utf8' });

test('in a terminal: a live bar whose count rises, the summary on its own lines, the run found by its output', async () => {
  const output = path.join(work, 'out');
  // One partition, so every count the bar shows before the end comes from the featurize activity's heartbeats.
  const command = [
    process.execPath,
    pipelineScript,
    '--source',
    defaultSampleDir,
    '--output',
    output,
    '--partition-size',
    '900',
    '--workflow-id',
    'tty-run',
  ];
  // Asynchronously: the worker runs in this process and must keep polling while the command runs.
  const run = await finished(
    spawn('script', ['-qfec', command.map((arg) => `'${arg}'`).join(' '), '/dev/null'], {
      env: { ...process.env, TEMPORAL_ADDRESS: pipeline.env.address },
    }),
  );
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const counts = [...run.stdout.matchAll(/featurizing\s*\[[^\]]*\] (\d+)\/900 images/g)].map((match) => Number(match[1]));
  const changes = counts.filter((count, i) => i === 0 || count !== counts[i - 1]);
  assert.ok(changes.length >= 3, `at least three counts while featurizing, saw ${changes.join(', ')}`);
  assert.deepEqual(
    changes,
    [...changes].sort((a, b) => a - b),
    'the count only rises',
  );
  // The summary starts a line of its own after the bar.
  // eslint-disable-next-line no-control-regex -- the terminal's escape sequences are what is checked
  assert.match(run.stdout, /\n(?:\x1b\[[0-9;?]*[A-Za-z])*workflow tty-run \(run [0-9a-f-]+\) finished in/);
  assert.match(run.stdout, /images listed: 900, featurized now: 900, failed: 0, labels: 15/);

  let listed = '';
  for (let i = 0; i < 50 && !listed.includes('tty-run'); i++) {
    if (i > 0) await delay(200);
    // The output is set when the run starts; the images count by the workflow once it has listed them.
    listed = temporal('workflow', 'list', '--query', `OrchardOutput="${output}" AND OrchardImages=900`).stdout;
  }
  assert.match(listed, /tty-run/, 'temporal workflow list --query finds the run by its output and size');
  const described = temporal('workflow', 'describe', '--workflow-id', 'tty-run');
  assert.ok(described.stdout.includes(`Orchard: ${defaultSampleDir} → ${output}`), described.stdout);
});

test('with no worker on its task queue, the command says within seconds what to start', async () => {
  const child = spawn(
    process.execPath,
    [pipelineScript, '--source', defaultSampleDir, '--output', path.join(work, 'out-idle'), '--workflow-id', 'idle-run'],
    {
      env: { ...process.env, TEMPORAL_ADDRESS: pipeline.env.address, ORCHARD_TASK_QUEUE: 'nobody-polls' },
    },
  );
  let said = '';
  child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const started = Date.now();
  try {
    // Bounded well above the few seconds it takes, so a slow machine does not fail the property.
    while (!said.includes('no worker is polling') && Date.now() - started < 60_000) await delay(100);
    assert.match(said, /no worker is polling task queue "nobody-polls" on 127\.0\.0\.1:\d+: start one with `orchard worker`/);
    assert.match(said, /ORCHARD_TASK_QUEUE=nobody-polls/);
  } finally {
    child.kill('SIGKILL');
    await pipeline.env.client.workflow
      .getHandle('idle-run')
      .terminate('test over')
      .catch(() => undefined);
  }
});

test('Ctrl-C cancels the run: it ends cancelled, the command says so, and the output holds no result and no staging', async () => {
  const output = path.join(work, 'out-cancelled');
  const child = spawn(
    process.execPath,
    [pipelineScript, '--source', defaultSampleDir, '--output', output, '--partition-size', '50', '--workflow-id', 'cancel-run'],
    { env: { ...process.env, TEMPORAL_ADDRESS: pipeline.env.address } },
  );
  const ended = finished(child);
  const handle = pipeline.env.client.workflow.getHandle('cancel-run');
  const started = Date.now();
  // Interrupted once featurizing has started: partitions are in flight and staging files exist.
  for (;;) {
    assert.ok(Date.now() - started < 120_000, 'the run did not reach featurizing within two minutes');
    const progress = await handle.query<{ stage: string }>('progress').catch(() => undefined);
    if (progress?.stage === 'featurizing') break;
    await delay(100);
  }
  child.kill('SIGINT');
  const run = await ended;
  assert.equal(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stdout, /cancelling workflow cancel-run: its partitions stop/);
  assert.match(run.stderr, /^error: .*cancel/im);
  assert.equal((await handle.describe()).status.name, 'CANCELLED');
  // Only the output's own bookkeeping may remain: no _SUCCESS, no features, nothing staged.
  const left = await fs.readdir(output).catch(() => [] as string[]);
  assert.ok(!left.includes('_SUCCESS') && !left.includes('features'), left.join(', '));
  const staged = await fs.readdir(path.join(output, '_staging')).catch(() => [] as string[]);
  assert.deepEqual(staged, [], 'staging files are discarded');
});
