import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { portAnswers } from './ports.js';
import { stateDir, temporalCliPath } from '../lib/paths.js';
import { searchAttributeFlags } from '../lib/temporal/searchAttributes.js';
import { exitOf, stopChild, waitUntilReady } from './processes.js';

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
  try {
    await waitUntilReady({
      ready: () => portAnswers(port),
      exited: exitOf(child),
      intervalMs: 200,
      timeoutMs: 60_000,
      failed: (why) => `temporal dev server (${cli}) did not start: ${why}; run npm run setup to install the CLI`,
      timedOut: `temporal dev server did not open port ${port} within 60 s; see ${path.join(stateDir, 'temporal-server.log')}`,
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    address: `127.0.0.1:${port}`,
    uiUrl: `http://127.0.0.1:${uiPort}`,
    process: child,
    stop: () => stopChild(child),
  };
}
