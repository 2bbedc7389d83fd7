/**
 * Writes the QDQ graph (int8.md §2): for each planned activation tensor one QuantizeLinear (uint8)
 * and one DequantizeLinear that all its readers share; for each quantized Conv/Gemm an int8
 * per-channel weight initializer and an int32 bias initializer, each behind a DequantizeLinear
 * with `axis`. Tensors that pass through MaxPool/Reshape/... reuse the input's scale and zero-point
 * initializers. The float graph stays a valid model that simulates the integer arithmetic.
 */
import { attr, type Graph, type Model } from '../onnx/ir.js';
import { DataType, floatTensor, makeTensor } from '../onnx/tensor.js';
import type { QuantPlan } from './plan.js';
import { type QParams, quantizeBias, quantizeWeightsPerChannel } from './scale.js';

export interface InsertResult {
  /** Q/DQ node pairs added for activations. */
  activationPairs: number;
  warnings: string[];
}

interface ParamNames {
  scale: string;
  zeroPoint: string;
}

function addActivationParams(g: Graph, tensor: string, p: QParams): ParamNames {
  const scale = g.uniqueName(`${tensor}_scale`);
  g.addInitializer(floatTensor(scale, [], [p.scale]));
  const zeroPoint = g.uniqueName(`${tensor}_zero_point`);
  g.addInitializer(makeTensor(zeroPoint, DataType.UINT8, [], Uint8Array.of(p.zeroPoint)));
  return { scale, zeroPoint };
}

/**
 * Inserts the pairs and quantized weights into `model` (the activation-folded copy the plan was
 * made on). `params` holds the scale and zero point of every calibrated tensor of the plan.
 */
export function insertQdq(model: Model, plan: QuantPlan, params: Map<string, QParams>): InsertResult {
  const g = model.graph;
  const warnings: string[] = [];
  const names = new Map<string, ParamNames>();
  const paramsOf = (t: string): QParams => {
    const spec = plan.tensors.get(t);
    const source = spec?.source === 'shared' ? spec.from : t;
    const p = params.get(source);
    if (!p) throw new Error(`no scale and zero point for tensor '${source}'`);
    return p;
  };

  for (const [t, spec] of plan.tensors) {
    if (spec.source === 'calibrated') names.set(t, addActivationParams(g, t, paramsOf(t)));
  }
  for (const [t, spec] of plan.tensors) {
    if (spec.source === 'shared') names.set(t, names.get(spec.from)!);
  }

  // Weights and biases first: a bias needs the scale of its node's input, found by the input's name.
  const dequantizedWeights = new Map<string, { output: string; scales: Float32Array }>();
  for (const w of plan.weighted) {
    const node = w.node;
    const label = node.name || node.outputs[0];
    let deq = dequantizedWeights.get(`${w.weight}@${w.axis}`);
    if (!deq) {
      const t = g.initializers.get(w.weight)!;
      const q = quantizeWeightsPerChannel(t.data as Float32Array, t.dims, w.axis);
      const base = g.uniqueName(`${w.weight}_quantized`);
      const scale = g.uniqueName(`${w.weight}_scale`);
      const zeroPoint = g.uniqueName(`${w.weight}_zero_point`);
      const channels = q.scales.length;
      g.addInitializer(makeTensor(base, DataType.INT8, t.dims, q.data));
      g.addInitializer(floatTensor(scale, [channels], q.scales));
      g.addInitializer(makeTensor(zeroPoint, DataType.INT8, [channels], new Int8Array(channels)));
      const output = g.uniqueName(`${w.weight}_dequantized`);
      g.addNode({
        name: g.uniqueName(`${w.weight}_DequantizeLinear`),
        opType: 'DequantizeLinear',
        inputs: [base, scale, zeroPoint],
        outputs: [output],
        attributes: { axis: attr.int(w.axis) },
      });
      deq = { output, scales: q.scales };
      dequantizedWeights.set(`${w.weight}@${w.axis}`, deq);
    }
    node.inputs[1] = deq.output;
    if (w.bias) {
      const b = g.initializers.get(w.bias)!;
      const inputScale = paramsOf(w.input).scale;
      const q = quantizeBias(b.data as Float32Array, inputScale, deq.scales);
      if (q.clipped.length > 0) {
        warnings.push(
          `${node.describe()}: bias '${w.bias}' does not fit int32 at scale input × weight in channel(s) ${q.clipped.slice(0, 8).join(', ')}${q.clipped.length > 8 ? ', …' : ''}; clipped`,
        );
      }
      const base = g.uniqueName(`${w.bias}_quantized`);
      const scale = g.uniqueName(`${w.bias}_scale`);
      const zeroPoint = g.uniqueName(`${w.bias}_zero_point`);
      g.addInitializer(makeTensor(base, DataType.INT32, b.dims, q.data));
      g.addInitializer(floatTensor(scale, [q.scales.length], q.scales));
      g.addInitializer(
        makeTensor(zeroPoint, DataType.INT32, [q.scales.length], new Int32Array(q.scales.length)),
      );
      const output = g.uniqueName(`${w.bias}_dequantized`);
      g.addNode({
        name: g.uniqueName(`${label}_bias_DequantizeLinear`),
        opType: 'DequantizeLinear',
        inputs: [base, scale, zeroPoint],
        outputs: [output],
        attributes: { axis: attr.int(0) },
      });
      node.inputs[2] = output;
    }
  }

  g.invalidate();
  let activationPairs = 0;
  for (const t of plan.tensors.keys()) {
    const { scale, zeroPoint } = names.get(t)!;
    const quantized = g.uniqueName(`${t}_quantized`);
    const dequantized = g.uniqueName(`${t}_dequantized`);
    const readers = g.consumers(t);
    const q = g.addNode({
      name: g.uniqueName(`${t}_QuantizeLinear`),
      opType: 'QuantizeLinear',
      inputs: [t, scale, zeroPoint],
      outputs: [quantized],
    });
    g.addNode({
      name: g.uniqueName(`${t}_DequantizeLinear`),
      opType: 'DequantizeLinear',
      inputs: [quantized, scale, zeroPoint],
      outputs: [dequantized],
    });
    for (const r of readers) {
      if (r === q) continue;
      r.inputs = r.inputs.map((i) => (i === t ? dequantized : i));
    }
    g.invalidate();
    activationPairs++;
  }
  g.removeUnusedInitializers();
  g.sortTopologically();
  return { activationPairs, warnings };
}
