/** The worker pool ends cleanly when images fail: the first error, never a crash of the process. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { runPreprocessJobs } from '../../datasets/run-jobs.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const spec = resolvePreprocessSpec('plain', undefined, { channels: 1, height: 28, width: 28 });

describe('runPreprocessJobs on the pool', () => {
  it('rejects with the first damaged image while other tasks are still answering', async () => {
    // Every image fails: tasks in flight answer after the first failure has destroyed the pool
    // (piscina reports those answers as 'error' events, which ended the process).
    const dir = tempDir();
    const jobs = Array.from({ length: 200 }, (_, i) => {
      const image = join(dir, `d${i}.png`);
      writeFileSync(image, Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.alloc(100, i)]));
      return { image, npy: join(dir, `d${i}.npy`) };
    });
    for (let round = 0; round < 6; round++) {
      await expect(runPreprocessJobs(spec, jobs, { workers: 2 })).rejects.toThrow(
        /d\d+\.png: not a readable image/,
      );
    }
  });
});
