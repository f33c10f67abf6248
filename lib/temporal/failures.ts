import { ApplicationFailure } from '@temporalio/common';
import { InputError } from '../errors.js';

// File-system errors that retrying cannot fix. DuckDB reports them in its message rather than as a code.
const diskFull = { codes: new Set(['ENOSPC', 'EDQUOT']), message: /No space left on device|Disk quota exceeded/i };
const notAllowed = { codes: new Set(['EROFS', 'EACCES', 'EPERM', 'ENOTDIR']), message: /Read-only file system|Permission denied/i };

function explain(err: unknown): unknown {
  if (err instanceof InputError || !(err instanceof Error)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (diskFull.codes.has(code) || diskFull.message.test(err.message)) {
    return new InputError(`the disk is full (${err.message}); free space or choose an --output on another disk`);
  }
  if (notAllowed.codes.has(code) || notAllowed.message.test(err.message)) {
    return new InputError(`a file cannot be accessed (${err.message}); check that the source is readable and --output is writable`);
  }
  return err;
}

/** Run an activity body, turning bad input into a non-retryable failure; everything else stays retryable. */
export async function failingClearly<T>(step: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (caught) {
    const err = explain(caught);
    if (err instanceof InputError) {
      throw ApplicationFailure.create({ type: 'InputError', message: `${step}: ${err.message}`, nonRetryable: true, cause: err });
    }
    throw err;
  }
}
