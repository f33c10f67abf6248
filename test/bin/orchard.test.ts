// The `orchard` command (bin/orchard.js) on this set-up, built checkout: its usage, a wrong command, the temporal shim.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../lib/paths.js';

const orchard = (...args: string[]) => spawnSync(process.execPath, [path.join(projectRoot, 'bin', 'orchard.js'), ...args], { encoding: 'utf8' });

test('orchard lists its commands, and names a wrong one', () => {
  const help = orchard('--help');
  assert.equal(help.status, 0, help.stderr);
  for (const command of ['pipeline', 'status', 'schedule', 'worker', 'server', 'cluster', 'demo', 'temporal', 'setup'])
    assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'));
  const wrong = orchard('launch');
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /orchard: unknown command "launch"\nusage: orchard <command>/);
});

test('orchard temporal runs the Temporal CLI that setup installed', () => {
  const version = orchard('temporal', '--version');
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, /^temporal version \d+\.\d+\.\d+/);
});

test('orchard status runs the status command: its usage when the id is missing', () => {
  const status = orchard('status');
  assert.equal(status.status, 1);
  assert.match(status.stderr, /usage: npm run status -- <workflow-id>/);
});
