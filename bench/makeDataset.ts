import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { startBounded } from '../lib/concurrency.js';
import { defaultSampleDir } from '../lib/paths.js';
import { InputError } from '../lib/errors.js';
import { configureSharp } from '../lib/features/images.js';

const usage = 'usage: node dist/bench/makeDataset.js --out <dir> [--count 10000] [--size 100] [--source <sample dir>] [--seed 1]';

/** Augmentation ranges, saved in MANIFEST.json so a dataset says how it was made. */
export const augmentation = {
  cropKeepPerSide: [0.7, 1],
  horizontalFlipProbability: 0.5,
  maxRotationDegrees: 15,
  background: '#ffffff',
  // Relative to the source photo's size, so each class keeps its sizes and aspect ratios.
  scaleOfSource: [0.85, 1.15],
  sidePixels: [98, 1061],
  jpegQuality: [80, 95],
  jpeg: 'baseline, 4:2:0, mozjpeg off',
  // With --size: every image is size x size like the real Fruits-360 (100 x 100), the photo scaled to fit on white.
  fixedSize: 'fit inside, centred on white',
} as const;

const progressEvery = 1000;

export interface DatasetOptions {
  out: string;
  count: number;
  source: string;
  seed: number;
  /** Every image exactly size x size (the real Fruits-360 is 100 x 100); absent: sizes follow the source photos. */
  size?: number;
  /** sharp pipelines in flight at once. */
  inFlight?: number;
  onProgress?: (done: number, total: number, seconds: number) => void;
}

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface DatasetSummary {
  images: number;
  written: number;
  skipped: number;
  perClass: Record<string, number>;
  totalBytes: number;
  width: Spread;
  height: Spread;
  seconds: number;
}

interface Job {
  className: string;
  index: number;
  sourceFile: string;
  file: string;
}

interface Augmentation {
  crop: { left: number; top: number; width: number; height: number };
  flip: boolean;
  angle: number;
  width: number;
  height: number;
  quality: number;
}

/** Generate `count` augmented JPEGs from the sample's class folders into `out/<class>/`, skipping files already there; writes MANIFEST.json last. */
export async function generateDataset(options: DatasetOptions): Promise<DatasetSummary> {
  const started = performance.now();
  const { count, seed } = options;
  const out = path.resolve(options.out);
  const source = path.resolve(options.source);
  const classes = await listClasses(source);
  if (count < classes.length) throw new InputError(`--count must be at least ${classes.length}, one image per class of ${source}`);
  const jobs = planJobs(classes, count, seed, out);
  const existing = await existingFiles(
    out,
    classes.map((c) => c.name),
  );
  const planned = new Set(jobs.map((job) => job.file));
  const unexpected = [...existing].filter((file) => !planned.has(file));
  if (unexpected.length > 0) {
    throw new InputError(
      `${out} holds ${unexpected.length} .jpg files that are not part of this dataset (e.g. ${path.relative(out, unexpected[0])}), ` +
        'made with another seed, source or a larger --count; use an empty --out directory',
    );
  }
  for (const { name } of classes) await fs.mkdir(path.join(out, name), { recursive: true });

  let done = 0;
  let written = 0;
  const results = await Promise.all(
    startBounded(jobs, options.inFlight ?? 4, async (job) => {
      const alreadyThere = existing.has(job.file);
      const result = alreadyThere ? await describeJpeg(job.file) : await writeAugmented(job, seed, options.size);
      if (!alreadyThere) written++;
      done++;
      if (done % progressEvery === 0) options.onProgress?.(done, jobs.length, (performance.now() - started) / 1000);
      return result;
    }),
  );

  const perClass: Record<string, number> = {};
  for (const job of jobs) perClass[job.className] = (perClass[job.className] ?? 0) + 1;
  const summary: DatasetSummary = {
    images: jobs.length,
    written,
    skipped: jobs.length - written,
    perClass,
    totalBytes: results.reduce((sum, r) => sum + r.bytes, 0),
    width: spread(results.map((r) => r.width)),
    height: spread(results.map((r) => r.height)),
    seconds: (performance.now() - started) / 1000,
  };
  const manifest = {
    generator: 'bench/makeDataset.ts',
    source,
    count,
    seed,
    size: options.size ?? null,
    augmentation,
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
    perClass,
    totalBytes: summary.totalBytes,
    width: summary.width,
    height: summary.height,
  };
  await fs.writeFile(path.join(out, 'MANIFEST.json'), JSON.stringify(manifest, null, 2) + '\n');
  return summary;
}

/** Class folders of the sample (those holding JPEGs), sorted, with their photos sorted. */
async function listClasses(source: string): Promise<{ name: string; photos: string[] }[]> {
  let entries;
  try {
    entries = await fs.readdir(source, { withFileTypes: true });
  } catch {
    throw new InputError(`source directory ${source} does not exist or cannot be read; pass --source <sample dir>`);
  }
  const classes = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => compare(a.name, b.name))) {
    const photos = (await fs.readdir(path.join(source, entry.name))).filter((f) => /\.jpe?g$/i.test(f)).sort(compare);
    if (photos.length > 0) classes.push({ name: entry.name, photos: photos.map((f) => path.join(source, entry.name, f)) });
  }
  if (classes.length === 0) throw new InputError(`${source} has no class folders with .jpg photos`);
  return classes;
}

// Code-point order, so the plan does not depend on the machine's locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One job per output image: `count` split evenly over the classes, each class cycling through its photos. */
function planJobs(classes: { name: string; photos: string[] }[], count: number, seed: number, out: string): Job[] {
  const jobs: Job[] = [];
  classes.forEach(({ name, photos }, classIndex) => {
    const images = Math.floor(count / classes.length) + (classIndex < count % classes.length ? 1 : 0);
    for (let index = 0; index < images; index++) {
      const sourceFile = photos[index % photos.length];
      const stem = path.basename(sourceFile).replace(/\.jpe?g$/i, '');
      // The seed is in the name so a resumed run never mixes in files made with another seed.
      const file = path.join(out, name, `${String(index).padStart(5, '0')}_${stem}_seed${seed}.jpg`);
      jobs.push({ className: name, index, sourceFile, file });
    }
  });
  return jobs;
}

async function existingFiles(out: string, classNames: string[]): Promise<Set<string>> {
  const files = new Set<string>();
  for (const name of classNames) {
    const names = await fs.readdir(path.join(out, name)).catch(() => []);
    for (const file of names) if (file.endsWith('.jpg')) files.add(path.join(out, name, file));
  }
  return files;
}

async function writeAugmented(job: Job, seed: number, size?: number): Promise<{ bytes: number; width: number; height: number }> {
  const image = sharp(job.sourceFile, { failOn: 'error' });
  const { width, height } = await image.metadata();
  const plan = planAugmentation(seededRandom(`${seed}/${job.className}/${job.index}`), width, height);
  const rotated = rotatedSize(plan.width, plan.height, plan.angle);
  // Cutting the rotated canvas back to the pre-rotation size keeps the aspect ratio; the corners are white.
  const keepWidth = Math.min(plan.width, rotated.width);
  const keepHeight = Math.min(plan.height, rotated.height);
  const augmented = image
    .extract(plan.crop)
    .resize(plan.width, plan.height, { fit: 'fill' })
    .flop(plan.flip)
    .rotate(plan.angle, { background: augmentation.background })
    .extract({
      left: Math.floor((rotated.width - keepWidth) / 2),
      top: Math.floor((rotated.height - keepHeight) / 2),
      width: keepWidth,
      height: keepHeight,
    });
  // A second pipeline for the fixed size: libvips applies one resize per pipeline.
  const sized = size
    ? sharp(await augmented.png({ compressionLevel: 0 }).toBuffer()).resize(size, size, { fit: 'contain', background: augmentation.background })
    : augmented;
  const { data, info } = await sized
    .jpeg({ quality: plan.quality, mozjpeg: false, progressive: false, chromaSubsampling: '4:2:0' })
    .toBuffer({ resolveWithObject: true });
  // Written under a temporary name and renamed, so a file with the final name is always complete.
  const partial = `${job.file}.partial`;
  await fs.writeFile(partial, data);
  await fs.rename(partial, job.file);
  return { bytes: data.length, width: info.width, height: info.height };
}

/** Draw the augmentation of one image; the order of draws is part of the dataset's definition. */
function planAugmentation(random: () => number, sourceWidth: number, sourceHeight: number): Augmentation {
  const between = ([low, high]: readonly [number, number]) => low + (high - low) * random();
  const [minKeep, maxKeep] = augmentation.cropKeepPerSide;
  const keep = between(augmentation.cropKeepPerSide);
  // Per-side keep fractions stay within 5% of each other so crops do not distort the class's aspect ratio.
  const keepSide = () => Math.min(maxKeep, Math.max(minKeep, keep * between([0.95, 1.05])));
  const cropWidth = Math.max(1, Math.round(sourceWidth * keepSide()));
  const cropHeight = Math.max(1, Math.round(sourceHeight * keepSide()));
  const crop = {
    left: Math.floor(random() * (sourceWidth - cropWidth + 1)),
    top: Math.floor(random() * (sourceHeight - cropHeight + 1)),
    width: cropWidth,
    height: cropHeight,
  };
  const flip = random() < augmentation.horizontalFlipProbability;
  const angle = between([-augmentation.maxRotationDegrees, augmentation.maxRotationDegrees]);
  const [minSide, maxSide] = augmentation.sidePixels;
  const wanted = between(augmentation.scaleOfSource) / keep;
  // The upper bound wins when both cannot hold (a photo more than 10.8 times taller than wide).
  const scale = Math.min(maxSide / Math.max(cropWidth, cropHeight), Math.max(minSide / Math.min(cropWidth, cropHeight), wanted));
  const side = (pixels: number) => Math.min(maxSide, Math.max(minSide, Math.round(pixels * scale)));
  const [minQuality, maxQuality] = augmentation.jpegQuality;
  const quality = minQuality + Math.floor(random() * (maxQuality - minQuality + 1));
  return { crop, flip, angle, width: side(cropWidth), height: side(cropHeight), quality };
}

/** A lower bound of libvips' canvas after rotating by `degrees`: it rounds the exact bounding box, off by at most half a pixel. */
function rotatedSize(width: number, height: number, degrees: number): { width: number; height: number } {
  const radians = (Math.abs(degrees) * Math.PI) / 180;
  const [cos, sin] = [Math.cos(radians), Math.sin(radians)];
  return {
    width: Math.ceil(width * cos + height * sin - 0.501),
    height: Math.ceil(width * sin + height * cos - 0.501),
  };
}

/** mulberry32 seeded from a hash of `key`: one independent stream per image, whatever order images are made in. */
function seededRandom(key: string): () => number {
  let state = createHash('sha256').update(key).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function describeJpeg(file: string): Promise<{ bytes: number; width: number; height: number }> {
  const [{ size }, { width, height }] = await Promise.all([fs.stat(file), sharp(file).metadata()]);
  return { bytes: size, width, height };
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { min: sorted[0], median, max: sorted[sorted.length - 1] };
}

/** Parse the command line; throws InputError with the usage on mistakes. */
export function parseMakeDatasetArgs(argv: string[]): DatasetOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: { out: { type: 'string' }, count: { type: 'string' }, size: { type: 'string' }, source: { type: 'string' }, seed: { type: 'string' } },
    }));
  } catch (err) {
    throw new InputError(`${(err as Error).message.replace(/\s*\n\s*/g, ' ')}; ${usage}`);
  }
  const wholeNumber = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) > 0xffffffff) throw new InputError(`--${name} must be a whole number, got "${raw}"; ${usage}`);
    return Number(raw);
  };
  if (!values.out) throw new InputError(`--out is required; ${usage}`);
  return {
    out: path.resolve(values.out),
    count: wholeNumber('count', values.count, 10_000),
    source: path.resolve(values.source ?? defaultSampleDir),
    seed: wholeNumber('seed', values.seed, 1),
    ...(values.size !== undefined ? { size: wholeNumber('size', values.size, 100) } : {}),
  };
}

async function main(): Promise<void> {
  try {
    const options = parseMakeDatasetArgs(process.argv.slice(2));
    // One libvips thread per pipeline; the pipelines in flight keep both cores busy.
    configureSharp(1);
    console.log(`making ${options.count} images from ${options.source} into ${options.out} (seed ${options.seed})`);
    const summary = await generateDataset({
      ...options,
      onProgress: (done, total, seconds) => console.log(`  ${done}/${total} images, ${seconds.toFixed(1)} s`),
    });
    const size = (s: Spread) => `${s.min}/${s.median}/${s.max}`;
    console.log(
      `done: ${summary.images} images in ${Object.keys(summary.perClass).length} classes (${summary.written} written, ${summary.skipped} already there) in ${summary.seconds.toFixed(1)} s`,
    );
    console.log(`  ${(summary.totalBytes / 1e6).toFixed(1)} MB; width min/median/max ${size(summary.width)} px; height ${size(summary.height)} px`);
    console.log(`  ${path.join(options.out, 'MANIFEST.json')}`);
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exitCode = err instanceof InputError ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
