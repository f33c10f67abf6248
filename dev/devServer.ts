import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { delay } from '../lib/concurrency.js';
import { portAnswers } from './ports.js';
import { stateDir, temporalCliPath } from '../lib/paths.js';
import { searchAttributeFlags } from '../lib/temporal/searchAttributes.js';

/** A running `temporal server start-dev`. */
export interface DevServer {
  address: string;
  uiUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  port?: number;
  uiPort?: number;
  /** SQLite file that keeps workflows across restarts. */
  dbFile?: string;
  /** Inherit stdio (foreground use) instead of logging to `.orchard/temporal-server.log`. */
  foreground?: boolean;
}

/** Start the Temporal dev server (real server, Web UI, SQLite persistence) and wait until it accepts connections. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const port = options.port ?? 7233;
  const uiPort = options.uiPort ?? 8233;
  const dbFile = options.dbFile ?? path.join(stateDir, 'temporal.db');
  if (await portAnswers(port)) {
    throw new Error(`port ${port} is already in use; stop the other server or set TEMPORAL_ADDRESS=localhost:${port} to use it`);
  }
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const cli = temporalCliPath();
  // Write-ahead logging keeps every commit durable (synchronous stays FULL) with fewer fsyncs than the default rollback
  // journal, which took a fifth off the server's CPU in a sample run (bench/README.md, "Figures behind the code").
  const sqlite = ['--sqlite-pragma', 'journal_mode=wal'];
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--ui-port',
    String(uiPort),
    '--db-filename',
    dbFile,
    ...sqlite,
    ...searchAttributeFlags,
    '--log-level',
    'warn',
  ];
  const log = options.foreground ? 'inherit' : fs.openSync(path.join(stateDir, 'temporal-server.log'), 'a');
  const child = spawn(cli, args, { stdio: ['ignore', log, log] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.once('error', () => undefined);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const deadline = Date.now() + 60_000;
  while (!(await portAnswers(port))) {
    const failed = await Promise.race([spawnError, exited.then((code) => new Error(`exited with code ${code}`)), delay(200)]);
    if (failed) throw new Error(`temporal dev server (${cli}) did not start: ${failed.message}; run npm run setup to install the CLI`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal dev server did not open port ${port} within 60 s; see ${path.join(stateDir, 'temporal-server.log')}`);
    }
  }
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
