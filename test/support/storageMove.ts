import assert from 'node:assert/strict';
import { joinUri, type Storage } from '../../lib/storage.js';

async function contents(storage: Storage, prefix: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  if (!(await storage.exists(prefix))) return found;
  const base = prefix.replace(/\/+$/, '') + '/';
  for await (const object of storage.list(prefix)) found[object.uri.slice(base.length)] = (await storage.read(object.uri)).toString();
  return found;
}

/**
 * The move contract every storage keeps: same names are replaced, others kept, a sibling prefix is left alone, and a
 * move repeated after a partial one (some objects copied, some of those already removed from the source) leaves every
 * object under the target.
 */
export async function checkResumableMove(storage: Storage, base: string): Promise<void> {
  const from = joinUri(base, 'staged', 'features');
  const to = joinUri(base, 'out', 'features');
  const names = ['part-000000.parquet', 'part-000001.parquet', 'part-000002.parquet', 'sub/part-000003.parquet', 'sub/part-000004.parquet'];
  for (const name of names) await storage.write(joinUri(from, name), `new ${name}`);
  await storage.write(joinUri(to, 'kept.txt'), 'kept');
  await storage.write(joinUri(to, 'sub/part-000003.parquet'), 'old');
  // A sibling whose name starts like the source is not part of it.
  const sibling = joinUri(base, 'staged', 'features2', 'other.parquet');
  await storage.write(sibling, 'sibling');
  // A move that stopped part way: three objects copied, two of them already removed from the source.
  for (const name of names.slice(0, 3)) await storage.write(joinUri(to, name), `new ${name}`);
  for (const name of names.slice(0, 2)) await storage.removeAll(joinUri(from, name));

  await storage.move(from, to);
  assert.deepEqual(await contents(storage, from), {});
  assert.deepEqual(await contents(storage, to), { ...Object.fromEntries(names.map((name) => [name, `new ${name}`])), 'kept.txt': 'kept' });
  assert.equal((await storage.read(sibling)).toString(), 'sibling');
  await storage.removeAll(base);
}
