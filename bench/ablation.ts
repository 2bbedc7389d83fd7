/**
 * npm run bench:ablation [-- <search folder>] — what each step of sub-network recovery gains
 * (nas.md §10.3–10.4), on the embedded Fashion-MNIST fixture:
 *
 *  1. plain extraction from the ORIGINAL channel order (what importance reordering buys);
 *  2. reordering only (extraction after the search's data-aware importance reordering);
 *  3. 2 + BatchNorm re-calibration on the reconstruction images (exact, depth by depth);
 *  4. 2 + bank reconstruction (teacher inputs truncated to the kept channels, one teacher pass);
 *  4b. 4 + BatchNorm re-calibration;
 *  5. 2 + sequential, residual-aware reconstruction (the search's method; BN is folded into it);
 *  5b. 5 with the search's ReLU-aware refits (DEFAULT_DATA_PLAN.finalReluRefits).
 *
 * Sub-networks: every elastic group at its second choice, every group at its smallest choice, full
 * widths with every skippable block skipped, the space's smallest point and, when a `bnas search` /
 * `bnas optimize` folder is given (argv[2]: <dir>/result.json or <dir>/search/result.json), its picks.
 *
 * Data as the search's final picks use it (DEFAULT_DATA_PLAN of pipelines/search/run.ts): reconstruction
 * and BN statistics from the FIRST `finalReconstruction` training images, `finalPositions` positions
 * per image and layer, seed 1; the accuracy proxy on the LAST `proxy` training images (disjoint);
 * plus top-1 on all 10,000 validation images.
 * The markdown report is printed and written to runs/ablation/<host>-<timestamp>.md.
 *
 * Options (env): BNAS_ABLATION_THREADS intra-op threads (default: cores).
 *
 * With --train-modes, the training ablation instead (ablation-train-modes.ts): the default optimize
 * with --train none, picks and supernet at equal budget, side by side.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { timestamp } from '../common/files.js';
import { describeMachine } from '../common/machine.js';
import { packageRoot } from '../common/paths.js';
import { readImageNetFolder } from '../datasets/imagenet-layout.js';
import { modelPreprocessSpec } from '../datasets/model-info.js';
import { predict, scorePredictions } from '../nas/search/proxy.js';
import type { SearchResult } from '../nas/search/types.js';
import { activationImportance } from '../nas/subnet/activation-importance.js';
import { recalibrateBatchNorm } from '../nas/subnet/bn-recalibrate.js';
import { applyReconstructionBank, buildReconstructionBank } from '../nas/subnet/reconstruct.js';
import { folderSamplesInMemory } from '../nas/subnet/samples.js';
import { reconstructSequentially, TeacherRows } from '../nas/subnet/sequential.js';
import { extractSubnetwork } from '../nas/supernet/extract.js';
import { canonicalPoint, parsePoint, predictMacs, smallestPoint } from '../nas/supernet/point.js';
import { reorderByImportance } from '../nas/supernet/reorder.js';
import { buildSearchSpace } from '../nas/supernet/space.js';
import type { Point, SearchSpace } from '../nas/supernet/types.js';
import { cloneModel } from '../onnx/clone.js';
import { loadModel } from '../onnx/io.js';
import type { Model } from '../onnx/ir.js';
import { DEFAULT_DATA_PLAN, type SearchDataPlan } from '../pipelines/search/run.js';
import { trainModesAblation } from './ablation-train-modes.js';

// The search's final-pick settings (pipelines/search/run.ts): reconstruction images and positions, proxy
// size, ReLU-aware refits; seed 1 is the search's default.
const PLAN = DEFAULT_DATA_PLAN;
const POSITIONS = PLAN.finalPositions;
const SEED = 1;

const STEPS = [
  { id: 'original', label: 'original order' },
  { id: 'reordered', label: 'reordered' },
  { id: 'bn', label: '+ BN re-cal.' },
  { id: 'bank', label: '+ bank recon.' },
  { id: 'bankBn', label: 'bank + BN re-cal.' },
  { id: 'sequential', label: '+ sequential recon.' },
  { id: 'sequentialRelu', label: `+ seq. + ${PLAN.finalReluRefits} ReLU refits` },
] as const;
type StepId = (typeof STEPS)[number]['id'];

interface Score {
  proxy: number;
  val: number;
}

interface Row {
  name: string;
  point: Point;
  macs: number;
  scores: Partial<Record<StepId, Score>>;
  /** Wall seconds of each step's own work (prediction excluded). */
  seconds: Partial<Record<StepId, number>>;
  layers: { bank: number; sequential: number; sequentialRelu: number };
  /** The search's own numbers for a pick (proxy and validation top-1) and its settings. */
  reported?: { proxy: number; val: number; proxyImages?: number; reluRefits: number };
}

/** TeacherRows that time their teacher passes, so reconstruction times can be shown without them. */
class TimedTeacherRows extends TeacherRows {
  ms = 0;
  override async ensure(wanted: Parameters<TeacherRows['ensure']>[0]): Promise<void> {
    const t0 = performance.now();
    await super.ensure(wanted);
    this.ms += performance.now() - t0;
  }
}

const progress = (s: string) => process.stderr.write(`${s}\n`);
const seconds = (t0: number) => (performance.now() - t0) / 1000;

/** The picks of a search (or optimize) folder, or nothing. */
function searchPicks(dir: string | undefined, space: SearchSpace): Row[] {
  if (!dir) return [];
  const path = [join(dir, 'result.json'), join(dir, 'search', 'result.json')].find((p) => existsSync(p));
  if (!path) throw new Error(`${dir}: no result.json (nor search/result.json); is the search finished?`);
  const result = JSON.parse(readFileSync(path, 'utf8')) as SearchResult;
  const manifestPath = join(dirname(path), 'search.json');
  const data = existsSync(manifestPath)
    ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as { data?: Partial<SearchDataPlan> }).data
    : undefined;
  // Picks of the same sub-network (e.g. A = C) are measured once, under both names.
  const byPoint = new Map<string, Row>();
  const rows = result.picks
    .filter((p) => p.point)
    .map((p) => {
      const point = canonicalPoint(space, parsePoint(space, p.point, `${path}: ${p.name}`));
      return {
        name: `${p.name} (search pick)`,
        point,
        macs: predictMacs(space, point),
        scores: {},
        seconds: {},
        layers: { bank: 0, sequential: 0, sequentialRelu: 0 },
        reported: {
          proxy: p.proxyAccuracy,
          val: p.valAccuracy,
          proxyImages: data?.proxy,
          reluRefits: data?.finalReluRefits ?? 0,
        },
      };
    });
  for (const row of rows) {
    const key = JSON.stringify(row.point);
    const seen = byPoint.get(key);
    if (seen) seen.name = seen.name.replace(' (search pick)', ` = ${row.name}`);
    else byPoint.set(key, row);
  }
  return [...byPoint.values()];
}

function fixedPoints(space: SearchSpace): Row[] {
  const elastic = space.groups.filter((g) => g.elastic);
  const allSkippable = space.chains.flatMap((c) => c.blocks.slice(c.blocks.length - c.max_skip));
  const points: [string, Point][] = [
    [
      'a) every group at its 2nd choice',
      { widths: Object.fromEntries(elastic.map((g) => [g.id, g.choices[1]])), skip: [] },
    ],
    [
      'b) every group at its smallest choice',
      { widths: Object.fromEntries(elastic.map((g) => [g.id, g.choices[g.choices.length - 1]])), skip: [] },
    ],
    ['c) full widths, skippable blocks skipped', { widths: {}, skip: allSkippable }],
    ['d) smallest point', smallestPoint(space)],
  ];
  return points.map(([name, p]) => {
    const point = canonicalPoint(space, p);
    return {
      name,
      point,
      macs: predictMacs(space, point),
      scores: {},
      seconds: {},
      layers: { bank: 0, sequential: 0, sequentialRelu: 0 },
    };
  });
}

/** Writes `text` to a fresh file in `dir` (never overwriting: -2, -3, ... when the name is taken). */
function writeFresh(dir: string, base: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  for (let i = 1; ; i++) {
    const path = join(dir, i === 1 ? `${base}.md` : `${base}-${i}.md`);
    try {
      writeFileSync(path, text, { flag: 'wx' });
      return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

const pct = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(2));
const sec = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(1));

function accuracyTable(teacher: Row, rows: Row[], which: keyof Score, title: string): string[] {
  const line = (name: string, macs: number | undefined, cells: string[]) =>
    `| ${name} | ${macs === undefined ? '' : `${(macs / 1e6).toFixed(2)} M`} | ${macs === undefined ? '' : (macs / teacher.macs).toFixed(3)} | ${cells.join(' | ')} |`;
  const reference = teacher.scores.original![which];
  const out = [
    `### ${title}`,
    '',
    `| sub-network | MACs | MACs ratio | ${STEPS.map((s) => s.label).join(' | ')} |`,
    `|---|--:|--:|${STEPS.map(() => '--:').join('|')}|`,
    line(
      teacher.name,
      teacher.macs,
      STEPS.map((_, i) => (i === 0 ? pct(reference) : '')),
    ),
    ...rows.map((r) =>
      line(
        r.name,
        r.macs,
        STEPS.map((s) => pct(r.scores[s.id]?.[which])),
      ),
    ),
  ];
  // Means over the fixed sub-networks only (search picks differ from run to run).
  const fixed = rows.filter((r) => !r.reported);
  const mean = STEPS.map(
    (s) => fixed.reduce((a, r) => a + (r.scores[s.id]?.[which] ?? Number.NaN), 0) / fixed.length,
  );
  out.push(line(`mean of ${fixed.length} fixed sub-networks`, undefined, mean.map(pct)));
  out.push(
    line(
      'mean drop vs teacher',
      undefined,
      mean.map((m) => (m - reference).toFixed(2)),
    ),
  );
  return out;
}

async function main(): Promise<void> {
  const started = performance.now();
  const root = packageRoot();
  const modelPath = join(root, 'models', 'fixture', 'fmnist_resnet.onnx');
  const trainDir = join(root, 'datasets', 'fixtures', 'fashion-mnist', 'train');
  const valDir = join(root, 'datasets', 'fixtures', 'fashion-mnist', 'val');
  const searchDir = process.argv[2];
  const threads = Number(process.env.BNAS_ABLATION_THREADS ?? availableParallelism());

  // Super-network and teacher.
  const source = loadModel(modelPath);
  const space = buildSearchSpace(source);
  const teacherMacs = predictMacs(space, canonicalPoint(space, { widths: {}, skip: [] }));
  const rows = [...fixedPoints(space), ...searchPicks(searchDir, space)];

  // Data: reconstruction images first, proxy images last (disjoint), all validation images.
  let t0 = performance.now();
  const spec = await modelPreprocessSpec(modelPath);
  const trainCount = readImageNetFolder(trainDir, { checkFiles: false }).samples.length;
  const proxyCount = Math.min(PLAN.proxy, Math.floor(trainCount / 3));
  const reconCount = Math.min(PLAN.finalReconstruction, trainCount - proxyCount);
  const recon = await folderSamplesInMemory(trainDir, modelPath, { offset: 0, count: reconCount, spec });
  const proxy = await folderSamplesInMemory(trainDir, modelPath, {
    offset: trainCount - proxyCount,
    count: proxyCount,
    spec,
  });
  const val = await folderSamplesInMemory(valDir, modelPath, { offset: 0, spec });
  const loadSeconds = seconds(t0);
  // Reordered as the search does it: data-aware importance on the first reconstruction images.
  const importance = await activationImportance(
    source,
    space,
    { ...recon, count: PLAN.searchReconstruction },
    {
      threads,
    },
  );
  const teacher = reorderByImportance(source, space, { importance }).model;
  progress(
    `data: ${recon.count} reconstruction + ${proxy.count} proxy training images (of ${trainCount}), ${val.count} validation images, preprocessed in ${loadSeconds.toFixed(1)} s`,
  );

  const score = async (model: Model): Promise<Score> => ({
    proxy: scorePredictions(await predict(model, proxy, { threads }), proxy.labels).accuracy,
    val: scorePredictions(await predict(model, val, { threads }), val.labels).accuracy,
  });
  const teacherScore = await score(source);
  const reorderedVal = await predict(teacher, val, { threads });
  const sourceVal = await predict(source, val, { threads });
  const reorderAgreement = scorePredictions(reorderedVal, sourceVal).accuracy;
  progress(
    `teacher: proxy ${pct(teacherScore.proxy)} %, validation ${pct(teacherScore.val)} %; reordered teacher agrees on ${pct(reorderAgreement)} % of validation images`,
  );

  // Shared reconstruction state: the bank (one teacher pass) and the sequential method's teacher rows.
  t0 = performance.now();
  const bank = await buildReconstructionBank(teacher, space, recon, {
    positionsPerImage: POSITIONS,
    seed: SEED,
    batchSize: 64,
    threads,
  });
  const bankSeconds = seconds(t0);
  progress(
    `bank: ${bank.layers.size} layers' normal equations from ${recon.count} images in ${bankSeconds.toFixed(1)} s`,
  );
  const teacherRows = new TimedTeacherRows(teacher, recon, {
    positionsPerImage: POSITIONS,
    seed: SEED,
    batchSize: 64,
    threads,
  });

  const total = rows.length * STEPS.length;
  let done = 0;
  for (const row of rows) {
    const step = async (
      id: StepId,
      build: () => Promise<{ model: Model; layers?: number; excludeSeconds?: number }>,
    ) => {
      const t = performance.now();
      const { model, layers, excludeSeconds } = await build();
      row.seconds[id] = seconds(t) - (excludeSeconds ?? 0);
      row.scores[id] = await score(model);
      const s = row.scores[id]!;
      progress(
        `[${++done}/${total}] ${row.name} · ${STEPS.find((x) => x.id === id)!.label}: proxy ${pct(s.proxy)} %, validation ${pct(s.val)} %${layers !== undefined ? `, ${layers} layers re-fitted` : ''} (${sec(row.seconds[id])} s)`,
      );
      return model;
    };
    await step('original', async () => ({ model: extractSubnetwork(source, space, row.point) }));
    const sub = await step('reordered', async () => ({
      model: extractSubnetwork(teacher, space, row.point),
    }));
    await step('bn', async () => ({ model: (await recalibrateBatchNorm(sub, recon, { threads })).model }));
    const banked = await step('bank', async () => {
      const model = cloneModel(sub);
      const report = applyReconstructionBank(model, space, row.point, bank);
      row.layers.bank = report.layers.length;
      return { model, layers: report.layers.length };
    });
    await step('bankBn', async () => ({
      model: (await recalibrateBatchNorm(banked, recon, { threads })).model,
    }));
    for (const [id, reluRefits] of [
      ['sequential', 0],
      ['sequentialRelu', PLAN.finalReluRefits],
    ] as const) {
      await step(id, async () => {
        const before = teacherRows.ms;
        const { model, layers } = await reconstructSequentially(teacher, sub, space, row.point, teacherRows, {
          threads,
          reluRefits,
        });
        const teacherMs = teacherRows.ms - before;
        if (teacherMs >= 50)
          progress(
            `  sequential: ${(teacherMs / 1000).toFixed(1)} s of teacher passes (rows not cached yet)`,
          );
        row.layers[id] = layers.length;
        return { model, layers: layers.length, excludeSeconds: teacherMs / 1000 };
      });
    }
  }

  // Report.
  const m = describeMachine();
  const totalSeconds = seconds(started);
  const teacherRow: Row = {
    name: 'teacher (full network)',
    point: canonicalPoint(space, { widths: {}, skip: [] }),
    macs: teacherMacs,
    scores: { original: teacherScore },
    seconds: {},
    layers: { bank: 0, sequential: 0, sequentialRelu: 0 },
  };
  const lines = [
    `# Sub-network recovery ablation — ${m.hostname}`,
    '',
    `${new Date().toISOString()}; ${m.cpuModel}, ${m.logicalCpus} logical CPUs, ${m.os}; Node ${m.node}; ${threads} intra-op thread(s).`,
    '',
    `Model: models/fixture/fmnist_resnet.onnx (${(teacherMacs / 1e6).toFixed(2)} M MACs). Space: ${space.groups.filter((g) => g.elastic).length} elastic channel groups, ${space.skippable_blocks.length} skippable blocks.`,
    `Data: BN statistics and reconstruction from training images 0–${recon.count - 1}; proxy = the last ${proxy.count} of the ${trainCount} training images (disjoint); validation = all ${val.count} images. Reconstruction: ${POSITIONS} positions per image and layer, seed ${SEED}, λ = 1e-3 (the search's final-pick settings).`,
    '',
    `Steps: **original order** = extraction from the unreordered model; **reordered** = extraction after data-aware importance reordering (as the search does it); **+ BN re-cal.** = reordered + exact BatchNorm statistics, measured depth by depth (each BN after the BNs before it are re-calibrated); **+ bank recon.** = reordered + least-squares re-fit of every layer after a narrowed group from the teacher's (truncated) inputs; **bank + BN re-cal.** = that + BN re-calibration; **+ sequential recon.** = reordered + the search's sequential, residual-aware re-fit on the sub-network's own inputs (BN folded in); **+ seq. + ${PLAN.finalReluRefits} ReLU refits** = that with ${PLAN.finalReluRefits} ReLU-aware refits per layer (the search's current default). The teacher row gives the full network's top-1 (first column).`,
    '',
    ...accuracyTable(teacherRow, rows, 'val', `Top-1 (%) on all ${val.count} validation images`),
    '',
    ...accuracyTable(
      teacherRow,
      rows,
      'proxy',
      `Top-1 (%) on the held-out training proxy (${proxy.count} images)`,
    ),
    '',
  ];
  const picks = rows.filter((r) => r.reported);
  if (picks.length > 0) {
    const same = (r: Row) => (r.reported!.reluRefits > 0 ? r.scores.sequentialRelu : r.scores.sequential);
    lines.push(
      "### Search picks: the search's own numbers vs. this run's sequential reconstruction with the search's refits",
      '',
      '| pick | ReLU refits | search proxy (images) | here proxy | search validation | here validation |',
      '|---|--:|--:|--:|--:|--:|',
      ...picks.map(
        (r) =>
          `| ${r.name} | ${r.reported!.reluRefits} | ${pct(r.reported!.proxy)} (${r.reported!.proxyImages ?? '?'}) | ${pct(same(r)?.proxy)} | ${pct(r.reported!.val)} | ${pct(same(r)?.val)} |`,
      ),
      '',
    );
  }
  lines.push(
    "### Wall time (s) of each sub-network's recovery step (predictions excluded)",
    '',
    '| sub-network | BN re-cal. | bank apply (layers) | bank + BN re-cal. | sequential (layers) | seq. + ReLU refits |',
    '|---|--:|--:|--:|--:|--:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${sec(r.seconds.bn)} | ${sec(r.seconds.bank)} (${r.layers.bank}) | ${sec(r.seconds.bankBn)} | ${sec(r.seconds.sequential)} (${r.layers.sequential}) | ${sec(r.seconds.sequentialRelu)} |`,
    ),
    '',
    `Shared, once per run: bank build (teacher pass, normal equations of ${bank.layers.size} layers) ${bankSeconds.toFixed(1)} s; teacher rows of the sequential method ${(teacherRows.ms / 1000).toFixed(1)} s in total (excluded from the per-sub-network times above); preprocessing ${loadSeconds.toFixed(1)} s. Reordered teacher vs. original on validation: ${pct(reorderAgreement)} % agreement.`,
    '',
    `Total runtime ${(totalSeconds / 60).toFixed(1)} min.`,
    '',
  );
  const text = lines.join('\n');
  process.stdout.write(text);
  const path = writeFresh(join(root, 'runs', 'ablation'), `${hostname()}-${timestamp()}`, text);
  progress(`written to ${path}`);
}

(process.argv.includes('--train-modes') ? trainModesAblation(process.argv.slice(2)) : main()).catch(
  (error: unknown) => {
    process.stderr.write(
      `bench:ablation: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
