import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fromUserFolder, parsePipelineArgs } from '../../scripts/cli.js';

test('parses the pipeline command line into the options given, nothing more', () => {
  const { input, workflowId } = parsePipelineArgs(
    ['--source', 'in', '--output', 's3://bkt/p', '--k', '7', '--partition-size', '32', '--workflow-id', 'w1'],
    { INIT_CWD: '/home/me/fruit' },
  );
  // The defaults are the worker's: a schedule made today gets tomorrow's defaults.
  assert.deepEqual(input, { source: '/home/me/fruit/in', output: 's3://bkt/p', k: 7, partitionSize: 32 });
  assert.equal(workflowId, 'w1');
  assert.equal(parsePipelineArgs(['--source', '/in', '--output', '/out', '--precision', 'int8']).input.precision, 'int8');
});

test("relative paths mean the user's folder, also under npm run (INIT_CWD)", () => {
  assert.equal(fromUserFolder('photos', { INIT_CWD: '/home/me' }), '/home/me/photos');
  assert.equal(fromUserFolder('/data/photos', { INIT_CWD: '/home/me' }), '/data/photos');
  assert.equal(fromUserFolder('s3://bkt/photos', { INIT_CWD: '/home/me' }), 's3://bkt/photos');
  assert.equal(fromUserFolder('photos', {}), path.resolve('photos'));
});

test('explains a wrong command line with the usage', () => {
  assert.throws(() => parsePipelineArgs(['--source', 'in']), /--source and --output are required\nusage:/);
  assert.throws(() => parsePipelineArgs(['--source', 'in', '--output', 'o', '--k', 'five']), /--k must be a whole number, got "five"/);
  assert.throws(() => parsePipelineArgs(['--source', 'in', '--output', 'o', '--colour', 'red']), /Unknown option '--colour'/);
});
