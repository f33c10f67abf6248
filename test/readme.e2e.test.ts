// Every `orchard temporal …` line of README.md, run as written: bash, from a checkout with ../shared beside it, with
// `orchard` on the PATH as `npm link` puts it, against a real server and worker.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { defaultSampleDir, projectRoot } from '../lib/paths.js';
import { startTestPipeline, tempDir, type TestPipeline } from './support/environment.js';

let pipeline: TestPipeline;
let work: string;

before(async () => {
  work = await tempDir('readme');
  pipeline = await startTestPipeline(path.join(work, 'scratch'));
});

after(async () => {
  await pipeline?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

/** The commands of the README's sh blocks that start with `prefix`, continuation lines joined. */
async function readmeCommands(prefix: string): Promise<string[]> {
  const readme = await fs.readFile(path.join(projectRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  const lines = blocks.flatMap((block) => block.replace(/\\\n\s*/g, '').split('\n'));
  return lines.filter((line) => line.startsWith(prefix));
}

/** Run one line in bash, asynchronously: the worker answering it runs in this process. */
function bash(line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; output: string }> {
  const child = spawn('bash', ['-c', line], { cwd, env });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, output })));
}

test("the README's orchard temporal commands run as written and do what it says", async () => {
  const commands = await readmeCommands('orchard temporal ');
  assert.ok(commands.length >= 6, `expected the README's start, result, list and schedule lines, found:\n${commands.join('\n')}`);
  // A user's layout: the checkout with ../shared beside it, and `orchard` on the PATH.
  const checkout = path.join(work, 'checkout');
  const bin = path.join(work, 'bin');
  await fs.mkdir(checkout);
  await fs.mkdir(bin);
  await fs.symlink(path.resolve(defaultSampleDir, '..', '..'), path.join(work, 'shared'));
  await fs.symlink(path.join(projectRoot, 'bin', 'orchard.js'), path.join(bin, 'orchard'));
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, TEMPORAL_ADDRESS: pipeline.env.address };

  for (const line of commands) {
    const { status, output } = await bash(line, checkout, env);
    assert.equal(status, 0, `${line}\n${output}`);
    if (line.includes('workflow result')) assert.match(output, /COMPLETED/, output);
  }
  // The run started by hand wrote its result where the README says.
  assert.ok(existsSync(path.join(checkout, 'out', 'by-hand', '_SUCCESS')));
  // The schedule line makes the same schedule as `orchard schedule create`: scheduled runs are incremental.
  const schedule = await pipeline.env.client.schedule.getHandle('nightly').describe();
  assert.equal(schedule.action.type, 'startWorkflow');
  assert.deepEqual(schedule.action.args, [
    { source: 's3://fruits-bucket/sample_data_train', output: 's3://fruits-bucket/Results', incremental: true },
  ]);
  await pipeline.env.client.schedule.getHandle('nightly').delete();
});
