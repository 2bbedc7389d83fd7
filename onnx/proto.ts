/**
 * ONNX ModelProto <-> bytes, with protobufjs and the vendored ONNX schema (onnx-ml.proto of ONNX
 * 1.23, parsed once at first use). Field names are the schema's (snake_case). Decoding is
 * zero-copy for `bytes` fields: `raw_data` is a view into the input buffer, so keep that buffer
 * alive and unmodified while the decoded model is in use. int64 fields decode to Long-like
 * objects; use `int64ToBigInt` / `int64ToNumber`. Fields this schema does not know are dropped.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../common/paths.js';

/** What protobufjs gives for an int64 field (a Long) or accepts (also a number or decimal string). */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}
export type Int64 = number | string | LongLike;

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: Int64;
}

export interface TensorShapeDimension {
  dim_value?: Int64;
  dim_param?: string;
  denotation?: string;
}

export interface TensorShapeProto {
  dim?: TensorShapeDimension[];
}

export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  opaque_type?: { domain?: string; name?: string };
  denotation?: string;
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
}

export interface TensorProto {
  dims?: Int64[];
  data_type?: number;
  segment?: { begin?: Int64; end?: Int64 };
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: Int64[];
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  external_data?: StringStringEntryProto[];
  data_location?: number;
  double_data?: number[];
  uint64_data?: Int64[];
  metadata_props?: StringStringEntryProto[];
}

export interface SparseTensorProto {
  values?: TensorProto;
  indices?: TensorProto;
  dims?: Int64[];
}

export interface AttributeProto {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparse_tensor?: SparseTensorProto;
  tp?: TypeProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  sparse_tensors?: SparseTensorProto[];
  type_protos?: TypeProto[];
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
  device_configurations?: unknown[];
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  sparse_initializer?: SparseTensorProto[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  quantization_annotation?: unknown[];
  metadata_props?: StringStringEntryProto[];
}

export interface ModelProto {
  ir_version?: Int64;
  opset_import?: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntryProto[];
  training_info?: unknown[];
  functions?: unknown[];
  configuration?: unknown[];
}

/** AttributeProto.AttributeType */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** Protobuf's hard limit for one message; larger models must keep initializers in external data. */
export const MAX_PROTO_BYTES = 2 ** 31 - 1;

export const SCHEMA_FILE = 'onnx/onnx-ml.proto';

let modelType: protobuf.Type | undefined;

function schema(): protobuf.Type {
  if (!modelType) {
    const path = join(packageRoot(), SCHEMA_FILE);
    const root = protobuf.parse(readFileSync(path, 'utf8'), { keepCase: true }).root;
    modelType = root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

/**
 * Whether a decoded message has a field. Decoded messages answer absent fields with defaults
 * ('' / 0 / null) from their prototype, so `!== undefined` cannot tell; works on plain objects too.
 */
export function has<T extends object>(message: T, field: keyof T): boolean {
  return Object.hasOwn(message, field) && message[field] != null;
}

export function int64ToBigInt(value: Int64): bigint {
  if (typeof value === 'number') return BigInt(value);
  if (typeof value === 'string') return BigInt(value);
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return value.unsigned ? bits : BigInt.asIntN(64, bits);
}

/** An int64 field as a JS number; throws (naming `what`) if it is beyond ±2^53. */
export function int64ToNumber(value: Int64, what = 'int64 value'): number {
  if (typeof value === 'number') return value;
  const big = int64ToBigInt(value);
  const n = Number(big);
  if (!Number.isSafeInteger(n)) throw new Error(`${what} ${big} does not fit a JavaScript number`);
  return n;
}

/** A bigint in the form protobufjs encodes exactly (a number when safe, else a decimal string). */
export function bigIntToInt64(value: bigint): Int64 {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : value.toString();
}

/**
 * Decodes an ONNX model. `source` (a file name) is used in error messages. Throws for bytes that are
 * not a protobuf message, a truncated file, or a ModelProto without a graph.
 */
export function decodeModel(bytes: Uint8Array, source = 'model bytes'): ModelProto {
  if (bytes.length === 0) throw new Error(`${source}: empty file, not an ONNX model`);
  let model: ModelProto;
  try {
    model = schema().decode(bytes) as unknown as ModelProto;
  } catch (error) {
    const reason = (error as Error).message;
    throw new Error(
      `${source}: not a valid ONNX model (malformed or truncated protobuf after ${bytes.length} bytes: ${reason})`,
    );
  }
  if (!model.graph) {
    const hint =
      !has(model, 'ir_version') && !model.opset_import?.length
        ? ' (no ir_version or opset_import either: probably not an ONNX file)'
        : '';
    throw new Error(`${source}: ONNX ModelProto has no graph${hint}`);
  }
  return model;
}

/** Encodes a ModelProto (plain objects in the shape of the interfaces above are fine). */
export function encodeModel(model: ModelProto, target = 'model'): Uint8Array {
  const type = schema();
  let bytes: Uint8Array;
  try {
    bytes = type.encode(model as unknown as protobuf.Message).finish();
  } catch (error) {
    throw new Error(`${target}: cannot encode ONNX model: ${(error as Error).message}`);
  }
  if (bytes.length > MAX_PROTO_BYTES) {
    throw new Error(
      `${target}: encoded model is ${bytes.length} bytes, over protobuf's 2 GB limit; save it with external data`,
    );
  }
  return bytes;
}

/** Reads and decodes an .onnx file (its external data, if any, is not read here). */
export function readModelProto(path: string): ModelProto {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read ONNX model ${path}: ${(error as Error).message}`);
  }
  return decodeModel(bytes, path);
}
