import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../lib/paths.js';

/** The machine a figure was measured on, saved with every result. */
export function machine() {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** The item with the median `value` of an odd number of runs, and every run's value in ascending order. */
export function medianRun<T>(runs: readonly T[], value: (run: T) => number): { median: T; values: number[] } {
  const sorted = [...runs].sort((a, b) => value(a) - value(b));
  return { median: sorted[Math.floor(sorted.length / 2)], values: sorted.map(value) };
}

/** Print rows as an aligned table. */
export function printTable(title: string, rows: Record<string, unknown>[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) return;
  // Rows may lack a column (a small run has no projection step): every column any row has, '-' where one is missing.
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const cell = (v: unknown) =>
    v === undefined ? '-' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 1 ? 4 : 1)) : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i])).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(columns.map((c) => cell(row[c]))));
}

/** Save a benchmark's figures as bench/results/<name>.json, with the machine they were measured on. */
export async function saveResults(name: string, figures: unknown): Promise<string> {
  const file = path.join(projectRoot, 'bench', 'results', `${name}.json`);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify({ benchmark: name, machine: machine(), figures }, null, 2) + '\n');
  console.log(`\nsaved ${path.relative(process.cwd(), file)}`);
  return file;
}
