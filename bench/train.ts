/**
 * npm run bench:train — training throughput on onnxruntime-node beside PyTorch on the same CPU, in one
 * run (issue 13, "Speed"): samples per second of a whole training step (forward, backward, SGD with
 * Nesterov momentum in TypeScript, BN running statistics copied back) through training/trainer.ts,
 * for the fixture model at batch 64 and ResNet-50 (nas/zoo, 224x224, seed 0) at batch 32, BN on
 * batch statistics, cross-entropy with label smoothing 0.1, 2 intra-op threads; then PyTorch's step
 * on the same networks (scripts/training/torch_train_bench.py, spawned with /usr/bin/python3,
 * torch.set_num_threads(2)) and the ratio bnas / PyTorch. Target: ≥ 0.5x, parity the goal.
 *
 * Then backward time over forward time per op kind: the training graph runs under onnxruntime's
 * profiler, and each node's kernel time goes to the op type of the forward node it belongs to
 * (backward nodes are named `grad/<forward node>/…`, forward rewrites `fwd/<forward node>/…`; the
 * loss's nodes `loss/…`).
 *
 * The batch is synthetic and fixed (one batch, every step): the data path is not timed.
 *
 * Options (env): BNAS_BENCH_MODELS (default "fixture,resnet50"), BNAS_BENCH_THREADS (2),
 * BNAS_BENCH_FIXTURE_STEPS (timed steps, default 20), BNAS_BENCH_RESNET_STEPS (default 4),
 * BNAS_BENCH_WARMUP (untimed steps; default 3 for the fixture, 2 for ResNet-50),
 * BNAS_BENCH_PROFILE_RUNS (profiled runs after one warm-up; default 3 and 1),
 * BNAS_BENCH_PYTHON (default /usr/bin/python3; "none" skips PyTorch). About 5 minutes on 2 idle
 * cores, most of it ResNet-50.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { packageRoot } from '../common/paths.js';
import { builtinArch } from '../nas/zoo/arch.js';
import { buildGraph } from '../nas/zoo/build.js';
import { syntheticImages } from '../nas/zoo/calibrate.js';
import { loadModel, serializeModel } from '../onnx/io.js';
import type { Model } from '../onnx/ir.js';
import { createSession, type ProfileEvent, readProfileEvents } from '../onnx/session.js';
import { buildTrainingGraph } from '../training/autodiff.js';
import type { BatchSource, TrainingBatch } from '../training/batch-source.js';
import { classificationDistillationLoss } from '../training/losses.js';
import { isOneDimensional, Sgd } from '../training/optimizers.js';
import { Trainer, type TrainerSettings } from '../training/trainer.js';

const REPO = packageRoot();
const TORCH_SCRIPT = join(REPO, 'scripts', 'training', 'torch_train_bench.py');
const threads = Number(process.env.BNAS_BENCH_THREADS ?? 2);
const warmupOverride = process.env.BNAS_BENCH_WARMUP;
const python = process.env.BNAS_BENCH_PYTHON ?? '/usr/bin/python3';
const LABEL_SMOOTHING = 0.1;
const TARGET = 0.5;

interface BenchModel {
  /** The name scripts/training/torch_train_bench.py knows it by. */
  key: 'fixture' | 'resnet50';
  title: string;
  batch: number;
  /** Untimed steps first (onnxruntime's first run sizes its arena), then timed ones. */
  warmup: number;
  steps: number;
  profileRuns: number;
  classes: number;
  sampleShape: [number, number, number];
  build: () => Model;
}

const MODELS: BenchModel[] = [
  {
    key: 'fixture',
    title: 'fixture (fmnist_resnet)',
    batch: 64,
    warmup: Number(warmupOverride ?? 3),
    steps: Number(process.env.BNAS_BENCH_FIXTURE_STEPS ?? 20),
    profileRuns: Number(process.env.BNAS_BENCH_PROFILE_RUNS ?? 3),
    classes: 10,
    sampleShape: [1, 28, 28],
    build: () => loadModel(join(REPO, 'models', 'fixture', 'fmnist_resnet.onnx')),
  },
  {
    key: 'resnet50',
    title: 'ResNet-50',
    batch: 32,
    warmup: Number(warmupOverride ?? 2),
    steps: Number(process.env.BNAS_BENCH_RESNET_STEPS ?? 4),
    profileRuns: Number(process.env.BNAS_BENCH_PROFILE_RUNS ?? 1),
    classes: 1000,
    sampleShape: [3, 224, 224],
    build: () => buildGraph(builtinArch('resnet50'), { seed: 0 }),
  },
];

const log = (s: string) => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const seconds = (from: number) => (performance.now() - from) / 1000;

function syntheticBatch(m: BenchModel): TrainingBatch {
  const [c, h] = m.sampleShape;
  return {
    input: syntheticImages(m.batch, c, h, 1),
    labels: Int32Array.from({ length: m.batch }, (_, i) => (i * 7) % m.classes),
  };
}

/** One fixed batch, forever: the trainer only reads the sample shape; steps get the batch directly. */
function fixedBatches(m: BenchModel, batch: TrainingBatch): BatchSource {
  return {
    batchesPerEpoch: 1_000_000,
    sampleShape: m.sampleShape,
    async *batches() {
      for (;;) yield batch;
    },
  };
}

const SETTINGS: Omit<TrainerSettings, 'threads'> = {
  loss: { alpha: 0, temperature: 1, labelSmoothing: LABEL_SMOOTHING },
  optimizer: { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
  schedule: { baseLr: 0.01, totalSteps: 1_000_000 },
  batchNorm: 'train',
};

interface Throughput {
  samplesPerSecond: number;
  stepSeconds: number[];
  setupSeconds: number;
}

/** bnas: Trainer steps on the fixed batch; samples per second over the timed steps. */
async function bnasThroughput(m: BenchModel, model: Model): Promise<Throughput> {
  const batch = syntheticBatch(m);
  const started = performance.now();
  const trainer = await Trainer.create({
    student: model,
    batches: fixedBatches(m, batch),
    settings: { ...SETTINGS, threads },
  });
  const setupSeconds = seconds(started);
  try {
    const stepSeconds: number[] = [];
    for (let i = 0; i < m.warmup + m.steps; i++) {
      const t = performance.now();
      const { loss } = await trainer.trainStep(batch);
      if (i >= m.warmup) stepSeconds.push(seconds(t));
      if (i === 0) log(`  bnas: first step ${seconds(t).toFixed(2)} s, loss ${loss.toFixed(4)}`);
    }
    const total = stepSeconds.reduce((a, b) => a + b, 0);
    return { samplesPerSecond: (m.batch * stepSeconds.length) / total, stepSeconds, setupSeconds };
  } finally {
    await trainer.release();
  }
}

/** The SGD update alone (Nesterov, weight decay), on arrays of the model's parameter sizes (s per step). */
function optimizerSeconds(model: Model): number {
  const graph = buildTrainingGraph(model, {
    loss: classificationDistillationLoss({ alpha: 0, labelSmoothing: LABEL_SMOOTHING }),
  });
  const shapes = new Map([...graph.params].map(([n, t]) => [n, [...t.dims]]));
  const params = new Map([...graph.params].map(([n, t]) => [n, Float32Array.from(t.data as Float32Array)]));
  const grads = new Map([...params].map(([n, p]) => [n, p.map((v) => v * 1e-3)]));
  const sgd = new Sgd(shapes, {
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
    noDecay: isOneDimensional,
  });
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t = performance.now();
    sgd.step(params, grads, 0.01);
    times.push(seconds(t));
  }
  return median(times.slice(1));
}

interface OpKindRow {
  kind: string;
  forwardMs: number;
  backwardMs: number;
  /** Kernel time by the op onnxruntime ran (forward rewrites and backward nodes are other ops). */
  forwardOps: Map<string, number>;
  backwardOps: Map<string, number>;
}

/**
 * The forward node a training-graph node belongs to and whether it is backward: `grad/<F>/…` and
 * `fwd/<F>/…` by the longest forward node name F that fits (names may hold '/'), F itself, or
 * `loss` / an onnxruntime-made node (undefined).
 */
function ownerOf(
  node: string,
  forwardNames: ReadonlySet<string>,
): { forward?: string; backward: boolean; loss: boolean } {
  for (const [prefix, backward] of [
    ['grad/', true],
    ['fwd/', false],
  ] as const) {
    if (!node.startsWith(prefix)) continue;
    const rest = node.slice(prefix.length);
    for (let cut = rest.lastIndexOf('/'); cut > 0; cut = rest.lastIndexOf('/', cut - 1)) {
      if (forwardNames.has(rest.slice(0, cut))) return { forward: rest.slice(0, cut), backward, loss: false };
    }
  }
  if (forwardNames.has(node)) return { forward: node, backward: false, loss: false };
  return { backward: false, loss: node.startsWith('loss/') };
}

interface OpKindProfile {
  rows: OpKindRow[];
  lossMs: number;
  /** Kernel time of nodes onnxruntime made (layout changes, fused nodes under new names), by op. */
  unattributed: Map<string, number>;
  runs: number;
}

/** Kernel times per op kind of the model's training graph (mean over the profiled runs after one warm-up). */
async function profileByOpKind(m: BenchModel, model: Model): Promise<OpKindProfile> {
  const graph = buildTrainingGraph(model, {
    loss: classificationDistillationLoss({ alpha: 0, labelSmoothing: LABEL_SMOOTHING }),
    mode: { batchNorm: 'train' },
  });
  const batch = syntheticBatch(m);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of graph.params)
    feeds[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims);
  for (const [name, s] of graph.state)
    feeds[name] = new ort.Tensor('float32', s.initial.data as Float32Array, s.initial.dims);
  feeds[model.graph.realInputs()[0].name] = new ort.Tensor('float32', batch.input, [
    m.batch,
    ...m.sampleShape,
  ]);
  const labels = graph.lossInputs[0];
  feeds[labels] = new ort.Tensor(
    'int64',
    BigInt64Array.from(batch.labels, (l) => BigInt(l)),
    [m.batch],
  );

  const dir = mkdtempSync(join(tmpdir(), 'bnas-train-profile-'));
  try {
    const session = await createSession(
      serializeModel(graph.model),
      { intraOpThreads: threads, spinning: false },
      { label: `${m.title} training graph`, logSeverityLevel: 3, profileFilePrefix: join(dir, 'profile') },
    );
    try {
      for (let i = 0; i < 1 + m.profileRuns; i++) await session.run(feeds);
      await session.endProfiling();
    } finally {
      await session.release();
    }
    const events = readProfileEvents(dir);
    return attribute(events, model, m.profileRuns);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sums the kernel times of the runs after the first by op kind of the owning forward node. */
function attribute(events: ProfileEvent[], model: Model, runs: number): OpKindProfile {
  const opType = new Map(model.graph.nodes.map((n) => [n.name, n.opType]));
  const forwardNames = new Set(opType.keys());
  const starts = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run' && e.ts !== undefined)
    .map((e) => e.ts!)
    .sort((a, b) => a - b);
  if (starts.length !== runs + 1)
    throw new Error(`the profile holds ${starts.length} runs, ${runs + 1} were made`);
  const rows = new Map<string, OpKindRow>();
  const unattributed = new Map<string, number>();
  let lossMs = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || e.ts === undefined) continue;
    if (e.ts < starts[1]) continue; // the warm-up run
    const ms = (e.dur ?? 0) / 1000 / runs;
    const owner = ownerOf(e.name.slice(0, -'_kernel_time'.length), forwardNames);
    if (owner.forward !== undefined) {
      const kind = opType.get(owner.forward)!;
      const row = rows.get(kind) ?? {
        kind,
        forwardMs: 0,
        backwardMs: 0,
        forwardOps: new Map<string, number>(),
        backwardOps: new Map<string, number>(),
      };
      const op = e.args?.op_name ?? '?';
      const ops = owner.backward ? row.backwardOps : row.forwardOps;
      ops.set(op, (ops.get(op) ?? 0) + ms);
      if (owner.backward) row.backwardMs += ms;
      else row.forwardMs += ms;
      rows.set(kind, row);
    } else if (owner.loss) lossMs += ms;
    else {
      const op = e.args?.op_name ?? '?';
      unattributed.set(op, (unattributed.get(op) ?? 0) + ms);
    }
  }
  return {
    rows: [...rows.values()].sort((a, b) => b.forwardMs + b.backwardMs - (a.forwardMs + a.backwardMs)),
    lossMs,
    unattributed,
    runs,
  };
}

interface TorchStep {
  total: number;
  forward: number;
  backward: number;
  optimizer: number;
}

type TorchResult =
  | { samplesPerSecond: number; steps: TorchStep[]; version: string; threads: number; build: string }
  | { skipped: string };

/** PyTorch's step on the same network, in a child process. */
async function torchThroughput(m: BenchModel): Promise<TorchResult> {
  if (python === 'none') return { skipped: 'BNAS_BENCH_PYTHON=none' };
  if (!existsSync(python)) return { skipped: `${python} does not exist (set BNAS_BENCH_PYTHON)` };
  const args = [TORCH_SCRIPT, '--model', m.key, '--batch', String(m.batch)];
  args.push('--warmup', String(m.warmup), '--steps', String(m.steps), '--threads', String(threads));
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        err += d;
      });
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    },
  );
  if (code !== 0)
    return { skipped: `${python} ${TORCH_SCRIPT} failed (${code}): ${stderr.trim().slice(-500)}` };
  const parsed = JSON.parse(stdout.trim().split('\n').pop()!) as
    | { skipped: string }
    | { torch: string; threads: number; build: string; steps: TorchStep[] };
  if ('skipped' in parsed) return parsed;
  const total = parsed.steps.reduce((a, s) => a + s.total, 0);
  return {
    samplesPerSecond: (m.batch * parsed.steps.length) / total,
    steps: parsed.steps,
    version: parsed.torch,
    threads: parsed.threads,
    build: parsed.build,
  };
}

function printProfile(p: OpKindProfile): void {
  log(`  backward / forward kernel time per op kind (onnxruntime profiler, mean of ${p.runs} runs):`);
  log(
    `    ${'op kind'.padEnd(20)}${'forward ms'.padStart(12)}${'backward ms'.padStart(13)}${'bwd/fwd'.padStart(9)}`,
  );
  let forward = 0;
  let backward = 0;
  for (const r of p.rows) {
    forward += r.forwardMs;
    backward += r.backwardMs;
    const ratio = r.forwardMs > 0 ? (r.backwardMs / r.forwardMs).toFixed(2) : '-';
    log(
      `    ${r.kind.padEnd(20)}${r.forwardMs.toFixed(1).padStart(12)}${r.backwardMs.toFixed(1).padStart(13)}${ratio.padStart(9)}`,
    );
  }
  const top = (ops: Map<string, number>) =>
    [...ops]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([op, ms]) => `${op} ${ms.toFixed(1)}`)
      .join(', ');
  for (const r of p.rows.filter((x) => x.forwardMs + x.backwardMs > 0.05 * (forward + backward)))
    log(`    ${r.kind}: forward ${top(r.forwardOps)}; backward ${top(r.backwardOps)}`);
  log(
    `    ${'all'.padEnd(20)}${forward.toFixed(1).padStart(12)}${backward.toFixed(1).padStart(13)}${(backward / forward).toFixed(2).padStart(9)}`,
  );
  const other = [...p.unattributed].sort((a, b) => b[1] - a[1]);
  const otherMs = other.reduce((a, [, ms]) => a + ms, 0);
  log(
    `    loss ${p.lossMs.toFixed(1)} ms; nodes onnxruntime made ${otherMs.toFixed(1)} ms${other.length ? ` (${other.map(([op, ms]) => `${op} ${ms.toFixed(1)}`).join(', ')})` : ''}`,
  );
}

interface Row {
  m: BenchModel;
  bnas: Throughput;
  torch: TorchResult;
  optimizer: number;
}

async function main(): Promise<void> {
  const wanted = (process.env.BNAS_BENCH_MODELS ?? 'fixture,resnet50').split(',');
  const rows: Row[] = [];
  log(`bench:train: ${threads} intra-op threads, BN on batch statistics, SGD Nesterov, one synthetic batch`);
  for (const m of MODELS.filter((x) => wanted.includes(x.key))) {
    log(`\n${m.title}, batch ${m.batch}: ${m.warmup} warm-up + ${m.steps} timed steps`);
    let t = performance.now();
    const model = m.build();
    log(`  model ready in ${seconds(t).toFixed(1)} s`);
    const bnas = await bnasThroughput(m, model);
    log(
      `  bnas: training graph + session in ${bnas.setupSeconds.toFixed(1)} s; step median ${median(bnas.stepSeconds).toFixed(3)} s -> ${bnas.samplesPerSecond.toFixed(1)} samples/s`,
    );
    const optimizer = optimizerSeconds(model);
    log(`  of which the SGD update in TypeScript: ${(optimizer * 1000).toFixed(1)} ms per step`);
    t = performance.now();
    const profile = await profileByOpKind(m, model);
    printProfile(profile);
    log(`  (profiled in ${seconds(t).toFixed(1)} s)`);
    const torch = await torchThroughput(m);
    if ('skipped' in torch) log(`  PyTorch skipped: ${torch.skipped}`);
    else {
      const part = (k: keyof TorchStep) => median(torch.steps.map((s) => s[k])).toFixed(3);
      log(
        `  PyTorch ${torch.version} (${torch.threads} threads; ${torch.build}): step median ${part('total')} s (forward ${part('forward')}, backward ${part('backward')}, optimizer ${part('optimizer')}) -> ${torch.samplesPerSecond.toFixed(1)} samples/s`,
      );
    }
    rows.push({ m, bnas, torch, optimizer });
  }

  log('\nmodel                     batch  bnas samples/s  PyTorch samples/s  bnas/PyTorch');
  for (const { m, bnas, torch } of rows) {
    const theirs = 'skipped' in torch ? 'skipped' : torch.samplesPerSecond.toFixed(1);
    const ratio = 'skipped' in torch ? '-' : (bnas.samplesPerSecond / torch.samplesPerSecond).toFixed(2);
    log(
      `${m.title.padEnd(26)}${String(m.batch).padStart(5)}${bnas.samplesPerSecond.toFixed(1).padStart(16)}${theirs.padStart(19)}${ratio.padStart(14)}`,
    );
  }
  const ratios = rows.flatMap(({ bnas, torch }) =>
    'skipped' in torch ? [] : [bnas.samplesPerSecond / torch.samplesPerSecond],
  );
  if (ratios.length > 0)
    log(
      `target: bnas >= ${TARGET}x PyTorch on each -> ${ratios.every((r) => r >= TARGET) ? 'met' : 'NOT met'}`,
    );
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
