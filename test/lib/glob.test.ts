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

test('a pattern that makes a backtracking matcher take exponential time matches at once (RE2)', { timeout: 10_000 }, () => {
  // A backtracking RegExp tries every split of the name between the stars: with 40 stars and 250 characters that is
  // more steps than would finish today. RE2 walks the name once.
  const stars = fileNameMatcher(`${'*'.repeat(40)}Z`);
  assert.equal(stars('a'.repeat(250)), false);
  assert.equal(stars(`${'a'.repeat(249)}Z`), true);
  const alternating = fileNameMatcher(`${'*a'.repeat(30)}*b`);
  assert.equal(alternating('a'.repeat(250)), false);
});

test('escapes, negated classes and a ] first in a class follow the shell', () => {
  assert.ok(fileNameMatcher('\\*.jpg')('*.jpg') && !fileNameMatcher('\\*.jpg')('a.jpg'));
  assert.ok(fileNameMatcher('[]a]x')(']x') && fileNameMatcher('[]a]x')('ax'));
  assert.ok(fileNameMatcher('[^a]x')('bx') && !fileNameMatcher('[^a]x')('ax'));
  assert.ok(fileNameMatcher('[a-c].jpg')('B.jpg'));
  assert.ok(fileNameMatcher('*.jpg')('line\nbreak.jpg'), 'any character, even a newline, in a name');
});
