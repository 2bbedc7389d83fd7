/**
 * npm run bench:ablation -- --train-modes [--out DIR] [--budget MIN] [--modes none,picks,supernet]
 *
 * The ablation's training columns, at equal wall time: the default `bnas optimize` of the embedded
 * fixture once per --train mode, each with the same --budget (the search's time: NSGA-II, and the
 * training the mode adds inside it; default: optimize's own default), then the table of
 * results/training-modes-table.ts.
 *
 * Each optimize runs as the user would run it (`bnas optimize --train <mode> --budget <MIN> --out
 * DIR/<mode>`, in a child process, its output shown). A mode whose folder already holds a finished
 * optimize (results.json) is read, not run again; an unfinished one is resumed. DIR defaults to
 * runs/ablation/train-modes/<host>-<time>.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { timestamp } from '../common/files.js';
import { describeMachine } from '../common/machine.js';
import { packageRoot } from '../common/paths.js';
import type { OptimizeReport } from '../results/optimize-report.js';
import { type TrainModeRun, trainingModesTable } from '../results/training-modes-table.js';

const MODES: TrainModeRun['mode'][] = ['none', 'picks', 'supernet'];

interface Args {
  out: string;
  /** undefined: bnas optimize's default --budget. */
  budget?: number;
  modes: TrainModeRun['mode'][];
}

function parseArgs(argv: string[]): Args {
  const root = packageRoot();
  const args: Args = {
    out: join(root, 'runs', 'ablation', 'train-modes', `${hostname()}-${timestamp()}`),
    modes: MODES,
  };
  for (let i = 0; i < argv.length; i++) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (key === '--train-modes') continue;
    if (value === undefined) throw new Error(`${key}: a value is missing`);
    if (key === '--out') args.out = value;
    else if (key === '--budget') {
      const budget = Number(value);
      if (!(budget > 0)) throw new Error(`--budget must be > 0 minutes, got ${value}`);
      args.budget = budget;
    } else if (key === '--modes') {
      const modes = value.split(',');
      for (const m of modes)
        if (!MODES.includes(m as TrainModeRun['mode']))
          throw new Error(`--modes: ${m} is not one of ${MODES.join(', ')}`);
      args.modes = modes as TrainModeRun['mode'][];
    } else throw new Error(`unknown option ${key} (expected --out, --budget, --modes)`);
    i++;
  }
  return args;
}

interface FinishedOptimize extends OptimizeReport {
  progress?: { seconds?: Record<string, number> };
}

/** The --budget an optimize folder was run with (its manifest). */
function budgetOf(dir: string): number {
  const manifest = JSON.parse(readFileSync(join(dir, 'optimize.json'), 'utf8')) as {
    settings: { budgetMinutes?: number };
  };
  const budget = manifest.settings.budgetMinutes;
  if (typeof budget !== 'number') throw new Error(`${join(dir, 'optimize.json')}: no settings.budgetMinutes`);
  return budget;
}

function readRun(mode: TrainModeRun['mode'], dir: string): TrainModeRun {
  const report = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as FinishedOptimize;
  const budgetMinutes = budgetOf(dir);
  const steps = Object.values(report.progress?.seconds ?? {});
  const seconds =
    steps.length > 0
      ? steps.reduce((a, b) => a + b, 0)
      : (Date.parse(report.finished) - Date.parse(report.started)) / 1000;
  return { mode, dir, report, seconds, budgetMinutes };
}

export async function trainModesAblation(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const root = packageRoot();
  mkdirSync(args.out, { recursive: true });
  const runs: TrainModeRun[] = [];
  for (const mode of args.modes) {
    const dir = join(args.out, mode);
    if (!existsSync(join(dir, 'results.json'))) {
      process.stderr.write(`\n=== bnas optimize --train ${mode} --budget ${args.budget} --out ${dir}\n`);
      const run = spawnSync(
        process.execPath,
        [
          join(root, 'bin', 'bnas.js'),
          'optimize',
          '--train',
          mode,
          '--budget',
          String(args.budget),
          '--out',
          dir,
        ],
        { stdio: 'inherit' },
      );
      if (run.status !== 0)
        throw new Error(`bnas optimize --train ${mode} failed (exit ${run.status}); run again to resume it`);
    } else process.stderr.write(`--train ${mode}: finished optimize in ${dir}, read\n`);
    runs.push(readRun(mode, dir));
  }
  const budgets = new Set(runs.map((r) => r.budgetMinutes));
  if (budgets.size > 1)
    process.stderr.write(
      `warning: the runs had different budgets (${[...budgets].join(', ')} min): not an equal-time comparison\n`,
    );
  const m = describeMachine();
  const text = [
    '## Ablation: training (`npm run bench:ablation -- --train-modes`)',
    '',
    `${new Date().toISOString()}; ${m.cpuModel}, ${m.logicalCpus} logical CPUs, ${m.os}; Node ${m.node}. Runs in ${args.out}.`,
    '',
    ...trainingModesTable(runs),
  ].join('\n');
  process.stdout.write(`${text}\n`);
  const path = join(args.out, 'ablation.md');
  writeFileSync(path, `${text}\n`);
  process.stderr.write(`written to ${path}\n`);
}
