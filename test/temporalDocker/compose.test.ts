// temporal-docker/: the Compose file validates with Compose itself, and the worker image follows the rules a
// production image needs (pinned bases, non-root, no downloads at build time). No Docker engine runs here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../lib/paths.js';

const folder = path.join(projectRoot, 'temporal-docker');
const composeFile = path.join(folder, 'docker-compose.yml');

/** `docker compose config` (Compose v2), or `docker-compose config` where only Compose v1 is installed. */
function composeConfig(): { status: number | null; out: string } {
  for (const [command, args] of [
    ['docker', ['compose', '-f', composeFile, 'config']],
    ['docker-compose', ['-f', composeFile, 'config']],
  ] as const) {
    const result = spawnSync(command, args, { cwd: folder, encoding: 'utf8', env: { ...process.env, ORCHARD_MODEL_DIR: '/models-on-host' } });
    // Without the Compose plugin the docker client rejects the subcommand or its flags: try Compose v1.
    if (result.error || /unknown command|is not a docker command|unknown shorthand flag/.test(result.stderr ?? '')) continue;
    return { status: result.status, out: result.stdout + result.stderr };
  }
  return assert.fail('neither `docker compose` nor `docker-compose` is installed (.ci/run installs docker-compose)');
}

test('the Compose file is valid and has every service, with start order and health checks', () => {
  const { status, out } = composeConfig();
  assert.equal(status, 0, out);
  for (const service of ['postgresql', 'temporal', 'temporal-ui', 'minio', 'minio-buckets', 'control', 'worker']) {
    assert.match(out, new RegExp(`^  ${service}:$`, 'm'), `service ${service}`);
  }
  assert.match(out, /\/models-on-host:\/models:ro/, 'the model folder is mounted read-only from ORCHARD_MODEL_DIR');
  const source = readFileSync(composeFile, 'utf8');
  for (const service of ['postgresql', 'temporal', 'minio']) {
    const block = source.slice(source.indexOf(`\n  ${service}:`), source.indexOf('\n\n', source.indexOf(`\n  ${service}:`)));
    assert.match(block, /healthcheck:/, `${service} has a health check`);
  }
  assert.equal((source.match(/condition: service_healthy/g) ?? []).length >= 3, true, 'services wait for healthy dependencies');
});

test('every image is pinned and the featurize worker service can be scaled', () => {
  const source = readFileSync(composeFile, 'utf8');
  const images = [...source.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1]);
  assert.ok(images.length >= 6);
  for (const image of images) assert.match(image, /^[\w./-]+:(?!latest$)[\w.-]+$/, `${image} is pinned to a version`);
  const worker = source.slice(source.indexOf('\n  worker:'));
  assert.doesNotMatch(worker, /container_name|ports:/, 'a scaled service can have neither a fixed name nor host ports');
  assert.match(worker, /ORCHARD_WORKER_ROLE: featurize/);
});

test('the worker Dockerfile: pinned bases, no downloads, built from the project, runs as a non-root user', () => {
  const dockerfile = readFileSync(path.join(folder, 'Dockerfile'), 'utf8');
  const from = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.ok(from.length >= 1);
  for (const base of from) assert.match(base, /^(node|rust):\d+\.\d+\.\d+-[\w-]+$/, `${base} is pinned`);
  assert.doesNotMatch(dockerfile, /^ADD\s+https?:/m, 'nothing is downloaded with ADD');
  assert.ok(dockerfile.indexOf('ONNXRUNTIME_NODE_INSTALL=skip') < dockerfile.indexOf('npm ci'), 'onnxruntime-node must not fetch CUDA');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const user = /^USER (\S+)$/m.exec(finalStage);
  assert.ok(user && user[1] !== 'root' && user[1] !== '0', 'the final stage runs as a non-root user');
  assert.ok(finalStage.indexOf('USER ') < finalStage.indexOf('CMD '), 'USER comes before CMD');
  for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(?:--\S+ )*(\S+)/gm)) {
    assert.ok(existsSync(path.join(projectRoot, source)), `COPY ${source}: exists in the build context`);
  }
});
