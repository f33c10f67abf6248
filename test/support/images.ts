import { realpathSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { defaultSampleDir } from '../../lib/paths.js';

// In its canonical form, as runs report their images' paths: ../shared may be a symbolic link (a CI layout).
export const sampleDir = realpathSync(process.env.ORCHARD_SAMPLE_DIR || defaultSampleDir);

/** Copy `perLabel` real sample images of each given label folder into `dir/<label>/`. */
export async function copySample(dir: string, labels: string[], perLabel: number): Promise<string[]> {
  const copied: string[] = [];
  for (const label of labels) {
    const files = (await fs.readdir(path.join(sampleDir, label)))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, perLabel);
    await fs.mkdir(path.join(dir, label), { recursive: true });
    for (const file of files) {
      await fs.copyFile(path.join(sampleDir, label, file), path.join(dir, label, file));
      copied.push(path.join(dir, label, file));
    }
  }
  return copied;
}

/** Write the broken files a real photo folder ends up with: truncated, empty, and text named .jpg. */
export async function writeBrokenImages(dir: string): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const real = await fs.readFile(path.join(sampleDir, 'pear_1', (await fs.readdir(path.join(sampleDir, 'pear_1')))[0]));
  const broken = {
    'truncated.jpg': real.subarray(0, Math.floor(real.length * 0.4)),
    'empty.jpg': Buffer.alloc(0),
    'notes.jpg': Buffer.from('this is a text file, not a photo\n'),
  };
  for (const [name, bytes] of Object.entries(broken)) await fs.writeFile(path.join(dir, name), bytes);
  return Object.keys(broken).map((name) => path.join(dir, name));
}
