/**
 * Shape and element-type inference for the operators CNN image classifiers use (plus the small
 * integer "shape arithmetic" sub-graphs exporters emit around Reshape): each node runs the shape
 * rule the op catalogue (ops.ts) gives its op (rules in shape-rules.ts). Symbolic dims (the batch
 * 'N') stay strings; a dim that cannot be known is null. Errors name the node.
 */
import { type Dim, type Graph, Model, type Node, type ValueInfo } from './ir.js';
import { opSpec, SUPPORTED_OPS } from './ops.js';
import {
  type ConstValue,
  Context,
  formatShape,
  recordConst,
  ShapeInferenceError,
  type TensorType,
} from './shape-context.js';
import { dataTypeName } from './tensor.js';

export { formatShape, ShapeInferenceError, SUPPORTED_OPS, type TensorType };

export interface ShapeOptions {
  /** Give symbolic dims of the graph inputs a size: per name, or one size for every symbol. */
  symbols?: Record<string, number> | number;
  /** Replace graph input shapes. */
  inputShapes?: Record<string, Dim[]>;
  /** Opset of the default domain when a Graph (not a Model) is given. Default 13. */
  opset?: number;
  /** Throw on operators without a rule (default). If false, their outputs get value_info types or stay unknown. */
  strict?: boolean;
}

function bindSymbols(shape: Dim[] | null, symbols: ShapeOptions['symbols']): Dim[] | null {
  if (shape === null || symbols === undefined) return shape;
  return shape.map((d) => {
    if (typeof d !== 'string') return d;
    if (typeof symbols === 'number') return symbols;
    return symbols[d] ?? d;
  });
}

function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

function unsupportedOperator(node: Node): string {
  const where = isDefaultDomain(node.domain) ? '' : ` in domain '${node.domain}'`;
  return `operator ${node.opType}${where} is not supported by bnas shape inference`;
}

function isUnknown(t: TensorType): boolean {
  return t.shape === null || t.elemType === 0;
}

/** `node` failed on a value whose type is unknown because the unsupported `cause` made it. */
function unsupportedOperatorError(cause: Node, node: Node, reason: string): ShapeInferenceError {
  return new ShapeInferenceError(
    cause,
    `${unsupportedOperator(cause)}, and the model declares no type for its output, so node ${node.describe()} after it cannot be inferred (${reason})`,
  );
}

/**
 * Types of every value in the graph: graph inputs, initializers and node outputs, keyed by name.
 * Graph outputs declared with sizes are checked against what was inferred.
 */
export function inferShapes(source: Model | Graph, options: ShapeOptions = {}): Map<string, TensorType> {
  const graph = source instanceof Model ? source.graph : source;
  const opset = (source instanceof Model ? source.opset('') : undefined) ?? options.opset ?? 13;
  const strict = options.strict ?? true;
  const types = new Map<string, TensorType>();
  const consts = new Map<string, ConstValue>();
  for (const v of graph.inputs) {
    const shape = options.inputShapes?.[v.name] ?? v.shape;
    types.set(v.name, {
      elemType: v.elemType,
      shape: bindSymbols(shape ? [...shape] : null, options.symbols),
    });
  }
  for (const t of graph.initializers.values()) {
    types.set(t.name, { elemType: t.dataType, shape: [...t.dims] });
    recordConst(consts, t.name, t);
  }
  const declared = new Map<string, ValueInfo>(graph.valueInfo.map((v) => [v.name, v]));
  // Non-strict: values whose type is unknown because an unsupported operator made them (directly
  // or through ops that pass the unknown on), so that a later failure blames that operator.
  const unknownBecauseOf = new Map<string, Node>();
  for (const node of graph.topologicalOrder()) {
    const rule = isDefaultDomain(node.domain) ? opSpec(node.opType)?.shape : undefined;
    let outputs: TensorType[];
    if (rule) {
      const ctx = new Context(node, opset, types, consts);
      try {
        outputs = rule.infer(ctx);
        rule.after?.(ctx);
      } catch (error) {
        const reason =
          error instanceof ShapeInferenceError
            ? error.reason
            : (error as Error).message.replace(/^node .*?: /, '');
        const cause = node.inputs.map((i) => unknownBecauseOf.get(i)).find((n) => n !== undefined);
        if (cause) throw unsupportedOperatorError(cause, node, reason);
        if (error instanceof ShapeInferenceError) throw error;
        throw new ShapeInferenceError(node, reason);
      }
      const cause = node.inputs.map((i) => unknownBecauseOf.get(i)).find((n) => n !== undefined);
      if (cause) {
        node.outputs.forEach((o, i) => {
          if (o !== '' && outputs[i] && isUnknown(outputs[i])) unknownBecauseOf.set(o, cause);
        });
      }
    } else if (strict) {
      throw new ShapeInferenceError(node, unsupportedOperator(node));
    } else {
      outputs = node.outputs.map((o) => {
        const v = declared.get(o);
        return { elemType: v?.elemType ?? 0, shape: v?.shape ?? null };
      });
      node.outputs.forEach((o, i) => {
        if (o !== '' && isUnknown(outputs[i])) unknownBecauseOf.set(o, node);
      });
    }
    node.outputs.forEach((o, i) => {
      if (o !== '' && outputs[i]) types.set(o, outputs[i]);
    });
  }
  for (const out of graph.outputs) {
    const got = types.get(out.name);
    if (!got) throw new Error(`shape inference: graph output '${out.name}' is not produced by the graph`);
    const want = bindSymbols(out.shape, options.symbols);
    if (want && got.shape) {
      const clash =
        want.length !== got.shape.length ||
        want.some(
          (d, i) => typeof d === 'number' && typeof got.shape![i] === 'number' && d !== got.shape![i],
        );
      if (clash) {
        throw new Error(
          `shape inference: graph output '${out.name}' is declared ${formatShape(want)} but computes ${formatShape(got.shape)}`,
        );
      }
    }
    if (out.elemType !== 0 && got.elemType !== 0 && out.elemType !== got.elemType) {
      throw new Error(
        `shape inference: graph output '${out.name}' is declared ${dataTypeName(out.elemType)} but computes ${dataTypeName(got.elemType)}`,
      );
    }
  }
  return types;
}

/** Writes the inferred types of all intermediate values into graph.valueInfo (replacing it). */
export function annotateShapes(model: Model, options: ShapeOptions = {}): void {
  const types = inferShapes(model, options);
  const g = model.graph;
  const skip = new Set([
    ...g.inputs.map((v) => v.name),
    ...g.outputs.map((v) => v.name),
    ...g.initializers.keys(),
  ]);
  g.valueInfo = [];
  for (const node of g.nodes) {
    for (const o of node.outputs) {
      const t = types.get(o);
      if (o === '' || skip.has(o) || !t) continue;
      g.valueInfo.push({ name: o, elemType: t.elemType, shape: t.shape });
    }
  }
}
