// A worker's connection to Temporal, retried with backoff and one line per attempt while the server cannot be reached
// (not started yet, restarting, or a wrong TEMPORAL_ADDRESS), instead of a stack trace and a restart every second.
import { NativeConnection, Runtime } from '@temporalio/worker';
import { delay } from '../lib/concurrency.js';
import { connectionOptions } from '../lib/temporal/connection.js';

const MAX_WAIT_SECONDS = 30;

/** The reason of a failed connection in a few words: the SDK's errors carry the transport's whole debug chain. */
function connectionReason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const os = /message: "([^"]+)"/.exec(text)?.[1];
  return os ?? text.split('\n')[0].slice(0, 200);
}

/** Connect to `address`, retrying 1, 2, 4 ... 30 s apart for as long as it takes. */
export async function connectWithBackoff(address: string): Promise<NativeConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect(connectionOptions(address));
    } catch (err) {
      const wait = Math.min(MAX_WAIT_SECONDS, 2 ** (attempt - 1));
      Runtime.instance().logger.warn(
        `cannot reach Temporal at ${address} (${connectionReason(err)}), attempt ${attempt}; retrying in ${wait} s. ` +
          'Start it with orchard server, or set TEMPORAL_ADDRESS to where it runs',
      );
      await delay(wait * 1000);
    }
  }
}
