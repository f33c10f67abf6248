// Every storage mutation of a run is a crash point. On local disk and on S3, each step of a run is stopped before each
// of its mutations in turn (the test-only hook in lib/storage/storage.ts); then the step is retried, or (for the commit) the
// run is given up and another one runs. At the crash a reader that trusts _SUCCESS sees a whole result; after the
// recovery the output holds the new result whole, the earlier ones whole under runs/, the user's own files, and no
// marker, staging or temporary file. The sweep also writes the table of docs/reliability.md, and fails when it changes.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { KEEP_PREVIOUS_RUNS } from '../../activities/commitResults.js';
import { loadWorkerConfig } from '../../lib/config.js';
import { projectRoot } from '../../lib/paths.js';
import { resultFileUri } from '../../lib/storage/layout.js';
import { readLatestResult } from '../../lib/storage/outputs.js';
import { queryParquet } from '../../lib/storage/parquet.js';
import { RESULT_FILE, readRecord, successRecordSchema } from '../../lib/storage/records.js';
import { localCopies, withScratchDir } from '../../lib/storage/scratch.js';
import { beforeStorageMutation, joinUri, storageFor, type Storage, type StorageMutation } from '../../lib/storage/storage.js';
import { tempDir } from '../support/environment.js';
import { copySample } from '../support/images.js';
import { PipelineRun } from '../support/pipelineSteps.js';
import { createBucket, startTestS3Server } from '../support/s3.js';
import type { S3Server } from '../../dev/s3Server.js';

const FIRST = '11111111-1111-4111-8111-111111111111';
const SECOND = '22222222-2222-4222-8222-222222222222';
const THIRD = '33333333-3333-4333-8333-333333333333';
/** The source of FIRST (four photos), or grown since by two photos and a broken file. */
async function setSource(grown: boolean): Promise<void> {
  const added = path.join(source, 'cucumber_3');
  await fs.rm(added, { recursive: true, force: true });
  if (!grown) return;
  await copySample(source, ['cucumber_3'], 2);
  await fs.writeFile(path.join(added, 'notes.jpg'), 'a text file, not a photo');
}

/** Older archived results, so that the commit of SECOND prunes one. */
const OLD = ['aaaaaaaa-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002', 'aaaaaaaa-0000-4000-8000-000000000003'];
const USER_FILES = { 'notes.txt': 'my notes', 'features/mine.csv': 'my table' };

let work: string;
let s3: S3Server;
let source: string;

before(async () => {
  work = await tempDir('crash-points');
  source = path.join(work, 'photos');
  await copySample(source, ['apple_red_1', 'pear_1'], 2);
  s3 = await startTestS3Server(path.join(work, 's3'));
  await createBucket('crash');
});

after(async () => {
  beforeStorageMutation(undefined);
  await s3?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

class Crash extends Error {
  override name = 'Crash';
}

/** The crash armed for the step being run: before its `at`-th mutation, and before every one after that. */
let armed: { at: number; seen: StorageMutation[]; crashed: boolean } | undefined;
beforeStorageMutation((mutation) => {
  if (!armed) return;
  if (armed.crashed) throw new Crash('the process is gone');
  armed.seen.push(mutation);
  if (armed.seen.length === armed.at) {
    armed.crashed = true;
    throw new Crash(`crashed before ${mutation.operation} ${mutation.uri}`);
  }
});

/** Run `body` with a crash before its `at`-th mutation; whether it crashed, and the mutations it reached. */
async function crashing(at: number, body: () => Promise<unknown>): Promise<{ crashed: boolean; seen: StorageMutation[] }> {
  armed = { at, seen: [], crashed: false };
  const state = armed;
  try {
    await body();
  } catch (err) {
    if (!state.crashed || !(err instanceof Error) || !/crashed before|the process is gone/.test(`${err.message} ${String(err.cause ?? '')}`))
      throw err;
  } finally {
    armed = undefined;
  }
  return { crashed: state.crashed, seen: state.seen };
}

/** Every object below a prefix, by relative name, with its bytes. */
async function objects(storage: Storage, prefix: string): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  if (!(await storage.exists(prefix))) return found;
  const base = prefix.replace(/[/\\]+$/, '');
  for await (const object of storage.list(prefix))
    found.set(
      object.uri
        .slice(base.length + 1)
        .split(path.sep)
        .join('/'),
      await storage.read(object.uri),
    );
  return found;
}

async function copyTree(storage: Storage, from: string, to: string): Promise<void> {
  for (const [name, bytes] of await objects(storage, from)) await storage.write(joinUri(to, ...name.split('/')), bytes);
}

/** The result files at the top level of an output, relative and sorted. */
async function topLevelFiles(storage: Storage, output: string): Promise<string[]> {
  return [...(await objects(storage, output)).keys()].filter((name) => RESULT_FILE.test(name)).sort();
}

async function featureRows(storage: Storage, base: string, files: string[]): Promise<number> {
  return withScratchDir(path.join(work, 'scratch'), async (scratch) => {
    const local = await localCopies(
      storage,
      files.filter((f) => f.startsWith('features/')).map((f) => resultFileUri(base, f)),
      scratch,
    );
    const [row] = await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [local]);
    return Number(row.n);
  });
}

/** What a reader that trusts `_SUCCESS` finds: no result, or the run whose files are exactly those beside it. */
async function readerSees(storage: Storage, output: string): Promise<string> {
  const latest = await readLatestResult(storage, output);
  if (!latest) return 'none';
  assert.deepEqual(await topLevelFiles(storage, output), [...latest.files].sort(), `_SUCCESS of ${latest.runId} lists exactly the files beside it`);
  assert.equal(await featureRows(storage, output, latest.files), latest.featurized, 'its features hold the rows it counts');
  return latest.runId;
}

/** The output after a recovery: `latest` whole on top, `archived` whole under runs/, the user's files, nothing else of Orchard's. */
async function assertRecovered(storage: Storage, output: string, latest: string, archived: string[], where: string): Promise<void> {
  assert.equal(await readerSees(storage, output), latest, `${where}: the latest result`);
  const all = await objects(storage, output);
  for (const [file, text] of Object.entries(USER_FILES)) assert.equal(all.get(file)?.toString(), text, `${where}: the user's ${file}`);
  const stray = [...all.keys()].filter((name) => /^(_staging|_COMMITTING)|\.tmp-|_PRUNING/.test(name));
  assert.deepEqual(stray, [], `${where}: no staging, marker or temporary file is left`);
  const runs = [...new Set([...all.keys()].filter((name) => name.startsWith('runs/')).map((name) => name.split('/')[1]))].sort();
  assert.deepEqual(runs, [...archived].sort(), `${where}: the archived runs`);
  for (const id of archived) {
    const record = await readRecord(storage, joinUri(output, 'runs', id, '_SUCCESS'), successRecordSchema, 'an archived _SUCCESS', '');
    const present = [...all.keys()]
      .filter((name) => name.startsWith(`runs/${id}/`) && name !== `runs/${id}/_SUCCESS`)
      .map((name) => name.slice(`runs/${id}/`.length));
    assert.deepEqual(present.sort(), [...record.files].sort(), `${where}: runs/${id} holds exactly its files`);
  }
}

/** Older results under runs/, as a commit of long ago left them (placeholder files: only the commit reads them). */
async function writeOldRuns(storage: Storage, output: string): Promise<void> {
  for (const [i, id] of OLD.entries()) {
    const folder = joinUri(output, 'runs', id);
    const files = ['features/part-000000.parquet', 'pca_model.json'];
    for (const file of files) await storage.write(resultFileUri(folder, file), `old result ${i}`);
    const summary = {
      ...JSON.parse(JSON.stringify(await readLatestResult(storage, output))),
      runId: id,
      finishedAt: `2020-01-0${i + 1}T00:00:00.000Z`,
      files,
    };
    await storage.write(joinUri(folder, '_SUCCESS'), JSON.stringify(summary));
  }
}

/** The archived runs expected once `latest` is committed over these earlier results (newest kept). */
function keptRuns(earlier: string[]): string[] {
  const age = (id: string) => (OLD.includes(id) ? OLD.indexOf(id) : 10 + [FIRST, SECOND, THIRD].indexOf(id));
  return [...earlier].sort((a, b) => age(b) - age(a)).slice(0, KEEP_PREVIOUS_RUNS);
}

/** What a crash point is about: the step and the kind of change, so the table reads the same on both backends. */
function phaseOf(step: string, mutation: StorageMutation, output: string): string {
  const rel = mutation.uri
    .slice(output.replace(/[/\\]+$/, '').length + 1)
    .split(path.sep)
    .join('/');
  const staged = rel.replace(/^_staging\/[^/]+\/(result\/)?/, '');
  const inStaging = rel.startsWith('_staging/');
  const { operation } = mutation;
  if (rel === '_ORCHARD') return 'write the ownership record _ORCHARD';
  if (rel === '_COMMITTING') return operation === 'remove' ? 'remove _COMMITTING' : 'write _COMMITTING';
  if (rel === '_SUCCESS') return operation === 'remove' ? "remove the previous result's _SUCCESS" : 'write _SUCCESS';
  if (operation === 'removeAll' && /^_staging\/[^/]+$/.test(rel)) return 'remove the staging folder';
  // Files move 16 at a time, and on S3 each move is a copy and then a delete: which change comes n-th within a batch
  // varies from run to run, so a batch of moves is one row.
  const archiving = "move the previous result's files to runs/<previous>/ (on S3 a copy, then a delete, each)";
  const placing = "move the new result's files into place (on S3 a copy, then a delete, each)";
  if (step === 'commitResults' && rel.startsWith(`runs/${FIRST}/`)) return rel.endsWith('/_SUCCESS') ? `write runs/<previous>/_SUCCESS` : archiving;
  if (rel.startsWith(`runs/${OLD[0]}/`)) {
    if (rel.endsWith('/_PRUNING')) return operation === 'move' ? "rename the oldest run's _SUCCESS to _PRUNING" : 'remove its _PRUNING';
    if (/\/_(SUCCESS|FAILED)$/.test(rel)) return "remove the oldest run's _SUCCESS or _FAILED, if still there";
    return 'remove a file of the oldest run';
  }
  if (step === 'commitResults' && RESULT_FILE.test(rel)) return operation === 'move' ? placing : archiving;
  if (step === 'commitResults' && inStaging) return placing;
  if (inStaging) {
    const name = staged.replace(/part-\d{6}/, 'part-N').replace(/pca-\d{6}/, 'pca-N');
    return `${operation === 'removeAll' ? 'clear' : operation} ${name}`;
  }
  return `${operation} ${rel}`;
}

interface Row {
  step: string;
  phase: string;
  points: number;
  reader: string;
}

/** Stop every step of SECOND before each of its mutations; recover by retry (and, in the commit, by another run). */
async function sweep(backend: string, base: string): Promise<Row[]> {
  const storage = storageFor(base);
  const config = { ...loadWorkerConfig(), scratchDir: path.join(work, 'scratch'), batchSize: 4 };
  const output = joinUri(base, 'prepared');
  await setSource(false);
  const first = new PipelineRun(FIRST, source, output, config, '2026-12-01T00:00:00.000Z');
  await first.runFrom(0);
  for (const [file, text] of Object.entries(USER_FILES)) await storage.write(resultFileUri(output, file), text);
  await writeOldRuns(storage, output);
  // SECOND is incremental over a source that has grown since FIRST (with a broken file): it carries FIRST's vectors
  // over. Its steps run once without a crash, with the output copied before each: where each crash sweep starts.
  await setSource(true);
  const second = new PipelineRun(SECOND, source, output, config, '2026-12-02T00:00:00.000Z', true);
  const before: { run: PipelineRun; snapshot: string }[] = [];
  for (let i = 0; i < second.steps().length; i++) {
    const snapshot = joinUri(base, `before-${i}`);
    await copyTree(storage, output, snapshot);
    before.push({ run: second.at(snapshot), snapshot });
    await second.steps()[i].run(1);
  }
  const rows: Row[] = [];
  let copies = 0;
  for (const [index, { run: prepared, snapshot }] of before.entries()) {
    const step = prepared.steps()[index].name;
    const modes = step === 'commitResults' ? (['retry', 'another run'] as const) : (['retry'] as const);
    for (let at = 1; ; at++) {
      let reached: StorageMutation | undefined;
      for (const mode of modes) {
        const where = `${backend}: ${step} (step ${index}) stopped before mutation ${at}, then ${mode}`;
        const crashed = joinUri(base, `crash-${++copies}`);
        await copyTree(storage, snapshot, crashed);
        const run = prepared.at(crashed);
        const { crashed: stopped, seen } = await crashing(at, () => run.steps()[index].run(1));
        if (!stopped) break;
        reached = seen[at - 1];
        const reader = await readerSees(storage, crashed);
        assert.ok(reader === FIRST || reader === SECOND || reader === 'none', `${where}: a reader sees ${reader}`);
        if (mode === 'retry') {
          await run.steps()[index].run(2);
          await run.runFrom(index + 1);
          await assertRecovered(storage, crashed, SECOND, keptRuns([...OLD, FIRST]), where);
          const phase = phaseOf(step, reached, crashed);
          const last = rows.at(-1);
          const name = reader === 'none' ? 'no result' : reader === FIRST ? 'the previous result' : 'the new result';
          if (last?.step === step && last.phase === phase && last.reader === name) last.points++;
          else rows.push({ step, phase, points: 1, reader: name });
        } else {
          await run.giveUp();
          const third = new PipelineRun(THIRD, source, crashed, config, '2026-12-03T00:00:00.000Z');
          await third.runFrom(0);
          const archived = [...OLD, FIRST, ...(reader === SECOND ? [SECOND] : [])];
          await assertRecovered(storage, crashed, THIRD, keptRuns(archived), where);
        }
        await storage.removeAll(crashed);
      }
      if (!reached) break;
    }
  }
  return rows;
}

const TABLE_START = '<!-- crash-points:start -->';
const TABLE_END = '<!-- crash-points:end -->';

/** The table of docs/reliability.md: one row per step and kind of change, its crash points on each backend. */
function table(local: Row[], s3Rows: Row[]): string {
  const lines = ['| step | crashed just before | points (local / S3) | a reader that checks `_SUCCESS` finds |', '| --- | --- | --- | --- |'];
  const keyOf = (r: Row) => `${r.step}\u0000${r.phase}\u0000${r.reader}`;
  // In the order of the run: S3 has every kind of change local disk has, and the deletes that follow its copies.
  const keys = [...new Set([...s3Rows.map(keyOf), ...local.map(keyOf)])];
  for (const key of keys) {
    const [step, phase, reader] = key.split('\u0000');
    const count = (rows: Row[]) => rows.filter((r) => keyOf(r) === key).reduce((n, r) => n + r.points, 0);
    lines.push(`| ${step} | ${phase} | ${count(local)} / ${count(s3Rows)} | ${reader} |`);
  }
  return lines.join('\n');
}

test(
  'a crash before any storage mutation of any step, on local disk and on S3, loses nothing and misleads no reader',
  { timeout: 20 * 60_000 },
  async () => {
    const local = await sweep('local', path.join(work, 'local'));
    const onS3 = await sweep('S3', 's3://crash/out');
    const expected = table(local, onS3);
    console.log(expected);
    const doc = await fs.readFile(path.join(projectRoot, 'docs', 'reliability.md'), 'utf8');
    const documented = doc.slice(doc.indexOf(TABLE_START) + TABLE_START.length, doc.indexOf(TABLE_END)).trim();
    assert.equal(documented, expected, 'docs/reliability.md shows the crash points this sweep found (the table printed above)');
  },
);
