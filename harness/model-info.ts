/** What `bnas run` needs to know about a model before running it: input shape and preprocessing hints. */

import { readModelInput } from '../datasets/model-input.js';
import {
  isPreset,
  type ModelShape,
  type PreprocessOverrides,
  type PreprocessSpec,
  parseNumberList,
  resolvePreprocessSpec,
} from '../datasets/preprocess-spec.js';
import { readModelProto } from '../nas/onnx/proto.js';

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
