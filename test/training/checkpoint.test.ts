/** training/checkpoint.ts: round trip, torn and foreign files refused, the newest complete one, keep, resume. */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkpointFolderName,
  latestCheckpoint,
  loadCheckpoint,
  restoreTensors,
  saveCheckpoint,
  type TrainingState,
} from '../../training/checkpoint.js';
import { WarmupCosine } from '../../training/lr-schedule.js';
import {
  AdamW,
  isOneDimensional,
  type Optimizer,
  Sgd,
  type ShapedTensor,
} from '../../training/optimizers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-checkpoint-'));
  dirs.push(dir);
  return dir;
}

const SHAPES = new Map<string, number[]>([
  ['conv.weight', [4, 3, 3, 3]],
  ['bn.scale', [4]],
  ['fc.weight', [10, 4]],
  ['fc.bias', [10]],
]);

/** A small seeded generator whose whole state is one number, saved in the checkpoint as JSON. */
class Mulberry32 {
  constructor(public state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

function initialParams(): Map<string, Float32Array> {
  const rng = new Mulberry32(7);
  const params = new Map<string, Float32Array>();
  for (const [name, shape] of SHAPES) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.next() - 0.5;
    params.set(name, data);
  }
  return params;
}

/** A gradient that depends on the parameters and on random noise: grad of ½‖p − target‖² plus noise. */
function gradients(params: Map<string, Float32Array>, rng: Mulberry32): Map<string, Float32Array> {
  const grads = new Map<string, Float32Array>();
  for (const [name, p] of params) {
    const g = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) g[i] = p[i] - 0.1 * Math.sin(i) + 0.05 * (rng.next() - 0.5);
    grads.set(name, g);
  }
  return grads;
}

function withShapes(params: Map<string, Float32Array>): Map<string, ShapedTensor> {
  return new Map([...params].map(([name, data]) => [name, { shape: SHAPES.get(name)!, data }]));
}

/** Everything a training run holds, and the steps it takes. */
class TinyRun {
  params = initialParams();
  rng = new Mulberry32(2024);
  step = 0;
  readonly schedule = new WarmupCosine({ baseLr: 0.05, warmupSteps: 2, totalSteps: 5, minLr: 1e-3 });
  constructor(readonly optimizer: Optimizer) {}

  run(steps: number): void {
    for (let s = 0; s < steps; s++) {
      this.optimizer.step(this.params, gradients(this.params, this.rng), this.schedule.lrAt(this.step));
      this.step++;
    }
  }

  state(): TrainingState {
    return {
      step: this.step,
      epoch: 0,
      dataPosition: this.step * 8,
      rng: { mulberry32: this.rng.state },
      parameters: withShapes(this.params),
      optimizer: this.optimizer.state(),
      meta: { note: 'tiny run', lrs: [0.005, 0.05] },
    };
  }

  restore(state: TrainingState): void {
    for (const [name, tensor] of state.parameters) this.params.get(name)!.set(tensor.data);
    this.optimizer.load(state.optimizer);
    this.rng.state = (state.rng as { mulberry32: number }).mulberry32;
    this.step = state.step;
  }

  bytes(): Buffer {
    const parts = [
      ...this.params.values(),
      ...[...this.optimizer.state().tensors.values()].map((t) => t.data),
    ];
    return Buffer.concat(parts.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  }
}

const OPTIMIZERS: [string, () => Optimizer][] = [
  [
    'SGD Nesterov',
    () => new Sgd(SHAPES, { momentum: 0.9, nesterov: true, weightDecay: 1e-4, noDecay: isOneDimensional }),
  ],
  ['AdamW', () => new AdamW(SHAPES, { weightDecay: 0.05, noDecay: isOneDimensional })],
];

describe.each(OPTIMIZERS)('%s', (_name, makeOptimizer) => {
  it('round trip: every tensor, shape, count and the meta come back as saved', () => {
    const dir = tempDir();
    const run = new TinyRun(makeOptimizer());
    run.run(3);
    const saved = run.state();
    const folder = saveCheckpoint(dir, saved);
    expect(folder).toBe(join(dir, checkpointFolderName(3)));
    expect(readdirSync(folder).sort()).toEqual(['checkpoint.json', 'tensors.bin']);

    const loaded = loadCheckpoint(folder);
    expect(loaded.step).toBe(3);
    expect(loaded.epoch).toBe(0);
    expect(loaded.dataPosition).toBe(24);
    expect(loaded.rng).toEqual(saved.rng);
    expect(loaded.meta).toEqual(saved.meta);
    expect([...loaded.parameters.keys()]).toEqual([...SHAPES.keys()]);
    for (const [name, tensor] of saved.parameters) {
      expect(loaded.parameters.get(name)!.shape).toEqual(tensor.shape);
      expect(loaded.parameters.get(name)!.data).toEqual(tensor.data);
    }
    expect(loaded.optimizer.kind).toBe(saved.optimizer.kind);
    expect(loaded.optimizer.settings).toEqual(saved.optimizer.settings);
    expect(loaded.optimizer.steps).toEqual(saved.optimizer.steps);
    expect([...loaded.optimizer.tensors.keys()]).toEqual([...saved.optimizer.tensors.keys()]);
    for (const [key, tensor] of saved.optimizer.tensors) {
      expect(loaded.optimizer.tensors.get(key)!.shape).toEqual(tensor.shape);
      expect(loaded.optimizer.tensors.get(key)!.data).toEqual(tensor.data);
    }
  });

  it('resume equals uninterrupted: 5 steps, or 2, a checkpoint, a fresh process state, 3 more: the same bytes', () => {
    const uninterrupted = new TinyRun(makeOptimizer());
    uninterrupted.run(5);

    const dir = tempDir();
    const before = new TinyRun(makeOptimizer());
    before.run(2);
    saveCheckpoint(dir, before.state());
    before.run(1); // the interrupted run went on a little before it died

    const resumed = new TinyRun(makeOptimizer());
    resumed.restore(loadCheckpoint(latestCheckpoint(dir)!));
    expect(resumed.step).toBe(2);
    resumed.run(3);
    expect(resumed.bytes().equals(uninterrupted.bytes())).toBe(true);
    expect(resumed.rng.state).toBe(uninterrupted.rng.state);
  });
});

describe('refused files', () => {
  function savedFolder(): string {
    const run = new TinyRun(new AdamW(SHAPES));
    run.run(1);
    return saveCheckpoint(tempDir(), run.state());
  }

  it('a torn tensors.bin, naming it', () => {
    const folder = savedFolder();
    const bin = join(folder, 'tensors.bin');
    truncateSync(bin, 100);
    expect(() => loadCheckpoint(folder)).toThrow(`${bin} has 100 bytes`);
    expect(() => loadCheckpoint(folder)).toThrow(/torn or foreign file/);
  });

  it('a foreign tensors.bin of the right size, naming it and the sha256', () => {
    const folder = savedFolder();
    const bin = join(folder, 'tensors.bin');
    const bytes = readFileSync(bin);
    bytes[bytes.length - 1] ^= 0x01;
    writeFileSync(bin, bytes);
    expect(() => loadCheckpoint(folder)).toThrow(
      `${bin} does not match the sha256 recorded in ${join(folder, 'checkpoint.json')}`,
    );
  });

  it('a missing tensors.bin, a torn or foreign checkpoint.json, or none', () => {
    const folder = savedFolder();
    const json = join(folder, 'checkpoint.json');
    const text = readFileSync(json, 'utf8');

    writeFileSync(json, text.slice(0, text.length / 2));
    expect(() => loadCheckpoint(folder)).toThrow(`${json} is not valid JSON (torn or foreign file)`);
    writeFileSync(json, '{"format": "something else"}');
    expect(() => loadCheckpoint(folder)).toThrow(`${json} is not a bnas training checkpoint`);
    writeFileSync(json, text.replace('"version": 1', '"version": 99'));
    expect(() => loadCheckpoint(folder)).toThrow(/is a version 99 checkpoint/);

    writeFileSync(json, text);
    rmSync(join(folder, 'tensors.bin'));
    expect(() => loadCheckpoint(folder)).toThrow(`${join(folder, 'tensors.bin')} is missing`);
    rmSync(json);
    expect(() => loadCheckpoint(folder)).toThrow(`${json} is missing`);
  });
});

describe('latestCheckpoint and keep', () => {
  function saveSteps(dir: string, steps: number[], keep?: number): void {
    const run = new TinyRun(new Sgd(SHAPES, { momentum: 0.9 }));
    for (const step of steps) {
      run.run(step - run.step);
      saveCheckpoint(dir, run.state(), keep === undefined ? {} : { keep });
    }
  }
  const stepsIn = (dir: string) => readdirSync(dir).sort();

  it('none in a missing or empty folder', () => {
    const dir = tempDir();
    expect(latestCheckpoint(join(dir, 'absent'))).toBeUndefined();
    expect(latestCheckpoint(dir)).toBeUndefined();
  });

  it('the highest step that is complete (by number, not by name), skipping torn and unfinished ones', () => {
    const dir = tempDir();
    saveSteps(dir, [9, 10], 5);
    expect(latestCheckpoint(dir)).toBe(join(dir, checkpointFolderName(10)));

    // step 12 died before its checkpoint.json; step 11's tensors.bin was torn afterwards
    saveSteps(dir, [11, 12], 5);
    rmSync(join(dir, checkpointFolderName(12), 'checkpoint.json'));
    truncateSync(join(dir, checkpointFolderName(11), 'tensors.bin'), 10);
    mkdirSync(join(dir, 'step-13-notes'));
    expect(latestCheckpoint(dir)).toBe(join(dir, checkpointFolderName(10)));
  });

  it('keeps the newest `keep`, removing older and unfinished older folders only once the new one is complete', () => {
    const dir = tempDir();
    saveSteps(dir, [1, 2, 3, 4]);
    expect(stepsIn(dir)).toEqual([checkpointFolderName(3), checkpointFolderName(4)]);

    mkdirSync(join(dir, checkpointFolderName(5)));
    writeFileSync(join(dir, checkpointFolderName(5), 'tensors.bin'), 'half');
    saveSteps(dir, [6], 3);
    expect(stepsIn(dir)).toEqual([checkpointFolderName(3), checkpointFolderName(4), checkpointFolderName(6)]);
  });

  it('saving a step again replaces that checkpoint and keeps later ones', () => {
    const dir = tempDir();
    saveSteps(dir, [2, 4], 5);
    const run = new TinyRun(new Sgd(SHAPES, { momentum: 0.9 }));
    run.run(2);
    run.params.get('fc.bias')!.fill(42);
    saveCheckpoint(dir, run.state(), { keep: 5 });
    expect(loadCheckpoint(join(dir, checkpointFolderName(2))).parameters.get('fc.bias')!.data[0]).toBe(42);
    expect(existsSync(join(dir, checkpointFolderName(4), 'checkpoint.json'))).toBe(true);
  });

  it('refuses a state whose counts or tensors do not add up', () => {
    const dir = tempDir();
    const state = new TinyRun(new Sgd(SHAPES)).state();
    expect(() => saveCheckpoint(dir, { ...state, step: -1 })).toThrow(/step must be an integer >= 0/);
    expect(() => saveCheckpoint(dir, { ...state, dataPosition: 0.5 })).toThrow(
      /data position must be an integer/,
    );
    const wrongShape = new Map([['w', { shape: [3, 3], data: new Float32Array(8) }]]);
    expect(() => saveCheckpoint(dir, { ...state, parameters: wrongShape })).toThrow(
      /tensor 'w' has 8 values, its shape \[3,3\] says 9/,
    );
    expect(() => saveCheckpoint(dir, state, { keep: 0 })).toThrow(/keep must be an integer >= 1/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('restoreTensors', () => {
  it('puts the saved tensors and optimizer buffers into a fresh run, which then continues in step', () => {
    const first = new TinyRun(new AdamW(SHAPES));
    first.run(3);
    const folder = saveCheckpoint(tempDir(), first.state());
    const fresh = new TinyRun(new AdamW(SHAPES));
    restoreTensors(folder, loadCheckpoint(folder), fresh.params, fresh.optimizer, 'the tiny run');
    expect(fresh.bytes().equals(first.bytes())).toBe(true);
  });

  it('refuses a checkpoint whose tensors do not fit, changing nothing', () => {
    const run = new TinyRun(new Sgd(SHAPES, { momentum: 0.9 }));
    run.run(2);
    const folder = saveCheckpoint(tempDir(), run.state());
    const saved = loadCheckpoint(folder);
    const other = new TinyRun(new Sgd(SHAPES, { momentum: 0.9 }));
    const before = other.bytes();
    const short = new Map(other.params);
    short.set('fc.bias', new Float32Array(9));
    expect(() => restoreTensors(folder, saved, short, other.optimizer, 'the tiny run')).toThrow(
      `${folder}: tensor 'fc.bias' does not belong to the tiny run`,
    );
    const fewer = new Map(other.params);
    fewer.delete('fc.bias');
    expect(() => restoreTensors(folder, saved, fewer, other.optimizer, 'the tiny run')).toThrow(
      /tensor 'fc.bias' does not belong to the tiny run/,
    );
    const more = new Map([...other.params, ['extra', new Float32Array(3)] as const]);
    expect(() => restoreTensors(folder, saved, more, other.optimizer, 'the tiny run')).toThrow(
      `${folder}: holds 4 tensors, the tiny run 5`,
    );
    expect(other.bytes().equals(before)).toBe(true);
  });
});
