// Which outputs a run may write into, and the ownership record that makes an output Orchard's. Orchard writes only
// into an output that was empty or missing when it claimed it, or that holds its ownership record, and there only
// moves and removes the entries it wrote (activities/commitResults.ts).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.js';
import { ORCHARD_TEMPORARY, ownershipUri, resultFileUri, successUri } from './layout.js';
import {
  OWNERSHIP_VERSION,
  ownershipSchema,
  readRecordIfThere,
  RESULT_FILE,
  successRecordSchema,
  type OwnershipRecord,
  type SuccessRecord,
} from './records.js';
import { isS3Uri, parseS3Uri, type Storage } from './storage.js';

/** Local trees no output may be inside: the system's own, and virtual file systems where writes may never return. */
const SYSTEM_TREES = ['/proc', '/sys', '/dev', '/run', '/boot', '/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/snap'];
/** Local folders that may hold outputs below them, but are never one themselves. */
const SYSTEM_FOLDERS = ['/', '/home', '/root', '/tmp', '/var', '/var/tmp', '/var/lib', '/opt', '/srv', '/mnt', '/media', '/Users', '/Volumes'];

/** Whether `inner` is `outer` or lies below it (both absolute local paths or both s3:// URIs without trailing slash). */
function within(inner: string, outer: string, separator: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(separator) ? outer : outer + separator);
}

/**
 * The absolute, symlink-free form of a local path (the deepest existing folder resolved by realpath, the rest
 * appended), so two spellings of one folder compare equal; an S3 URI without trailing slashes.
 */
export async function canonicalLocation(location: string): Promise<string> {
  if (isS3Uri(location)) return location.replace(/\/+$/, '');
  const absolute = path.resolve(location);
  const rest: string[] = [];
  for (let dir = absolute; ; dir = path.dirname(dir)) {
    try {
      return path.join(await fs.realpath(dir), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path.dirname(dir) === dir) throw err;
      rest.push(path.basename(dir));
    }
  }
}

/**
 * Why a run must not write into `output` (both canonical), or undefined. Refused: system folders and the home folder,
 * a bucket's root, the source, folders inside the source and folders that hold it.
 */
export function refusedOutput(source: string, output: string, home = os.homedir()): string | undefined {
  const fix = 'choose a new or empty folder (or S3 prefix) of its own for --output';
  if (isS3Uri(output)) {
    if (parseS3Uri(output).key === '') return `--output ${output} is the root of a bucket; ${fix}, e.g. ${output}/Results`;
  } else {
    const tree = SYSTEM_TREES.find((dir) => within(output, dir, path.sep));
    if (tree) return `--output ${output} is inside the system folder ${tree}; ${fix}`;
    if (SYSTEM_FOLDERS.includes(output)) return `--output ${output} is a system folder; ${fix}`;
    if (output === path.resolve(home)) return `--output ${output} is the home folder; ${fix}, e.g. ${path.join(output, 'orchard-out')}`;
  }
  if (isS3Uri(source) !== isS3Uri(output)) return undefined;
  const separator = isS3Uri(output) ? '/' : path.sep;
  if (output === source) return `--output ${output} is the source itself; ${fix}`;
  if (within(output, source, separator)) return `--output ${output} is inside the source ${source}, whose listing it would join; ${fix}`;
  if (within(source, output, separator)) return `--output ${output} holds the source ${source}; ${fix}`;
  return undefined;
}

/** What is at an output: nothing yet, an output Orchard owns, or something else (a few of its entries). */
export type OutputState = { kind: 'new' } | { kind: 'owned'; record: OwnershipRecord } | { kind: 'foreign'; entries: string[] };

const SHOWN_ENTRIES = 5;

/** Look at an output without changing it. */
export async function inspectOutput(storage: Storage, output: string): Promise<OutputState> {
  if (!isS3Uri(output)) {
    const stat = await fs.stat(output).catch(() => undefined);
    if (stat && !stat.isDirectory()) throw new InputError(`--output ${output} is a file, not a folder; choose a new or empty folder for --output`);
  }
  const record = await readRecordIfThere(
    storage,
    ownershipUri(output),
    ownershipSchema,
    "Orchard's ownership record",
    `it was not written by Orchard, or was damaged: choose another --output, or remove ${ownershipUri(output)} if the folder is Orchard's`,
  );
  if (record) {
    if (record.version > OWNERSHIP_VERSION) {
      throw new InputError(
        `--output ${output} was claimed by a newer Orchard (ownership record version ${record.version}); upgrade Orchard to write into it`,
      );
    }
    return { kind: 'owned', record };
  }
  const entries = (await storage.children(output, SHOWN_ENTRIES + 2)).filter((name) => !ORCHARD_TEMPORARY.test(name));
  return entries.length === 0 ? { kind: 'new' } : { kind: 'foreign', entries };
}

/** The refusal for an output that holds entries Orchard did not write. */
function foreignOutput(output: string, entries: string[]): InputError {
  const shown = entries.slice(0, SHOWN_ENTRIES).join(', ') + (entries.length > SHOWN_ENTRIES ? ', …' : '');
  const spark = entries.includes('_SUCCESS') ? ' (its _SUCCESS looks like a Spark or Hadoop output)' : '';
  return new InputError(
    `--output ${output} already holds files that Orchard did not write: ${shown}${spark}. Orchard writes only into a new or ` +
      'empty folder (or S3 prefix) and never deletes or replaces what it did not write: choose a new --output, such as a folder beside it',
  );
}

/** Check that a run may write into `output`: it is Orchard's, or new. Refuses anything else with the fix. */
export async function checkOutputWritable(storage: Storage, output: string): Promise<OutputState> {
  const state = await inspectOutput(storage, output);
  if (state.kind === 'foreign') throw foreignOutput(output, state.entries);
  return state;
}

/**
 * Make `output` Orchard's before anything is written into it: write the ownership record into a new output, accept
 * an owned one, refuse anything else. Safe to repeat.
 */
export async function claimOutput(storage: Storage, output: string, claimedBy: OwnershipRecord['claimedBy']): Promise<void> {
  const state = await checkOutputWritable(storage, output);
  if (state.kind === 'owned') return;
  const record: OwnershipRecord = { orchard: 'output', version: OWNERSHIP_VERSION, claimedAt: new Date().toISOString(), claimedBy };
  await storage.write(ownershipUri(output), JSON.stringify(record, null, 2) + '\n');
  await removeOrchardTemporaries(storage, output);
}

/** Remove the temporary files of Orchard's records that a process killed mid-write left in `folder` (local disk only). */
export async function removeOrchardTemporaries(storage: Storage, folder: string): Promise<void> {
  if (!storage.localPath(folder)) return;
  for (const name of await storage.children(folder, 10_000)) {
    if (ORCHARD_TEMPORARY.test(name)) await storage.remove(path.join(folder, name));
  }
}

/**
 * The fix for a damaged record in an Orchard output. Which files belong to Orchard is no longer known for sure, so
 * it leaves them all alone: the user moves the record and the result beside it away, or writes elsewhere.
 */
export function damagedRecordFix(output: string): string {
  return `it was not written by Orchard, or was damaged: choose another --output, or move it and the result files beside it (features/, pca/, pca_model.json, ...) out of ${output}`;
}

/** The latest committed result of an output (its `_SUCCESS`, checked), or undefined when it holds none. */
export function readLatestResult(storage: Storage, output: string): Promise<SuccessRecord | undefined> {
  return readRecordIfThere(storage, successUri(output), successRecordSchema, 'an Orchard _SUCCESS record', damagedRecordFix(output));
}

/** The files at the top level of an output (the top files, features/ and pca/) whose names a result may use. */
export async function topLevelResultFiles(storage: Storage, output: string): Promise<Set<string>> {
  const names = [...(await storage.children(output, 100_000))];
  for (const folder of ['features', 'pca']) {
    for (const name of await storage.children(resultFileUri(output, folder), 1_000_000)) names.push(`${folder}/${name}`);
  }
  return new Set(names.filter((name) => RESULT_FILE.test(name)));
}
