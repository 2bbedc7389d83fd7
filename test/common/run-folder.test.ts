/** common/run-folder.ts: a run's output folder is new or empty, writable, and never overwritten. */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkNewOrEmptyFolder, claimOutputFolder, releaseOutputFolder } from '../../common/run-folder.js';
import { removeTempDirs, tempDir } from '../temp-dirs.js';

afterAll(removeTempDirs);

describe('checkNewOrEmptyFolder', () => {
  it('accepts a missing path and an empty folder, creating nothing', () => {
    const base = tempDir();
    checkNewOrEmptyFolder(join(base, 'new', 'deeper'));
    mkdirSync(join(base, 'empty'));
    checkNewOrEmptyFolder(join(base, 'empty'));
    expect(readdirSync(base)).toEqual(['empty']);
    expect(readdirSync(join(base, 'empty'))).toEqual([]);
  });

  it('refuses a file and a folder holding anything, naming the option', () => {
    const base = tempDir();
    writeFileSync(join(base, 'a-file'), '');
    expect(() => checkNewOrEmptyFolder(join(base, 'a-file'), '--work')).toThrow(
      `--work ${join(base, 'a-file')}: exists and is not a folder`,
    );
    expect(() => checkNewOrEmptyFolder(base)).toThrow(
      `--out ${base}: already exists and holds 1 file(s) (a-file); bnas never overwrites results: choose a new --out`,
    );
    for (const name of ['b', 'c', 'd']) writeFileSync(join(base, name), '');
    expect(() => checkNewOrEmptyFolder(base)).toThrow(/holds 4 file\(s\) \([\w-]+, [\w-]+, [\w-]+, …\)/);
  });
});

describe('claimOutputFolder', () => {
  it('makes a missing folder and its parents, and release removes them while empty', () => {
    const base = tempDir();
    const dir = join(base, 'a', 'b');
    const claimed = claimOutputFolder(dir);
    expect(claimed).toEqual({ dir, created: [join(base, 'a'), dir] });
    expect(readdirSync(dir)).toEqual([]); // the write check leaves nothing
    releaseOutputFolder(claimed);
    expect(readdirSync(base)).toEqual([]);
  });

  it('takes an existing empty folder (and release keeps it), refuses a used one', () => {
    const base = tempDir();
    const claimed = claimOutputFolder(base);
    expect(claimed.created).toEqual([]);
    releaseOutputFolder(claimed);
    writeFileSync(join(base, 'results.json'), '{}');
    expect(() => claimOutputFolder(base)).toThrow(/already exists and holds 1 file\(s\) \(results\.json\)/);
  });

  it('refuses a folder below a file', () => {
    const base = tempDir();
    writeFileSync(join(base, 'f'), '');
    expect(() => claimOutputFolder(join(base, 'f', 'out'))).toThrow(
      `--out ${join(base, 'f', 'out')}: cannot create the folder (${join(base, 'f')} is a file, not a folder)`,
    );
  });
});
