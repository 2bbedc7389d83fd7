/** The input shape of an ONNX model, as onnxruntime reads it (for sizing the preprocessing). */
import * as ort from 'onnxruntime-node';

/** A model input shape as onnxruntime reports it: numbers, or names/null for symbolic axes. */
export type ModelShape = readonly (number | string | null | undefined)[];

export interface ModelInput {
  name: string;
  shape: ModelShape;
}

/** The model's one input, which must be a float32 tensor (the image batch). */
export async function readModelInput(modelPath: string): Promise<ModelInput> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'disabled',
      intraOpNumThreads: 1,
    });
  } catch (error) {
    throw new Error(`onnxruntime cannot load ${modelPath}: ${(error as Error).message}`);
  }
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
