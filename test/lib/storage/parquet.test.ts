import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { DuckDBInstance } from '@duckdb/node-api';

import {
  mergeParquet,
  queryParquet,
  readVectorParquet,
  writeErrorParquet,
  writeVectorParquet,
  type ReadVectorOptions,
  type VectorColumn,
  type VectorRows,
} from '../../../lib/storage/parquet.js';

const DIM = 1280;
const ODD_NAME = "it's a ünïcode 日本 path";

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orchard-parquet-test-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function makeRows(count: number, dim: number, seed: number, pathPrefix = 'img'): VectorRows {
  let state = seed;
  const vectors = new Float32Array(count * dim);
  for (let i = 0; i < vectors.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    vectors[i] = (state / 2 ** 32 - 0.5) * 1e3;
  }
  const paths = Array.from({ length: count }, (_, i) => `s3://bucket/${pathPrefix}/${String(i).padStart(5, '0')}.jpg`);
  const labels = Array.from({ length: count }, (_, i) => `label-${i % 7}`);
  return { paths, labels, vectors, dim };
}

async function readAll(files: string[], column: VectorColumn, options: ReadVectorOptions = {}): Promise<VectorRows[]> {
  const batches: VectorRows[] = [];
  for await (const batch of readVectorParquet(files, column, options)) {
    batches.push(batch);
  }
  return batches;
}

function concat(batches: VectorRows[]): VectorRows {
  const dim = batches[0]?.dim ?? 0;
  const vectors = new Float32Array(batches.reduce((sum, b) => sum + b.vectors.length, 0));
  let offset = 0;
  for (const batch of batches) {
    vectors.set(batch.vectors, offset);
    offset += batch.vectors.length;
  }
  return { paths: batches.flatMap((b) => b.paths), labels: batches.flatMap((b) => b.labels), vectors, dim };
}

function assertSameBits(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  assert.ok(a.equals(e), 'float bits differ');
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.map(String);
}

describe('parquet', () => {
  it('round-trips 500 x 1280 floats bit-exactly, including odd paths and special values', async () => {
    const rows = makeRows(500, DIM, 1);
    rows.paths[3] = `/data/${ODD_NAME}/pic.jpg`;
    rows.vectors.set([NaN, -0, Infinity, -Infinity, 1.4e-45, 3.4028234663852886e38], 10 * DIM);
    const file = join(dir, ODD_NAME, 'features.parquet');

    await writeVectorParquet(file, 'features', rows);
    const batches = await readAll([file], 'features');

    assert.deepEqual(
      batches.map((b) => b.paths.length),
      [500],
    );
    const back = concat(batches);
    assert.equal(back.dim, DIM);
    assert.deepEqual(back.paths, rows.paths);
    assert.deepEqual(back.labels, rows.labels);
    assertSameBits(back.vectors, rows.vectors);
  });

  it('writes rows spanning several data chunks from a view into a larger buffer bit-exactly', async () => {
    const rows = makeRows(2500, 16, 3);
    // The floats start 7 values into their buffer, as a partition's vectors do when only some rows succeeded.
    const backing = new Float32Array(rows.vectors.length + 7);
    backing.set(rows.vectors, 7);
    const file = join(dir, 'chunks.parquet');
    await writeVectorParquet(file, 'features', { ...rows, vectors: backing.subarray(7) });
    const back = concat(await readAll([file], 'features'));
    assert.deepEqual(back.paths, rows.paths);
    assertSameBits(back.vectors, rows.vectors);
  });

  it('writes path VARCHAR, label VARCHAR and a FLOAT list of exactly dim values', async () => {
    const file = join(dir, 'schema.parquet');
    await writeVectorParquet(file, 'features', makeRows(3, DIM, 2));

    const schema = await queryParquet('DESCRIBE SELECT * FROM read_parquet($1)', [file]);
    // Parquet has no fixed-size list type, so DuckDB reads FLOAT[1280] back as FLOAT[].
    assert.deepEqual(
      schema.map((c) => [c.column_name, c.column_type]),
      [
        ['path', 'VARCHAR'],
        ['label', 'VARCHAR'],
        ['features', 'FLOAT[]'],
      ],
    );
    assert.deepEqual(await queryParquet('SELECT DISTINCT len(features) AS n FROM read_parquet($1)', [file]), [{ n: DIM }]);
    const cast = await queryParquet(`DESCRIBE SELECT features::FLOAT[${DIM}] AS features FROM read_parquet($1)`, [file]);
    assert.equal(cast[0]?.column_type, `FLOAT[${DIM}]`);
    const codecs = await queryParquet('SELECT DISTINCT compression FROM parquet_metadata($1)', [file]);
    assert.deepEqual(codecs, [{ compression: 'ZSTD' }]);
  });

  it('writes a valid zero-row file with the full schema', async () => {
    const file = join(dir, 'empty.parquet');
    await writeVectorParquet(file, 'pcaFeatures', { paths: [], labels: [], vectors: new Float32Array(0), dim: 16 });

    const schema = await queryParquet('DESCRIBE SELECT * FROM read_parquet($1)', [file]);
    assert.deepEqual(
      schema.map((c) => [c.column_name, c.column_type]),
      [
        ['path', 'VARCHAR'],
        ['label', 'VARCHAR'],
        ['pcaFeatures', 'FLOAT[]'],
      ],
    );
    assert.deepEqual(await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [file]), [{ n: 0 }]);
    assert.deepEqual(await readAll([file], 'pcaFeatures'), []);
  });

  it('streams batches smaller than the row count, across files, optionally ordered by path', async () => {
    const first = makeRows(300, 8, 3, 'b');
    const second = makeRows(200, 8, 4, 'a');
    const files = [join(dir, 'pca-1.parquet'), join(dir, 'pca-2.parquet')];
    await writeVectorParquet(files[0], 'pcaFeatures', first);
    await writeVectorParquet(files[1], 'pcaFeatures', second);

    const batches = await readAll(files, 'pcaFeatures', { batchRows: 128 });
    assert.deepEqual(
      batches.map((b) => [b.paths.length, b.vectors.length]),
      [
        [128, 1024],
        [128, 1024],
        [128, 1024],
        [116, 928],
      ],
    );
    const back = concat(batches);
    assert.deepEqual(back.paths, [...first.paths, ...second.paths]);
    assertSameBits(back.vectors, Float32Array.from([...first.vectors, ...second.vectors]));

    const ordered: string[] = [];
    for await (const batch of readVectorParquet(files, 'pcaFeatures', { orderBy: 'path', batchRows: 64 })) {
      ordered.push(...batch.paths);
    }
    assert.deepEqual(ordered, [...second.paths, ...first.paths]);
  });

  it('stops cleanly when the consumer breaks out early', async () => {
    const file = join(dir, 'early.parquet');
    await writeVectorParquet(file, 'features', makeRows(50, 4, 5));
    for await (const batch of readVectorParquet([file], 'features', { batchRows: 10 })) {
      assert.equal(batch.paths.length, 10);
      break;
    }
    assert.deepEqual(await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [file]), [{ n: 50 }]);
  });

  it('reads file names containing glob characters literally', async () => {
    const bracket = join(dir, 'glob', 'shard[1].parquet');
    const lookalike = join(dir, 'glob', 'shard1.parquet');
    await writeVectorParquet(bracket, 'features', makeRows(2, 4, 6, 'bracket'));
    await writeVectorParquet(lookalike, 'features', makeRows(3, 4, 7, 'lookalike'));

    const back = concat(await readAll([bracket], 'features'));
    assert.deepEqual(back.paths, makeRows(2, 4, 6, 'bracket').paths);
  });

  it('merges 3 files ordered by path and returns the row count', async () => {
    const parts = [makeRows(40, 8, 8, 'c'), makeRows(30, 8, 9, 'a'), makeRows(20, 8, 10, 'b')];
    const files = parts.map((_, i) => join(dir, 'merge', `part-${i}.parquet`));
    await Promise.all(parts.map((rows, i) => writeVectorParquet(files[i], 'pcaFeatures', rows)));
    const output = join(dir, 'merge', `merged ${ODD_NAME}.parquet`);

    const count = await mergeParquet(files, output, { orderBy: 'path', rowGroupSize: 4096 });

    assert.equal(count, 90);
    const back = concat(await readAll([output], 'pcaFeatures'));
    const expected = [...parts[1].paths, ...parts[2].paths, ...parts[0].paths];
    assert.deepEqual(back.paths, expected);
    assert.deepEqual(back.paths, [...back.paths].sort());
    const firstOfC = back.paths.indexOf(parts[0].paths[0]);
    assertSameBits(back.vectors.subarray(firstOfC * 8, (firstOfC + 1) * 8), parts[0].vectors.subarray(0, 8));
  });

  it('rejects NULL vectors, NULL elements and mismatched lengths', async () => {
    const instance = await DuckDBInstance.create();
    const connection = await instance.connect();
    const cases = {
      'null-vector': [`[1, 2]::FLOAT[]`, `NULL::FLOAT[]`, /has 0 values, expected 2/],
      'null-element': [`[1, 2]::FLOAT[]`, `[1, NULL]::FLOAT[]`, /contains NULL/],
      'short-vector': [`[1, 2]::FLOAT[]`, `[1]::FLOAT[]`, /has 1 values, expected 2/],
      'null-first': [`NULL::FLOAT[]`, `[1, 2]::FLOAT[]`, /expected a non-empty vector/],
    } as const;
    try {
      for (const [name, [first, second, message]] of Object.entries(cases)) {
        const file = join(dir, `${name}.parquet`);
        await connection.run(
          `COPY (SELECT 'a' AS path, 'x' AS label, ${first} AS features ` + `UNION ALL SELECT 'b', 'x', ${second}) TO '${file}' (FORMAT parquet)`,
        );
        await assert.rejects(readAll([file], 'features'), message);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('rejects an empty file list', async () => {
    await assert.rejects(mergeParquet([], join(dir, 'never.parquet'), { orderBy: 'path' }), /empty/);
    await assert.rejects(readAll([], 'features'), /empty/);
  });

  it('round-trips an errors file', async () => {
    const rows = [
      { path: `s3://bucket/${ODD_NAME}.jpg`, error: "Input buffer contains unsupported image format: 'x'" },
      { path: 's3://bucket/b.jpg', error: 'timeout\nafter 30s' },
    ];
    const file = join(dir, 'errors.parquet');
    await writeErrorParquet(file, rows);

    assert.deepEqual(await queryParquet('SELECT path, error FROM read_parquet($1)', [file]), rows);
    await writeErrorParquet(join(dir, 'errors-empty.parquet'), []);
    assert.deepEqual(await queryParquet('SELECT count(*) AS n FROM read_parquet($1)', [join(dir, 'errors-empty.parquet')]), [{ n: 0 }]);
  });

  it('answers aggregate queries with JSON-friendly values and refuses writes', async () => {
    const file = join(dir, 'labels.parquet');
    await writeVectorParquet(file, 'features', makeRows(14, 4, 11));

    const rows = await queryParquet('SELECT label, count(*) AS n, 1::BIGINT << 52 AS big FROM read_parquet($1) GROUP BY 1 ORDER BY 1 LIMIT 2', [
      [file],
    ]);
    assert.deepEqual(rows, [
      { label: 'label-0', n: 2, big: 4503599627370496 },
      { label: 'label-1', n: 2, big: 4503599627370496 },
    ]);
    const huge = await queryParquet('SELECT 9007199254740993::BIGINT AS x');
    assert.deepEqual(huge, [{ x: '9007199254740993' }]);
    await assert.rejects(queryParquet(`COPY (SELECT 1) TO '${join(dir, 'x.csv')}'`), /read-only/);
    await assert.rejects(queryParquet('SELECT 1; SELECT 2'), /one SQL statement/);
  });

  it('leaves neither a final nor a temporary file when a write fails', async () => {
    const target = join(dir, 'occupied');
    await mkdir(join(target, 'child'), { recursive: true });
    await assert.rejects(writeVectorParquet(target, 'features', makeRows(2, 4, 12)));
    assert.deepEqual(await readdir(target), ['child']);
    await assert.rejects(writeVectorParquet(join(dir, 'bad.parquet'), 'features', { ...makeRows(2, 4, 13), dim: 3 }), /mismatch/);
  });

  it('runs concurrent writes and reads on the shared instance', async () => {
    const files = Array.from({ length: 6 }, (_, i) => join(dir, 'concurrent', `f${i}.parquet`));
    await Promise.all(files.map((file, i) => writeVectorParquet(file, 'features', makeRows(100, 64, 20 + i))));
    const counts = await Promise.all(files.map(async (file) => concat(await readAll([file], 'features', { batchRows: 33 })).paths.length));
    assert.deepEqual(counts, [100, 100, 100, 100, 100, 100]);
  });

  it('leaves no .tmp files behind', async () => {
    const leftovers = (await listFiles(dir)).filter((name) => name.includes('.tmp-'));
    assert.deepEqual(leftovers, []);
  });
});
