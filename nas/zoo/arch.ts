/**
 * ResNet-style architectures as data: the built-in ones (nas/zoo/archs.json: Torchvision
 * ResNet-50 and BootstrapNAS A/B/C) and any variant in the same JSON form, checked and normalised.
 *
 * JSON form (one model; the bnas_archs.json layout): `stem.out_width`; `stages[]` with
 * `blocks[]`, one per Torchvision block position, each `{present, conv_widths: [w1, w2, w3]}`;
 * optional `depth` / `out_width` / `stride` per stage (checked / stride 1 for the first stage and
 * 2 after), `classifier.out` (default 1000), `input: {channels, size}` (default 3, 224). Shorthands:
 * `stem: 64`, a stage as an array of blocks, a block as `[w1, w2, w3]` or `null` (removed).
 * A file holding several models (`models: {...}`, like bnas_archs.json) takes `file.json#name`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../common/paths.js';

export interface BlockSpec {
  /** Torchvision position, e.g. 'layer2.0'. */
  position: string;
  inChannels: number;
  /** Output widths of conv1 (1x1), conv2 (3x3, carries the stride) and conv3 (1x1). */
  widths: [number, number, number];
  stride: number;
  /** 1x1 projection shortcut (first block of a stage whose stride or width changes). */
  downsample: boolean;
}

export interface StageSpec {
  stride: number;
  outWidth: number;
  /** One entry per block position; null where a block was removed. */
  blocks: (BlockSpec | null)[];
}

export interface Architecture {
  name: string;
  description?: string;
  inputChannels: number;
  inputSize: number;
  stemWidth: number;
  stages: StageSpec[];
  classes: number;
  /** Totals the source states (checked by tests, printed by the CLI). */
  expected?: { macs?: number; params?: number };
}

export const ARCHS_FILE = 'nas/zoo/archs.json';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new Error(`${where}: a positive integer expected, got ${JSON.stringify(v)}`);
  return v;
}

function optionalInt(obj: Json, key: string, where: string): number | undefined {
  return obj[key] === undefined || obj[key] === null ? undefined : positiveInt(obj[key], `${where}.${key}`);
}

function parseBlock(raw: unknown, where: string): [number, number, number] | null {
  if (raw === null) return null;
  let widths: unknown = raw;
  if (isObject(raw)) {
    if (raw.present === false) return null;
    widths = raw.conv_widths;
    where = `${where}.conv_widths`;
  }
  if (!Array.isArray(widths) || widths.length !== 3) {
    throw new Error(`${where}: [conv1, conv2, conv3] widths expected, got ${JSON.stringify(widths)}`);
  }
  return widths.map((w, i) => positiveInt(w, `${where}[${i}]`)) as [number, number, number];
}

/** Checks and normalises one model description (see the module comment for the form). */
export function parseArchitecture(raw: unknown, name: string): Architecture {
  const at = `architecture '${name}'`;
  if (!isObject(raw)) throw new Error(`${at}: a JSON object expected`);
  if (isObject(raw.models)) {
    throw new Error(
      `${at}: holds several models (${Object.keys(raw.models).join(', ')}); pick one with <file>#<name>`,
    );
  }
  const stemWidth = isObject(raw.stem)
    ? positiveInt(raw.stem.out_width, `${at}: stem.out_width`)
    : positiveInt(raw.stem, `${at}: stem`);
  const input = isObject(raw.input) ? raw.input : {};
  const inputChannels = optionalInt(input, 'channels', `${at}: input`) ?? 3;
  const inputSize = optionalInt(input, 'size', `${at}: input`) ?? 224;
  const classifier = isObject(raw.classifier) ? raw.classifier : {};
  const classes = optionalInt(classifier, 'out', `${at}: classifier`) ?? 1000;
  if (!Array.isArray(raw.stages) || raw.stages.length === 0) throw new Error(`${at}: stages[] expected`);

  let channels = stemWidth;
  const stages = raw.stages.map((rawStage: unknown, s): StageSpec => {
    const where = `${at}: stages[${s}]`;
    const stage: Json = Array.isArray(rawStage) ? { blocks: rawStage } : isObject(rawStage) ? rawStage : {};
    if (!Array.isArray(stage.blocks) || stage.blocks.length === 0)
      throw new Error(`${where}.blocks: a non-empty array expected`);
    const stride = optionalInt(stage, 'stride', where) ?? (s === 0 ? 1 : 2);
    const widths = stage.blocks.map((b, i) => parseBlock(b, `${where}.blocks[${i}]`));
    if (widths[0] === null)
      throw new Error(
        `${where}.blocks[0]: the first block of a stage (stride, projection) cannot be removed`,
      );
    const outWidth = widths[0][2];
    const present = widths.filter((w) => w !== null);
    for (const [i, w] of widths.entries()) {
      if (w && w[2] !== outWidth) {
        throw new Error(
          `${where}.blocks[${i}]: conv3 width ${w[2]} differs from the stage's ${outWidth} (residual adds need equal widths)`,
        );
      }
    }
    const depth = optionalInt(stage, 'depth', where);
    if (depth !== undefined && depth !== present.length)
      throw new Error(`${where}: depth ${depth} but ${present.length} blocks present`);
    const declaredOut = optionalInt(stage, 'out_width', where);
    if (declaredOut !== undefined && declaredOut !== outWidth)
      throw new Error(`${where}: out_width ${declaredOut} but conv3 width ${outWidth}`);
    const blocks = widths.map((w, i): BlockSpec | null => {
      if (!w) return null;
      const first = i === 0;
      const block: BlockSpec = {
        position: `layer${s + 1}.${i}`,
        inChannels: channels,
        widths: w,
        stride: first ? stride : 1,
        downsample: first && (stride !== 1 || channels !== w[2]),
      };
      const rawBlock = stage.blocks as unknown[];
      const declaredIn = isObject(rawBlock[i]) ? (rawBlock[i] as Json).in_channels : undefined;
      if (declaredIn !== undefined && declaredIn !== channels) {
        throw new Error(
          `${where}.blocks[${i}]: in_channels ${declaredIn} but the previous layer gives ${channels}`,
        );
      }
      channels = w[2];
      return block;
    });
    return { stride, outWidth, blocks };
  });

  const arch: Architecture = {
    name: typeof raw.name === 'string' ? raw.name : name,
    inputChannels,
    inputSize,
    stemWidth,
    stages,
    classes,
  };
  if (typeof raw.description === 'string') arch.description = raw.description;
  if (classifier.in !== undefined && classifier.in !== channels) {
    throw new Error(
      `${at}: classifier.in ${JSON.stringify(classifier.in)} but the last stage gives ${channels}`,
    );
  }
  const totals = isObject(raw.totals) ? raw.totals : undefined;
  if (totals) {
    const macs = typeof totals.macs === 'number' ? totals.macs : undefined;
    const params =
      typeof totals.params_torch_equivalent === 'number' ? totals.params_torch_equivalent : undefined;
    arch.expected = { macs, params };
  }
  return arch;
}

let builtins: Json | undefined;

function builtinModels(): Json {
  if (!builtins) builtins = JSON.parse(readFileSync(join(packageRoot(), ARCHS_FILE), 'utf8')).models as Json;
  return builtins;
}

/** Names of the built-in architectures: resnet50, bnas-a, bnas-b, bnas-c. */
export function builtinArchNames(): string[] {
  return Object.keys(builtinModels());
}

export function builtinArch(name: string): Architecture {
  const raw = builtinModels()[name];
  if (raw === undefined)
    throw new Error(`no built-in architecture '${name}' (known: ${builtinArchNames().join(', ')})`);
  return parseArchitecture(raw, name);
}

/** A built-in name, a JSON file, or `file.json#model` for a file holding several models. */
export function loadArchitecture(ref: string): Architecture {
  if (builtinModels()[ref] !== undefined) return builtinArch(ref);
  const hash = ref.lastIndexOf('#');
  const [path, model] = hash > 0 ? [ref.slice(0, hash), ref.slice(hash + 1)] : [ref, undefined];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const known = builtinArchNames().join(', ');
    throw new Error(
      `architecture '${ref}': not a built-in one (${known}) and not a readable JSON file: ${(error as Error).message}`,
    );
  }
  if (model !== undefined) {
    const models = isObject(raw) && isObject(raw.models) ? raw.models : undefined;
    if (!models || models[model] === undefined) {
      throw new Error(
        `architecture '${ref}': ${path} has no model '${model}'${models ? ` (it has ${Object.keys(models).join(', ')})` : ''}`,
      );
    }
    return parseArchitecture(models[model], model);
  }
  return parseArchitecture(raw, path);
}
