/**
 * Preprocessed-sample caches: built once, reused, completed after an interruption, keyed on
 * everything that determines their content. Builds of 16+ images run on the worker pool (which
 * loads dist/: run after `npm run build`, as `npm test` does).
 */
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cacheFolderName,
  defaultCacheRoot,
  ensurePreprocessed,
  loadSample,
  loadSampleSync,
  MANIFEST,
  readManifest,
  writePreprocessed,
} from '../../datasets/cache.js';
import { preprocessImage } from '../../datasets/preprocess.js';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { synthesizeDataset } from '../../datasets/synth.js';
import { fixture, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const spec = resolvePreprocessSpec('torchvision', undefined, { height: 64, width: 64 });
let small: string; // 5 images: built inline
let pooled: string; // 20 images: built on the worker pool

beforeAll(async () => {
  small = join(tempDir(), 'small');
  await synthesizeDataset({ count: 5, outDir: small, seed: 11 });
  pooled = join(tempDir(), 'pooled');
  await synthesizeDataset({ count: 20, outDir: pooled, seed: 12 });
});

const oldTime = new Date('2001-01-01T00:00:00Z');
/** Marks every .npy of a cache as old, to see which ones a later call rewrites. */
function ageSamples(dir: string, files: string[]): void {
  for (const f of files) utimesSync(join(dir, f), oldTime, oldTime);
}
const isOld = (path: string) => statSync(path).mtimeMs === oldTime.getTime();

describe('ensurePreprocessed', () => {
  it('builds a cache: one .npy per image in val_map order, labels, manifest', async () => {
    const root = tempDir();
    const progress: number[] = [];
    const { dir, manifest, reused } = await ensurePreprocessed({
      dataDir: small,
      spec,
      cacheRoot: root,
      onProgress: (done, total) => {
        expect(total).toBe(5);
        progress.push(done);
      },
    });
    expect(reused).toBe(false);
    expect(progress.at(-1)).toBe(5);
    expect(dir.startsWith(root)).toBe(true);
    const valMap = readFileSync(join(small, 'val_map.txt'), 'utf8').trim().split('\n');
    expect(manifest).toMatchObject({
      version: 1,
      preset: 'torchvision',
      spec,
      sampleShape: [3, 64, 64],
      count: 5,
      files: valMap.map((l) => l.split(' ')[0].replace('.JPEG', '.npy')),
      labels: valMap.map((l) => Number(l.split(' ')[1])),
      bnasVersion: expect.any(String),
    });
    expect(manifest.valMapSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readManifest(dir)).toEqual(manifest);
    const first = join(small, valMap[0].split(' ')[0]);
    expect(await loadSample(dir, manifest.files[0])).toEqual(await preprocessImage(first, spec));
    expect(loadSampleSync(dir, manifest.files[0])).toEqual(await loadSample(dir, manifest.files[0]));
  });

  it('reuses a complete cache without computing anything', async () => {
    const root = tempDir();
    const built = await ensurePreprocessed({ dataDir: small, spec, cacheRoot: root });
    ageSamples(built.dir, built.manifest.files);
    const again = await ensurePreprocessed({ dataDir: small, spec, cacheRoot: root });
    expect(again.reused).toBe(true);
    expect(again.dir).toBe(built.dir);
    expect(again.manifest).toEqual(built.manifest);
    expect(built.manifest.files.every((f) => isOld(join(built.dir, f)))).toBe(true);
  });

  it('completes an interrupted cache (no manifest), computing only what is missing', async () => {
    const root = tempDir();
    const built = await ensurePreprocessed({ dataDir: pooled, spec, cacheRoot: root });
    const { dir, manifest } = built;
    ageSamples(dir, manifest.files);
    rmSync(join(dir, MANIFEST));
    rmSync(join(dir, manifest.files[3]));
    writeFileSync(join(dir, manifest.files[7]), 'half-written'); // wrong size: redone
    writeFileSync(join(dir, `${manifest.files[9]}.tmp-123-abcd1234`), 'junk'); // left by a crash
    const again = await ensurePreprocessed({ dataDir: pooled, spec, cacheRoot: root });
    expect(again.reused).toBe(false);
    expect(again.manifest.files).toEqual(manifest.files);
    const rewritten = manifest.files.filter((f) => !isOld(join(dir, f)));
    expect(rewritten.sort()).toEqual([manifest.files[3], manifest.files[7]].sort());
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(false);
    const image = join(
      pooled,
      readFileSync(join(pooled, 'val_map.txt'), 'utf8').split('\n')[7].split(' ')[0],
    );
    expect(await loadSample(dir, manifest.files[7])).toEqual(await preprocessImage(image, spec));
  });

  it('rebuilds when a listed sample has gone, even with a manifest', async () => {
    const root = tempDir();
    const { dir, manifest } = await ensurePreprocessed({ dataDir: small, spec, cacheRoot: root });
    rmSync(join(dir, manifest.files[2]));
    const again = await ensurePreprocessed({ dataDir: small, spec, cacheRoot: root });
    expect(again.reused).toBe(false);
    expect(existsSync(join(dir, manifest.files[2]))).toBe(true);
  });

  it('keys the folder on dataset path, val_map content and the whole spec', async () => {
    const sha = 'a'.repeat(64);
    const base = cacheFolderName('/data/x', sha, spec);
    expect(base).toMatch(/^torchvision-3x64x64-[0-9a-f]{24}$/);
    expect(cacheFolderName('/data/x', sha, { ...spec })).toBe(base);
    expect(cacheFolderName('/data/y', sha, spec)).not.toBe(base);
    expect(cacheFolderName('/data/x', 'b'.repeat(64), spec)).not.toBe(base);
    expect(cacheFolderName('/data/x', sha, { ...spec, resize: 80 })).not.toBe(base);
    expect(cacheFolderName('/data/x', sha, { ...spec, mean: [0.5, 0.5, 0.5] })).not.toBe(base);

    // A changed val_map gives a new cache.
    const root = tempDir();
    const data = join(tempDir(), 'copy');
    await synthesizeDataset({ count: 3, outDir: data, seed: 11 });
    const first = await ensurePreprocessed({ dataDir: data, spec, cacheRoot: root });
    const lines = readFileSync(join(data, 'val_map.txt'), 'utf8').trim().split('\n');
    writeFileSync(join(data, 'val_map.txt'), `${lines.slice(0, 2).join('\n')}\n`);
    const second = await ensurePreprocessed({ dataDir: data, spec, cacheRoot: root });
    expect(second.dir).not.toBe(first.dir);
    expect(second.manifest.count).toBe(2);
  });

  it('defaults to $BNAS_CACHE, else ~/.cache/bnas/preprocessed', () => {
    const saved = process.env.BNAS_CACHE;
    try {
      process.env.BNAS_CACHE = '/somewhere/cache';
      expect(defaultCacheRoot()).toBe('/somewhere/cache');
      delete process.env.BNAS_CACHE;
      expect(defaultCacheRoot()).toMatch(/\.cache\/bnas\/preprocessed$/);
    } finally {
      if (saved === undefined) delete process.env.BNAS_CACHE;
      else process.env.BNAS_CACHE = saved;
    }
  });

  it('stops on a damaged image, naming it, and leaves no manifest (inline and on the pool)', async () => {
    for (const count of [5, 20]) {
      const data = join(tempDir(), 'damaged');
      await synthesizeDataset({ count, outDir: data, seed: 99 });
      const victim = readFileSync(join(data, 'val_map.txt'), 'utf8').split('\n')[count - 2].split(' ')[0];
      const bytes = readFileSync(join(data, victim));
      writeFileSync(join(data, victim), bytes.subarray(0, bytes.length >> 1));
      const root = tempDir();
      const error = await ensurePreprocessed({ dataDir: data, spec, cacheRoot: root }).catch(
        (e: unknown) => e,
      );
      expect((error as Error).message).toContain(join(data, victim));
      expect((error as Error).message).toMatch(/premature end|truncated JPEG/i);
      const [folder] = readdirSync(root);
      expect(existsSync(join(root, folder, MANIFEST))).toBe(false);
    }
  });
});

describe('writePreprocessed', () => {
  it('writes the cache layout into a new folder, and refuses a non-empty one', async () => {
    const out = join(tempDir(), 'out');
    const { manifest } = await writePreprocessed({ dataDir: small, spec, outDir: out });
    expect(readdirSync(out).sort()).toEqual([...manifest.files, MANIFEST].sort());
    await expect(writePreprocessed({ dataDir: small, spec, outDir: out })).rejects.toThrow(
      /already exists and holds/,
    );
  });

  it('mirrors sub-folders of the image paths', async () => {
    const data = tempDir();
    copyFileSync(fixture('rgb_500x375.jpg'), join(data, 'a.jpg'));
    const sub = join(data, 'n01');
    await synthesizeDataset({ count: 1, outDir: sub, seed: 1 });
    const [name] = readFileSync(join(sub, 'val_map.txt'), 'utf8').split(' ');
    writeFileSync(join(data, 'val_map.txt'), `a.jpg 3\nn01/${name} 7\n`);
    const out = join(tempDir(), 'out');
    const { manifest } = await writePreprocessed({ dataDir: data, spec, outDir: out });
    expect(manifest.files).toEqual(['a.npy', `n01/${name.replace('.JPEG', '.npy')}`]);
    expect(manifest.labels).toEqual([3, 7]);
    expect(existsSync(join(out, manifest.files[1]))).toBe(true);
  });
});
