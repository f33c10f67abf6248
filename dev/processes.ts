// The two things every server the dev tooling starts needs: a bounded wait until it serves, which fails with the
// reason when it exits first, and a stop that escalates to SIGKILL and resolves once it has exited.
import type { ChildProcess } from 'node:child_process';
import { delay } from '../lib/concurrency.js';

/** Resolves when `child` exits (or cannot be spawned), with how it ended. */
export function exitOf(child: ChildProcess): Promise<Error> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(new Error(`exited (${signal ?? `code ${code}`})`)));
    child.once('error', (err) => resolve(err));
  });
}

export interface ReadyWait {
  /** Checked until it holds. */
  ready: () => Promise<boolean>;
  /** The server's exit: the wait fails at once with `failed` if it comes first. */
  exited: Promise<Error>;
  intervalMs: number;
  timeoutMs: number;
  failed: (reason: string) => string;
  timedOut: string;
}

/** Poll `ready` until it holds; throws `failed(why)` if the server exits first, `timedOut` past `timeoutMs`. */
export async function waitUntilReady({ ready, exited, intervalMs, timeoutMs, failed, timedOut }: ReadyWait): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    const exit = await Promise.race([exited, delay(intervalMs)]);
    if (exit) throw new Error(failed(exit.message));
    if (Date.now() > deadline) throw new Error(timedOut);
  }
}

/**
 * Send `signal` (to `pid`, when the server runs below a wrapper such as runuser, else to the child), SIGKILL the child
 * after `graceMs`, and resolve once it has exited. Nothing to do when it is not running.
 */
export async function stopChild(
  child: ChildProcess | undefined,
  options: { signal?: NodeJS.Signals; graceMs?: number; pid?: () => number } = {},
): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = options.signal ?? 'SIGTERM';
  if (options.pid) process.kill(options.pid(), signal);
  else child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.graceMs ?? 10_000);
  await exited;
  clearTimeout(timer);
}
