import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { parsePipelineArgs } from '../../scripts/cli.js';

test('parses the pipeline command line', () => {
  const { input, workflowId } = parsePipelineArgs([
    '--source',
    'in',
    '--output',
    's3://bkt/p',
    '--k',
    '7',
    '--partition-size',
    '32',
    '--workflow-id',
    'w1',
  ]);
  assert.equal(input.source, path.resolve('in'));
  assert.equal(input.output, 's3://bkt/p');
  assert.equal(input.k, 7);
  assert.equal(input.partitionSize, 32);
  assert.equal(workflowId, 'w1');
});

test('explains a wrong command line with the usage', () => {
  assert.throws(() => parsePipelineArgs(['--source', 'in']), /--source and --output are required\nusage:/);
  assert.throws(() => parsePipelineArgs(['--source', 'in', '--output', 'o', '--k', 'five']), /--k must be a whole number, got "five"/);
  assert.throws(() => parsePipelineArgs(['--source', 'in', '--output', 'o', '--colour', 'red']), /Unknown option '--colour'/);
});
