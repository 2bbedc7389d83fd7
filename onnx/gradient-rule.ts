/**
 * What an op's gradient rule is: the reverse-mode derivative of one node, written as standard ONNX
 * ops appended to a graph (../shared training.md: onnxruntime's training kernels are not in the
 * inference build, so the backward pass is an ordinary graph the CPU build runs at native speed).
 *
 * Rules live beside the op in the catalogue (ops.ts); the engine that walks a graph backwards,
 * sums the gradients of values used several times and seeds the loss is training/autodiff.ts.
 */
import type { Attribute, Node } from './ir.js';
import type { TensorType } from './shape-context.js';
import type { Tensor } from './tensor.js';

/** Where a rule writes: the graph being built, with the forward values' inferred types. */
export interface GraphWriter {
  /**
   * Appends a node; returns its output names (fresh, unique). `outputs` is the number of outputs
   * (default 1); an empty-string input is an omitted optional input.
   */
  emit(opType: string, inputs: string[], attributes?: Record<string, Attribute>, outputs?: number): string[];
  /** Shorthand for a one-output node. */
  op(opType: string, inputs: string[], attributes?: Record<string, Attribute>): string;
  /** An initializer holding `tensor` (its name is replaced by a fresh one); returns that name. */
  constant(tensor: Tensor): string;
  /** A float32 scalar constant (shape []). */
  scalar(value: number): string;
  /** A 1-D int64 constant (axes, shapes, pads for Pad, starts/ends/steps for Slice). */
  ints(values: number[]): string;
  /** Element type and shape of a value of the forward graph (or of a value a rule emitted, if known). */
  typeOf(value: string): TensorType;
  /** The static shape of a value; throws naming the node when a dimension the rule needs is symbolic. */
  staticShape(value: string, node: Node, axes?: number[]): number[];
  /** The batch-statistics update of a state tensor (e.g. BN running mean): becomes a graph output. */
  updateState(stateName: string, newValue: string): void;
  /** The default-domain opset of the graph being written (the ops a rule emits must exist in it). */
  readonly opset: number;
  /**
   * Raises the graph's opset to `version` when it is lower (e.g. ScatterElements' reduction needs
   * 16); throws naming `node` when the model is older than opset 13, where axes were attributes.
   */
  requireOpset(version: number, node: Node): void;
}

/**
 * The derivative of one node. `backward` receives the gradient of each output (undefined where
 * nothing downstream depends on it: treat as zero) and `wanted[i]` (whether input i's gradient is
 * needed: a parameter, or on the path to one); it returns the gradient of each input, or
 * undefined for inputs it does not differentiate (integer inputs, shapes, axes).
 */
export interface GradientRule {
  /**
   * Optional forward rewrite, run once before any backward: returns the values saved for the
   * backward (by name, free-form), e.g. MaxPool's Indices or BatchNormalization's batch statistics.
   * It may emit forward nodes with `writer` and must then return, in `replaced`, the values that
   * stand for the node's outputs; the engine rewires consumers and drops the original node.
   */
  forward?(node: Node, writer: GraphWriter, mode: TrainingMode): ForwardResult | undefined;
  backward(
    node: Node,
    outputGrads: (string | undefined)[],
    writer: GraphWriter,
    wanted: boolean[],
    saved: Record<string, string>,
  ): (string | undefined)[];
}

export interface ForwardResult {
  /** Values that replace the node's outputs, index for index (omit to keep the node as it is). */
  replaced?: string[];
  saved?: Record<string, string>;
}

/** How normalization layers behave while training: batch statistics, or frozen running statistics. */
export interface TrainingMode {
  batchNorm: 'train' | 'frozen';
  /** Running-statistics momentum in PyTorch's convention (new = (1 − m)·old + m·batch). */
  momentum: number;
}
