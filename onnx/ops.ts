/**
 * The op catalogue: every ONNX operator bnas understands (default domain), and per op what each
 * part of bnas does with it. Shape inference (shapes.ts) runs an op's `shape` rule and refuses an
 * op that is not here; the cost counter (macs.ts) runs its `macs` rule and counts its `params`
 * inputs; the INT8 quantizer (calibration/plan.ts) follows its `quantize` rule. One table, so
 * that what the IR can infer, what is counted and what is quantized cannot drift apart.
 *
 * Lookups are by op type only; callers that care about the domain check it themselves (shape
 * inference and most of the quantizer accept the default domain only).
 */
import { convMacs, gemmMacs, type MacsRule, matmulMacs } from './cost-rules.js';
import type { GradientRule } from './gradient-rule.js';
import { batchNormGradient } from './gradients/batchnorm.js';
import { convGradient } from './gradients/conv.js';
import {
  addGradient,
  clipGradient,
  divGradient,
  hardSigmoidGradient,
  hardSwishGradient,
  mulGradient,
  reluGradient,
  sigmoidGradient,
  subGradient,
} from './gradients/elementwise.js';
import { gemmGradient, matMulGradient } from './gradients/linear.js';
import { averagePoolGradient, globalAveragePoolGradient, maxPoolGradient } from './gradients/pooling.js';
import { concatGradient, identityGradient, reshapeGradient } from './gradients/shape-ops.js';
import type { ShapeRule } from './shape-context.js';
import { SHAPE_RULES as S } from './shape-rules.js';

export type { MacsRule } from './cost-rules.js';
export type { GradientRule } from './gradient-rule.js';
export type { ShapeRule } from './shape-context.js';

/**
 * How the quantizer runs an op in the QDQ graph (int8.md §3, §7.2, §7.6):
 *  - 'weights': int8 per-channel weights and an int32 bias from float initializers; its
 *    activation input gets a Q/DQ pair (Conv, Gemm).
 *  - 'activations': two activation inputs, both quantized, and the output (residual Add, Mul).
 *  - 'shares-input': when its input is quantized, runs on 8 bits with the input's scale and zero
 *    point (onnxruntime drops the pair around it).
 *  - 'own-range': when its input is quantized; the output gets its own calibrated range.
 *  - 'joins': when all inputs are float activations and one is quantized; all inputs and the
 *    output are quantized, the output with its own range (Concat).
 */
export type QuantizeRole = 'weights' | 'activations' | 'shares-input' | 'own-range' | 'joins';

export interface QuantizeRule {
  role: QuantizeRole;
  /** A Relu / Clip(min 0) right after it, read by nothing else, is folded into it. */
  absorbsActivation?: boolean;
  /** The activation itself: folded into a producer that absorbs activations. */
  foldsIntoProducer?: boolean;
}

export interface OpSpec {
  /** Output element types and shapes from the inputs'. */
  shape: ShapeRule;
  /** Multiply-accumulates of a node; without one the op counts 0 MACs. */
  macs?: MacsRule;
  /** Inputs holding learned parameters ('all' = any constant input); none without it. */
  params?: readonly number[] | 'all';
  /** How the INT8 quantizer runs it; without one the op runs in float. */
  quantize?: QuantizeRule;
  /** Why the quantizer leaves it float on purpose (no warning); a float op without it is warned about. */
  keptFloat?: string;
  /** Output holds the input's values, only rearranged: a quantized output reuses the input's scale. */
  rearranges?: boolean;
  /** Its reverse-mode derivative as ONNX ops (gradient-rule.ts; the rules are in gradients/). */
  gradient?: GradientRule;
}

const WEIGHTS: QuantizeRule = { role: 'weights', absorbsActivation: true };
const SHARES_INPUT: QuantizeRule = { role: 'shares-input' };
const OWN_RANGE: QuantizeRule = { role: 'own-range' };
const FOLDABLE: QuantizeRule = { role: 'own-range', foldsIntoProducer: true };
const CLASSIFIER_OUTPUT = 'classifier output: quantizing probabilities buys nothing';

const CATALOGUE: Record<string, OpSpec> = {
  // Layers with weights
  Conv: { shape: S.conv, macs: convMacs, params: [1, 2], quantize: WEIGHTS, gradient: convGradient },
  Gemm: { shape: S.gemm, macs: gemmMacs, params: 'all', quantize: WEIGHTS, gradient: gemmGradient },
  MatMul: { shape: S.matmul, macs: matmulMacs, params: 'all', gradient: matMulGradient },
  BatchNormalization: { shape: S.batchNorm, params: [1, 2], gradient: batchNormGradient },
  InstanceNormalization: { shape: S.same, params: [1, 2] },
  PRelu: { shape: S.elementwise, params: [1] },

  // Pooling
  MaxPool: { shape: S.pool, quantize: SHARES_INPUT, gradient: maxPoolGradient },
  AveragePool: { shape: S.pool, quantize: OWN_RANGE, gradient: averagePoolGradient },
  LpPool: { shape: S.pool },
  GlobalAveragePool: { shape: S.globalPool, quantize: OWN_RANGE, gradient: globalAveragePoolGradient },
  GlobalMaxPool: { shape: S.globalPool },
  GlobalLpPool: { shape: S.globalPool },
  LRN: { shape: S.same },

  // Activations and other unary element-wise ops
  Relu: { shape: S.same, quantize: FOLDABLE, gradient: reluGradient },
  Clip: { shape: S.same, quantize: FOLDABLE, gradient: clipGradient },
  LeakyRelu: { shape: S.same },
  Sigmoid: { shape: S.same, gradient: sigmoidGradient },
  HardSigmoid: { shape: S.same, gradient: hardSigmoidGradient },
  HardSwish: { shape: S.same, gradient: hardSwishGradient },
  Tanh: { shape: S.same },
  Elu: { shape: S.same },
  Selu: { shape: S.same },
  Celu: { shape: S.same },
  Gelu: { shape: S.same },
  Mish: { shape: S.same },
  Softplus: { shape: S.same },
  Softsign: { shape: S.same },
  Softmax: { shape: S.same, keptFloat: CLASSIFIER_OUTPUT },
  LogSoftmax: { shape: S.same, keptFloat: CLASSIFIER_OUTPUT },
  Exp: { shape: S.same },
  Log: { shape: S.same },
  Sqrt: { shape: S.same },
  Neg: { shape: S.same },
  Abs: { shape: S.same },
  Reciprocal: { shape: S.same },
  Erf: { shape: S.same },
  Floor: { shape: S.same },
  Ceil: { shape: S.same },
  Round: { shape: S.same },
  Sign: { shape: S.same },
  Not: { shape: S.same },
  Dropout: { shape: S.dropout },
  Identity: { shape: S.identity, rearranges: true, gradient: identityGradient },

  // Broadcasting element-wise ops
  Add: {
    shape: S.elementwise,
    quantize: { role: 'activations', absorbsActivation: true },
    gradient: addGradient,
  },
  Mul: { shape: S.elementwise, quantize: { role: 'activations' }, gradient: mulGradient },
  Sub: { shape: S.elementwise, gradient: subGradient },
  Div: { shape: S.elementwise, gradient: divGradient },
  Pow: { shape: S.elementwise },
  Max: { shape: S.elementwise },
  Min: { shape: S.elementwise },
  Sum: { shape: S.elementwise },
  Mean: { shape: S.elementwise },
  Mod: { shape: S.elementwise },
  BitShift: { shape: S.elementwise },
  Equal: { shape: S.comparison },
  Less: { shape: S.comparison },
  Greater: { shape: S.comparison },
  LessOrEqual: { shape: S.comparison },
  GreaterOrEqual: { shape: S.comparison },
  And: { shape: S.comparison },
  Or: { shape: S.comparison },
  Xor: { shape: S.comparison },
  Where: { shape: S.where },

  // Reductions
  ReduceMean: { shape: S.reduce },
  ReduceSum: { shape: S.reduce },
  ReduceMax: { shape: S.reduce },
  ReduceMin: { shape: S.reduce },
  ReduceProd: { shape: S.reduce },
  ReduceL1: { shape: S.reduce },
  ReduceL2: { shape: S.reduce },
  ReduceSumSquare: { shape: S.reduce },
  ReduceLogSumExp: { shape: S.reduce },
  ArgMax: { shape: S.argReduce, keptFloat: 'classifier output: runs on the float logits' },
  ArgMin: { shape: S.argReduce },

  // Moving values around
  Flatten: {
    shape: S.flatten,
    rearranges: true,
    keptFloat: 'no 8-bit Flatten in onnxruntime; it reshapes the dequantized values (cost negligible)',
    gradient: reshapeGradient,
  },
  Reshape: { shape: S.reshape, rearranges: true, quantize: SHARES_INPUT, gradient: reshapeGradient },
  Transpose: { shape: S.transpose, rearranges: true, quantize: SHARES_INPUT },
  Squeeze: { shape: S.squeeze, rearranges: true, quantize: SHARES_INPUT },
  Unsqueeze: { shape: S.unsqueeze, rearranges: true, quantize: SHARES_INPUT },
  Concat: { shape: S.concat, quantize: { role: 'joins' }, gradient: concatGradient },
  Pad: { shape: S.pad },
  Slice: { shape: S.slice },
  Gather: { shape: S.gather, keptFloat: 'not quantized by bnas' },

  // Shape arithmetic, constants and types
  Shape: { shape: S.shape, keptFloat: 'shape arithmetic, not activations' },
  Constant: { shape: S.constant, keptFloat: 'constant' },
  Cast: { shape: S.cast, keptFloat: 'type conversion' },
  QuantizeLinear: { shape: S.quantize },
  DequantizeLinear: { shape: S.dequantize },
};

const BY_TYPE: ReadonlyMap<string, OpSpec> = new Map(Object.entries(CATALOGUE));

/** What bnas knows about an op type; undefined for an op it does not know. */
export function opSpec(opType: string): OpSpec | undefined {
  return BY_TYPE.get(opType);
}

/** The op types of the catalogue, sorted. */
export const SUPPORTED_OPS: readonly string[] = [...BY_TYPE.keys()].sort();

/** The op types the quantizer can run on 8 bits (the ones with a `quantize` rule), sorted. */
export const QUANTIZABLE_OPS: readonly string[] = SUPPORTED_OPS.filter((op) => opSpec(op)?.quantize);

/** The quantizer's role for an op type; undefined when it runs in float. */
export function quantizeRole(opType: string): QuantizeRole | undefined {
  return opSpec(opType)?.quantize?.role;
}

/**
 * Op types that mark a model as already quantized (the quantizer refuses it). Only the Q/DQ pair
 * is in the catalogue: the integer kernels are onnxruntime's, which bnas never infers or counts.
 */
export const QUANTIZED_MODEL_OPS: ReadonlySet<string> = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'ConvInteger',
  'MatMulInteger',
  'QLinearAdd',
  'QGemm',
]);
