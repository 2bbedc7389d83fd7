/**
 * TensorProto <-> typed arrays. A Tensor's `data` holds its elements in a typed array (raw bits
 * for FLOAT16/BFLOAT16/8-bit floats, packed bytes for the 4- and 2-bit types). Reading prefers
 * `raw_data` (little-endian, viewed in place when aligned) and falls back to the typed fields
 * (float_data, int32_data, int64_data, double_data, uint64_data); writing always uses `raw_data`.
 * External data (initializers kept in a side file) is read and written here too.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { has, int64ToBigInt, int64ToNumber, type StringStringEntryProto, type TensorProto } from './proto.js';

/** TensorProto.DataType */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;

const DATA_TYPE_NAMES = new Map<number, string>(Object.entries(DataType).map(([k, v]) => [v, k]));

export function dataTypeName(type: number): string {
  return DATA_TYPE_NAMES.get(type) ?? `data type ${type}`;
}

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface Tensor {
  name: string;
  dataType: number;
  dims: number[];
  /** Elements (see the module comment for the non-native types). Empty for STRING tensors. */
  data: TensorData;
  /** STRING tensors only: the elements as bytes. */
  strings?: Uint8Array[];
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

type ArrayCtor = {
  new (length: number): TensorData;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
  BYTES_PER_ELEMENT: number;
};

/** Storage of each data type: array class and elements per stored array item (sub-byte and complex types). */
const STORAGE: Record<number, { ctor: ArrayCtor; perItem: number }> = {
  [DataType.FLOAT]: { ctor: Float32Array, perItem: 1 },
  [DataType.UINT8]: { ctor: Uint8Array, perItem: 1 },
  [DataType.INT8]: { ctor: Int8Array, perItem: 1 },
  [DataType.UINT16]: { ctor: Uint16Array, perItem: 1 },
  [DataType.INT16]: { ctor: Int16Array, perItem: 1 },
  [DataType.INT32]: { ctor: Int32Array, perItem: 1 },
  [DataType.INT64]: { ctor: BigInt64Array, perItem: 1 },
  [DataType.BOOL]: { ctor: Uint8Array, perItem: 1 },
  [DataType.FLOAT16]: { ctor: Uint16Array, perItem: 1 },
  [DataType.DOUBLE]: { ctor: Float64Array, perItem: 1 },
  [DataType.UINT32]: { ctor: Uint32Array, perItem: 1 },
  [DataType.UINT64]: { ctor: BigUint64Array, perItem: 1 },
  [DataType.COMPLEX64]: { ctor: Float32Array, perItem: 0.5 },
  [DataType.COMPLEX128]: { ctor: Float64Array, perItem: 0.5 },
  [DataType.BFLOAT16]: { ctor: Uint16Array, perItem: 1 },
  [DataType.FLOAT8E4M3FN]: { ctor: Uint8Array, perItem: 1 },
  [DataType.FLOAT8E4M3FNUZ]: { ctor: Uint8Array, perItem: 1 },
  [DataType.FLOAT8E5M2]: { ctor: Uint8Array, perItem: 1 },
  [DataType.FLOAT8E5M2FNUZ]: { ctor: Uint8Array, perItem: 1 },
  [DataType.FLOAT8E8M0]: { ctor: Uint8Array, perItem: 1 },
  [DataType.UINT4]: { ctor: Uint8Array, perItem: 2 },
  [DataType.INT4]: { ctor: Uint8Array, perItem: 2 },
  [DataType.FLOAT4E2M1]: { ctor: Uint8Array, perItem: 2 },
  [DataType.UINT2]: { ctor: Uint8Array, perItem: 4 },
  [DataType.INT2]: { ctor: Uint8Array, perItem: 4 },
};

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function storage(dataType: number, what: string) {
  const s = STORAGE[dataType];
  if (!s) throw new Error(`${what}: unsupported tensor ${dataTypeName(dataType)}`);
  return s;
}

function storedItems(dataType: number, count: number, what: string): number {
  return Math.ceil(count / storage(dataType, what).perItem);
}

/** A typed array of `dataType` holding `count` elements, zero-filled. */
export function allocTensorData(dataType: number, count: number): TensorData {
  return new (storage(dataType, 'allocTensorData').ctor)(storedItems(dataType, count, 'allocTensorData'));
}

export function makeTensor(name: string, dataType: number, dims: number[], data?: TensorData): Tensor {
  const items = storedItems(dataType, elementCount(dims), `tensor ${name}`);
  const tensor = {
    name,
    dataType,
    dims: [...dims],
    data: data ?? allocTensorData(dataType, elementCount(dims)),
  };
  if (tensor.data.length !== items) {
    throw new Error(
      `tensor ${name}: ${tensor.data.length} values for dims [${dims.join(',')}] (${items} expected)`,
    );
  }
  return tensor;
}

export function floatTensor(name: string, dims: number[], data?: Float32Array | number[]): Tensor {
  return makeTensor(name, DataType.FLOAT, dims, Array.isArray(data) ? Float32Array.from(data) : data);
}

export function int64Tensor(name: string, dims: number[], values: (number | bigint)[]): Tensor {
  return makeTensor(
    name,
    DataType.INT64,
    dims,
    BigInt64Array.from(values, (v) => BigInt(v)),
  );
}

/** Elements of a numeric tensor as JS numbers (int64 values must be within ±2^53). */
export function tensorValues(t: Tensor): number[] {
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) {
    return Array.from(t.data, (v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n))
        throw new Error(`tensor ${t.name}: value ${v} does not fit a JavaScript number`);
      return n;
    });
  }
  return Array.from(t.data as ArrayLike<number>);
}

/** The tensor's bytes as ONNX raw_data (little-endian); a view of `data` on little-endian hosts. */
export function tensorBytes(t: Tensor): Uint8Array {
  const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (LITTLE_ENDIAN_HOST || t.data.BYTES_PER_ELEMENT === 1) return view;
  const copy = new Uint8Array(view);
  swapBytes(copy, t.data.BYTES_PER_ELEMENT);
  return copy;
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

function fromRaw(raw: Uint8Array, dataType: number, items: number, what: string): TensorData {
  const { ctor } = storage(dataType, what);
  const width = ctor.BYTES_PER_ELEMENT;
  if (raw.byteLength !== items * width) {
    throw new Error(`${what}: raw_data has ${raw.byteLength} bytes, ${items * width} expected from its dims`);
  }
  if (LITTLE_ENDIAN_HOST && raw.byteOffset % width === 0) return new ctor(raw.buffer, raw.byteOffset, items);
  // A copy (raw may be a Buffer, whose slice() is a view).
  const copy = new Uint8Array(raw);
  if (!LITTLE_ENDIAN_HOST && width > 1) swapBytes(copy, width);
  return new ctor(copy.buffer, 0, items);
}

function expectLength(values: ArrayLike<unknown>, items: number, field: string, what: string): void {
  if (values.length !== items) {
    throw new Error(`${what}: ${field} has ${values.length} values, ${items} expected from its dims`);
  }
}

/** Elements kept in the typed fields (no raw_data): the field each type uses per the ONNX schema. */
function fromTypedFields(p: TensorProto, dataType: number, items: number, what: string): TensorData {
  const { ctor } = storage(dataType, what);
  switch (dataType) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
    case DataType.DOUBLE:
    case DataType.COMPLEX128: {
      const field =
        dataType === DataType.FLOAT || dataType === DataType.COMPLEX64 ? 'float_data' : 'double_data';
      const values = (field === 'float_data' ? p.float_data : p.double_data) ?? [];
      const n = dataType === DataType.COMPLEX64 || dataType === DataType.COMPLEX128 ? items * 2 : items;
      expectLength(values, n, field, what);
      return (ctor as unknown as { from(v: number[]): TensorData }).from(values);
    }
    case DataType.INT64: {
      const values = p.int64_data ?? [];
      expectLength(values, items, 'int64_data', what);
      return BigInt64Array.from(values, int64ToBigInt);
    }
    case DataType.UINT32:
    case DataType.UINT64: {
      const values = p.uint64_data ?? [];
      expectLength(values, items, 'uint64_data', what);
      if (dataType === DataType.UINT32) return Uint32Array.from(values, (v) => int64ToNumber(v));
      return BigUint64Array.from(values, (v) => BigInt.asUintN(64, int64ToBigInt(v)));
    }
    default: {
      // Everything else narrower than 32 bits lives in int32_data: one element (or, for the
      // sub-byte types, one packed byte) per entry; 16-bit floats as their bit patterns.
      const values = p.int32_data ?? [];
      expectLength(values, items, 'int32_data', what);
      const out = new ctor(items) as Exclude<TensorData, BigInt64Array | BigUint64Array>;
      for (let i = 0; i < items; i++) out[i] = values[i];
      return out;
    }
  }
}

export interface TensorReadOptions {
  /** Folder of the model file: external data locations are relative to it. */
  baseDir?: string;
  /** Caches side files by location so each is read once (see `ExternalDataReader`). */
  external?: ExternalDataReader;
}

export function tensorFromProto(p: TensorProto, options: TensorReadOptions = {}): Tensor {
  const name = p.name ?? '';
  const what = `tensor '${name}'`;
  const dataType = p.data_type ?? DataType.UNDEFINED;
  const dims = (p.dims ?? []).map((d) => int64ToNumber(d, `${what}: dim`));
  if (dims.some((d) => d < 0)) throw new Error(`${what}: negative dim in [${dims.join(',')}]`);
  if (p.segment) throw new Error(`${what}: segmented tensors are not supported`);
  const count = elementCount(dims);
  const tensor: Tensor = { name, dataType, dims, data: new Float32Array(0) };
  if (has(p, 'doc_string')) tensor.docString = p.doc_string;
  if (p.metadata_props?.length) tensor.metadataProps = p.metadata_props;

  if (dataType === DataType.STRING) {
    const strings = p.string_data ?? [];
    expectLength(strings, count, 'string_data', what);
    tensor.strings = strings;
    return tensor;
  }
  const items = storedItems(dataType, count, what);
  if (p.data_location === DATA_LOCATION_EXTERNAL) {
    const reader = options.external ?? new ExternalDataReader(options.baseDir);
    tensor.data = fromRaw(reader.read(p, what), dataType, items, what);
  } else if (has(p, 'raw_data') && (p.raw_data!.length > 0 || items === 0)) {
    tensor.data = fromRaw(p.raw_data!, dataType, items, what);
  } else {
    tensor.data = fromTypedFields(p, dataType, items, what);
  }
  return tensor;
}

export function tensorToProto(t: Tensor): TensorProto {
  const p: TensorProto = { dims: [...t.dims], data_type: t.dataType };
  if (t.name !== '') p.name = t.name;
  if (t.docString !== undefined) p.doc_string = t.docString;
  if (t.dataType === DataType.STRING) p.string_data = t.strings ?? [];
  else p.raw_data = tensorBytes(t);
  if (t.metadataProps?.length) p.metadata_props = t.metadataProps;
  return p;
}

// ---------------------------------------------------------------------------------------------
// External data

export const DATA_LOCATION_EXTERNAL = 1;
/** Offsets of externalized tensors are multiples of this (what onnx's Python helpers use). */
export const EXTERNAL_DATA_ALIGNMENT = 4096;

function externalEntry(p: TensorProto, key: string): string | undefined {
  return p.external_data?.find((e) => e.key === key)?.value;
}

/** Resolves a tensor's external data location inside `baseDir`, refusing paths that leave it. */
export function resolveExternalPath(baseDir: string, location: string, what: string): string {
  const normalized = normalize(location);
  if (isAbsolute(location) || normalized === '..' || normalized.startsWith(`..${sep}`)) {
    throw new Error(`${what}: external data location '${location}' is outside the model's folder`);
  }
  return join(baseDir, normalized);
}

/** Reads external tensor data, opening each side file once. */
export class ExternalDataReader {
  private readonly files = new Map<string, { fd: number; size: number }>();

  constructor(private readonly baseDir?: string) {}

  read(p: TensorProto, what: string): Uint8Array {
    const location = externalEntry(p, 'location');
    if (location === undefined) throw new Error(`${what}: external data without a 'location' entry`);
    if (this.baseDir === undefined) {
      throw new Error(`${what}: keeps its data in external file '${location}'; load the model from a path`);
    }
    const path = resolveExternalPath(this.baseDir, location, what);
    let file = this.files.get(path);
    if (!file) {
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (error) {
        throw new Error(`${what}: cannot open external data file ${path}: ${(error as Error).message}`);
      }
      file = { fd, size: fstatSync(fd).size };
      this.files.set(path, file);
    }
    const offset = Number(externalEntry(p, 'offset') ?? '0');
    const lengthEntry = externalEntry(p, 'length');
    const length = lengthEntry === undefined ? file.size - offset : Number(lengthEntry);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new Error(`${what}: bad external data offset/length in ${path}`);
    }
    if (offset + length > file.size) {
      throw new Error(
        `${what}: external data ${path} is ${file.size} bytes, shorter than offset ${offset} + length ${length}`,
      );
    }
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(file.fd, bytes, done, length - done, offset + done);
      if (n === 0) throw new Error(`${what}: unexpected end of ${path}`);
      done += n;
    }
    return bytes;
  }

  close(): void {
    for (const { fd } of this.files.values()) closeSync(fd);
    this.files.clear();
  }
}

/**
 * Appends tensors' bytes to an open side file at page-aligned offsets and returns TensorProtos that
 * point to them (data_location EXTERNAL, entries location/offset/length).
 */
export class ExternalDataWriter {
  private position = 0;

  constructor(
    private readonly fd: number,
    readonly location: string,
  ) {}

  write(t: Tensor): TensorProto {
    if (t.dataType === DataType.STRING)
      throw new Error(`tensor '${t.name}': STRING tensors cannot be external`);
    const bytes = tensorBytes(t);
    const offset = Math.ceil(this.position / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
    if (offset > this.position) writeAll(this.fd, new Uint8Array(offset - this.position), this.position);
    writeAll(this.fd, bytes, offset);
    this.position = offset + bytes.length;
    const p = tensorToProto(t);
    delete p.raw_data;
    const entries: StringStringEntryProto[] = [
      { key: 'location', value: this.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.length) },
    ];
    p.external_data = entries;
    p.data_location = DATA_LOCATION_EXTERNAL;
    return p;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
