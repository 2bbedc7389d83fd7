/**
 * Small file helpers every layer writes with: atomic writes (a reader never sees half a file),
 * build-once-into-place, sha256 digests, and the timestamp run folders are named by.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';

/**
 * The name a file is written under before it is renamed into place: unique per process and call,
 * so concurrent writers of one path never share a temporary file.
 */
function temporarySibling(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** True for a name temporarySibling made (left behind by a writer that was killed mid-write). */
export function isAtomicWriteLeftover(name: string): boolean {
  return /\.tmp-\d+-[0-9a-f]+$/.test(name);
}

/** Writes a file under a temporary name and renames it into place (a reader never sees half of it). */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = temporarySibling(path);
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** writeFileAtomic without blocking the event loop. */
export async function writeFileAtomicAsync(path: string, content: string | Uint8Array): Promise<void> {
  const tmp = temporarySibling(path);
  try {
    await writeFile(tmp, content);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Builds `make(tmp)` into a temporary sibling and renames it into place, so a half-made file never looks done. */
export async function buildOnce(path: string, make: (tmp: string) => Promise<void>): Promise<string> {
  if (existsSync(path)) return path;
  const tmp = `${path}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await make(tmp);
  renameSync(tmp, path);
  return path;
}

/** "20261122-211336": a folder name for a run started now (UTC). */
export function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

/** sha256 of bytes (a string is hashed as UTF-8), hex. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

const HASH_CHUNK_BYTES = 1 << 20;

/** sha256 of a file's bytes, hex; read in chunks, so a model of any size costs 1 MiB of memory. */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
