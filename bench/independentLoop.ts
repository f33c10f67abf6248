// The independent ceiling: ../shared/bench/ceiling.py, a tight loop of OpenCV decode + resize and onnxruntime in
// Python (P processes x 1 thread, batch B), none of Orchard's stack. Run with a Python environment the benchmarks make
// once under .orchard/bench-python, with pinned packages.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultModelPath, projectRoot, stateDir } from '../lib/paths.js';

const run = promisify(execFile);

/** The loop's script, beside the checkout like the model and the sample (ORCHARD_CEILING_SCRIPT to override). */
export const independentScript = process.env.ORCHARD_CEILING_SCRIPT || path.resolve(projectRoot, '../shared/bench/ceiling.py');
const environment = path.join(stateDir, 'bench-python');
const python = path.join(environment, 'bin', 'python');
// What the loop was measured with; onnxruntime is the version the figures used.
const packages = ['onnxruntime==1.32.0', 'opencv-python-headless==5.1.0.95', 'numpy==2.4.6', 'pillow==13.0.0'];

/** The Python of the benchmark environment, made on first use (a minute, once per checkout). */
export async function benchPython(): Promise<string> {
  const marker = path.join(environment, 'orchard-packages.txt');
  if ((await fs.readFile(marker, 'utf8').catch(() => '')) === packages.join('\n')) return python;
  console.error(`making the benchmark's Python environment in ${environment} (${packages.join(', ')})`);
  await run('python3', ['-m', 'venv', environment]);
  await run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...packages], { maxBuffer: 16 * 1024 * 1024 });
  await fs.writeFile(marker, packages.join('\n'));
  return python;
}

export interface IndependentLoopRun {
  images: number;
  seconds: number;
  imagesPerSecond: number;
  procs: number;
  batch: number;
}

/** One run of the independent loop over every .jpg below `dir`. */
export async function runIndependentLoop(dir: string, options: { procs?: number; batch?: number } = {}): Promise<IndependentLoopRun> {
  const procs = options.procs ?? 2;
  const batch = options.batch ?? 16;
  const { stdout } = await run(
    await benchPython(),
    [independentScript, process.env.ORCHARD_MODEL_PATH || defaultModelPath, dir, '--procs', String(procs), '--batch', String(batch)],
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const figures = JSON.parse(line) as { images: number; seconds: number; images_per_s: number };
  return { images: figures.images, seconds: figures.seconds, imagesPerSecond: figures.images_per_s, procs, batch };
}
