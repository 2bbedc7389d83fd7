import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  decodeNpy,
  encodeNpy,
  NpyError,
  npyHeader,
  readNpy,
  readNpyFloat32,
  writeNpy,
} from '../../datasets/npy.js';
import { fixture, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

describe('npy writing', () => {
  it('writes byte for byte what numpy.save writes (files made by numpy in the fixtures)', () => {
    const data = Float32Array.from({ length: 24 }, (_, i) => (i - 7.5) / 3);
    expect(encodeNpy(data, [2, 3, 4]).equals(readFileSync(fixture('numpy_f4_2x3x4.npy')))).toBe(true);
    expect(
      encodeNpy(Float32Array.of(1, -2, 3.25), [3]).equals(readFileSync(fixture('numpy_f4_1d.npy'))),
    ).toBe(true);
    expect(encodeNpy(Float32Array.of(1.5), []).equals(readFileSync(fixture('numpy_f4_scalar.npy')))).toBe(
      true,
    );
  });

  it("pads the header to 64 bytes with numpy's growth room, for the usual sample shape", () => {
    const header = npyHeader([3, 224, 224]).toString('latin1');
    expect(header.length).toBe(128);
    expect(header.slice(10)).toBe(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 224, 224), }${' '.repeat(51)}\n`,
    );
  });

  it('refuses data that does not fill the shape', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/holds 6 values, the data has 5/);
  });

  it('round-trips through a file, atomically (no temporary file left)', async () => {
    const dir = tempDir();
    const path = join(dir, 'x.npy');
    const data = Float32Array.from({ length: 3 * 5 * 7 }, (_, i) => Math.fround(Math.sqrt(i) - 3));
    await writeNpy(path, data, [3, 5, 7]);
    await writeNpy(path, data, [3, 5, 7]); // over an existing file
    const back = await readNpyFloat32(path);
    expect(back.shape).toEqual([3, 5, 7]);
    expect(back.data).toEqual(data);
    expect(readdirSync(dir)).toEqual(['x.npy']);
    const empty = join(dir, 'empty.npy');
    await writeNpy(empty, new Float32Array(0), [2, 0]);
    expect((await readNpy(empty)).shape).toEqual([2, 0]);
  });
});

describe('npy reading', () => {
  it('reads float32 arrays numpy wrote', async () => {
    const a = await readNpyFloat32(fixture('numpy_f4_2x3x4.npy'));
    expect(a.shape).toEqual([2, 3, 4]);
    expect(a.data[0]).toBe(Math.fround(-7.5 / 3));
    expect(a.data[23]).toBe(Math.fround((23 - 7.5) / 3));
    expect((await readNpyFloat32(fixture('numpy_f4_scalar.npy'))).shape).toEqual([]);
    expect(Array.from((await readNpyFloat32(fixture('numpy_f4_1d.npy'))).data)).toEqual([1, -2, 3.25]);
  });

  it('reads uint8 arrays (the preprocessing reference fixtures)', async () => {
    const a = await readNpy(fixture('rgb_500x375.torchvision224.npy'));
    expect(a.dtype).toBe('uint8');
    expect(a.shape).toEqual([3, 224, 224]);
  });

  it('names the file and the problem for anything else', async () => {
    await expect(readNpyFloat32(fixture('numpy_f8_2.npy'))).rejects.toThrow(
      /numpy_f8_2\.npy: dtype <f8 is not supported/,
    );
    await expect(readNpyFloat32(fixture('numpy_f4_fortran.npy'))).rejects.toThrow(/Fortran-order/);
    await expect(readNpyFloat32(fixture('rgb_500x375.jpg'))).rejects.toThrow(/rgb_500x375\.jpg: not a NumPy/);
    const good = readFileSync(fixture('numpy_f4_2x3x4.npy'));
    expect(() => decodeNpy(good.subarray(0, good.length - 4), 'cut.npy')).toThrow(
      /cut\.npy: shape \(2, 3, 4\) of float32 needs 96 data bytes, the file has 92 \(truncated\?\)/,
    );
    expect(() => decodeNpy(good.subarray(0, 40), 'short.npy')).toThrow(/short\.npy: truncated header/);
    const bad = Buffer.from(good);
    bad[6] = 9;
    expect(() => decodeNpy(bad, 'v9.npy')).toThrow(/unsupported \.npy format version 9/);
    const dir = tempDir();
    writeFileSync(join(dir, 'u8.npy'), readFileSync(fixture('rgb_500x375.plain1x40x40.npy')));
    await expect(readNpyFloat32(join(dir, 'u8.npy'))).rejects.toThrow(NpyError);
  });
});
