/**
 * NumPy .npy files (format version 1.0): float32 little-endian ('<f4') C-order arrays, written
 * byte for byte as numpy.save writes them, and read back with every header field checked.
 * Reading also accepts uint8 ('|u1') arrays and format versions 2.0 and 3.0 headers.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomicAsync } from '../common/files.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** numpy leaves room for the first axis to grow to this many digits (numpy >= 1.23). */
const GROWTH_AXIS_MAX_DIGITS = 21;
const ALIGNMENT = 64;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export type NpyDtype = 'float32' | 'uint8';

export interface NpyArray<T extends Float32Array | Uint8Array = Float32Array | Uint8Array> {
  dtype: NpyDtype;
  shape: number[];
  data: T;
}

export class NpyError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'NpyError';
  }
}

function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

function checkShape(shape: readonly number[], length: number): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`npy: bad dimension ${d} in shape [${shape}]`);
  }
  const count = shape.reduce((a, d) => a * d, 1);
  if (count !== length)
    throw new Error(`npy: shape [${shape}] holds ${count} values, the data has ${length}`);
}

/** The header numpy.save writes for a C-order float32 array of this shape (magic to newline). */
export function npyHeader(shape: readonly number[]): Buffer {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  dict += `${' '.repeat((ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT)}\n`;
  const prefix = Buffer.alloc(10);
  MAGIC.copy(prefix);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(dict.length, 8);
  return Buffer.concat([prefix, Buffer.from(dict, 'latin1')]);
}

/** A whole .npy file for a float32 array. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Buffer {
  checkShape(shape, data.length);
  const header = npyHeader(shape);
  const out = Buffer.allocUnsafe(header.length + data.byteLength);
  header.copy(out);
  if (LITTLE_ENDIAN) {
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, header.length);
  } else {
    for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], header.length + 4 * i);
  }
  return out;
}

export async function writeNpy(path: string, data: Float32Array, shape: readonly number[]): Promise<void> {
  await writeFileAtomicAsync(path, encodeNpy(data, shape));
}

interface ParsedHeader {
  dtype: NpyDtype;
  shape: number[];
  dataOffset: number;
}

const DESCRS: Record<string, NpyDtype> = { '<f4': 'float32', '|u1': 'uint8', '<u1': 'uint8' };

function parseHeader(bytes: Buffer, file: string): ParsedHeader {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) {
    throw new NpyError(file, 'not a NumPy .npy file (bad magic string)');
  }
  const major = bytes[6];
  let headerLength: number;
  let start: number;
  if (major === 1) {
    headerLength = bytes.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyError(file, 'truncated header');
    headerLength = bytes.readUInt32LE(8);
    start = 12;
  } else {
    throw new NpyError(file, `unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (bytes.length < start + headerLength) throw new NpyError(file, 'truncated header');
  const text = bytes.subarray(start, start + headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const dict = text.trim();
  if (!dict.startsWith('{') || !dict.endsWith('}')) {
    throw new NpyError(file, `header is not a dictionary: ${JSON.stringify(text)}`);
  }
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(dict)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(file, `header lacks descr, fortran_order or shape: ${dict}`);
  }
  const dtype = DESCRS[descr];
  if (dtype === undefined) {
    throw new NpyError(file, `dtype ${descr} is not supported (bnas reads float32 '<f4' and uint8 '|u1')`);
  }
  if (fortran === 'True') {
    throw new NpyError(file, 'Fortran-order arrays are not supported (save a C-order array)');
  }
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const shape = dims.map((s) => (/^\d+$/.test(s) ? Number(s) : Number.NaN));
  if (shape.some((d) => !Number.isSafeInteger(d))) {
    throw new NpyError(file, `bad shape (${shapeText})`);
  }
  return { dtype, shape, dataOffset: start + headerLength };
}

/** Parses a whole .npy file held in memory; `file` names it in errors. */
export function decodeNpy(bytes: Buffer, file = '<buffer>'): NpyArray {
  const { dtype, shape, dataOffset } = parseHeader(bytes, file);
  const count = shape.reduce((a, d) => a * d, 1);
  const itemSize = dtype === 'float32' ? 4 : 1;
  const have = bytes.length - dataOffset;
  if (have !== count * itemSize) {
    throw new NpyError(
      file,
      `shape (${shape.join(', ')}) of ${dtype} needs ${count * itemSize} data bytes, the file has ${have}${have < count * itemSize ? ' (truncated?)' : ''}`,
    );
  }
  if (dtype === 'uint8') {
    return { dtype, shape, data: new Uint8Array(bytes.subarray(dataOffset)) };
  }
  const data = new Float32Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(data.buffer).set(bytes.subarray(dataOffset));
  } else {
    for (let i = 0; i < count; i++) data[i] = bytes.readFloatLE(dataOffset + 4 * i);
  }
  return { dtype, shape, data };
}

export async function readNpy(path: string): Promise<NpyArray> {
  return decodeNpy(await readFile(path), path);
}

export function readNpySync(path: string): NpyArray {
  return decodeNpy(readFileSync(path), path);
}

/** Reads a float32 array; any other dtype is an error. */
export async function readNpyFloat32(path: string): Promise<NpyArray<Float32Array>> {
  const array = await readNpy(path);
  if (array.dtype !== 'float32') throw new NpyError(path, `dtype is ${array.dtype}, expected float32`);
  return array as NpyArray<Float32Array>;
}
