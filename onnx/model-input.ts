/** The input shape of an ONNX model, as onnxruntime reads it (for sizing the preprocessing). */
import { createSession } from './session.js';

/** A model input shape as onnxruntime reports it: numbers, or names/null for symbolic axes. */
export type ModelShape = readonly (number | string | null | undefined)[];

export interface ModelInput {
  name: string;
  shape: ModelShape;
}

/** The model's one input, which must be a float32 tensor (the image batch). */
export async function readModelInput(modelPath: string): Promise<ModelInput> {
  // Read only, never run: one thread, no graph optimization.
  const session = await createSession(modelPath, {
    intraOpThreads: 1,
    spinning: false,
    graphOptimizationLevel: 'disabled',
  });
  try {
    const inputs = session.inputMetadata;
    if (inputs.length !== 1) {
      const names = inputs.length > 0 ? `: ${inputs.map((m) => m.name).join(', ')}` : '';
      throw new Error(
        `${modelPath}: the model has ${inputs.length} inputs${names}; bnas needs one image input (float32 N×C×H×W)`,
      );
    }
    const input = inputs[0];
    if (!input.isTensor) {
      throw new Error(`${modelPath}: input ${input.name} is not a tensor; bnas needs one image input`);
    }
    if (input.type !== 'float32') {
      throw new Error(`${modelPath}: input ${input.name} is ${input.type}; bnas preprocesses to float32`);
    }
    return { name: input.name, shape: input.shape };
  } finally {
    await session.release();
  }
}
