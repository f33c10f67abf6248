import assert from 'node:assert/strict';
import { test } from 'node:test';
import { niceTicks, renderReportHtml, renderReportSvg, type ReportData } from '../../lib/report.js';

const data: ReportData = {
  title: 'Orchard features and PCA of /data/fruits',
  subtitle: 'workflow nightly-1 (run r-1), started 2026-12-04 06:00:00 UTC',
  points: [
    { pc1: -3.2, pc2: 1.5, label: 'Apple', path: '/data/fruits/Apple/1.jpg' },
    { pc1: 4.7, pc2: -2.25, label: 'Pear <&>', path: '/data/fruits/Pear <&>/"2".jpg' },
  ],
  explainedVariance: [0.3, 0.2, 0.1],
  countsByLabel: [
    ['Apple', 1],
    ['Pear <&>', 1],
  ],
  errors: [],
  errorCount: 0,
  timings: [
    ['list', 0.5],
    ['featurize', 9.5],
  ],
  featurizeTimings: [
    ['read', 1],
    ['decode', 2],
    ['infer', 6],
    ['write', 0.5],
    ['other', 0.5],
  ],
};

test('ticks are round values inside the range, about as many as asked', () => {
  assert.deepEqual(niceTicks(-3.2, 4.7), [-2, 0, 2, 4]);
  assert.deepEqual(niceTicks(0, 0.3, 4), [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(niceTicks(0, 1000), [0, 200, 400, 600, 800, 1000]);
  assert.deepEqual(niceTicks(5, 5), [5], 'an empty range has one tick');
  for (const [min, max] of [
    [-0.0173, 0.0291],
    [-123456, 98765],
    [1e-9, 3e-9],
  ]) {
    const ticks = niceTicks(min, max);
    assert.ok(ticks.length >= 2 && ticks.length <= 11, `${ticks.length} ticks`);
    assert.ok(ticks.every((t) => t >= min - 1e-12 * Math.abs(min) && t <= max + 1e-12 * Math.abs(max)));
  }
});

test('every point carries its image and label as a tooltip, escaped; both axes have tick labels', () => {
  const svg = renderReportSvg(data);
  const titles = [...svg.matchAll(/<circle [^>]*><title>([^<]*)<\/title><\/circle>/g)].map((m) => m[1]);
  assert.deepEqual(titles, ['Apple: /data/fruits/Apple/1.jpg', 'Pear &#60;&#38;&#62;: /data/fruits/Pear &#60;&#38;&#62;/&#34;2&#34;.jpg']);
  const axis = /<g id="axes"[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1];
  assert.deepEqual(
    [...axis.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]),
    ['-3', '-2', '-1', '0', '1', '2', '3', '4', '-2', '-1.5', '-1', '-0.5', '0', '0.5', '1', '1.5'],
  );
  assert.match(/<g id="scree-axis"[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1], />30%</);
});

test('the page names the dataset, the run and its start, and the featurize parts add up to their total', () => {
  const html = renderReportHtml(data);
  assert.match(html, /<title>Orchard features and PCA of \/data\/fruits<\/title>/);
  assert.match(html, /<p>workflow nightly-1 \(run r-1\), started 2026-12-04 06:00:00 UTC<\/p>/);
  assert.match(html, /<td>all stages before this report<\/td><td>10\.00<\/td>/);
  assert.match(html, /<td>infer<\/td><td>6\.00<\/td><td>60\.0 %<\/td>/);
  assert.match(html, /<td>total<\/td><td>10\.00<\/td><td>100 %<\/td>/);
});
