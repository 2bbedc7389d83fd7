/** The input shape of an ONNX model, as onnxruntime reads it (for sizing the preprocessing). */
import * as ort from 'onnxruntime-node';
import type { ModelShape } from './preprocess-spec.js';

export interface ModelInput {
  name: string;
  shape: ModelShape;
}

/** The model's one tensor input; a model with several inputs is an error (give --shape instead). */
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
    const inputs = session.inputMetadata.filter((m) => m.isTensor);
    if (inputs.length !== 1) {
      throw new Error(
        `${modelPath} has ${inputs.length} tensor inputs (${session.inputNames.join(', ')}); give the sample shape with --shape C,H,W`,
      );
    }
    const input = inputs[0] as ort.InferenceSession.TensorValueMetadata;
    if (input.type !== 'float32') {
      throw new Error(`${modelPath}: input ${input.name} is ${input.type}; bnas preprocesses to float32`);
    }
    return { name: input.name, shape: input.shape };
  } finally {
    await session.release();
  }
}
