// Records read back from storage are hostile input: whatever is where a record should be fails with CorruptRecord.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { CorruptRecord, readRecord, successRecordSchema } from '../../../lib/storage/records.js';
import { storageFor } from '../../../lib/storage/storage.js';
import { tempDir } from '../../support/environment.js';

test('a folder, a FIFO or bytes that are not JSON where a record should be fail with CorruptRecord, naming the file and the fix', async () => {
  const dir = await tempDir('records');
  const storage = storageFor(dir);
  const fix = 'remove it and run again';
  // Bounds a regression: a read that blocks on the FIFO gets an empty file after 30 s, which fails differently.
  const fifo = path.join(dir, 'fifo', '_SUCCESS');
  const writer = spawn(process.execPath, ['-e', `setTimeout(() => require('fs').writeFileSync(${JSON.stringify(fifo)}, ''), 30000)`], {
    stdio: 'ignore',
  });
  try {
    await fs.mkdir(path.join(dir, 'folder', '_SUCCESS'), { recursive: true });
    await fs.mkdir(path.dirname(fifo));
    execFileSync('mkfifo', [fifo]);
    await fs.mkdir(path.join(dir, 'spark'));
    await fs.writeFile(path.join(dir, 'spark', '_SUCCESS'), '');
    for (const [name, reason] of [
      ['folder', /EISDIR/],
      ['fifo', /is not a regular file/],
      ['spark', /Unexpected end of JSON input/],
    ] as const) {
      const uri = path.join(dir, name, '_SUCCESS');
      await assert.rejects(readRecord(storage, uri, successRecordSchema, 'an Orchard _SUCCESS record', fix), (err: Error) => {
        assert.ok(err instanceof CorruptRecord, `${name}: ${err.name}: ${err.message}`);
        assert.ok(err.message.startsWith(`${uri} is not an Orchard _SUCCESS record (`), err.message);
        assert.match(err.message, reason);
        assert.ok(err.message.endsWith(`; ${fix}`), err.message);
        return true;
      });
    }
  } finally {
    writer.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
