// Files on local disk as a Storage: atomic replacement (temporary file, fsync, rename) for every write.
import fsSync, { type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { InputError } from '../errors.js';
import { mutating, NotAFile, ObjectNotFound, tooLarge, type ReadOptions, type Storage, type StoredObject } from './objects.js';

/**
 * Fill a temporary file beside `file`, sync it, then rename it over `file`: readers see the old or the new content,
 * never half, also after a machine crash (without the sync a crash can leave an empty file under the new name, and an
 * empty `_COMMITTING` or manifest would stop every later run; the sync costs a fraction of a millisecond per file).
 */
async function replaceAtomically(file: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomUUID()}`;
  try {
    await fill(tmp);
    const handle = await fs.open(tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

const notAFile = (uri: string) =>
  new NotAFile(`${uri} is not a regular file (a FIFO, socket or device is there now); put the file back or remove the entry`);

/** A whole file, read synchronously; with `maxBytes`, a larger one is refused (ObjectTooLarge), also one that grows while read. */
function readFileNow(uri: string, maxBytes: number | undefined): Buffer {
  let fd: number;
  try {
    // Non-blocking: a FIFO put where an image was listed would otherwise block this thread, and with it the worker's
    // heartbeats, until something writes to it. A regular file reads the same either way.
    fd = fsSync.openSync(uri, fsSync.constants.O_RDONLY | fsSync.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ObjectNotFound(`${uri} does not exist`);
    // A Unix socket cannot be opened at all.
    if (code === 'ENXIO') throw notAFile(uri);
    throw err;
  }
  try {
    const stat = fsSync.fstatSync(fd);
    // A directory fails below with EISDIR, as every reader of a directory does.
    if (!stat.isFile() && !stat.isDirectory()) throw notAFile(uri);
    if (maxBytes === undefined) return fsSync.readFileSync(fd);
    if (stat.size > maxBytes) throw tooLarge(uri, stat.size, maxBytes);
    // The file may have grown since: read at most one byte past the cap, never the whole of it.
    const buffer = Buffer.alloc(stat.size + 1);
    let length = 0;
    for (;;) {
      const bytesRead = fsSync.readSync(fd, buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooLarge(uri, length, maxBytes);
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length);
  } finally {
    fsSync.closeSync(fd);
  }
}

// Entries of a directory stat-ed at once while listing: four times faster than one at a time (bench/README.md, "Figures behind the code").
const STAT_BATCH = 64;

/** Local disk. Writes go through a temporary file and a rename so readers never see half a file. */
export class LocalStorage implements Storage {
  async *list(prefix: string): AsyncGenerator<StoredObject> {
    let rootStat;
    try {
      rootStat = await fs.stat(prefix);
    } catch (err) {
      throw new InputError(`source ${prefix} does not exist or cannot be read (${(err as Error).message}); pass an existing directory`);
    }
    if (!rootStat.isDirectory()) throw new InputError(`source ${prefix} is not a directory; pass the folder that holds the label folders`);
    yield* this.walk(prefix, new Set([await fs.realpath(prefix)]));
  }

  // Symlinked directories are followed once each: the set of real paths stops loops.
  private async *walk(dir: string, seen: Set<string>): AsyncGenerator<StoredObject> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (let start = 0; start < entries.length; start += STAT_BATCH) {
      const batch = entries.slice(start, start + STAT_BATCH).map((entry) => path.join(dir, entry.name));
      // A dangling symlink or a file removed while listing has no stat: nothing to read.
      const stats = await Promise.all(batch.map((full) => fs.stat(full).catch(() => undefined)));
      for (const [i, full] of batch.entries()) yield* this.visit(full, stats[i], seen);
    }
  }

  // One listed entry: a file is yielded, a directory walked (each real directory once).
  private async *visit(full: string, stat: Stats | undefined, seen: Set<string>): AsyncGenerator<StoredObject> {
    if (stat?.isDirectory()) {
      const real = await fs.realpath(full);
      if (seen.has(real)) return;
      seen.add(real);
      yield* this.walk(full, seen);
    } else if (stat?.isFile()) {
      yield { uri: full, size: stat.size, version: `${stat.size}-${stat.mtimeMs}` };
    }
  }

  async children(prefix: string, limit: number): Promise<string[]> {
    const names = await fs.readdir(prefix).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
      throw err;
    });
    return names.sort().slice(0, limit);
  }

  /**
   * Read synchronously: a page-cached file costs about 0.05 ms of this thread, against 0.1–0.15 ms for the asynchronous
   * read, whose five steps (open, stat, read, read, close) each wait for an event-loop turn, and so for inference to
   * give the thread back (bench/README.md, "Reading local images").
   */
  read(uri: string, options: ReadOptions = {}): Promise<Buffer> {
    try {
      return Promise.resolve(readFileNow(uri, options.maxBytes));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async write(uri: string, data: Buffer | string): Promise<void> {
    await mutating('write', uri);
    await replaceAtomically(uri, (tmp) => fs.writeFile(tmp, data));
  }

  async upload(localFile: string, uri: string): Promise<void> {
    await mutating('write', uri);
    if (path.resolve(localFile) === path.resolve(uri)) return;
    await replaceAtomically(uri, (tmp) => fs.copyFile(localFile, tmp));
  }

  async download(uri: string, localFile: string): Promise<void> {
    if (path.resolve(localFile) === path.resolve(uri)) return;
    await replaceAtomically(localFile, (tmp) => fs.copyFile(uri, tmp));
  }

  async exists(uri: string): Promise<boolean> {
    return fs.access(uri).then(
      () => true,
      () => false,
    );
  }

  async remove(uri: string): Promise<void> {
    await mutating('remove', uri);
    try {
      await fs.unlink(uri);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  async removeAll(prefix: string): Promise<void> {
    await mutating('removeAll', prefix);
    await fs.rm(prefix, { recursive: true, force: true });
  }

  async moveObject(from: string, to: string): Promise<void> {
    await mutating('move', to);
    await fs.mkdir(path.dirname(to), { recursive: true });
    try {
      await fs.rename(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (await this.exists(to)) return;
      throw new ObjectNotFound(`cannot move ${from} to ${to}: neither exists`);
    }
  }

  async removeEmptyFolders(uri: string, root: string): Promise<void> {
    const top = path.resolve(root);
    for (let dir = path.dirname(path.resolve(uri)); dir.startsWith(top + path.sep); dir = path.dirname(dir)) {
      try {
        await fs.rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
        throw err;
      }
    }
  }

  localPath(uri: string): string {
    return uri;
  }
}

/** The one local backend of this process. */
export const localStorage = new LocalStorage();
