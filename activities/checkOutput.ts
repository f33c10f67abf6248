import type { RunContext } from '../lib/contract.js';
import { InputError } from '../lib/errors.js';
import { failingClearly } from '../lib/temporal/failures.js';
import { committingUri } from '../lib/storage/layout.js';
import {
  canonicalLocation,
  checkOutputWritable,
  damagedRecordFix,
  readLatestResult,
  refusedOutput,
  topLevelResultFiles,
} from '../lib/storage/outputs.js';
import { commitMarkerSchema, readRecordIfThere } from '../lib/storage/records.js';
import { storageFor } from '../lib/storage/storage.js';

export type CheckOutputInput = Pick<RunContext, 'source' | 'output' | 's3Endpoint'>;

/** The source and output in canonical form: absolute and free of symlinks (local) or trailing slashes (S3). */
export interface CheckedLocations {
  source: string;
  output: string;
}

/**
 * Refuse, within seconds and before any work, an output a run must not write into: a system or home folder, the
 * source or a folder inside it or around it, a bucket's root, an output that holds files Orchard did not write, or
 * an Orchard output whose records are damaged. On S3 the check lists the output, so refused credentials fail here.
 */
export async function checkOutput(input: CheckOutputInput): Promise<CheckedLocations> {
  return failingClearly('checkOutput', async () => {
    const source = await canonicalLocation(input.source);
    const output = await canonicalLocation(input.output);
    const refusal = refusedOutput(source, output);
    if (refusal) throw new InputError(refusal);
    const storage = storageFor(output, input);
    const state = await checkOutputWritable(storage, output);
    if (state.kind === 'owned') {
      // Records the commit will act on, read now so that a damaged one fails the run before its work, not after.
      const latest = await readLatestResult(storage, output);
      const marker = await readRecordIfThere(
        storage,
        committingUri(output),
        commitMarkerSchema,
        'an Orchard commit marker',
        damagedRecordFix(output),
      );
      // A file where a result of Orchard's goes, that no result lists, is the user's: the commit would have to replace it.
      const ours = new Set([...(latest?.files ?? []), ...(marker ? [...marker.incoming, ...marker.stale, ...(marker.previous?.files ?? [])] : [])]);
      const foreign = [...(await topLevelResultFiles(storage, output))].filter((file) => !ours.has(file));
      if (foreign.length > 0) {
        throw new InputError(
          `--output ${output} holds ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}, which Orchard did not write, where its ` +
            'result goes: a run would have to replace them. Move them out of the output, or choose another --output',
        );
      }
    }
    return { source, output };
  });
}
