// Orchard's production path on one machine: PostgreSQL, the Temporal server (built from go.temporal.io/server, its
// four services in one process) configured by temporal-docker/config/orchard.yaml, the schemas set up by
// temporal-sql-tool, the `default` namespace and Orchard's search attributes. Each part can be stopped and started
// again on the same data, for the fault tests of test/dev/temporalCluster.e2e.test.ts.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { delay } from '../lib/concurrency.js';
import { portAnswers } from './ports.js';
import { projectRoot, temporalCliPath } from '../lib/paths.js';
import { searchAttributeDefinitions } from '../lib/temporal/searchAttributes.js';
import { startPostgres, type Postgres } from './postgres.js';
import { exitOf, stopChild, waitUntilReady } from './processes.js';

const run = promisify(execFile);

/** The Temporal server's ports, from the frontend's (temporal-docker/config/orchard.yaml says which). */
export const temporalPortOffsets = [0, 1, 2, 6, 10, 100, 101, 102, 106];

export interface TemporalCluster {
  address: string;
  postgres: Postgres;
  /** The Temporal server process (all four services). */
  server: { stop(): Promise<void>; start(): Promise<void>; kill(): Promise<void> };
  stop(): Promise<void>;
}

export interface TemporalClusterOptions {
  /** Data and logs: postgres/, temporal-server.log, postgres.log. */
  dir: string;
  frontendPort: number;
  postgresPort: number;
  namespace?: string;
}

/** The folder of the pinned Temporal server build (binaries and PostgreSQL schemas), built on first use. */
export function temporalServerBuild(): string {
  if (process.env.ORCHARD_TEMPORAL_SERVER_DIR) return process.env.ORCHARD_TEMPORAL_SERVER_DIR;
  const script = path.join(projectRoot, 'scripts', 'build-temporal-server.sh');
  return execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

const configRoot = path.join(projectRoot, 'temporal-docker');

/** Create the two databases and bring their schemas to the build's version (idempotent, as on every start). */
async function setUpSchemas(build: string, postgres: Postgres): Promise<void> {
  const tool = path.join(build, 'temporal-sql-tool');
  const connection = ['--plugin', 'postgres12', '--ep', postgres.host, '-p', String(postgres.port), '-u', postgres.user, '--pw', postgres.password];
  for (const [database, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ]) {
    const sql = (...args: string[]) => run(tool, [...connection, '--db', database, ...args]);
    await sql('create-database').catch((err: Error) => {
      if (!/already exists/.test(err.message)) throw err;
    });
    // setup-schema -v 0.0 creates the version tables (a no-op once they exist); update-schema applies what is missing.
    await sql('setup-schema', '-v', '0.0').catch((err: Error) => {
      if (!/already exists/.test(err.message)) throw err;
    });
    await sql('update-schema', '-d', path.join(build, 'schema', 'postgresql', 'v12', schema, 'versioned'));
  }
}

/** Until `temporal operator cluster health` says SERVING: a bounded wait, with the reason when the server exits first. */
function serving(address: string, exited: Promise<Error>, log: string): Promise<void> {
  return waitUntilReady({
    ready: () =>
      run(temporalCliPath(), ['operator', 'cluster', 'health', '--address', address]).then(
        ({ stdout }) => stdout.includes('SERVING'),
        () => false,
      ),
    exited,
    intervalMs: 500,
    timeoutMs: 120_000,
    failed: (why) => `the Temporal server did not start: ${why}; see ${log}`,
    timedOut: `the Temporal server was not serving on ${address} within 120 s; see ${log}`,
  });
}

/** The namespace (3 days' retention) and Orchard's search attributes, registered unless they are already. */
async function registerNamespace(address: string, namespace: string): Promise<void> {
  const cli = (...args: string[]) => run(temporalCliPath(), ['operator', ...args, '--address', address]);
  const known = await cli('namespace', 'describe', '--namespace', namespace).then(
    () => true,
    () => false,
  );
  if (!known) await cli('namespace', 'create', '--namespace', namespace, '--retention', '72h');
  // The namespace may take a moment to reach every service's cache: retried until the attributes are created.
  const deadline = Date.now() + 60_000;
  for (const { name, type } of searchAttributeDefinitions) {
    for (;;) {
      const failure = await cli('search-attribute', 'create', '--namespace', namespace, '--name', name, '--type', type).then(
        () => undefined,
        (err: Error) => (/already exists/i.test(err.message) ? undefined : err),
      );
      if (!failure) break;
      if (Date.now() > deadline) throw new Error(`cannot register search attribute ${name}: ${failure.message}`);
      await delay(500);
    }
  }
}

/** Start PostgreSQL, set up the schemas, start the Temporal server and register the namespace; resolves when it serves. */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<TemporalCluster> {
  const build = temporalServerBuild();
  fs.mkdirSync(options.dir, { recursive: true });
  const postgres = await startPostgres({
    dataDir: path.join(options.dir, 'postgres'),
    port: options.postgresPort,
    logFile: path.join(options.dir, 'postgres.log'),
  });
  const address = `127.0.0.1:${options.frontendPort}`;
  const logFile = path.join(options.dir, 'temporal-server.log');
  let child: ChildProcess | undefined;
  try {
    await setUpSchemas(build, postgres);
  } catch (err) {
    await postgres.stop();
    throw err;
  }

  const start = async () => {
    if (await portAnswers(options.frontendPort))
      throw new Error(`port ${options.frontendPort} is already in use; set ORCHARD_CLUSTER_PORT to another`);
    const log = fs.openSync(logFile, 'a');
    const env = {
      ...process.env,
      TEMPORAL_DB_HOST: postgres.host,
      TEMPORAL_DB_PORT: String(postgres.port),
      TEMPORAL_DB_USER: postgres.user,
      TEMPORAL_DB_PASSWORD: postgres.password,
      TEMPORAL_FRONTEND_PORT: String(options.frontendPort),
      TEMPORAL_DYNAMIC_CONFIG: path.join(configRoot, 'config', 'dynamicconfig.yaml'),
    };
    const server = spawn(
      path.join(build, 'temporal-server'),
      ['--root', configRoot, '--config', 'config', '--env', 'orchard', '--allow-no-auth', 'start'],
      {
        stdio: ['ignore', log, log],
        env,
      },
    );
    fs.closeSync(log);
    child = server;
    await serving(address, exitOf(server), logFile);
  };

  const halt = (signal: NodeJS.Signals) => stopChild(child, { signal, graceMs: 30_000 });

  try {
    await start();
    await registerNamespace(address, options.namespace ?? 'default');
  } catch (err) {
    await halt('SIGKILL');
    await postgres.stop();
    throw err;
  }
  return {
    address,
    postgres,
    server: { start, stop: () => halt('SIGTERM'), kill: () => halt('SIGKILL') },
    async stop() {
      await halt('SIGTERM');
      await postgres.stop();
    },
  };
}

/** A running Temporal Web UI server. */
export interface TemporalUi {
  url: string;
  stop(): Promise<void>;
}

/** Start the Web UI (built on first use by scripts/build-temporal-ui.sh) for the server at `address`, on `port`. */
export async function startTemporalUi(address: string, port: number, logFile: string): Promise<TemporalUi> {
  const script = path.join(projectRoot, 'scripts', 'build-temporal-ui.sh');
  const build = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const log = fs.openSync(logFile, 'a');
  const ui = spawn(path.join(build, 'ui-server'), ['--root', build, '--config', 'config', '--env', 'docker', 'start'], {
    stdio: ['ignore', log, log],
    env: { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_UI_PORT: String(port), TEMPORAL_NOTIFY_ON_NEW_VERSION: 'false' },
  });
  fs.closeSync(log);
  await waitUntilReady({
    ready: () => portAnswers(port),
    exited: exitOf(ui),
    intervalMs: 200,
    timeoutMs: 30_000,
    failed: (why) => `the Temporal Web UI did not start: ${why}; see ${logFile}`,
    timedOut: `the Temporal Web UI did not open port ${port} within 30 s; see ${logFile}`,
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => stopChild(ui) };
}
