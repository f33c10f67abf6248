import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { loadFaultRules, type FaultRule } from './config.js';
import { InputError } from './errors.js';

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

let faultRules: FaultRule[] | undefined;

/** Fail on purpose where ORCHARD_FAULT_INJECTION says so, the way a real fault would (see lib/config.ts). */
function injectFault(step: string): void {
  faultRules ??= loadFaultRules();
  const rule = faultRules.find((r) => r.step === step);
  if (!rule) return;
  if (rule.kind === 'fatal') throw ApplicationFailure.nonRetryable(`${step}: injected fatal fault`, 'InjectedFault');
  const attempt = activityInfo().attempt;
  if (attempt <= rule.attempts) throw ApplicationFailure.retryable(`${step}: injected transient fault (attempt ${attempt} of ${rule.attempts})`, 'InjectedFault');
}

/** Run an activity body, turning bad input into a non-retryable failure; everything else stays retryable. */
export async function failingClearly<T>(step: string, body: () => Promise<T>): Promise<T> {
  injectFault(step);
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
