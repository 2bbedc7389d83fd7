import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DatasetListError,
  parseValMap,
  readCalibrationList,
  readImageNetFolder,
  withExtension,
} from '../../datasets/imagenet-layout.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

/** A dataset folder with these (empty) image files and list files. */
function folder(images: string[], lists: Record<string, string>): string {
  const dir = tempDir();
  for (const image of images) {
    mkdirSync(join(dir, image, '..'), { recursive: true });
    writeFileSync(join(dir, image), '');
  }
  for (const [name, text] of Object.entries(lists)) writeFileSync(join(dir, name), text);
  return dir;
}

function errorOf(run: () => unknown): DatasetListError {
  try {
    run();
  } catch (error) {
    if (error instanceof DatasetListError) return error;
    throw error;
  }
  throw new Error('expected a DatasetListError');
}

describe('val_map.txt', () => {
  it('gives samples in line order (index = QSL index), tolerating CRLF and trailing blank lines', () => {
    const dir = folder(['a.JPEG', 'b.JPEG', 'sub/c.png'], {
      'val_map.txt': 'a.JPEG 65\r\nb.JPEG 0\r\n  sub/c.png\t999  \r\n\r\n\n',
    });
    const ds = readImageNetFolder(dir);
    expect(ds.samples).toEqual([
      { file: 'a.JPEG', label: 65, line: 1 },
      { file: 'b.JPEG', label: 0, line: 2 },
      { file: 'sub/c.png', label: 999, line: 3 },
    ]);
    expect(ds.valMapSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['a.JPEG 1\nb.JPEG\n', 2, /expected "<image file> <label>", got 1 column/],
    ['a.JPEG 1\nb.JPEG 2 3\n', 2, /got 3 column/],
    ['a.JPEG -1\n', 1, /label "-1" is not a non-negative integer/],
    ['a.JPEG 1.5\n', 1, /label "1.5" is not a non-negative integer/],
    ['a.JPEG cat\n', 1, /label "cat"/],
    ['a.JPEG 1\n\nb.JPEG 2\n', 2, /empty line/],
    ['/etc/passwd 1\n', 1, /must be relative and inside the folder/],
    ['../a.JPEG 1\n', 1, /must be relative/],
  ])('rejects %j at line %i, naming file and line', (text, line, message) => {
    const error = errorOf(() => parseValMap(text, '/data/val_map.txt'));
    expect(error.file).toBe('/data/val_map.txt');
    expect(error.line).toBe(line);
    expect(error.message).toMatch(new RegExp(`^/data/val_map\\.txt:${line}: `));
    expect(error.message).toMatch(message);
  });

  it('reports missing images by name and line', () => {
    const dir = folder(['a.JPEG'], { 'val_map.txt': 'a.JPEG 1\nb.JPEG 2\nc.JPEG 3\n' });
    const error = errorOf(() => readImageNetFolder(dir));
    expect(error.line).toBe(2);
    expect(error.message).toContain('2 image file(s) missing');
    expect(error.message).toContain(`line 2: ${join(dir, 'b.JPEG')}`);
    expect(error.message).toContain(`line 3: ${join(dir, 'c.JPEG')}`);
  });

  it('refuses an image listed twice, naming the file and both lines', () => {
    const error = errorOf(() => parseValMap('a.JPEG 1\nb.JPEG 2\n./a.JPEG 3\n', '/data/val_map.txt'));
    expect(error.file).toBe('/data/val_map.txt');
    expect(error.line).toBe(3);
    expect(error.message).toBe(
      '/data/val_map.txt:3: "./a.JPEG" is listed twice, on lines 1 and 3; list each image once',
    );
    const dir = folder(['x.JPEG', 'y.JPEG'], { 'val_map.txt': 'x.JPEG 0\ny.JPEG 1\nx.JPEG 0\n' });
    expect(() => readImageNetFolder(dir)).toThrow(
      `${join(dir, 'val_map.txt')}:3: "x.JPEG" is listed twice, on lines 1 and 3`,
    );
  });

  it('explains a folder without val_map.txt, and an empty one', () => {
    expect(() => readImageNetFolder(folder(['a.JPEG'], {}))).toThrow(/no val_map\.txt in it/);
    expect(() => readImageNetFolder(folder([], { 'val_map.txt': '\n' }))).toThrow(/lists no images/);
    expect(() => readImageNetFolder('/no/such/folder')).toThrow(/not a folder/);
  });
});

describe('calibration lists', () => {
  it('reads one file name per line', () => {
    const dir = folder(['x.JPEG', 'y.JPEG'], { 'cal.txt': 'x.JPEG\ny.JPEG\n\n' });
    expect(readCalibrationList(join(dir, 'cal.txt'), dir)).toEqual(['x.JPEG', 'y.JPEG']);
  });

  it('rejects bad lines and missing images with file and line', () => {
    const dir = folder(['x.JPEG'], { 'cal.txt': 'x.JPEG\nx.JPEG 3\n', 'cal2.txt': 'x.JPEG\nz.JPEG\n' });
    const bad = errorOf(() => readCalibrationList(join(dir, 'cal.txt'), dir));
    expect(bad.message).toMatch(/cal\.txt:2: expected one image file name, got "x\.JPEG 3"/);
    const missing = errorOf(() => readCalibrationList(join(dir, 'cal2.txt'), dir));
    expect(missing.message).toMatch(/cal2\.txt:2: 1 image file\(s\) missing/);
    expect(missing.message).toContain(`line 2: ${join(dir, 'z.JPEG')}`);
    expect(() => readCalibrationList(join(dir, 'none.txt'), dir)).toThrow(/none\.txt: no such file/);
  });
});

describe('cache file names', () => {
  it('replace the extension, keep folders', () => {
    expect(withExtension('ILSVRC2012_val_00000001.JPEG', '.npy')).toBe('ILSVRC2012_val_00000001.npy');
    expect(withExtension('n01440764/a.b.jpg', '.npy')).toBe('n01440764/a.b.npy');
    expect(withExtension('noext', '.npy')).toBe('noext.npy');
    expect(withExtension('.hidden', '.npy')).toBe('.hidden.npy');
  });
});
