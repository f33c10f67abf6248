/** Bad input that retrying cannot fix; activities turn it into a non-retryable failure naming the problem and the fix. */
export class InputError extends Error {
  override name = 'InputError';
}
