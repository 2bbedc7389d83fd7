/** ONNX files <-> the IR: load (with external data), serialize, and save atomically. */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { type Model, modelFromProto, modelToProto } from './ir.js';
import { decodeModel, encodeModel } from './proto.js';
import {
  ExternalDataWriter,
  resolveExternalPath,
  type Tensor,
  tensorBytes,
  tensorToProto,
} from './tensor.js';

/** Decodes model bytes into the IR. External data needs `baseDir` (the model file's folder). */
export function parseModel(bytes: Uint8Array, options: { source?: string; baseDir?: string } = {}): Model {
  const source = options.source ?? 'model bytes';
  return modelFromProto(decodeModel(bytes, source), { source, baseDir: options.baseDir });
}

export function loadModel(path: string): Model {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read ONNX model ${path}: ${(error as Error).message}`);
  }
  return parseModel(bytes, { source: path, baseDir: dirname(resolve(path)) });
}

/** The model as ONNX bytes, every initializer inline as raw_data. */
export function serializeModel(model: Model): Uint8Array {
  return encodeModel(modelToProto(model));
}

export interface SaveOptions {
  /** Replace an existing file (default: refuse). */
  overwrite?: boolean;
  /**
   * Keep initializers of at least `threshold` bytes (default 1024) in a side file `location`
   * (default: <model file name>.data) next to the model, at 4096-byte-aligned offsets.
   */
  externalData?: { location?: string; threshold?: number };
}

/**
 * Writes the model to `path` (and its external data, if asked), each under a `.partial` name first
 * and renamed when complete, so a reader never sees half a file.
 */
export function saveModel(
  model: Model,
  path: string,
  options: SaveOptions = {},
): { bytes: number; externalBytes: number } {
  const dir = dirname(resolve(path));
  const external = options.externalData;
  const location = external ? (external.location ?? `${basename(path)}.data`) : undefined;
  const sidePath = location ? resolveExternalPath(dir, location, `saving ${path}`) : undefined;
  for (const target of [path, sidePath]) {
    if (target && existsSync(target) && !options.overwrite)
      throw new Error(`${target} already exists; not overwriting it`);
  }
  mkdirSync(dir, { recursive: true });
  if (sidePath) mkdirSync(dirname(sidePath), { recursive: true });
  const partials: [string, string][] = [];
  try {
    let externalBytes = 0;
    let bytes: Uint8Array;
    if (sidePath && location) {
      const threshold = external?.threshold ?? 1024;
      const fd = openSync(`${sidePath}.partial`, 'w');
      partials.push([`${sidePath}.partial`, sidePath]);
      try {
        const writer = new ExternalDataWriter(fd, location);
        const write = (t: Tensor) => {
          if (t.strings || tensorBytes(t).byteLength < threshold) return tensorToProto(t);
          externalBytes += t.data.byteLength;
          return writer.write(t);
        };
        bytes = encodeModel(modelToProto(model, write), path);
      } finally {
        closeSync(fd);
      }
    } else {
      bytes = encodeModel(modelToProto(model), path);
    }
    writeFileSync(`${path}.partial`, bytes);
    partials.push([`${path}.partial`, path]);
    for (const [from, to] of partials) renameSync(from, to);
    return { bytes: bytes.length, externalBytes };
  } catch (error) {
    for (const [from] of partials) rmSync(from, { force: true });
    throw error;
  }
}
