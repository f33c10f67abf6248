// report.png: the report's drawing rasterised by librsvg (through sharp) without the scatter's points, which are then
// drawn straight into the pixels. librsvg spends about 40 µs on each <circle>, a second at the report's 20,000 points;
// drawn here they cost well under a microsecond each.
import sharp from 'sharp';
import { DRAWING, renderReportSvg, scatterDiscs, type ReportData } from './report.js';

/** The report's drawing as a PNG of DRAWING.width x DRAWING.height. */
export async function renderReportPng(data: ReportData): Promise<Buffer> {
  const { width, height } = DRAWING;
  const { data: pixels, info } = await sharp(Buffer.from(renderReportSvg(data, { points: false })))
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 4) {
    throw new Error(
      `renderReportPng: the drawing rasterised to ${info.width} x ${info.height} x ${info.channels}, expected ${width} x ${height} x 4`,
    );
  }
  for (const disc of scatterDiscs(data)) drawDisc(pixels, width, height, disc.x, disc.y, rgb(disc.colour));
  return sharp(pixels, { raw: { width, height, channels: 4 } })
    .png()
    .toBuffer();
}

/** '#rrggbb' as [r, g, b]. */
function rgb(colour: string): [number, number, number] {
  const value = Number.parseInt(colour.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

/**
 * A filled disc of DRAWING.pointRadius at (cx, cy), composited over the pixels like SVG's fill-opacity: each pixel is
 * covered in proportion to how far its centre lies inside the edge (a one-pixel anti-aliased rim).
 */
function drawDisc(pixels: Uint8Array, width: number, height: number, cx: number, cy: number, [r, g, b]: [number, number, number]): void {
  const radius = DRAWING.pointRadius;
  const x0 = Math.max(0, Math.floor(cx - radius - 1));
  const x1 = Math.min(width - 1, Math.ceil(cx + radius + 1));
  const y0 = Math.max(0, Math.floor(cy - radius - 1));
  const y1 = Math.min(height - 1, Math.ceil(cy + radius + 1));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const distance = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
      const coverage = Math.min(1, Math.max(0, radius + 0.5 - distance));
      if (coverage === 0) continue;
      const alpha = coverage * DRAWING.pointOpacity;
      const i = (y * width + x) * 4;
      pixels[i] = Math.round(r * alpha + pixels[i] * (1 - alpha));
      pixels[i + 1] = Math.round(g * alpha + pixels[i + 1] * (1 - alpha));
      pixels[i + 2] = Math.round(b * alpha + pixels[i + 2] * (1 - alpha));
    }
  }
}
