// The run report: one SVG drawing (scatter of PC1 x PC2 by label, scree plot, counts per label) used both inline in
// a self-contained report.html and rasterised to report.png.

/** What the report shows. */
export interface ReportData {
  /** The dataset (the source listed). */
  title: string;
  /** The run: workflow id and when it started. */
  subtitle: string;
  /** PC1 and PC2 of (a sample of) the rows, with their images and labels. */
  points: { pc1: number; pc2: number; label: string; path: string }[];
  explainedVariance: number[];
  countsByLabel: [string, number][];
  errors: { path: string; error: string }[];
  errorCount: number;
  /** Stage name to wall seconds, in the order the stages ran. */
  timings: [string, number][];
  /** The featurize activities' seconds by part, summed over partitions. */
  featurizeTimings: [string, number][];
}

const palette = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
  '#393b79',
  '#637939',
  '#8c6d31',
  '#843c39',
  '#7b4173',
  '#3182bd',
  '#e6550d',
  '#31a354',
  '#756bb1',
  '#636363',
];

const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (v: number, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

/** About `count` round tick values (1, 2 or 5 times a power of ten apart) inside [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min) || !Number.isFinite(max - min)) return [min];
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough) ?? 10 * power;
  const ticks: number[] = [];
  // From integer multiples, rounded to 12 digits: repeated addition would print 0.30000000000000004.
  for (let i = Math.ceil(min / step - 1e-9); i * step <= max + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)) || 0);
  return ticks;
}

const tickLabel = (v: number) => String(Number(v.toPrecision(6)));

/** Where the scatter's points go: its panel, the maps from PC1 and PC2 to drawing coordinates, the label colours. */
function scatterFrame(data: ReportData) {
  const plot = { x: 60, y: 60, w: 560, h: 520 };
  const xs = data.points.map((p) => p.pc1);
  const ys = data.points.map((p) => p.pc2);
  const [xMin, xMax] = [Math.min(...xs, 0), Math.max(...xs, 0)];
  const [yMin, yMax] = [Math.min(...ys, 0), Math.max(...ys, 0)];
  const sx = (v: number) => plot.x + ((v - xMin) / (xMax - xMin || 1)) * plot.w;
  const sy = (v: number) => plot.y + plot.h - ((v - yMin) / (yMax - yMin || 1)) * plot.h;
  const colour = new Map(data.countsByLabel.map(([label], i) => [label, palette[i % palette.length]]));
  return { plot, xMin, xMax, yMin, yMax, sx, sy, colour };
}

type Disc = { x: number; y: number; colour: string };

function discsIn(data: ReportData, { sx, sy, colour }: ReturnType<typeof scatterFrame>): Disc[] {
  return data.points.map((p) => ({ x: Number(fmt(sx(p.pc1), 1)), y: Number(fmt(sy(p.pc2), 1)), colour: colour.get(p.label) ?? '#000' }));
}

/** The scatter's points as drawn: centre in drawing coordinates (1 unit = 1 pixel of report.png) and colour. */
export function scatterDiscs(data: ReportData): Disc[] {
  return discsIn(data, scatterFrame(data));
}

/** Size of the drawing (and of report.png), and the radius and opacity of a scatter point. */
export const DRAWING = { width: 1200, height: 640, pointRadius: 3, pointOpacity: 0.75 } as const;

/**
 * The report's drawing as a standalone SVG document. Without `points` the scatter's panel is drawn empty (report.png
 * draws the points itself: librsvg takes about 40 µs per point).
 */
export function renderReportSvg(data: ReportData, options: { points?: boolean } = {}): string {
  const { width, height } = DRAWING;
  const labels = data.countsByLabel.map(([label]) => label);
  const parts: string[] = [];

  // Scatter of PC1 x PC2 in the left panel.
  const frame = scatterFrame(data);
  const { plot, xMin, xMax, yMin, yMax, sx, sy, colour } = frame;
  parts.push(`<text x="${plot.x}" y="40" font-size="18" font-weight="bold">PC1 x PC2 by label</text>`);
  parts.push(`<rect x="${plot.x}" y="${plot.y}" width="${plot.w}" height="${plot.h}" fill="none" stroke="#999"/>`);
  parts.push(`<g id="axes" font-size="10" fill="#555">`);
  for (const v of niceTicks(xMin, xMax, 8)) {
    const x = fmt(sx(v), 1);
    parts.push(`<line x1="${x}" y1="${plot.y + plot.h}" x2="${x}" y2="${plot.y + plot.h + 5}" stroke="#999"/>`);
    parts.push(`<text x="${x}" y="${plot.y + plot.h + 16}" text-anchor="middle">${tickLabel(v)}</text>`);
  }
  for (const v of niceTicks(yMin, yMax, 8)) {
    const y = fmt(sy(v), 1);
    parts.push(`<line x1="${plot.x - 5}" y1="${y}" x2="${plot.x}" y2="${y}" stroke="#999"/>`);
    parts.push(`<text x="${plot.x - 7}" y="${y}" dy="3" text-anchor="end">${tickLabel(v)}</text>`);
  }
  parts.push(`</g>`);
  // Each point names its image and label when the pointer rests on it (an SVG <title> is the browser's tooltip).
  parts.push(`<g id="scatter">`);
  // The same discs report.png draws (reportPng.ts).
  const discs = options.points === false ? [] : discsIn(data, frame);
  discs.forEach(({ x, y, colour: fill }, i) => {
    const { label, path } = data.points[i];
    parts.push(
      `<circle cx="${fmt(x, 1)}" cy="${fmt(y, 1)}" r="${DRAWING.pointRadius}" fill="${fill}" fill-opacity="${DRAWING.pointOpacity}"><title>${escapeXml(`${label}: ${path}`)}</title></circle>`,
    );
  });
  parts.push(`</g>`);
  parts.push(
    `<text x="${plot.x + plot.w / 2}" y="${plot.y + plot.h + 34}" font-size="13" text-anchor="middle">PC1 (${fmt(100 * (data.explainedVariance[0] ?? 0), 1)} %)</text>`,
  );
  parts.push(
    `<text x="14" y="${plot.y + plot.h / 2}" font-size="13" transform="rotate(-90 14 ${plot.y + plot.h / 2})" text-anchor="middle">PC2 (${fmt(100 * (data.explainedVariance[1] ?? 0), 1)} %)</text>`,
  );

  // Scree plot, top right.
  const scree = { x: 700, y: 60, w: 460, h: 200 };
  const maxRatio = Math.max(...data.explainedVariance, 1e-9);
  const barWidth = scree.w / Math.max(data.explainedVariance.length, 1);
  parts.push(`<text x="${scree.x}" y="40" font-size="18" font-weight="bold">Explained variance (scree)</text>`);
  parts.push(`<g id="scree-axis" font-size="10" fill="#555">`);
  for (const v of niceTicks(0, maxRatio, 4)) {
    const y = fmt(scree.y + scree.h - (v / maxRatio) * scree.h, 1);
    parts.push(`<line x1="${scree.x - 5}" y1="${y}" x2="${scree.x + scree.w}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${scree.x - 7}" y="${y}" dy="3" text-anchor="end">${tickLabel(100 * v)}%</text>`);
  }
  parts.push(`</g>`);
  parts.push(`<g id="scree">`);
  data.explainedVariance.forEach((ratio, i) => {
    const h = (ratio / maxRatio) * scree.h;
    parts.push(
      `<rect x="${fmt(scree.x + i * barWidth + 2, 1)}" y="${fmt(scree.y + scree.h - h, 1)}" width="${fmt(Math.max(barWidth - 4, 1), 1)}" height="${fmt(h, 1)}" fill="#4c78a8"/>`,
    );
    if (data.explainedVariance.length <= 20) {
      parts.push(
        `<text x="${fmt(scree.x + (i + 0.5) * barWidth, 1)}" y="${scree.y + scree.h + 15}" font-size="11" text-anchor="middle">PC${i + 1} ${fmt(100 * ratio, 1)}%</text>`,
      );
    }
  });
  parts.push(`</g>`);

  // Counts per label with the scatter's colours, bottom right.
  const counts = { x: 700, y: 320 };
  const maxCount = Math.max(...data.countsByLabel.map(([, n]) => n), 1);
  const rowHeight = Math.min(18, 300 / Math.max(labels.length, 1));
  parts.push(`<text x="${counts.x}" y="${counts.y - 10}" font-size="18" font-weight="bold">Images per label</text>`);
  data.countsByLabel.forEach(([label, n], i) => {
    const y = counts.y + i * rowHeight;
    parts.push(
      `<rect x="${counts.x + 170}" y="${fmt(y, 1)}" width="${fmt((n / maxCount) * 270, 1)}" height="${fmt(rowHeight - 3, 1)}" fill="${colour.get(label)}"/>`,
    );
    parts.push(`<text x="${counts.x + 165}" y="${fmt(y + rowHeight - 5, 1)}" font-size="11" text-anchor="end">${escapeXml(label)} (${n})</text>`);
  });

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    `</svg>`,
  ].join('\n');
}

const sum = (pairs: [string, number][]) => pairs.reduce((total, [, v]) => total + v, 0);

/** A self-contained HTML page (opens from disk, no network): the drawing plus the tables behind it. */
export function renderReportHtml(data: ReportData): string {
  const featurizeTotal = sum(data.featurizeTimings);
  const rows = (cells: string[][]) => cells.map((c) => `<tr>${c.map((v) => `<td>${escapeXml(v)}</td>`).join('')}</tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(data.title)}</title>
<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 24px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}h2{margin-top:28px}</style>
</head><body>
<h1>${escapeXml(data.title)}</h1>
<p>${escapeXml(data.subtitle)}</p>
${renderReportSvg(data)}
<h2>Explained variance</h2>
<table><tr><th>component</th><th>ratio</th><th>cumulative</th></tr>
${rows(
  data.explainedVariance.map((r, i) => [
    `PC${i + 1}`,
    fmt(r, 4),
    fmt(
      data.explainedVariance.slice(0, i + 1).reduce((a, b) => a + b, 0),
      4,
    ),
  ]),
)}
</table>
<h2>Images per label</h2>
<table><tr><th>label</th><th>images</th></tr>
${rows(data.countsByLabel.map(([label, n]) => [label, String(n)]))}
</table>
<h2>Stage timings</h2>
<table><tr><th>stage</th><th>wall seconds</th></tr>
${rows([...data.timings.map(([stage, s]) => [stage, fmt(s, 2)]), ['all stages before this report', fmt(sum(data.timings), 2)]])}
</table>
<p>The commit, which follows this report, is not included.</p>
<h3>Inside the featurize activities</h3>
<p>Each partition's time on its critical path, summed over the partitions (which run in parallel, so the total exceeds the stage's wall time):
read is the time spent waiting for the next image to be read (or decoded ahead), decode the decoding in turn.</p>
<table><tr><th>part</th><th>seconds</th><th>share</th></tr>
${rows([
  ...data.featurizeTimings.map(([part, s]) => [part, fmt(s, 2), `${fmt((100 * s) / (featurizeTotal || 1), 1)} %`]),
  ['total', fmt(featurizeTotal, 2), '100 %'],
])}
</table>
<h2 id="errors">Errors (${data.errorCount})</h2>
<table><tr><th>path</th><th>error</th></tr>
${rows(data.errors.map((e) => [e.path, e.error]))}
</table>
${data.errorCount > data.errors.length ? `<p>${data.errorCount - data.errors.length} more in errors.parquet</p>` : ''}
</body></html>
`;
}
