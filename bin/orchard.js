#!/usr/bin/env node
// `orchard <command>` (or `npx orchard`, `npm run <command>`): runs Orchard's commands from the compiled build,
// setting up the checkout first when it never was, and building only when a source is newer than the build.
// Plain JavaScript on Node's built-ins, so it runs before `npm ci` and starts in a few tens of milliseconds.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const commands = {
  pipeline: ['dist/scripts/pipeline.js', 'start a run and follow it: --source <dir|s3://…> --output <dir|s3://…> [options]'],
  status: ['dist/scripts/status.js', 'where a run stands, or how it ended: <workflow-id>'],
  schedule: ['dist/scripts/schedule.js', 'nightly runs: create|update|describe|pause|unpause|delete|trigger --id <id> …'],
  worker: ['dist/workers/worker.js', 'worker processes, one per core, until Ctrl-C'],
  server: ['dist/scripts/server.js', 'the Temporal dev server and Web UI, until Ctrl-C'],
  demo: ['dist/scripts/demo.js', 'the whole pipeline on the shared sample, with its own server and workers'],
  's3-server': ['dist/scripts/s3Server.js', 'the S3-compatible test server (SeaweedFS), until Ctrl-C'],
  cluster: ['dist/scripts/cluster.js', 'PostgreSQL + the Temporal server + S3 on this machine (the production path), until Ctrl-C'],
  temporal: [undefined, 'the Temporal CLI that setup installed, e.g. orchard temporal workflow list'],
  setup: [undefined, 'install and build everything (what the other commands do first on a fresh checkout)'],
  build: [undefined, 'set up when never done, then build when a source changed (what every command does first)'],
};

function usage() {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, [, what]]) => `  ${name.padEnd(width)}  ${what}`);
  return `usage: orchard <command> [options]\n\n${lines.join('\n')}\n`;
}

/** Run a child with this terminal; exit with its status when it fails. */
function run(file, args, options = {}) {
  const result = spawnSync(file, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) {
    console.error(`orchard: cannot run ${file}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const mtime = (file) => fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;

/** Set-up has never run here, or its inputs changed since: dependencies, the CLI and the decoder must be (re)made. */
function needsSetup() {
  const done = mtime(path.join(root, '.orchard', 'setup.done'));
  return done === 0 || ['package-lock.json', 'scripts/setup.sh'].some((file) => mtime(path.join(root, file)) > done);
}

/** The newest modification time of the sources the product build compiles. */
function newestSource(dir = root, depth = 0) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth === 0 && !['lib', 'workflows', 'activities', 'workers', 'scripts', 'dev'].includes(entry.name)) continue;
      newest = Math.max(newest, newestSource(full, depth + 1));
    } else if (entry.name.endsWith('.ts') || (depth === 0 && /^(package\.json|tsconfig.*\.json)$/.test(entry.name))) {
      newest = Math.max(newest, mtime(full));
    }
  }
  return newest;
}

/** Build when a source is newer than the workflow bundle, the build's last output. */
function ensureBuilt() {
  const built = mtime(path.join(root, 'dist', 'workflow-bundle.js'));
  if (built > 0 && newestSource() <= built) return;
  console.error(built > 0 ? 'orchard: sources changed since the last build; building…' : 'orchard: building…');
  run('npm', ['run', 'build', '--silent'], { stdio: ['inherit', 2, 'inherit'] });
}

function ensureSetUp() {
  if (!needsSetup()) return;
  console.error('orchard: this checkout is not set up yet; running npm run setup (once)…');
  // Its messages go to stderr: the command's own output stays what it is (a JSON a script reads, say).
  run('bash', [path.join(root, 'scripts', 'setup.sh')], { stdio: ['inherit', 2, 'inherit'] });
}

const [command, ...args] = process.argv.slice(2);
if (!command || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(usage());
  process.exit(command ? 0 : 2);
}
if (!(command in commands)) {
  process.stderr.write(`orchard: unknown command "${command}"\n${usage()}`);
  process.exit(2);
}
if (command === 'setup') {
  run('bash', [path.join(root, 'scripts', 'setup.sh'), ...args]);
  process.exit(0);
}
ensureSetUp();
ensureBuilt();
if (command === 'build') process.exit(0);
if (command === 'temporal') {
  const { temporalCliPath } = await import(pathToFileURL(path.join(root, 'dist', 'lib', 'paths.js')).href);
  run(temporalCliPath(), args, { cwd: process.cwd() });
  process.exit(0);
}
// The command reads its own arguments from process.argv, as when started with node directly.
process.argv = [process.argv[0], path.join(root, commands[command][0]), ...args];
await import(pathToFileURL(process.argv[1]).href);
