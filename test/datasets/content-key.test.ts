/**
 * The cache is keyed by image content (issue 11, row 1: an image replaced under the same name
 * left the old samples in use, and the accuracy printed was silently wrong).
 */
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../common/files.js';
import { ensurePreprocessed, loadSample } from '../../datasets/cache.js';
import { preprocessImage } from '../../datasets/preprocess.js';
import { runPreprocessJob } from '../../datasets/preprocess-job.js';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { FASHION_MNIST_VAL, fashionMnistSubset, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const spec = resolvePreprocessSpec('plain', undefined, { channels: 1, height: 28, width: 28 });
const fixtureImage = (i: number) => join(FASHION_MNIST_VAL, `fmnist_test_${String(i).padStart(5, '0')}.png`);

describe('cache keyed by image content', () => {
  it('computes new samples for an image rewritten with the same size, mtime and inode', async () => {
    // Images 10 and 55 of the fixture have the same byte size; 55 is not in the 24-image folder.
    expect(statSync(fixtureImage(10)).size).toBe(statSync(fixtureImage(55)).size);
    const data = fashionMnistSubset(24);
    const victim = join(data, 'fmnist_test_00010.png');
    const stamp = new Date('2020-01-01T00:00:00Z');
    utimesSync(victim, stamp, stamp);
    const root = tempDir();
    const first = await ensurePreprocessed({ dataDir: data, spec, cacheRoot: root });
    const before = statSync(victim, { bigint: true });

    writeFileSync(victim, readFileSync(fixtureImage(55)));
    utimesSync(victim, stamp, stamp);
    const after = statSync(victim, { bigint: true });
    // Everything a size+mtime(+inode) fingerprint would look at is unchanged.
    expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);

    const second = await ensurePreprocessed({ dataDir: data, spec, cacheRoot: root });
    expect(second.reused).toBe(false);
    expect(second.dir).not.toBe(first.dir);
    const file = second.manifest.files[10];
    expect(second.manifest.imageSha256[10]).toBe(sha256Hex(readFileSync(fixtureImage(55))));
    expect(await loadSample(second.dir, file)).toEqual(await preprocessImage(fixtureImage(55), spec));
    // The first cache is left as it was (another run may be reading it).
    expect(await loadSample(first.dir, file)).toEqual(await preprocessImage(fixtureImage(10), spec));
    expect(await loadSample(first.dir, file)).not.toEqual(await loadSample(second.dir, file));
    // The 23 unchanged images were not preprocessed again: their samples are the first cache's.
    for (const [i, f] of second.manifest.files.entries()) {
      if (i !== 10) expect(statSync(join(second.dir, f)).ino).toBe(statSync(join(first.dir, f)).ino);
    }
    const third = await ensurePreprocessed({ dataDir: data, spec, cacheRoot: root });
    expect(third).toMatchObject({ dir: second.dir, reused: true });
  });

  it('refuses to file a sample under a hash its image no longer has', async () => {
    const dir = tempDir();
    const npy = join(dir, 'x.npy');
    const job = { image: fixtureImage(3), npy, sha256: sha256Hex(readFileSync(fixtureImage(4))) };
    await expect(runPreprocessJob(job, spec)).rejects.toThrow(
      `${fixtureImage(3)}: changed while the dataset was being preprocessed`,
    );
    expect(existsSync(npy)).toBe(false);
    await runPreprocessJob({ ...job, sha256: sha256Hex(readFileSync(fixtureImage(3))) }, spec);
    expect(existsSync(npy)).toBe(true);
  });
});
