import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { DRAWING, renderReportSvg, scatterDiscs, type ReportData } from '../../lib/report.js';
import { renderReportPng } from '../../lib/reportPng.js';

const labels = ['Apple', 'Banana', 'Cherry'];
const data: ReportData = {
  title: 'Orchard features and PCA of /data/fruits',
  subtitle: 'workflow w (run r), started 2026-12-04 06:00:00 UTC',
  points: Array.from({ length: 300 }, (_, i) => ({
    pc1: Math.sin(i * 0.7) * (1 + (i % 3)),
    pc2: Math.cos(i * 1.3) * (3 - (i % 3)),
    label: labels[i % 3],
    path: `/data/fruits/${labels[i % 3]}/${i}.jpg`,
  })),
  explainedVariance: [0.3, 0.2, 0.1],
  countsByLabel: labels.map((label) => [label, 100]),
  errors: [],
  errorCount: 0,
  timings: [['featurize', 9.5]],
  featurizeTimings: [['infer', 6]],
};

async function rgba(png: Buffer): Promise<Buffer> {
  return sharp(png).ensureAlpha().raw().toBuffer();
}

test('report.png draws the same picture as librsvg does from the full SVG, points included', async () => {
  const png = await renderReportPng(data);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', DRAWING.width, DRAWING.height]);
  const ours = await rgba(png);
  const librsvg = await rgba(
    await sharp(Buffer.from(renderReportSvg(data)))
      .png()
      .toBuffer(),
  );
  const empty = await rgba(
    await sharp(Buffer.from(renderReportSvg(data, { points: false })))
      .png()
      .toBuffer(),
  );
  let pointPixels = 0;
  let differing = 0;
  let totalDifference = 0;
  for (let i = 0; i < ours.length; i += 4) {
    if (librsvg.subarray(i, i + 3).equals(empty.subarray(i, i + 3))) {
      // Outside the points the pictures are the same pixels.
      assert.ok(ours.subarray(i, i + 3).equals(librsvg.subarray(i, i + 3)), `pixel ${i / 4} off the points differs`);
      continue;
    }
    pointPixels++;
    const difference = Math.max(...[0, 1, 2].map((c) => Math.abs(ours[i + c] - librsvg[i + c])));
    totalDifference += difference;
    if (difference > 48) differing++;
  }
  assert.ok(pointPixels > 3000, `the points cover ${pointPixels} pixels`);
  // Anti-aliasing differs at the discs' rims only.
  assert.ok(totalDifference / pointPixels < 8, `mean difference ${totalDifference / pointPixels} per point pixel`);
  assert.ok(differing / pointPixels < 0.05, `${differing} of ${pointPixels} point pixels differ by more than 48`);
});

test("a point's centre is its label colour at 75 % over white", async () => {
  // The corners of the scatter's panel, and a point inside it well away from the others.
  const one: ReportData = {
    ...data,
    points: [
      { pc1: -1, pc2: -1, label: 'Apple', path: '/a.jpg' },
      { pc1: 1, pc2: 1, label: 'Apple', path: '/b.jpg' },
      { pc1: 0.25, pc2: 0.25, label: 'Banana', path: '/c.jpg' },
    ],
    countsByLabel: [
      ['Apple', 2],
      ['Banana', 1],
    ],
  };
  const disc = scatterDiscs(one)[2];
  const pixels = await rgba(await renderReportPng(one));
  const i = (Math.floor(disc.y) * DRAWING.width + Math.floor(disc.x)) * 4;
  // #ff7f0e, the second label's colour, at opacity 0.75 over #ffffff.
  assert.deepEqual([...pixels.subarray(i, i + 3)], [255, Math.round(0x7f * 0.75 + 255 * 0.25), Math.round(0x0e * 0.75 + 255 * 0.25)]);
});
