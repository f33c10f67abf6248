import assert from 'node:assert/strict';
import { joinUri, ObjectNotFound, ObjectTooLarge, type Storage } from '../../lib/storage/storage.js';

async function contents(storage: Storage, prefix: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  if (!(await storage.exists(prefix))) return found;
  const base = prefix.replace(/[/\\]+$/, '') + (prefix.startsWith('s3://') ? '/' : '');
  for await (const object of storage.list(prefix))
    found[object.uri.slice(base.length).replace(/^[/\\]/, '')] = (await storage.read(object.uri)).toString();
  return found;
}

/**
 * The contract every storage keeps for the commit: a move takes exactly one object and replaces one of the same
 * name, a repeated move after a crash between its copy and its delete (S3) or after it finished is done, a move
 * of nothing fails with ObjectNotFound; a removal takes exactly the object named, not what lies below its name;
 * children lists one level; a read with a cap refuses a larger object.
 */
export async function checkStorageContract(storage: Storage, base: string): Promise<void> {
  const at = (...parts: string[]) => joinUri(base, ...parts);
  await storage.write(at('staged', 'features', 'part-000000.parquet'), 'new 0');
  await storage.write(at('staged', 'features', 'part-000001.parquet'), 'new 1');
  await storage.write(at('out', 'features', 'part-000001.parquet'), 'old 1');
  await storage.write(at('out', 'features', 'mine.csv'), 'user');
  // An object whose name starts like the moved one, and one below its name (possible on S3), are not part of it.
  await storage.write(at('staged', 'features', 'part-000000.parquet2'), 'sibling');

  await storage.moveObject(at('staged', 'features', 'part-000000.parquet'), at('out', 'features', 'part-000000.parquet'));
  await storage.moveObject(at('staged', 'features', 'part-000001.parquet'), at('out', 'features', 'part-000001.parquet'));
  // Repeated after it finished: done, nothing changes.
  await storage.moveObject(at('staged', 'features', 'part-000001.parquet'), at('out', 'features', 'part-000001.parquet'));
  assert.deepEqual(await contents(storage, at('out')), {
    'features/part-000000.parquet': 'new 0',
    'features/part-000001.parquet': 'new 1',
    'features/mine.csv': 'user',
  });
  assert.deepEqual(await contents(storage, at('staged')), { 'features/part-000000.parquet2': 'sibling' });
  await assert.rejects(storage.moveObject(at('staged', 'nothing'), at('out', 'nothing')), ObjectNotFound);
  // A crash between the copy and the delete of a move: both are there; the repeated move finishes it.
  await storage.write(at('staged', 'pca_model.json'), 'model');
  await storage.write(at('out', 'pca_model.json'), 'model');
  await storage.moveObject(at('staged', 'pca_model.json'), at('out', 'pca_model.json'));
  assert.equal(await storage.exists(at('staged', 'pca_model.json')), false);

  assert.deepEqual(await storage.children(at('out'), 10), ['features', 'pca_model.json']);
  assert.deepEqual(await storage.children(at('out'), 1), ['features']);
  assert.deepEqual(await storage.children(at('no-such-folder'), 10), []);

  await storage.remove(at('out', 'features', 'mine.csv'));
  await storage.remove(at('out', 'features', 'mine.csv'));
  assert.deepEqual(Object.keys(await contents(storage, at('out', 'features'))).sort(), ['part-000000.parquet', 'part-000001.parquet']);

  await storage.write(at('big.jpg'), Buffer.alloc(2048));
  assert.equal((await storage.read(at('big.jpg'), { maxBytes: 2048 })).length, 2048);
  await assert.rejects(
    storage.read(at('big.jpg'), { maxBytes: 2047 }),
    (err: Error) => err instanceof ObjectTooLarge && /larger than maxImageBytes/.test(err.message),
  );
  await storage.removeAll(base);
}
