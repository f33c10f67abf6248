import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileNameMatcher } from '../../lib/glob.js';

test('matches file names case-insensitively with *, ?, [] and {}', () => {
  const jpg = fileNameMatcher('*.jpg');
  assert.ok(jpg('r0_0.jpg'));
  assert.ok(jpg('R0_0.JPG'));
  assert.ok(!jpg('r0_0.jpeg'));
  assert.ok(!jpg('r0_0.jpg.txt'));
  const either = fileNameMatcher('*.{jpg,jpeg,png}');
  assert.ok(either('a.jpeg') && either('b.PNG') && !either('c.gif'));
  assert.ok(fileNameMatcher('r?_1.jpg')('r0_1.jpg'));
  assert.ok(!fileNameMatcher('r?_1.jpg')('r10_1.jpg'));
  assert.ok(fileNameMatcher('[ab]*.jpg')('apple.jpg') && !fileNameMatcher('[ab]*.jpg')('cherry.jpg'));
  assert.ok(fileNameMatcher('[!ab]*.jpg')('cherry.jpg'));
});

test('regex characters in the pattern are literal', () => {
  assert.ok(fileNameMatcher('a+b (1).jpg')('a+b (1).jpg'));
  assert.ok(!fileNameMatcher('a.jpg')('abjpg'));
});

test('unbalanced brackets are reported', () => {
  assert.throws(() => fileNameMatcher('*.{jpg'), /unclosed "\{"/);
  assert.throws(() => fileNameMatcher('[ab.jpg'), /unclosed "\["/);
});
