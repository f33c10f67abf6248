import { ApplicationFailure } from '@temporalio/common';
import { InputError } from './config.js';

/** Run an activity body, turning bad input into a non-retryable failure; everything else stays retryable. */
export async function failingClearly<T>(step: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof InputError) {
      throw ApplicationFailure.create({ type: 'InputError', message: `${step}: ${err.message}`, nonRetryable: true, cause: err });
    }
    throw err;
  }
}
