/**
 * Optimizers that update Float32Array parameters in place from the gradients onnxruntime computed:
 * SGD (momentum, Nesterov, weight decay) and AdamW, each with PyTorch's update rule
 * (torch.optim.SGD, torch.optim.AdamW, single-tensor form), so a PyTorch training recipe carries
 * over unchanged. Buffers are allocated once, at construction; a step allocates nothing per element.
 *
 * As in PyTorch, every parameter keeps its own step count, and a parameter without a gradient in a
 * step (PyTorch's `grad is None`: a block the sub-network skipped) is left as it is: no decay, no
 * momentum, no count.
 */

/** A float32 tensor with its shape (row-major). */
export interface ShapedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** The optimizer's parameters by name, with their shapes. */
export type ParameterShapes = ReadonlyMap<string, readonly number[]>;

/** Which parameters get no weight decay: a rule on name and shape, or a set of names. */
export type NoDecay = ((name: string, shape: readonly number[]) => boolean) | ReadonlySet<string>;

/** The usual practice: biases and BatchNorm scales and shifts (every parameter of rank ≤ 1) are not decayed. */
export function isOneDimensional(_name: string, shape: readonly number[]): boolean {
  return shape.length <= 1;
}

export type OptimizerKind = 'sgd' | 'adamw';

/** What a checkpoint keeps of an optimizer. */
export interface OptimizerState {
  readonly kind: OptimizerKind;
  /** The hyper-parameters; a state is loaded only into an optimizer with the same ones. */
  readonly settings: Readonly<Record<string, number | boolean>>;
  /** Steps taken, per parameter. */
  readonly steps: Readonly<Record<string, number>>;
  /**
   * The buffers, by `<slot>/<parameter name>` (`momentum/conv1.weight`, `exp_avg/fc.bias`). They are
   * the optimizer's live buffers, not copies: write them out before the next step.
   */
  readonly tensors: ReadonlyMap<string, ShapedTensor>;
}

export interface Optimizer {
  readonly kind: OptimizerKind;
  /**
   * One update of every parameter that has a gradient in `grads`, in place in `params`, at learning
   * rate `lr`. Entries of `params` the optimizer does not know (running statistics, say) are ignored;
   * a gradient for an unknown name is refused.
   */
  step(params: ReadonlyMap<string, Float32Array>, grads: ReadonlyMap<string, Float32Array>, lr: number): void;
  state(): OptimizerState;
  /** Takes over a state that state() gave (of this kind, these settings and these parameters). */
  load(state: OptimizerState): void;
}

export interface SgdOptions {
  /** μ; 0 (the default) for plain SGD. */
  readonly momentum?: number;
  /** g + μ·buf instead of buf as the step direction; needs momentum > 0. */
  readonly nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch's coupled weight decay); default 0. */
  readonly weightDecay?: number;
  readonly noDecay?: NoDecay;
}

export interface AdamWOptions {
  /** default 0.9 */
  readonly beta1?: number;
  /** default 0.999 */
  readonly beta2?: number;
  /** added to the bias-corrected √v, outside the square root; default 1e-8 */
  readonly eps?: number;
  /** decoupled decay, p ← p·(1 − lr·wd); default 1e-2 as in PyTorch */
  readonly weightDecay?: number;
  readonly noDecay?: NoDecay;
}

interface TrackedParameter {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  readonly decays: boolean;
  steps: number;
}

function elementCount(name: string, shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`parameter '${name}' has a bad shape [${shape}]`);
    size *= d;
  }
  return size;
}

function decides(noDecay: NoDecay | undefined): (name: string, shape: readonly number[]) => boolean {
  if (noDecay === undefined) return () => false;
  if (typeof noDecay === 'function') return noDecay;
  return (name) => noDecay.has(name);
}

function checkSetting(what: string, value: number, low: number, high: number, highOpen = true): void {
  const inRange = value >= low && (highOpen ? value < high : value <= high);
  if (!Number.isFinite(value) || !inRange) {
    throw new Error(`${what} must be in [${low}, ${high}${highOpen ? ')' : ']'}, got ${value}`);
  }
}

/** The bookkeeping both optimizers share: parameters by name, step counts, buffers, checks, state. */
abstract class PerParameterOptimizer implements Optimizer {
  abstract readonly kind: OptimizerKind;
  protected readonly parameters: TrackedParameter[] = [];
  private readonly byName = new Map<string, number>();
  /** buffers[slot][i]: the slot's buffer of parameter i, zeros until its first step. */
  protected readonly buffers: Float32Array[][];

  constructor(
    shapes: ParameterShapes,
    noDecay: NoDecay | undefined,
    private readonly slots: readonly string[],
  ) {
    const exempt = decides(noDecay);
    for (const [name, shape] of shapes) {
      this.byName.set(name, this.parameters.length);
      const size = elementCount(name, shape);
      this.parameters.push({ name, shape: [...shape], size, decays: !exempt(name, shape), steps: 0 });
    }
    this.buffers = slots.map(() => this.parameters.map((p) => new Float32Array(p.size)));
  }

  protected abstract settings(): Record<string, number | boolean>;
  /** One update of parameter i; its step count already includes this step. */
  protected abstract update(i: number, param: Float32Array, grad: Float32Array, lr: number): void;

  step(
    params: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    lr: number,
  ): void {
    if (!Number.isFinite(lr) || lr < 0) throw new Error(`learning rate must be finite and >= 0, got ${lr}`);
    for (const name of grads.keys()) {
      if (!this.byName.has(name))
        throw new Error(`${this.kind}: a gradient for '${name}', which is not a parameter`);
    }
    for (let i = 0; i < this.parameters.length; i++) {
      const p = this.parameters[i];
      const grad = grads.get(p.name);
      if (grad === undefined) continue;
      const param = params.get(p.name);
      if (param === undefined)
        throw new Error(`${this.kind}: a gradient for '${p.name}' but no such parameter`);
      if (param.length !== p.size || grad.length !== p.size) {
        throw new Error(
          `${this.kind}: '${p.name}' [${p.shape}] has ${p.size} values, ` +
            `got ${param.length} parameter values and ${grad.length} gradient values`,
        );
      }
      p.steps += 1;
      this.update(i, param, grad, lr);
    }
  }

  state(): OptimizerState {
    const steps: Record<string, number> = {};
    const tensors = new Map<string, ShapedTensor>();
    for (let i = 0; i < this.parameters.length; i++) {
      const p = this.parameters[i];
      steps[p.name] = p.steps;
      for (let s = 0; s < this.slots.length; s++) {
        tensors.set(`${this.slots[s]}/${p.name}`, { shape: p.shape, data: this.buffers[s][i] });
      }
    }
    return { kind: this.kind, settings: this.settings(), steps, tensors };
  }

  load(state: OptimizerState): void {
    if (state.kind !== this.kind) throw new Error(`cannot load a ${state.kind} state into ${this.kind}`);
    const mine = this.settings();
    for (const key of new Set([...Object.keys(mine), ...Object.keys(state.settings)])) {
      if (mine[key] !== state.settings[key]) {
        throw new Error(
          `${this.kind} state has ${key} = ${state.settings[key]}, this optimizer ${mine[key]}`,
        );
      }
    }
    for (const name of Object.keys(state.steps)) {
      if (!this.byName.has(name))
        throw new Error(`${this.kind} state has a parameter '${name}' this optimizer lacks`);
    }
    const expected = new Set<string>();
    for (let i = 0; i < this.parameters.length; i++) {
      const p = this.parameters[i];
      const steps = state.steps[p.name];
      if (!Number.isInteger(steps) || steps < 0)
        throw new Error(`${this.kind} state lacks the steps of '${p.name}'`);
      for (const slot of this.slots) {
        const key = `${slot}/${p.name}`;
        expected.add(key);
        const tensor = state.tensors.get(key);
        if (tensor === undefined) throw new Error(`${this.kind} state lacks the tensor '${key}'`);
        if (tensor.data.length !== p.size) {
          throw new Error(
            `${this.kind} state: '${key}' has ${tensor.data.length} values, '${p.name}' has ${p.size}`,
          );
        }
      }
    }
    for (const key of state.tensors.keys()) {
      if (!expected.has(key))
        throw new Error(`${this.kind} state has a tensor '${key}' this optimizer lacks`);
    }
    // Checked in full before anything changes, so a refused state leaves the optimizer as it was.
    for (let i = 0; i < this.parameters.length; i++) {
      const p = this.parameters[i];
      p.steps = state.steps[p.name];
      for (let s = 0; s < this.slots.length; s++) {
        const source = state.tensors.get(`${this.slots[s]}/${p.name}`)!.data;
        if (source !== this.buffers[s][i]) this.buffers[s][i].set(source);
      }
    }
  }
}

/**
 * torch.optim.SGD with dampening 0: d = g + wd·p; with momentum, buf = d on a parameter's first
 * step and buf = μ·buf + d after it, and d = d + μ·buf (Nesterov) or d = buf; then p = p − lr·d.
 */
export class Sgd extends PerParameterOptimizer {
  readonly kind = 'sgd';
  private readonly momentum: number;
  private readonly nesterov: boolean;
  private readonly weightDecay: number;

  constructor(shapes: ParameterShapes, options: SgdOptions = {}) {
    const momentum = options.momentum ?? 0;
    super(shapes, options.noDecay, momentum === 0 ? [] : ['momentum']);
    this.momentum = momentum;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkSetting('SGD momentum', this.momentum, 0, 1);
    checkSetting('SGD weight decay', this.weightDecay, 0, Number.MAX_VALUE, false);
    if (this.nesterov && this.momentum === 0) throw new Error('SGD with Nesterov needs a momentum > 0');
  }

  protected settings(): Record<string, number | boolean> {
    return { momentum: this.momentum, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }

  protected update(i: number, p: Float32Array, g: Float32Array, lr: number): void {
    const n = p.length;
    const wd = this.parameters[i].decays ? this.weightDecay : 0;
    const mu = this.momentum;
    if (mu === 0) {
      if (wd === 0) for (let k = 0; k < n; k++) p[k] -= lr * g[k];
      else for (let k = 0; k < n; k++) p[k] -= lr * Math.fround(g[k] + wd * p[k]);
      return;
    }
    // The buffer is zero before a parameter's first step, so μ·0 + d is exactly PyTorch's buf = d.
    const buf = this.buffers[0][i];
    if (this.nesterov) {
      if (wd === 0) {
        for (let k = 0; k < n; k++) {
          const d = g[k];
          const b = Math.fround(mu * buf[k] + d);
          buf[k] = b;
          p[k] -= lr * Math.fround(d + mu * b);
        }
      } else {
        for (let k = 0; k < n; k++) {
          const d = Math.fround(g[k] + wd * p[k]);
          const b = Math.fround(mu * buf[k] + d);
          buf[k] = b;
          p[k] -= lr * Math.fround(d + mu * b);
        }
      }
    } else if (wd === 0) {
      for (let k = 0; k < n; k++) {
        const b = Math.fround(mu * buf[k] + g[k]);
        buf[k] = b;
        p[k] -= lr * b;
      }
    } else {
      for (let k = 0; k < n; k++) {
        const b = Math.fround(mu * buf[k] + Math.fround(g[k] + wd * p[k]));
        buf[k] = b;
        p[k] -= lr * b;
      }
    }
  }
}

/**
 * torch.optim.AdamW (amsgrad off), per parameter at its step t:
 * p = p·(1 − lr·wd); m = m + (1 − β1)·(g − m); v = β2·v + (1 − β2)·g²;
 * p = p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε).
 * The m update is PyTorch 2's lerp; PyTorch 1.x writes it β1·m + (1 − β1)·g, equal up to rounding.
 */
export class AdamW extends PerParameterOptimizer {
  readonly kind = 'adamw';
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  constructor(shapes: ParameterShapes, options: AdamWOptions = {}) {
    super(shapes, options.noDecay, ['exp_avg', 'exp_avg_sq']);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 1e-2;
    checkSetting('AdamW beta1', this.beta1, 0, 1);
    checkSetting('AdamW beta2', this.beta2, 0, 1);
    checkSetting('AdamW eps', this.eps, 0, Number.MAX_VALUE, false);
    checkSetting('AdamW weight decay', this.weightDecay, 0, Number.MAX_VALUE, false);
  }

  protected settings(): Record<string, number | boolean> {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected update(i: number, p: Float32Array, g: Float32Array, lr: number): void {
    const n = p.length;
    const t = this.parameters[i].steps;
    const decay = this.parameters[i].decays ? 1 - lr * this.weightDecay : 1;
    const w1 = 1 - this.beta1;
    const b2 = this.beta2;
    const w2 = 1 - b2;
    const stepSize = lr / (1 - this.beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const eps = this.eps;
    const m = this.buffers[0][i];
    const v = this.buffers[1][i];
    for (let k = 0; k < n; k++) {
      const gk = g[k];
      const mk = m[k];
      const mNew = Math.fround(mk + w1 * (gk - mk));
      const vNew = Math.fround(b2 * v[k] + w2 * gk * gk);
      m[k] = mNew;
      v[k] = vNew;
      p[k] = Math.fround(p[k] * decay) - (stepSize * mNew) / (Math.sqrt(vNew) / bc2Sqrt + eps);
    }
  }
}
