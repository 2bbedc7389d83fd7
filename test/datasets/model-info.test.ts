/**
 * What `bnas run` (and every command that reads a model's input through datasets/model-info)
 * says about a model it cannot feed: the message names the real cause.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelPreprocessSpec } from '../../datasets/model-info.js';
import { writeTinyClassifier } from '../harness/models.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bnas-model-checks-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('model input checks', () => {
  it('a model with two inputs: names them and says bnas needs one image input', async () => {
    const model = writeTinyClassifier(work, 'two.onnx', {
      inputs: [
        { name: 'a', shape: ['N', 3, 8, 8] },
        { name: 'b', shape: ['N', 3, 8, 8] },
      ],
    });
    await expect(modelPreprocessSpec(model)).rejects.toThrow(
      `${model}: the model has 2 inputs: a, b; bnas needs one image input (float32 N×C×H×W)`,
    );
  });

  it('dynamic H/W: names the input and its symbolic dims, and what to do', async () => {
    const model = writeTinyClassifier(work, 'dyn.onnx', {
      inputs: [{ name: 'x', shape: ['N', 3, 'h', 'w'] }],
    });
    const message = `${model}: input x has dynamic H/W (dims 'h', 'w'); give the sample shape with --shape C,H,W (bnas run, bnas quantize) or export the model with a fixed input size`;
    // Every preset: torchvision used to guess 224×224 silently, plain blamed a missing --model.
    for (const preset of ['torchvision', 'plain', undefined]) {
      await expect(modelPreprocessSpec(model, preset)).rejects.toThrow(message);
    }
  });

  it('dynamic H/W with the size given: the given size is used', async () => {
    const model = writeTinyClassifier(work, 'dyn-ok.onnx', {
      inputs: [{ name: 'x', shape: ['N', 3, 'h', 'w'] }],
    });
    const spec = await modelPreprocessSpec(model, 'plain', { channels: 3, height: 16, width: 12 });
    expect([spec.channels, spec.height, spec.width]).toEqual([3, 16, 12]);
  });

  it('a dynamic channel count is named too', async () => {
    const model = writeTinyClassifier(work, 'dyn-c.onnx', {
      inputs: [{ name: 'x', shape: ['N', 'c', 8, 8] }],
    });
    await expect(modelPreprocessSpec(model, 'plain')).rejects.toThrow(
      `${model}: input x has dynamic C (dims 'c')`,
    );
  });

  it('a fixed-size single-input model still resolves from its input', async () => {
    const model = writeTinyClassifier(work, 'ok.onnx');
    const spec = await modelPreprocessSpec(model);
    expect(spec).toMatchObject({ preset: 'torchvision', channels: 3, height: 8, width: 8 });
  });
});
