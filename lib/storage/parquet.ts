import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  ARRAY,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBListVector,
  DuckDBVector,
  FLOAT,
  JsonDuckDBValueConverter,
  LIST,
  StatementType,
  VARCHAR,
  listValue,
  quotedIdentifier,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBValue,
  type DuckDBValueConverter,
  type Json,
} from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';

/** Rows of (path, label, vector); `vectors` holds `paths.length` rows of `dim` floats, row-major. */
export interface VectorRows {
  paths: string[];
  labels: string[];
  vectors: Float32Array;
  dim: number;
}

export type VectorColumn = 'features' | 'pcaFeatures';

export interface ReadVectorOptions {
  batchRows?: number;
  orderBy?: 'path';
}

export interface MergeOptions {
  orderBy: string;
  rowGroupSize?: number;
}

const DEFAULT_BATCH_ROWS = 2048;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

let instance: Promise<DuckDBInstance> | undefined;

function getInstance(): Promise<DuckDBInstance> {
  instance ??= DuckDBInstance.create(':memory:', {
    // An in-memory database otherwise spills large sorts into ./.tmp of whatever the cwd is.
    temp_directory: join(tmpdir(), `orchard-duckdb-${process.pid}`),
    // DuckDB takes 80% of the machine by default; several worker processes share it, and larger merges spill to disk.
    memory_limit: process.env.ORCHARD_DUCKDB_MEMORY_LIMIT || '1GB',
  }).catch((error: unknown) => {
    instance = undefined;
    throw error;
  });
  return instance;
}

async function withConnection<T>(use: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const connection = await (await getInstance()).connect();
  try {
    return await use(connection);
  } finally {
    connection.closeSync();
  }
}

async function writeAtomically<T>(file: string, write: (tmpFile: string) => Promise<T>): Promise<T> {
  await mkdir(dirname(file), { recursive: true });
  const tmpFile = `${file}.tmp-${randomUUID()}`;
  try {
    const result = await write(tmpFile);
    // Without an fsync a machine crash after the rename can leave an empty file under the final name.
    const handle = await open(tmpFile, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmpFile, file);
    return result;
  } catch (error) {
    await rm(tmpFile, { force: true });
    throw error;
  }
}

function parquetCopyOptions(rowGroupSize?: number): string {
  const rowGroup = rowGroupSize === undefined ? '' : `, ROW_GROUP_SIZE ${rowGroupSize}`;
  // Level 1 instead of DuckDB's 3: a fifth less CPU to merge feature vectors, for files a few percent larger (bench/README.md, "Figures behind the code").
  return `(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1${rowGroup})`;
}

async function writeViaTempTable(file: string, columns: string, fill: (appender: DuckDBAppender) => void): Promise<void> {
  await writeAtomically(file, (tmpFile) =>
    withConnection(async (connection) => {
      // Temp tables are private to the connection, which is closed (freeing the table) right after.
      const table = `orchard_${randomUUID().replaceAll('-', '')}`;
      await connection.run(`CREATE TEMP TABLE ${quotedIdentifier(table)} (${columns})`);
      const appender = await connection.createAppender(table);
      fill(appender);
      appender.closeSync();
      await connection.run(`COPY ${quotedIdentifier(table)} TO $1 ${parquetCopyOptions()}`, [tmpFile], [VARCHAR]);
    }),
  );
}

/** File names as read_parquet patterns that match only themselves: it expands *, ? and [ even in a literal name. */
export function literalFiles(files: readonly string[]): string[] {
  return files.map((file) => file.replace(/[*?[]/g, '[$&]'));
}

function literalFileList(files: readonly string[], caller: string): DuckDBValue {
  if (files.length === 0) {
    throw new Error(`${caller}: the list of Parquet files is empty`);
  }
  return listValue(literalFiles(files));
}

function assertPositiveInteger(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${value}`);
  }
}

function assertVectorRows(rows: VectorRows): void {
  assertPositiveInteger(rows.dim, 'dim');
  const count = rows.paths.length;
  if (rows.labels.length !== count || rows.vectors.length !== count * rows.dim) {
    throw new Error(`VectorRows mismatch: ${count} paths, ${rows.labels.length} labels, ` + `${rows.vectors.length} floats for dim ${rows.dim}`);
  }
}

/** Atomically writes (path, label, <column> of dim floats) as ZSTD Parquet; DuckDB reads the column back as FLOAT[]. */
export async function writeVectorParquet(file: string, column: VectorColumn, rows: VectorRows): Promise<void> {
  assertVectorRows(rows);
  const { paths, labels, vectors, dim } = rows;
  const types = [VARCHAR, VARCHAR, ARRAY(FLOAT, dim)];
  const chunkRows = DuckDBVector.standardSize();
  await writeViaTempTable(file, `path VARCHAR, label VARCHAR, ${quotedIdentifier(column)} FLOAT[${dim}]`, (appender) => {
    // Filling whole data chunks is ~20x faster than appendArray row by row.
    for (let start = 0; start < paths.length; start += chunkRows) {
      const end = Math.min(start + chunkRows, paths.length);
      const chunk = DuckDBDataChunk.create(types, end - start);
      chunk.setColumnValues(0, paths.slice(start, end));
      chunk.setColumnValues(1, labels.slice(start, end));
      // The FLOAT[dim] column's child vector holds the rows' floats back to back, exactly like `vectors`: one copy
      // fills it, much cheaper than setting each value through the JS wrappers.
      const child = duckdb.array_vector_get_child(duckdb.data_chunk_get_vector(chunk.chunk, 2));
      const floats = vectors.subarray(start * dim, end * dim);
      duckdb.copy_data_to_vector(child, 0, floats.buffer as ArrayBuffer, floats.byteOffset, floats.byteLength);
      appender.appendDataChunk(chunk);
    }
  });
}

/** Atomically writes a (path, error) Parquet file with ZSTD compression. */
export async function writeErrorParquet(file: string, rows: { path: string; error: string }[]): Promise<void> {
  await writeStringPairs(
    file,
    'error',
    rows.map((row) => [row.path, row.error]),
  );
}

/** Atomically writes (path, version) rows: the version of each image in a result, for incremental runs. */
export async function writeVersionParquet(file: string, rows: { path: string; version: string }[]): Promise<void> {
  await writeStringPairs(
    file,
    'version',
    rows.map((row) => [row.path, row.version]),
  );
}

async function writeStringPairs(file: string, column: string, rows: [string, string][]): Promise<void> {
  await writeViaTempTable(file, `path VARCHAR, ${quotedIdentifier(column)} VARCHAR`, (appender) => {
    for (const [path, value] of rows) {
      appender.appendVarchar(path);
      appender.appendVarchar(value);
      appender.endRow();
    }
  });
}

/**
 * Atomically writes the rows of the `previous` features files whose path is in `paths` (the unchanged images an
 * incremental run carries over), ordered by path; returns the row count.
 */
export async function writeCarriedFeatures(previous: readonly string[], paths: readonly string[], output: string): Promise<number> {
  const params: DuckDBValue[] = [literalFileList(previous, 'writeCarriedFeatures'), listValue([...paths])];
  return writeAtomically(output, (tmpFile) =>
    withConnection(async (connection) => {
      // A semi-join on the unnested list: list_contains per row would be quadratic in the number of images.
      const result = await connection.run(
        `COPY (SELECT path, label, features FROM read_parquet($1) WHERE path IN (SELECT unnest($2)) ORDER BY path) TO $3 ${parquetCopyOptions()}`,
        [...params, tmpFile],
        [LIST(VARCHAR), LIST(VARCHAR), VARCHAR],
      );
      return result.rowsChanged;
    }),
  );
}

interface Batch {
  paths: string[];
  labels: string[];
  vectors: Float32Array;
  rows: number;
}

/** Streams (path, label, vector) rows of literal Parquet file paths in batches of `batchRows` (default 2048). */
export async function* readVectorParquet(
  files: readonly string[],
  column: VectorColumn,
  options: ReadVectorOptions = {},
): AsyncGenerator<VectorRows> {
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  assertPositiveInteger(batchRows, 'batchRows');
  const fileList = literalFileList(files, 'readVectorParquet');
  const orderBy = options.orderBy === 'path' ? ' ORDER BY path' : '';
  const connection = await (await getInstance()).connect();
  let pending: Promise<DuckDBDataChunk | null> | undefined;
  try {
    // Parquet has no fixed-size list: the column comes back as FLOAT[] and the length is checked per row.
    // coalesce turns a NULL vector into a zero-length one, which that check rejects.
    const result = await connection.stream(
      `SELECT path, label, coalesce(${quotedIdentifier(column)}::FLOAT[], []) ` + `FROM read_parquet($1)${orderBy}`,
      [fileList],
      [LIST(VARCHAR)],
    );
    let dim = 0;
    let batch: Batch | undefined;
    // The next chunk is read (on DuckDB's threads) while this one is copied out and its batch is used.
    const fetchNext = () => {
      const fetching = result.fetchChunk();
      fetching.catch(() => undefined);
      return fetching;
    };
    pending = fetchNext();
    for (let chunk = await pending; chunk && chunk.rowCount > 0; chunk = await pending) {
      pending = fetchNext();
      const pathColumn = chunk.getColumnVector(0);
      const labelColumn = chunk.getColumnVector(1);
      const vectorColumn = chunk.getColumnVector(2);
      if (!(vectorColumn instanceof DuckDBListVector)) {
        throw new Error(`readVectorParquet: ${column} is ${vectorColumn.type.toString()}, expected FLOAT[]`);
      }
      // Indexing the flat child vector avoids building a JS array per row (5x faster than getItem). Without a NULL in
      // the chunk's floats (no validity mask), each row is one copy out of DuckDB's buffer instead.
      const floats = vectorColumn.childVector;
      const rawList = duckdb.data_chunk_get_vector(chunk.chunk, 2);
      const rawChild = duckdb.list_vector_get_child(rawList);
      const childSize = duckdb.list_vector_get_size(rawList);
      const allValid = childSize > 0 && !duckdb.vector_get_validity(rawChild, Math.ceil(childSize / 64) * 8);
      const raw = allValid ? duckdb.vector_get_data(rawChild, childSize * Float32Array.BYTES_PER_ELEMENT) : undefined;
      const rawFloats =
        raw && raw.byteOffset % Float32Array.BYTES_PER_ELEMENT === 0 ? new Float32Array(raw.buffer, raw.byteOffset, childSize) : undefined;
      for (let i = 0; i < chunk.rowCount; i++) {
        const path = pathColumn.getItem(i);
        const label = labelColumn.getItem(i);
        if (typeof path !== 'string' || typeof label !== 'string') {
          throw new Error(`readVectorParquet: NULL path or label (path ${String(path)})`);
        }
        const length = vectorColumn.getEntryLength(i);
        if (dim === 0) {
          dim = length;
        }
        if (length !== dim || length === 0) {
          throw new Error(`readVectorParquet: ${column} of ${path} has ${length} values, expected ${dim || 'a non-empty vector'}`);
        }
        batch ??= { paths: [], labels: [], vectors: new Float32Array(batchRows * dim), rows: 0 };
        const offset = vectorColumn.getEntryOffset(i);
        const target = batch.rows * dim;
        if (rawFloats) {
          batch.vectors.set(rawFloats.subarray(offset, offset + dim), target);
        } else {
          for (let j = 0; j < dim; j++) {
            const value = floats.getItem(offset + j);
            if (typeof value !== 'number') {
              throw new Error(`readVectorParquet: ${column} of ${path} contains NULL`);
            }
            batch.vectors[target + j] = value;
          }
        }
        batch.paths.push(path);
        batch.labels.push(label);
        batch.rows++;
        if (batch.rows === batchRows) {
          yield { paths: batch.paths, labels: batch.labels, vectors: batch.vectors, dim };
          batch = undefined;
        }
      }
    }
    if (batch) {
      yield { paths: batch.paths, labels: batch.labels, vectors: batch.vectors.slice(0, batch.rows * dim), dim };
    }
  } finally {
    // A consumer that stops early leaves a read in flight: it ends before its connection closes.
    await pending?.catch(() => undefined);
    connection.closeSync();
  }
}

/** Atomically writes all rows of literal Parquet file paths, sorted by column `orderBy`, to `output`; returns the row count. */
export async function mergeParquet(files: readonly string[], output: string, options: MergeOptions): Promise<number> {
  const fileList = literalFileList(files, 'mergeParquet');
  if (options.rowGroupSize !== undefined) {
    assertPositiveInteger(options.rowGroupSize, 'rowGroupSize');
  }
  return writeAtomically(output, (tmpFile) =>
    withConnection(async (connection) => {
      const result = await connection.run(
        `COPY (SELECT * FROM read_parquet($1) ORDER BY ${quotedIdentifier(options.orderBy)}) ` + `TO $2 ${parquetCopyOptions(options.rowGroupSize)}`,
        [fileList, tmpFile],
        [LIST(VARCHAR), VARCHAR],
      );
      return result.rowsChanged;
    }),
  );
}

const jsonFriendly: DuckDBValueConverter<Json> = (value, type, converter) =>
  typeof value === 'bigint' && value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : JsonDuckDBValueConverter(value, type, converter);

function toDuckDBValue(value: unknown): DuckDBValue {
  if (value === undefined) {
    return null;
  }
  if (Array.isArray(value)) {
    return listValue(value.map(toDuckDBValue));
  }
  // Anything else is handed to the node-api, which rejects values it cannot bind.
  return value as DuckDBValue;
}

/** Runs one read-only statement (SELECT, DESCRIBE, SUMMARIZE, SHOW) and returns JSON-friendly rows, BIGINTs as numbers when safe. */
export async function queryParquet(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
  return withConnection(async (connection) => {
    const statements = await connection.extractStatements(sql);
    if (statements.count !== 1) {
      throw new Error(`queryParquet: expected one SQL statement, got ${statements.count}`);
    }
    const prepared = await statements.prepare(0);
    try {
      // EXPLAIN is excluded too: EXPLAIN ANALYZE executes its statement, COPY included.
      if (prepared.statementType !== StatementType.SELECT) {
        throw new Error(`queryParquet: only read-only statements are allowed: ${sql}`);
      }
      if (params.length > 0) {
        prepared.bind(params.map(toDuckDBValue));
      }
      const reader = await prepared.runAndReadAll();
      return reader.convertRowObjects(jsonFriendly);
    } finally {
      prepared.destroySync();
    }
  });
}

/** The first rows of a committed local result, like the notebook's `show(5)`: path, label, the first 3 features, pcaFeatures. */
export async function previewResults(output: string, limit: number): Promise<Record<string, unknown>[]> {
  assertPositiveInteger(limit, 'limit');
  return queryParquet(
    `SELECT f.path, f.label, f.features[1:3] AS features, p.pcaFeatures
       FROM read_parquet($1) f JOIN read_parquet($2) p USING (path) ORDER BY f.path LIMIT ${limit}`,
    [join(output, 'features', '*.parquet'), join(output, 'pca', '*.parquet')],
  );
}
