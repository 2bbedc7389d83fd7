/**
 * Reverse-mode differentiation of an ONNX model into one training graph: the forward pass, the
 * loss, and the gradient of the loss with respect to every trainable tensor, in standard ONNX ops
 * that the onnxruntime-node CPU build runs (../shared training.md).
 *
 * The graph it returns takes the trainable tensors (and state such as BN running statistics) as
 * graph inputs: onnxruntime folds constant subgraphs over initializers at session creation, and
 * inputs are zero-copy, so an optimizer updating the Float32Arrays in place is seen by the next run.
 * Outputs: the forward model's outputs, the loss, `grad/<param>` per parameter and
 * `state/<name>` per state update.
 *
 * Each op's derivative is its catalogue entry's gradient rule (onnx/ops.ts); this module only
 * walks the graph: forward rewrites first (e.g. BN in training mode), then the nodes in reverse
 * topological order, summing the gradient contributions of values read by several nodes.
 */
import { cloneModel } from '../onnx/clone.js';
import type { ForwardResult, GradientRule, TrainingMode } from '../onnx/gradient-rule.js';
import type { Model, Node, ValueInfo } from '../onnx/ir.js';
import { opSpec } from '../onnx/ops.js';
import { inferShapes } from '../onnx/shapes.js';
import { DataType, floatTensor, type Tensor } from '../onnx/tensor.js';
import { GraphBuilder } from './graph-writer.js';

/** What a loss adds after the forward graph. */
export interface LossBuilder {
  /**
   * Emits the loss from the forward graph's values. Returns the scalar loss value and the seed
   * gradients: d loss / d value for each forward value the loss reads (closed-form, e.g. softmax
   * cross-entropy's (p − target) / N), which the backward pass starts from.
   */
  build(writer: GraphBuilder, io: LossIO): { loss: string; seeds: Map<string, string> };
}

export interface LossIO {
  /** The forward model's output names, in order. */
  outputs: string[];
  /** Declares a graph input the trainer feeds each step (labels, teacher logits); returns its name. */
  addInput(name: string, elemType: number, shape: (number | string)[]): string;
}

export interface TrainingGraphOptions {
  loss: LossBuilder;
  /** Which parameters to train (default: every float parameter input of the catalogue's ops). */
  trainable?: (name: string, tensor: Tensor) => boolean;
  mode?: Partial<TrainingMode>;
  /** Graph inputs whose gradient is output too, as `grad/<input>` (gradient checks, input attributions). */
  inputGradients?: string[];
}

export interface TrainingGraph {
  model: Model;
  /** Trainable parameters, now graph inputs, with their starting values. */
  params: Map<string, Tensor>;
  /** Output name of each parameter's gradient. */
  gradOutputs: Map<string, string>;
  /** Output name of the gradient of each input listed in `inputGradients`. */
  inputGradOutputs: Map<string, string>;
  /** State tensors (graph inputs, e.g. BN running statistics) and the output with each one's update. */
  state: Map<string, { initial: Tensor; output: string }>;
  /** The scalar loss output. */
  loss: string;
  /** Graph inputs the loss declared (labels, teacher logits), in order. */
  lossInputs: string[];
}

export const DEFAULT_TRAINING_MODE: TrainingMode = { batchNorm: 'train', momentum: 0.1 };

export class NoGradientRuleError extends Error {
  constructor(readonly node: Node) {
    super(
      `node ${node.describe()}: bnas cannot differentiate ${node.opType} (no gradient rule in the op catalogue), and a trainable parameter lies before it`,
    );
  }
}

function ruleOf(node: Node): GradientRule | undefined {
  const isDefaultDomain = node.domain === '' || node.domain === 'ai.onnx';
  return isDefaultDomain ? opSpec(node.opType)?.gradient : undefined;
}

/** The float parameter inputs of the catalogue's ops (Conv weight and bias, Gemm B and C, BN scale and bias...). */
function defaultTrainable(model: Model): Set<string> {
  const g = model.graph;
  const names = new Set<string>();
  for (const node of g.nodes) {
    const params = opSpec(node.opType)?.params;
    if (!params) continue;
    node.inputs.forEach((input, i) => {
      const t = g.initializers.get(input);
      if (!t || t.dataType !== DataType.FLOAT) return;
      if (params === 'all' || params.includes(i)) names.add(input);
    });
  }
  return names;
}

function valueInfoOf(t: Tensor): ValueInfo {
  return { name: t.name, elemType: t.dataType, shape: [...t.dims] };
}

interface Unit {
  node: Node;
  saved: Record<string, string>;
}

export function buildTrainingGraph(forward: Model, options: TrainingGraphOptions): TrainingGraph {
  const mode: TrainingMode = { ...DEFAULT_TRAINING_MODE, ...options.mode };
  const model = cloneModel(forward);
  const g = model.graph;
  const forwardOutputs = g.outputs.map((o) => o.name);

  const trainable = new Set(
    [...defaultTrainable(model)].filter((name) => {
      const t = g.initializers.get(name)!;
      return options.trainable ? options.trainable(name, t) : true;
    }),
  );
  const inputGradients = options.inputGradients ?? [];
  for (const name of inputGradients) {
    const input = g.realInputs().find((i) => i.name === name);
    if (!input || input.elemType !== DataType.FLOAT)
      throw new Error(`training graph: '${name}' is not a float graph input, so it has no gradient`);
  }
  if (trainable.size === 0 && inputGradients.length === 0)
    throw new Error('training graph: no trainable parameter');

  // 1. Forward rewrites (MaxPool's Indices, BN on batch statistics...), node by node in order.
  const builder = new GraphBuilder(g, inferShapes(model, { strict: true }), model.opset('') ?? 13);
  const units: Unit[] = [];
  for (const node of [...g.nodes]) {
    const rule = ruleOf(node);
    let result: ForwardResult | undefined;
    if (rule?.forward) {
      builder.insertBefore = node;
      builder.prefix = `fwd/${node.name || node.outputs[0]}`;
      result = rule.forward(node, builder, mode);
      builder.insertBefore = undefined;
    }
    if (result?.replaced) {
      // The replacement values take the original output names, so consumers and graph outputs stay.
      result.replaced.forEach((value, i) => {
        const out = node.outputs[i];
        if (out)
          g.addNode(
            { name: builder.fresh('Identity_node'), opType: 'Identity', inputs: [value], outputs: [out] },
            { before: node },
          );
      });
      g.removeNode(node);
    }
    units.push({ node, saved: result?.saved ?? {} });
  }
  builder.types = inferShapes(model, { strict: true });

  // 2. The loss, after the forward graph.
  builder.prefix = 'loss';
  const lossInputs: string[] = [];
  const { loss, seeds } = options.loss.build(builder, {
    outputs: forwardOutputs,
    addInput: (name, elemType, shape) => {
      g.inputs.push({ name, elemType, shape: [...shape] });
      lossInputs.push(name);
      return name;
    },
  });

  // 3. Which values need a gradient: downstream of a parameter and upstream of a seed.
  const dependsOnParam = new Set<string>([...trainable, ...inputGradients]);
  for (const { node } of units) {
    if (node.inputs.some((i) => dependsOnParam.has(i))) for (const o of node.outputs) dependsOnParam.add(o);
  }
  const needed = new Set<string>();
  const upstream = new Set<string>(seeds.keys());
  for (const { node } of [...units].reverse()) {
    if (!node.outputs.some((o) => upstream.has(o))) continue;
    for (const i of node.inputs) if (i) upstream.add(i);
  }
  for (const v of upstream) if (dependsOnParam.has(v)) needed.add(v);

  // 4. The backward pass.
  const contributions = new Map<string, string[]>();
  const add = (value: string, grad: string) => {
    const list = contributions.get(value);
    if (list) list.push(grad);
    else contributions.set(value, [grad]);
  };
  const gradientOf = (value: string): string | undefined => {
    const list = contributions.get(value);
    if (!list || list.length === 0) return undefined;
    if (list.length > 1) contributions.set(value, [builder.op('Sum', list)]);
    return contributions.get(value)![0];
  };
  for (const [value, grad] of seeds) add(value, grad);

  for (const { node, saved } of [...units].reverse()) {
    if (!node.outputs.some((o) => needed.has(o))) continue;
    const wanted = node.inputs.map((i) => i !== '' && needed.has(i));
    if (!wanted.some(Boolean)) continue;
    const rule = ruleOf(node);
    if (!rule) throw new NoGradientRuleError(node);
    builder.prefix = `grad/${node.name || node.outputs[0]}`;
    const inputGrads = rule.backward(
      node,
      node.outputs.map((o) => gradientOf(o)),
      builder,
      wanted,
      saved,
    );
    inputGrads.forEach((grad, i) => {
      if (grad !== undefined && wanted[i]) add(node.inputs[i], grad);
    });
  }

  // 5. Parameters and state become graph inputs; gradients, loss and state updates outputs.
  builder.prefix = 'out';
  // The graph output grad/<name>: the accumulated gradient, or zeros of `zerosShape()` (a shape
  // value, built only when needed) for a tensor the loss does not depend on.
  const gradientOutput = (name: string, zerosShape: () => string, shape: ValueInfo['shape']): string => {
    const output = `grad/${name}`;
    const source =
      gradientOf(name) ??
      builder.op('ConstantOfShape', [zerosShape()], {
        value: { type: 'tensor', value: floatTensor('zero', [1], [0]) },
      });
    g.addNode({
      name: builder.fresh('Identity_node'),
      opType: 'Identity',
      inputs: [source],
      outputs: [output],
    });
    g.outputs.push({ name: output, elemType: DataType.FLOAT, shape });
    return output;
  };
  const params = new Map<string, Tensor>();
  const gradOutputs = new Map<string, string>();
  for (const name of trainable) {
    const tensor = g.initializers.get(name)!;
    params.set(name, tensor);
    g.removeInitializer(name);
    g.inputs.push(valueInfoOf(tensor));
    gradOutputs.set(
      name,
      gradientOutput(name, () => builder.ints(tensor.dims.map(Number)), [...tensor.dims]),
    );
  }
  const inputGradOutputs = new Map<string, string>();
  for (const name of inputGradients) {
    const shape = g.realInputs().find((i) => i.name === name)!.shape;
    inputGradOutputs.set(
      name,
      gradientOutput(name, () => builder.op('Shape', [name]), shape ? [...shape] : null),
    );
  }
  const state = new Map<string, { initial: Tensor; output: string }>();
  for (const [name, update] of builder.stateUpdates) {
    const tensor = g.initializers.get(name);
    if (!tensor) throw new Error(`training graph: state '${name}' is not an initializer`);
    g.removeInitializer(name);
    g.inputs.push(valueInfoOf(tensor));
    const output = `state/${name}`;
    g.addNode({
      name: builder.fresh('Identity_node'),
      opType: 'Identity',
      inputs: [update],
      outputs: [output],
    });
    g.outputs.push({ name: output, elemType: tensor.dataType, shape: [...tensor.dims] });
    state.set(name, { initial: tensor, output });
  }
  g.outputs.push({ name: loss, elemType: DataType.FLOAT, shape: [] });
  g.valueInfo = [];
  // Rules may have raised the opset (GraphWriter.requireOpset).
  model.opsetImports = [
    ...model.opsetImports.filter((o) => o.domain !== '' && o.domain !== 'ai.onnx'),
    { domain: '', version: builder.opset },
  ];
  return { model, params, gradOutputs, inputGradOutputs, state, loss, lossInputs };
}
