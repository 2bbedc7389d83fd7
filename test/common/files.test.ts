/** common/files.ts: atomic writes, build-once, sha256 digests and run timestamps. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildOnce,
  isAtomicWriteLeftover,
  sha256File,
  sha256Hex,
  timestamp,
  writeFileAtomic,
  writeFileAtomicAsync,
} from '../../common/files.js';
import { removeTempDirs, tempDir } from '../temp-dirs.js';

afterAll(removeTempDirs);

const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe.each([
  ['writeFileAtomic', async (path: string, content: string | Uint8Array) => writeFileAtomic(path, content)],
  ['writeFileAtomicAsync', writeFileAtomicAsync],
])('%s', (_name, write) => {
  it('writes a new file and replaces an existing one, leaving nothing else beside it', async () => {
    const dir = tempDir();
    const path = join(dir, 'a.json');
    await write(path, 'first, and longer than the second\n');
    expect(readFileSync(path, 'utf8')).toBe('first, and longer than the second\n');
    await write(path, Uint8Array.from([0x73, 0x65, 0x63, 0x6f, 0x6e, 0x64]));
    expect(readFileSync(path, 'utf8')).toBe('second');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('leaves neither a partial file nor a changed target when the rename fails', async () => {
    const dir = tempDir();
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'kept');
    await expect(write(target, 'content')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('kept');
  });

  it('fails without leaving anything when the folder is missing', async () => {
    const dir = tempDir();
    await expect(write(join(dir, 'missing', 'a.txt'), 'x')).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('isAtomicWriteLeftover', () => {
  it('recognises the temporary names the atomic writers use, and nothing else', () => {
    expect(isAtomicWriteLeftover('sample.npy.tmp-1234-0badcafe')).toBe(true);
    expect(isAtomicWriteLeftover('sample.npy')).toBe(false);
    expect(isAtomicWriteLeftover('sample.npy.partial-1234')).toBe(false);
    expect(isAtomicWriteLeftover('sample.tmp-x-0badcafe')).toBe(false);
  });
});

describe('buildOnce', () => {
  it('builds under a temporary name, renames it into place, and reuses it afterwards', async () => {
    const dir = tempDir();
    const path = join(dir, 'model.onnx');
    const seen: string[] = [];
    const make = async (tmp: string) => {
      seen.push(tmp);
      expect(readdirSync(dir)).toEqual([]); // nothing under the final name while building
      writeFileSync(tmp, 'built');
    };
    expect(await buildOnce(path, make)).toBe(path);
    expect(await buildOnce(path, make)).toBe(path);
    expect(seen).toEqual([`${path}.partial-${process.pid}`]);
    expect(readFileSync(path, 'utf8')).toBe('built');
    expect(readdirSync(dir)).toEqual(['model.onnx']);
  });

  it('leaves no final file when the build fails, and starts afresh on the next call', async () => {
    const dir = tempDir();
    const path = join(dir, 'data');
    await expect(
      buildOnce(path, async (tmp) => {
        mkdirSync(tmp);
        writeFileSync(join(tmp, 'half'), 'x');
        throw new Error('interrupted');
      }),
    ).rejects.toThrow('interrupted');
    expect(readdirSync(dir)).toEqual([`data.partial-${process.pid}`]);
    await buildOnce(path, async (tmp) => {
      expect(readdirSync(dir)).toEqual([]); // the half-built folder was removed first
      mkdirSync(tmp);
      writeFileSync(join(tmp, 'whole'), 'y');
    });
    expect(readdirSync(path)).toEqual(['whole']);
  });
});

describe('sha256', () => {
  it('hashes bytes and UTF-8 strings to known digests', () => {
    expect(sha256Hex('abc')).toBe(ABC_SHA256);
    expect(sha256Hex(Uint8Array.from([0x61, 0x62, 0x63]))).toBe(ABC_SHA256);
    expect(sha256Hex('')).toBe(EMPTY_SHA256);
    expect(sha256Hex('é')).toBe(sha256Hex(Uint8Array.from([0xc3, 0xa9])));
  });

  it('hashes a file to the digest of its bytes, also across read chunks', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'abc'), 'abc');
    writeFileSync(join(dir, 'empty'), '');
    expect(sha256File(join(dir, 'abc'))).toBe(ABC_SHA256);
    expect(sha256File(join(dir, 'empty'))).toBe(EMPTY_SHA256);
    const big = Buffer.alloc(3 * 2 ** 20 + 5);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 12)) & 0xff;
    writeFileSync(join(dir, 'big'), big);
    expect(sha256File(join(dir, 'big'))).toBe(sha256Hex(big));
  });
});

describe('timestamp', () => {
  it('is the UTC time as YYYYMMDD-HHMMSS', () => {
    const before = new Date().toISOString();
    const stamp = timestamp();
    const after = new Date().toISOString();
    expect(stamp).toMatch(/^\d{8}-\d{6}$/);
    const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}`;
    expect(iso >= before.slice(0, 19)).toBe(true);
    expect(iso <= after.slice(0, 19)).toBe(true);
  });
});
