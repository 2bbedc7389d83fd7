/** Shared helpers of the dataset tests: fixture paths and temporary folders. */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, TEST_FIXTURES } from '../paths.js';
import { tempDir as makeTempDir } from '../temp-dirs.js';

export const PREPROCESS_FIXTURES = join(TEST_FIXTURES, 'preprocess');

export const fixture = (name: string): string => join(PREPROCESS_FIXTURES, name);

export const FASHION_MNIST_VAL = join(REPO_ROOT, 'datasets', 'fixtures', 'fashion-mnist', 'val');

export { removeTempDirs } from '../temp-dirs.js';

/** A fresh empty folder under the OS temp dir (removed by removeTempDirs). */
export const tempDir = (prefix = 'bnas-datasets-'): string => makeTempDir(prefix);

/** Largest |a[i] - b[i]|, for messages. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** A new ImageNet-style folder with the first `count` Fashion-MNIST validation PNGs (copies). */
export function fashionMnistSubset(count: number): string {
  const dir = tempDir('bnas-fmnist-');
  const lines = readFileSync(join(FASHION_MNIST_VAL, 'val_map.txt'), 'utf8')
    .trim()
    .split('\n')
    .slice(0, count);
  for (const line of lines) {
    const name = line.split(' ')[0];
    copyFileSync(join(FASHION_MNIST_VAL, name), join(dir, name));
  }
  writeFileSync(join(dir, 'val_map.txt'), `${lines.join('\n')}\n`);
  return dir;
}
