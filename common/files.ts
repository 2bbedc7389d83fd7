/**
 * Small file helpers every layer writes with: atomic writes (a reader never sees half a file),
 * build-once-into-place, sha256 digests, and the timestamp run folders are named by.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/** Writes a file under a temporary name and renames it into place (a reader never sees half of it). */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = `${path}.partial-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
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
