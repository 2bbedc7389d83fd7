/**
 * Training checkpoints, so a long training resumes after an interruption where it stopped. One
 * checkpoint is one folder `<dir>/step-<step>/` with two files:
 * - `tensors.bin`: every tensor (parameters, then optimizer buffers) as little-endian float32, one
 *   after the other;
 * - `checkpoint.json`: the step, epoch, position in the data order, RNG state, a free-form `meta`,
 *   the optimizer's settings and step counts, the index of tensors.bin (name, byte offset, shape
 *   per tensor) and its size and sha256.
 * Both are written atomically, checkpoint.json last: a folder is complete once it has one, and a
 * tensors.bin that does not match it (torn, or from elsewhere) is refused on load, naming the file.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { sha256Hex, writeFileAtomic } from '../common/files.js';
import type { Optimizer, OptimizerKind, OptimizerState, ShapedTensor } from './optimizers.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface TrainingState {
  /** optimizer steps taken */
  readonly step: number;
  readonly epoch: number;
  /** where in this epoch's data order the next batch starts */
  readonly dataPosition: number;
  /** the random generators' state (data order, augmentation, sub-network sampling) */
  readonly rng: JsonValue;
  readonly parameters: ReadonlyMap<string, ShapedTensor>;
  readonly optimizer: OptimizerState;
  /** anything else the trainer wants back (its options, the loss so far) */
  readonly meta: { readonly [key: string]: JsonValue };
}

export interface SaveOptions {
  /** how many complete checkpoints to leave, this one included; default 2 */
  readonly keep?: number;
}

const FORMAT = 'bnas-training-checkpoint';
const VERSION = 1;
const INDEX_FILE = 'checkpoint.json';
const TENSOR_FILE = 'tensors.bin';
const FOLDER = /^step-(\d+)$/;
const BYTES_PER_FLOAT = 4;

interface IndexEntry {
  name: string;
  /** in bytes, into tensors.bin */
  offset: number;
  shape: number[];
}

interface CheckpointIndex {
  format: string;
  version: number;
  step: number;
  epoch: number;
  dataPosition: number;
  rng: JsonValue;
  meta: { [key: string]: JsonValue };
  optimizer: {
    kind: OptimizerKind;
    settings: Record<string, number | boolean>;
    steps: Record<string, number>;
  };
  tensorFile: { name: string; bytes: number; sha256: string };
  parameters: IndexEntry[];
  optimizerTensors: IndexEntry[];
}

export function checkpointFolderName(step: number): string {
  return `step-${String(step).padStart(9, '0')}`;
}

function checkLittleEndian(): void {
  // Float32Array is in the machine's byte order; the file is little-endian.
  if (endianness() !== 'LE')
    throw new Error('training checkpoints are written and read on little-endian machines only');
}

function checkCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`checkpoint ${what} must be an integer >= 0, got ${value}`);
}

function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/** Lays the tensors out one after the other from `start`; returns the index entries and the end. */
function layOut(
  tensors: ReadonlyMap<string, ShapedTensor>,
  start: number,
): { entries: IndexEntry[]; end: number } {
  const entries: IndexEntry[] = [];
  let offset = start;
  for (const [name, { shape, data }] of tensors) {
    if (sizeOf(shape) !== data.length) {
      throw new Error(
        `checkpoint: tensor '${name}' has ${data.length} values, its shape [${shape}] says ${sizeOf(shape)}`,
      );
    }
    entries.push({ name, offset, shape: [...shape] });
    offset += data.length * BYTES_PER_FLOAT;
  }
  return { entries, end: offset };
}

/**
 * Writes `state` as `<dir>/step-<state.step>/` (replacing one of the same step), then removes
 * the older checkpoints beyond `keep` and any incomplete older folders. Returns the new folder.
 */
export function saveCheckpoint(dir: string, state: TrainingState, options: SaveOptions = {}): string {
  checkLittleEndian();
  const keep = options.keep ?? 2;
  if (!Number.isInteger(keep) || keep < 1)
    throw new Error(`checkpoint keep must be an integer >= 1, got ${keep}`);
  checkCount('step', state.step);
  checkCount('epoch', state.epoch);
  checkCount('data position', state.dataPosition);

  const params = layOut(state.parameters, 0);
  const optim = layOut(state.optimizer.tensors, params.end);
  const bytes = new Uint8Array(optim.end);
  const all = [...state.parameters.values(), ...state.optimizer.tensors.values()];
  const entries = [...params.entries, ...optim.entries];
  for (let i = 0; i < all.length; i++) {
    new Float32Array(bytes.buffer, entries[i].offset, all[i].data.length).set(all[i].data);
  }

  const index: CheckpointIndex = {
    format: FORMAT,
    version: VERSION,
    step: state.step,
    epoch: state.epoch,
    dataPosition: state.dataPosition,
    rng: state.rng,
    meta: state.meta,
    optimizer: {
      kind: state.optimizer.kind,
      settings: state.optimizer.settings,
      steps: state.optimizer.steps,
    },
    tensorFile: { name: TENSOR_FILE, bytes: bytes.length, sha256: sha256Hex(bytes) },
    parameters: params.entries,
    optimizerTensors: optim.entries,
  };

  const folder = join(dir, checkpointFolderName(state.step));
  mkdirSync(folder, { recursive: true });
  // A folder of the same step stops counting as complete before its tensors are replaced.
  rmSync(join(folder, INDEX_FILE), { force: true });
  writeFileAtomic(join(folder, TENSOR_FILE), bytes);
  writeFileAtomic(join(folder, INDEX_FILE), `${JSON.stringify(index, null, 1)}\n`);

  removeOlderCheckpoints(dir, state.step, keep);
  return folder;
}

interface FoundCheckpoint {
  folder: string;
  step: number;
}

function checkpointFolders(dir: string): FoundCheckpoint[] {
  if (!existsSync(dir)) return [];
  const found: FoundCheckpoint[] = [];
  for (const name of readdirSync(dir)) {
    const match = FOLDER.exec(name);
    const folder = join(dir, name);
    if (match && statSync(folder).isDirectory()) found.push({ folder, step: Number(match[1]) });
  }
  return found.sort((a, b) => b.step - a.step);
}

function removeOlderCheckpoints(dir: string, newStep: number, keep: number): void {
  let kept = 1;
  for (const { folder, step } of checkpointFolders(dir)) {
    if (step >= newStep) continue;
    if (isComplete(folder) && kept < keep) kept++;
    else rmSync(folder, { recursive: true, force: true });
  }
}

/** Reads and checks checkpoint.json; throws naming the file when it is missing or not ours. */
function readIndex(folder: string): CheckpointIndex {
  const path = join(folder, INDEX_FILE);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${folder} is not a complete checkpoint`);
  let index: CheckpointIndex;
  try {
    index = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path} is not valid JSON (torn or foreign file): ${(error as Error).message}`);
  }
  if (index === null || typeof index !== 'object' || index.format !== FORMAT) {
    throw new Error(`${path} is not a bnas training checkpoint (no format '${FORMAT}')`);
  }
  if (index.version !== VERSION) {
    throw new Error(`${path} is a version ${index.version} checkpoint; this bnas reads version ${VERSION}`);
  }
  return index;
}

/** A checkpoint.json of ours, and a tensors.bin of the size it records (the hash is checked on load). */
function isComplete(folder: string): boolean {
  try {
    const index = readIndex(folder);
    return statSync(join(folder, index.tensorFile.name)).size === index.tensorFile.bytes;
  } catch {
    return false;
  }
}

/** The folder of the newest complete checkpoint in `dir`, or undefined when there is none. */
export function latestCheckpoint(dir: string): string | undefined {
  return checkpointFolders(dir).find(({ folder }) => isComplete(folder))?.folder;
}

function readTensors(bytes: Uint8Array, entries: IndexEntry[], path: string): Map<string, ShapedTensor> {
  const tensors = new Map<string, ShapedTensor>();
  for (const { name, offset, shape } of entries) {
    const size = sizeOf(shape);
    if (offset % BYTES_PER_FLOAT !== 0 || offset + size * BYTES_PER_FLOAT > bytes.length) {
      throw new Error(`${path}: tensor '${name}' lies outside the file`);
    }
    tensors.set(name, { shape, data: new Float32Array(bytes.buffer, bytes.byteOffset + offset, size) });
  }
  return tensors;
}

/**
 * The training state saved in `folder` (a folder latestCheckpoint gave). Tensors share one buffer
 * read from tensors.bin: copy them into the live parameters and optimizer.
 */
export function loadCheckpoint(folder: string): TrainingState {
  checkLittleEndian();
  const index = readIndex(folder);
  const indexPath = join(folder, INDEX_FILE);
  const path = join(folder, index.tensorFile.name);
  if (!existsSync(path)) throw new Error(`${path} is missing (named in ${indexPath})`);
  let bytes: Uint8Array = readFileSync(path);
  if (bytes.length !== index.tensorFile.bytes) {
    throw new Error(
      `${path} has ${bytes.length} bytes, ${indexPath} records ${index.tensorFile.bytes}: torn or foreign file`,
    );
  }
  if (sha256Hex(bytes) !== index.tensorFile.sha256) {
    throw new Error(`${path} does not match the sha256 recorded in ${indexPath}: torn or foreign file`);
  }
  if (bytes.byteOffset % BYTES_PER_FLOAT !== 0) bytes = new Uint8Array(bytes); // a copy, aligned
  return {
    step: index.step,
    epoch: index.epoch,
    dataPosition: index.dataPosition,
    rng: index.rng,
    meta: index.meta,
    parameters: readTensors(bytes, index.parameters, path),
    optimizer: { ...index.optimizer, tensors: readTensors(bytes, index.optimizerTensors, path) },
  };
}

/**
 * Puts a loaded checkpoint's tensors and optimizer buffers back into a live run: `live` holds the
 * run's parameters and state by name (updated in place), `owner` names what they belong to in the
 * errors ("this student", "the super-network"). Nothing is changed unless every saved tensor has a
 * live twin of its size and the counts agree.
 */
export function restoreTensors(
  folder: string,
  saved: TrainingState,
  live: ReadonlyMap<string, Float32Array>,
  optimizer: Pick<Optimizer, 'load'>,
  owner: string,
): void {
  for (const [name, tensor] of saved.parameters) {
    const target = live.get(name);
    if (!target || target.length !== tensor.data.length)
      throw new Error(`${folder}: tensor '${name}' does not belong to ${owner}`);
  }
  if (saved.parameters.size !== live.size)
    throw new Error(`${folder}: holds ${saved.parameters.size} tensors, ${owner} ${live.size}`);
  optimizer.load(saved.optimizer);
  for (const [name, tensor] of saved.parameters) live.get(name)!.set(tensor.data);
}
