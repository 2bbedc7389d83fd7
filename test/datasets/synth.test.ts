import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { readImageNetFolder } from '../../datasets/imagenet-layout.js';
import { planImage, renderJpeg, synthesizeDataset } from '../../datasets/synth.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

describe('synthetic datasets', () => {
  it('are a valid ImageNet-style folder, the same for the same seed', async () => {
    const a = join(tempDir(), 'a');
    const b = join(tempDir(), 'b');
    const c = join(tempDir(), 'c');
    await synthesizeDataset({ count: 6, outDir: a, seed: 42 });
    await synthesizeDataset({ count: 6, outDir: b, seed: 42, concurrency: 1 });
    await synthesizeDataset({ count: 6, outDir: c, seed: 43 });
    const names = readdirSync(a).sort();
    expect(names).toEqual(readdirSync(b).sort());
    expect(names).toHaveLength(7);
    for (const name of names)
      expect(readFileSync(join(a, name)).equals(readFileSync(join(b, name)))).toBe(true);
    expect(readFileSync(join(a, 'val_map.txt'), 'utf8')).not.toBe(
      readFileSync(join(c, 'val_map.txt'), 'utf8'),
    );
    const folder = readImageNetFolder(a);
    expect(folder.samples).toHaveLength(6);
    for (const s of folder.samples) expect(s.label).toBeGreaterThanOrEqual(0);
    for (const s of folder.samples) expect(s.label).toBeLessThan(1000);
  });

  it('vary size, aspect ratio and colour mode like ImageNet', () => {
    const plans = Array.from({ length: 400 }, (_, i) => planImage(7, i));
    for (const p of plans) {
      expect(Math.min(p.width, p.height)).toBeGreaterThanOrEqual(200);
      expect(Math.max(p.width, p.height)).toBeLessThanOrEqual(600);
    }
    const modes = new Map<string, number>();
    for (const p of plans) modes.set(p.mode, (modes.get(p.mode) ?? 0) + 1);
    expect(modes.get('rgb')).toBeGreaterThan(300);
    expect(modes.get('gray')).toBeGreaterThan(10);
    expect(modes.get('cmyk')).toBeGreaterThan(2);
    expect(new Set(plans.map((p) => (p.width / p.height).toFixed(2))).size).toBeGreaterThan(20);
    expect(new Set(plans.map((p) => p.label)).size).toBeGreaterThan(250);
  });

  it('writes JPEGs in the planned mode and size', async () => {
    const wanted = { rgb: 'srgb', gray: 'b-w', cmyk: 'cmyk' } as const;
    for (const mode of ['rgb', 'gray', 'cmyk'] as const) {
      const plan = { ...planImage(1, 0), mode };
      const meta = await sharp(await renderJpeg(plan)).metadata();
      expect(meta).toMatchObject({
        format: 'jpeg',
        width: plan.width,
        height: plan.height,
        space: wanted[mode],
      });
    }
  });

  it('refuses a non-empty folder', async () => {
    const out = join(tempDir(), 'x');
    await synthesizeDataset({ count: 1, outDir: out });
    await expect(synthesizeDataset({ count: 1, outDir: out })).rejects.toThrow(/already exists and holds/);
    await expect(synthesizeDataset({ count: 0, outDir: join(tempDir(), 'y') })).rejects.toThrow(
      /positive integer/,
    );
  });
});
