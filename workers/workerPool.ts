import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { delay } from '../lib/concurrency.js';

const workerProcessPath = fileURLToPath(new URL('./workerProcess.js', import.meta.url));

/** Worker processes started and kept running by this process. */
export interface WorkerPool {
  /** The processes running now (a crashed one is replaced). */
  readonly children: readonly ChildProcess[];
  /** Resolves once every process has connected and polls its task queue. */
  readonly ready: Promise<void>;
  /** Graceful shutdown: each process finishes or hands back its activities, then exits. */
  stop(): Promise<void>;
}

/**
 * Start `processes` worker processes with `env` added to this process's environment. A process that dies (a crash,
 * the OOM killer) is replaced after a second; Temporal retries the activities it held. One that dies before it is
 * ready is retried 2, 4 ... 60 s apart.
 */
export function startWorkerPool(processes: number, env: Record<string, string> = {}): WorkerPool {
  const children: ChildProcess[] = [];
  let stopping = false;
  let readyCount = 0;
  const failures: number[] = Array.from({ length: processes }, () => 0);
  let markReady: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const spawnChild = (slot: number) => {
    // Each process knows the size of its pool: the default fan-out of the runs it resolves depends on it.
    const child = fork(workerProcessPath, [], {
      env: { ...process.env, ...env, ORCHARD_WORKER_PROCESSES: String(processes) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children[slot] = child;
    let becameReady = false;
    child.on('message', (message) => {
      if (message !== 'ready') return;
      becameReady = true;
      if (++readyCount === processes) markReady();
    });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      // A process that dies before it is ready (a setting it refuses) is restarted ever more slowly, up to a minute
      // apart, instead of every second; one that ran is replaced after a second.
      failures[slot] = becameReady ? 0 : failures[slot] + 1;
      const wait = Math.min(60, 2 ** failures[slot]);
      console.error(`orchard worker process ${child.pid} exited (${signal ?? `code ${code}`}); starting a replacement in ${wait} s`);
      void delay(wait * 1000).then(() => !stopping && spawnChild(slot));
    });
  };
  for (let slot = 0; slot < processes; slot++) spawnChild(slot);

  return {
    children,
    ready,
    async stop() {
      stopping = true;
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGINT');
            }),
        ),
      );
    },
  };
}
