/** training/optimizers.ts against torch.optim.SGD and torch.optim.AdamW (test/fixtures/training/optimizers.json). */
import { describe, expect, it } from 'vitest';
import {
  AdamW,
  isOneDimensional,
  type NoDecay,
  type Optimizer,
  type ParameterShapes,
  Sgd,
} from '../../training/optimizers.js';
import { expectClose, type OptimizerCase, REFERENCE } from './reference.js';

const SHAPES: ParameterShapes = new Map(Object.entries(REFERENCE.shapes));

function makeOptimizer(c: OptimizerCase, noDecay?: NoDecay): Optimizer {
  const exempt = noDecay ?? (c.noDecayOneDimensional ? isOneDimensional : undefined);
  return c.kind === 'sgd'
    ? new Sgd(SHAPES, { ...c.options, noDecay: exempt })
    : new AdamW(SHAPES, { ...c.options, noDecay: exempt });
}

function initialParams(): Map<string, Float32Array> {
  return new Map(
    Object.entries(REFERENCE.initialParams).map(([name, values]) => [name, Float32Array.from(values)]),
  );
}

/** The gradients of step s; a parameter PyTorch saw with grad None has no entry. */
function gradsAt(s: number): Map<string, Float32Array> {
  const grads = new Map<string, Float32Array>();
  for (const [name, values] of Object.entries(REFERENCE.grads[s])) {
    if (values !== null) grads.set(name, Float32Array.from(values));
  }
  return grads;
}

function runSteps(
  optimizer: Optimizer,
  params: Map<string, Float32Array>,
  c: OptimizerCase,
  from: number,
  to: number,
) {
  for (let s = from; s < to; s++) {
    optimizer.step(params, gradsAt(s), c.lrs[s]);
    for (const [name, expected] of Object.entries(c.paramsAfterStep[s])) {
      expectClose(params.get(name)!, expected, `${c.name}, step ${s}, ${name}`);
    }
  }
}

describe.each(REFERENCE.optimizers.map((c) => [c.name, c] as const))('%s as PyTorch', (_name, c) => {
  it(`matches torch ${REFERENCE.torch} after every step, skipped parameters included`, () => {
    const optimizer = makeOptimizer(c);
    const params = initialParams();
    runSteps(optimizer, params, c, 0, REFERENCE.steps);

    const state = optimizer.state();
    expect(state.kind).toBe(c.kind);
    expect(state.steps).toEqual(c.finalSteps);
    expect([...state.tensors.keys()].sort()).toEqual(Object.keys(c.finalState).sort());
    for (const [key, expected] of Object.entries(c.finalState)) {
      expectClose(state.tensors.get(key)!.data, expected, `${c.name}, final ${key}`);
    }
  });

  it('resumes from state() after 3 steps as if never stopped', () => {
    const first = makeOptimizer(c);
    const params = initialParams();
    runSteps(first, params, c, 0, 3);
    const second = makeOptimizer(c);
    second.load(first.state());
    runSteps(second, params, c, 3, REFERENCE.steps);
  });
});

describe('weight decay exemptions', () => {
  const nesterov = REFERENCE.optimizers.find((c) => c.kind === 'sgd' && c.noDecayOneDimensional)!;
  const adamw = REFERENCE.optimizers.find((c) => c.kind === 'adamw' && c.noDecayOneDimensional)!;

  it.each([nesterov, adamw])('a set of names exempts as the rule does ($name)', (c) => {
    const params = initialParams();
    const optimizer = makeOptimizer(c, new Set(['conv.bias']));
    runSteps(optimizer, params, c, 0, REFERENCE.steps);
  });

  it('the rule exempts exactly the parameters of rank ≤ 1', () => {
    expect(isOneDimensional('fc.bias', [1000])).toBe(true);
    expect(isOneDimensional('bn.scale', [64])).toBe(true);
    expect(isOneDimensional('scalar', [])).toBe(true);
    expect(isOneDimensional('fc.weight', [1000, 2048])).toBe(false);
    expect(isOneDimensional('conv.weight', [64, 3, 7, 7])).toBe(false);
  });

  it('without an exemption, decay reaches biases (the result differs from the exempting run)', () => {
    const params = initialParams();
    const optimizer = makeOptimizer({ ...adamw, noDecayOneDimensional: false });
    optimizer.step(params, gradsAt(0), adamw.lrs[0]);
    expect(params.get('conv.bias')![0]).not.toBe(Math.fround(adamw.paramsAfterStep[0]['conv.bias'][0]));
  });
});

describe('refusals', () => {
  const shapes: ParameterShapes = new Map([['w', [2, 2]]]);

  it('a gradient for a name that is not a parameter', () => {
    const optimizer = new Sgd(shapes, { momentum: 0.9 });
    const params = new Map([['w', new Float32Array(4)]]);
    expect(() => optimizer.step(params, new Map([['v', new Float32Array(4)]]), 0.1)).toThrow(
      /'v', which is not a parameter/,
    );
  });

  it('a gradient without its parameter, and sizes that do not match the shape', () => {
    const optimizer = new AdamW(shapes);
    const grads = new Map([['w', new Float32Array(4)]]);
    expect(() => optimizer.step(new Map(), grads, 0.1)).toThrow(/a gradient for 'w' but no such parameter/);
    const params = new Map([['w', new Float32Array(3)]]);
    expect(() => optimizer.step(params, grads, 0.1)).toThrow(
      /'w' \[2,2\] has 4 values, got 3 parameter values/,
    );
  });

  it('bad settings and learning rates', () => {
    expect(() => new Sgd(shapes, { nesterov: true })).toThrow(/Nesterov needs a momentum > 0/);
    expect(() => new Sgd(shapes, { momentum: 1 })).toThrow(/momentum must be in \[0, 1\)/);
    expect(() => new AdamW(shapes, { beta2: 1 })).toThrow(/beta2 must be in \[0, 1\)/);
    expect(() => new AdamW(shapes, { eps: -1 })).toThrow(/eps must be/);
    const params = new Map([['w', new Float32Array(4)]]);
    const grads = new Map([['w', new Float32Array(4)]]);
    expect(() => new Sgd(shapes).step(params, grads, Number.NaN)).toThrow(/learning rate must be finite/);
  });

  it('a state of another kind, other settings or other parameters, leaving the optimizer as it was', () => {
    const sgd = new Sgd(shapes, { momentum: 0.9 });
    const params = new Map([['w', Float32Array.from([1, 2, 3, 4])]]);
    const grads = new Map([['w', Float32Array.from([0.1, 0.2, 0.3, 0.4])]]);
    sgd.step(params, grads, 0.1);
    const before = sgd.state();
    const momentum = Float32Array.from(before.tensors.get('momentum/w')!.data);

    expect(() => sgd.load(new AdamW(shapes).state())).toThrow(/cannot load a adamw state into sgd/);
    expect(() => sgd.load(new Sgd(shapes, { momentum: 0.5 }).state())).toThrow(
      /momentum = 0.5, this optimizer 0.9/,
    );
    const other = new Sgd(new Map([['v', [4]]]), { momentum: 0.9 }).state();
    expect(() => sgd.load(other)).toThrow(/a parameter 'v' this optimizer lacks/);
    const short = new Sgd(new Map([['w', [3]]]), { momentum: 0.9 }).state();
    expect(() => sgd.load(short)).toThrow(/'momentum\/w' has 3 values, 'w' has 4/);

    expect(sgd.state().steps).toEqual({ w: 1 });
    expect(sgd.state().tensors.get('momentum/w')!.data).toEqual(momentum);
  });
});
