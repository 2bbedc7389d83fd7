/** The Fashion-MNIST fixture quantized from its calibration list: fused, and as accurate as FP32. */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { quantizeModel } from '../../calibration/quantize.js';
import { imageSampleSource, modelPreprocessSpec, readImageList } from '../../datasets/image-samples.js';
import { readImageNetFolder } from '../../datasets/imagenet-layout.js';
import { loadModel, serializeModel } from '../../onnx/io.js';
import { FMNIST_MODEL, fmnistPresent } from '../onnx/helpers.js';
import { REPO_ROOT } from '../paths.js';

const DATA = join(REPO_ROOT, 'datasets', 'fixtures', 'fashion-mnist');

async function predictions(bytes: Uint8Array, input: Float32Array, count: number): Promise<Int32Array> {
  const session = await ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
  });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', input, [count, 1, 28, 28]) });
    const logits = out.logits.data as Float32Array;
    return Int32Array.from({ length: count }, (_, r) => {
      let best = 0;
      for (let c = 1; c < 10; c++) if (logits[r * 10 + c] > logits[r * 10 + best]) best = c;
      return best;
    });
  } finally {
    await session.release();
  }
}

describe.skipIf(!fmnistPresent)('the Fashion-MNIST fixture', () => {
  it('quantizes from its calibration list onto int8 kernels and keeps its predictions', async () => {
    const spec = await modelPreprocessSpec(FMNIST_MODEL);
    expect(spec).toMatchObject({ preset: 'plain', channels: 1, height: 28, width: 28 });
    const list = readImageList(join(DATA, 'train'), join(DATA, 'train', 'cal_image_list.txt'), 100);
    const model = loadModel(FMNIST_MODEL);
    const { bytes, report } = await quantizeModel(model, imageSampleSource(list, spec), {
      source: FMNIST_MODEL,
    });
    expect(report.check).toMatchObject({ ok: true, qlinearConv: 22, qlinearAdd: 6, floatConv: 0 });
    expect(report.prepared.foldedBatchNorms).toHaveLength(22);
    expect(report.warnings).toEqual([]);

    const val = readImageNetFolder(join(DATA, 'val'));
    const samples = val.samples.slice(0, 500);
    const input = await imageSampleSource({ dir: val.dir, files: samples.map((s) => s.file) }, spec).load(
      0,
      500,
    );
    const fp32 = await predictions(serializeModel(model), input, 500);
    const int8 = await predictions(bytes, input, 500);
    const agree = fp32.filter((p, i) => p === int8[i]).length;
    expect(agree).toBeGreaterThanOrEqual(490);
    const correct = (p: Int32Array) => p.filter((c, i) => c === samples[i].label).length;
    expect(Math.abs(correct(int8) - correct(fp32))).toBeLessThanOrEqual(5);
  });
});
