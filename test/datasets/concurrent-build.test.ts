/**
 * Two processes building the same cache at once (issue 11, row 6: one deleted the other's
 * temporary files and died with a worker stack trace). Process A is a real build in a child
 * process, frozen (SIGSTOP) at a moment it has a sample half-written; process B (this one)
 * builds the same cache to the end meanwhile; then A goes on. Both must finish with the same,
 * complete samples. Linux only (/proc tells when every thread of A is stopped).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensurePreprocessed, loadSample } from '../../datasets/cache.js';
import { preprocessImage } from '../../datasets/preprocess.js';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { fashionMnistSubset, removeTempDirs, tempDir } from './helpers.js';
import { filesUnder, isStopped, pause, startEnsure, waitUntil } from './processes.js';

afterAll(removeTempDirs);

const spec = resolvePreprocessSpec('plain', undefined, { channels: 1, height: 28, width: 28 });

describe.runIf(process.platform === 'linux')('concurrent builds of one cache', () => {
  it('never touch each other: both finish, with the same complete samples', async () => {
    const data = fashionMnistSubset(1500);
    const root = tempDir();
    const a = startEnsure(data, root, spec);
    let aEnded = false;
    void a.exited.then(() => {
      aEnded = true;
    });
    try {
      // Freeze A at a moment one of its samples is being written (a temporary file exists).
      let caught: string[] = [];
      await waitUntil(
        () => {
          process.kill(a.pid, 'SIGSTOP');
          while (!isStopped(a.pid));
          caught = filesUnder(root).filter((f) => f.includes(`.tmp-${a.pid}-`));
          if (caught.length === 0) process.kill(a.pid, 'SIGCONT');
          return caught.length > 0;
        },
        'build A to be frozen with a sample half-written',
        () => aEnded,
      );
      const b = await ensurePreprocessed({ dataDir: data, spec, cacheRoot: root });
      process.kill(a.pid, 'SIGCONT');
      const aExit = await a.exited;
      expect(a.stderr()).toBe('');
      expect(aExit).toEqual({ code: 0, signal: null });
      const aResult = JSON.parse(a.stdout());
      expect(aResult).toMatchObject({ dir: b.dir, count: 1500 });
      expect(b.manifest.count).toBe(1500);

      // One complete folder, nothing partial or temporary left.
      expect(readdirSync(root)).toEqual([b.dir.slice(root.length + 1)]);
      expect(filesUnder(b.dir).sort()).toEqual([...b.manifest.files, 'manifest.json'].sort());
      for (const i of [0, 700, 1499]) {
        const image = join(data, `fmnist_test_${String(i).padStart(5, '0')}.png`);
        expect(await loadSample(b.dir, b.manifest.files[i])).toEqual(await preprocessImage(image, spec));
      }
    } finally {
      if (!aEnded) {
        process.kill(a.pid, 'SIGCONT');
        process.kill(a.pid, 'SIGKILL');
      }
      await pause(0);
    }
  });
});
