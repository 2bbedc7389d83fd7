/** What `bnas run` needs to know about a model before running it: input shape and preprocessing hints. */

import type { ModelShape } from '../onnx/model-input.js';
import { readModelInput } from '../onnx/model-input.js';
import { readModelProto } from '../onnx/proto.js';
import {
  chwOfModelShape,
  isPreset,
  type PreprocessOverrides,
  type PreprocessSpec,
  parseNumberList,
  resolvePreprocessSpec,
} from './preprocess-spec.js';

export interface ModelInfo {
  inputName: string;
  inputShape: ModelShape;
  /** bnas.* metadata_props the model carries (e.g. bnas.preprocess, bnas.mean, bnas.std). */
  hints: Record<string, string>;
}

export async function readModelInfo(modelPath: string): Promise<ModelInfo> {
  const input = await readModelInput(modelPath);
  const proto = readModelProto(modelPath);
  const hints: Record<string, string> = {};
  for (const entry of proto.metadata_props ?? []) {
    if (entry.key?.startsWith('bnas.')) hints[entry.key] = entry.value ?? '';
  }
  return { inputName: input.name, inputShape: input.shape, hints };
}

/**
 * Refuses an input whose channels or size are symbolic (an export with dynamic H/W) unless the
 * overrides give them: bnas would otherwise have to guess the image size.
 */
function checkFixedImageSize(modelPath: string, info: ModelInfo, overrides: PreprocessOverrides): void {
  const fixed = chwOfModelShape(info.inputShape);
  const axes = info.inputShape.slice(-3);
  const open = (
    [
      ['C', fixed.c, overrides.channels, axes[0]],
      ['H', fixed.h, overrides.height, axes[1]],
      ['W', fixed.w, overrides.width, axes[2]],
    ] as const
  ).filter(([, known, given]) => known === undefined && given === undefined);
  if (open.length === 0) return;
  const letters = open.map(([letter]) => letter).join('/');
  const dims = open.map(([, , , dim]) => (typeof dim === 'string' ? `'${dim}'` : String(dim))).join(', ');
  throw new Error(
    `${modelPath}: input ${info.inputName} has dynamic ${letters} (dims ${dims}); give the sample shape with --shape C,H,W (bnas run, bnas quantize) or export the model with a fixed input size`,
  );
}

/**
 * The preprocessing a model is run (and calibrated) with: the given preset, else the model's
 * bnas.preprocess metadata, else torchvision for 3-channel inputs and plain otherwise; mean/std
 * from the overrides, else the model's bnas.mean / bnas.std hints.
 */
export async function modelPreprocessSpec(
  modelPath: string,
  preset?: string,
  overrides: PreprocessOverrides = {},
): Promise<PreprocessSpec> {
  const info = await readModelInfo(modelPath);
  checkFixedImageSize(modelPath, info, overrides);
  const name =
    preset ?? info.hints['bnas.preprocess'] ?? (info.inputShape[1] === 3 ? 'torchvision' : 'plain');
  if (!isPreset(name))
    throw new Error(`preprocessing preset "${name}": expected torchvision, mlperf or plain`);
  const hint = (key: string) =>
    info.hints[key] !== undefined ? parseNumberList(key, info.hints[key]) : undefined;
  return resolvePreprocessSpec(name, info.inputShape, {
    ...overrides,
    mean: overrides.mean ?? hint('bnas.mean'),
    std: overrides.std ?? hint('bnas.std'),
  });
}
