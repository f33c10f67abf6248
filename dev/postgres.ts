// A PostgreSQL server of this machine (Debian's package) on 127.0.0.1, with its data in a folder Orchard owns: the
// persistence of `orchard cluster`. Stoppable and restartable on the same data, for the cluster's fault tests.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exitOf, stopChild, waitUntilReady } from './processes.js';

export interface Postgres {
  /** Where the data is: the folder asked for, or the `postgres` user's home when it cannot enter that one. */
  dataDir: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** Fast shutdown (open transactions roll back, connections close); the data stays. */
  stop(): Promise<void>;
  /** Start again on the same data and port, once stopped. */
  start(): Promise<void>;
}

export interface PostgresOptions {
  dataDir: string;
  port: number;
  /** Where the server's output goes. */
  logFile: string;
}

/** The folder of PostgreSQL's programs: $ORCHARD_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin. */
export function postgresBinDir(): string {
  if (process.env.ORCHARD_PG_BIN) return process.env.ORCHARD_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('PostgreSQL is not installed: apt-get install postgresql (or set ORCHARD_PG_BIN to its bin folder)');
  return path.join(root, newest, 'bin');
}

// PostgreSQL refuses to run as root: as root, its programs run as the package's `postgres` user, which owns the data.
const asRoot = os.userInfo().uid === 0;
const command = (program: string, args: string[]): [string, string[]] =>
  asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(postgresBinDir(), program), ...args]] : [path.join(postgresBinDir(), program), args];

/**
 * Where the data lives: `dataDir`, unless PostgreSQL runs as the `postgres` user (this process is root) and that user
 * cannot enter its folder (a checkout in a home folder of mode 0700, say): then in that user's home, under
 * orchard/<hash of dataDir>, where Debian keeps its own clusters. Permissions above `dataDir` are not Orchard's to change.
 */
function reachableDataDir(dataDir: string): string {
  if (!asRoot) return dataDir;
  const parent = path.dirname(path.resolve(dataDir));
  fs.mkdirSync(parent, { recursive: true });
  if (spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', parent]).status === 0) return dataDir;
  const home = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).split(':')[5];
  const hash = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  const fallback = path.join(home, 'orchard', hash);
  fs.mkdirSync(path.dirname(fallback), { recursive: true, mode: 0o755 });
  return fallback;
}

/** Initialise `dataDir` when it holds no cluster yet: user `temporal`, password auth over TCP, UTF-8. */
function initialise(dataDir: string, user: string, password: string): void {
  if (fs.existsSync(path.join(dataDir, 'PG_VERSION'))) return;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const passwordFile = path.join(dataDir, '..', 'postgres-password');
  fs.writeFileSync(passwordFile, password, { mode: 0o600 });
  if (asRoot) execFileSync('chown', ['postgres:postgres', dataDir, passwordFile]);
  try {
    const [file, args] = command('initdb', [
      `--pgdata=${dataDir}`,
      `--username=${user}`,
      `--pwfile=${passwordFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
    ]);
    execFileSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } finally {
    fs.rmSync(passwordFile, { force: true });
  }
}

/** Start PostgreSQL on 127.0.0.1:`port` with the data in `dataDir` (initialised on first use); resolves once it accepts connections. */
export async function startPostgres(options: PostgresOptions): Promise<Postgres> {
  const user = 'temporal';
  const password = 'temporal';
  const dataDir = reachableDataDir(options.dataDir);
  initialise(dataDir, user, password);
  let child: ChildProcess | undefined;

  const start = async () => {
    const log = fs.openSync(options.logFile, 'a');
    // The socket lives in the data folder, which only the server's user may enter; clients use TCP.
    const [file, args] = command('postgres', [
      '-D',
      dataDir,
      '-p',
      String(options.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dataDir}`,
      '-c',
      'max_connections=200',
    ]);
    const server = spawn(file, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child = server;
    const isReady = [path.join(postgresBinDir(), 'pg_isready'), '-q', '-h', '127.0.0.1', '-p', String(options.port), '-U', user] as const;
    await waitUntilReady({
      ready: () => new Promise((resolve) => spawn(isReady[0], isReady.slice(1), { stdio: 'ignore' }).once('exit', (code) => resolve(code === 0))),
      exited: exitOf(server),
      intervalMs: 200,
      timeoutMs: 60_000,
      failed: (why) => `PostgreSQL did not start: ${why}; see ${options.logFile}`,
      timedOut: `PostgreSQL did not accept connections on 127.0.0.1:${options.port} within 60 s; see ${options.logFile}`,
    });
  };

  // SIGINT is PostgreSQL's fast shutdown, sent to the postmaster itself (its pid file), not to runuser above it.
  const postmaster = () => {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : child!.pid!;
  };
  const stop = () => stopChild(child, { signal: 'SIGINT', graceMs: 30_000, pid: postmaster });

  await start();
  return { host: '127.0.0.1', port: options.port, user, password, dataDir, stop, start };
}
