/** Shared helpers of the dataset tests: fixture paths and temporary folders. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PREPROCESS_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'preprocess');

export const fixture = (name: string): string => join(PREPROCESS_FIXTURES, name);

const made: string[] = [];

export function tempDir(prefix = 'bnas-datasets-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Largest |a[i] - b[i]|, for messages. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
