// The whole pipeline on the 900-image Fruits-360 sample: real Temporal server, real model, real Parquet files.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { oneWavePartitionSizes } from '../../activities/listImages.js';
import { pipelineDefaults } from '../../lib/pipelineInput.js';
import { projectRoot, temporalCliPath } from '../../lib/paths.js';
import type { RunSummary } from '../../lib/contract.js';
import sharp from 'sharp';
import { queryParquet, type VectorRows } from '../../lib/storage/parquet.js';
import { startTestPipeline, tempDir, type TestPipeline } from '../support/environment.js';
import { sampleDir } from '../support/images.js';
import { imagesBelow, readFeatures, verifyResult } from '../support/results.js';

let pipeline: TestPipeline;
let env: TestWorkflowEnvironment;
let work: string;
let output: string;
let firstFeatures: VectorRows | undefined;

before(async () => {
  work = await tempDir('e2e');
  output = path.join(work, 'out');
  pipeline = await startTestPipeline(path.join(work, 'scratch'));
  env = pipeline.env;
});

after(async () => {
  await pipeline?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

test('all 900 sample images: folder labels, real features, a PCA that matches an independent computation', async () => {
  const summary = await env.client.workflow.execute('imagePipeline', {
    taskQueue: 'orchard',
    workflowId: 'e2e-first',
    args: [{ source: sampleDir, output, k: 5 }],
  });
  assert.deepEqual([summary.images, summary.failed, summary.labels], [900, 0, 15]);
  // The featurize activities' time by part: the parts of each partition's critical path, which add up to it.
  assert.deepEqual(Object.keys(summary.featurizeTimings).sort(), ['decode', 'infer', 'other', 'read', 'write']);
  assert.ok(
    Object.values<number>(summary.featurizeTimings).every((ms) => ms >= 0) && summary.featurizeTimings.infer > 0,
    JSON.stringify(summary.featurizeTimings),
  );
  const images = await imagesBelow(sampleDir);
  assert.equal(images.length, 900);
  firstFeatures = await verifyResult(output, summary, { paths: images, k: 5 });
  const folders = (await fs.readdir(sampleDir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const labels = await queryParquet('SELECT label, count(*) AS n FROM read_parquet($1) GROUP BY 1 ORDER BY 1', [
    path.join(output, 'features', '*.parquet'),
  ]);
  assert.deepEqual(
    labels.map((r) => [r.label, r.n]),
    folders.map((f) => [f, 60]),
  );

  // The Web UI shows the counts (memo) and each featurize activity with its summary.
  const { memo } = await env.client.workflow.getHandle('e2e-first').describe();
  assert.deepEqual(memo, { images: 900, featurized: 900, reused: 0, failed: 0, labels: 15 });
  const events = (await env.client.workflow.getHandle('e2e-first').fetchHistory()).events ?? [];
  const summaries = events
    .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'featurizePartition')
    .map((e) => JSON.parse(Buffer.from(e.userMetadata?.summary?.data ?? []).toString('utf8')) as string);
  // 900 images fit in one wave of partitions: one per activity slot (the test worker resolves the fan-out: its slots).
  const partitions = oneWavePartitionSizes(900, pipelineDefaults.partitionSize, pipeline.config.maxConcurrentPartitions).length;
  assert.equal(summaries.length, partitions);
  assert.deepEqual(
    summaries,
    [...Array(partitions).keys()].map((i) => `partition ${i + 1} of ${partitions}`),
  );
  // A run this small makes the steps after featurizing local activities: markers, no activity tasks on the server.
  // The commit, which changes the output, is an ordinary activity: everything before it is recorded by then.
  const scheduled = events.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter((name) => name);
  assert.deepEqual([...new Set(scheduled)], ['listImages', 'featurizePartition', 'commitResults']);
  const localTypes = events
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
    .map(
      (e) =>
        (JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!.data!.payloads![0].data!).toString('utf8')) as { activity_type: string })
          .activity_type,
    );
  // 900 vectors fit in memory, so fitPca projects them itself and no projection step follows.
  assert.deepEqual(localTypes, [
    'resolveInput',
    'checkOutput',
    'acquireOutput',
    'waitForFeaturizeWorkers',
    'aggregateFeatures',
    'fitPca',
    'checkVariance',
    'writeReport',
    'releaseOutput',
  ]);

  const status = execFileSync(process.execPath, [path.join(projectRoot, 'dist', 'scripts', 'status.js'), 'e2e-first'], {
    env: { ...process.env, TEMPORAL_ADDRESS: env.address },
    encoding: 'utf8',
  });
  assert.match(status, /workflow e2e-first: COMPLETED/);
  assert.match(status, /images listed: 900, featurized now: 900, failed: 0, labels: 15/);
});

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((file) => existsSync(file));

test('report.html renders in a real headless browser, and report.png is the same drawing', async (t) => {
  assert.ok(firstFeatures, 'needs the first run');
  const png = await sharp(path.join(output, 'report.png')).metadata();
  assert.deepEqual([png.format, png.width, png.height], ['png', 1200, 640]);
  const html = await fs.readFile(path.join(output, 'report.html'), 'utf8');
  assert.ok(html.includes(`<h1>Orchard features and PCA of ${sampleDir}</h1>`), 'titled by the dataset');
  assert.match(html, /<p>workflow e2e-first \(run [0-9a-f-]+\), started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/p>/);
  assert.match(html, /<td>featurize<\/td>/);
  assert.match(html, /<td>infer<\/td><td>\d+\.\d\d<\/td>/);
  if (!chromium) {
    t.skip('Debian chromium is not installed here (apt-get install chromium); .ci/run installs it');
    return;
  }
  const page = pathToFileURL(path.join(output, 'report.html')).href;
  // Flags that keep Chromium off the network and out of any profile (this machine has no network).
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${path.join(work, 'chromium-profile')}`,
    '--window-size=1280,900',
  ];
  const dom = execFileSync(chromium, [...flags, '--dump-dom', page], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
  assert.equal((dom.match(/<circle /g) ?? []).length, 900, 'one point per image');
  // Each point's tooltip names its label and image.
  const tooltips = [...dom.matchAll(/<circle [^>]*><title>([^<:]+): ([^<]+)<\/title><\/circle>/g)];
  assert.equal(tooltips.length, 900);
  assert.ok(
    tooltips.every(([, label, file]) => file.startsWith(path.join(sampleDir, label) + path.sep)),
    'label: its image',
  );
  assert.match(dom, /Explained variance/);
  const shot = path.join(work, 'report-screenshot.png');
  execFileSync(chromium, [...flags, `--screenshot=${shot}`, page], { timeout: 60_000, stdio: 'ignore' });
  // The scatter area of the screenshot shows many label colours, not a blank page.
  const { data } = await sharp(shot).extract({ left: 84, top: 150, width: 560, height: 500 }).raw().toBuffer({ resolveWithObject: true });
  const colours = new Set<string>();
  for (let i = 0; i < data.length; i += 3) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) colours.add(`${r >> 5},${g >> 5},${b >> 5}`);
  }
  assert.ok(colours.size >= 10, `the scatter shows ${colours.size} colours`);
});

test('started from the temporal CLI, a second run over the same output gives the same rows and no duplicates', async () => {
  assert.ok(firstFeatures, 'needs the first run');
  const input = JSON.stringify({ source: sampleDir, output, k: 5 });
  const args = [
    'workflow',
    'start',
    '--address',
    env.address,
    '--task-queue',
    'orchard',
    '--type',
    'imagePipeline',
    '--workflow-id',
    'e2e-cli',
    '--input',
    input,
  ];
  const cli = spawn(temporalCliPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = '';
  cli.stdout.on('data', (d) => (printed += d));
  cli.stderr.on('data', (d) => (printed += d));
  const code = await new Promise((resolve) => cli.once('exit', resolve));
  assert.equal(code, 0, printed);
  const summary = (await env.client.workflow.getHandle('e2e-cli').result()) as RunSummary;
  assert.equal(summary.featurized, 900);

  const again = await readFeatures(output);
  assert.deepEqual(again.paths, firstFeatures.paths);
  assert.deepEqual(again.labels, firstFeatures.labels);
  let maxDifference = 0;
  for (let i = 0; i < again.vectors.length; i++) maxDifference = Math.max(maxDifference, Math.abs(again.vectors[i] - firstFeatures.vectors[i]));
  assert.ok(maxDifference < 1e-5, `features differ by up to ${maxDifference}`);
});
