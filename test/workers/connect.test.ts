// `orchard worker` with no server at TEMPORAL_ADDRESS: it waits with backoff, one line per attempt, no stack trace,
// and does not restart its processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { delay } from '../../lib/concurrency.js';
import { projectRoot } from '../../lib/paths.js';
import { findFreePortBase } from '../../dev/ports.js';

test('a worker that cannot reach the server says so once per attempt, ever less often, and keeps its process', async () => {
  const port = await findFreePortBase([0]);
  const worker = spawn(process.execPath, [path.join(projectRoot, 'dist', 'workers', 'worker.js')], {
    env: { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, ORCHARD_WORKER_PROCESSES: '1', ORCHARD_LOG_LEVEL: 'INFO' },
  });
  let said = '';
  worker.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  worker.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const attempts = () => [...said.matchAll(/cannot reach Temporal at 127\.0\.0\.1:(\d+) \(([^)]*)\), attempt (\d+); retrying in (\d+) s/g)];
  try {
    const started = Date.now();
    // Three attempts take about 3 s; the bound only keeps a stuck worker from hanging the suite.
    while (attempts().length < 3 && Date.now() - started < 120_000) await delay(100);
    const seen = attempts();
    assert.ok(seen.length >= 3, said);
    assert.deepEqual(
      seen.slice(0, 3).map((m) => [Number(m[1]), Number(m[3]), Number(m[4])]),
      [
        [port, 1, 1],
        [port, 2, 2],
        [port, 3, 4],
      ],
    );
    assert.match(seen[0][2], /refused/i);
    assert.doesNotMatch(said, /^\s+at /m, 'no stack trace');
    assert.doesNotMatch(said, /exited .*starting a replacement/, 'the process waits instead of being restarted');
    assert.equal(said.split('\n').filter((line) => line.includes('cannot reach Temporal')).length, seen.length, 'one line per attempt');
    assert.equal(worker.exitCode, null, 'still running');
  } finally {
    // SIGTERM, so the pool stops its process too; the exit is awaited so nothing outlives the test.
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.kill('SIGTERM');
    await exited;
  }
});
