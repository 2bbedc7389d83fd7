/** What `bnas run` needs to know about a model before running it: input shape and preprocessing hints. */

import { readModelInput } from '../datasets/model-input.js';
import type { ModelShape } from '../datasets/preprocess-spec.js';
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
