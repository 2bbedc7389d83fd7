/**
 * The search's module borders: genomes and their objectives, the pick rules, and what a search
 * writes. nsga2.ts, picks.ts, pareto-svg.ts, evaluations-csv.ts and run.ts meet here.
 */
import type { Point } from '../supernet/types.js';

/** One integer per gene, 0 ≤ g[i] < geneOptions[i]; index 0 is always the original (largest) choice. */
export type Genome = number[];

/** Both objectives are maximized. */
export interface Objectives {
  /** Accuracy proxy: top-1 (%) on the held-out training slice. */
  accuracy: number;
  /** Throughput (samples/s) predicted from the latency table for the harness's SUT settings. */
  throughput: number;
}

/** An evaluated sub-network, as the CSV stores it. */
export interface Evaluation extends Objectives {
  /** Order of evaluation (0 = first). */
  index: number;
  /** NSGA-II generation that asked for it (0 = initial population; -1 = a seed outside the GA). */
  generation: number;
  genome: Genome;
  point: Point;
  macs: number;
  /** Top-1 agreement with the teacher on the proxy slice (%). */
  agreement: number;
  /** Seconds the evaluation took. */
  seconds: number;
}

/** The pick rules (nas.md §10.6; the defaults). Accuracy in points of top-1, throughput as a ratio. */
export interface PickRules {
  /** BNAS-A: the fastest with accuracy ≥ baseline − aDrop (default 1.0). */
  aDrop: number;
  /** BNAS-C: the fastest with accuracy ≥ baseline − cDrop (default 0.5). */
  cDrop: number;
  /** BNAS-B: the most accurate with throughput ≥ bSpeedup × baseline (default 1.3). */
  bSpeedup: number;
}

export const DEFAULT_PICK_RULES: PickRules = { aDrop: 1.0, cDrop: 0.5, bSpeedup: 1.3 };

export type PickName = 'bnas-a' | 'bnas-b' | 'bnas-c';

export interface Candidate extends Objectives {
  /** Any stable key (e.g. the canonical point's JSON). */
  key: string;
}

export interface Pick<C extends Candidate = Candidate> {
  name: PickName;
  /** The rule as a sentence, e.g. "fastest with accuracy ≥ 90.78 % (baseline − 1.0)". */
  rule: string;
  /** Null when no candidate meets the rule. */
  candidate: C | null;
  /** Set when the rule could not be met as written and a fallback was taken, or nothing was picked. */
  note?: string;
}

/**
 * What the search trains (issue 13): nothing, the closed-form recovery only ('none'); the picks,
 * each distilled from the teacher after the search ('picks'); the super-network's shared weights
 * before the search, then the picks ('supernet').
 */
export type TrainMode = 'none' | 'picks' | 'supernet';

/** How models run under the harness (Offline): the latency table and the final benchmarks use the same. */
export interface SearchSutSettings {
  workers: number;
  threadsPerWorker: number;
  batchSize: number;
}

export interface SearchOptions {
  /** The pre-trained FP32 ONNX classifier (the teacher / baseline). */
  modelPath: string;
  /** ImageNet-layout folder (val_map.txt + images) of TRAINING images: calibration and accuracy proxy. */
  trainData: string;
  /** ImageNet-layout folder of validation images: only the final accuracies of baseline and picks, once. */
  valData: string;
  /** Preprocessing preset (default: the model's metadata). */
  preprocess?: string;
  /** Output folder: bnas-a/b/c.onnx, evaluations.csv, pareto.svg, report.md, search.json. Resumes if it holds an unfinished search. */
  outDir: string;
  /** Wall-clock budget for the NSGA-II phase (minutes). */
  budgetMinutes: number;
  seed: number;
  population: number;
  generations: number;
  sut: SearchSutSettings;
  rules: PickRules;
  /** Default 'none'. With 'picks', `budgetMinutes` covers NSGA-II and the distillations. */
  train?: TrainMode;
  cacheRoot?: string;
  log: (line: string) => void;
  progress?: (label: string) => { update(done: number, total: number): void; stop(): void };
}

/** A model the search reports on: the baseline or a pick. */
export interface SearchModelResult {
  name: 'baseline' | PickName;
  /** The FP32 ONNX file (for picks: sliced, reconstructed, BN re-calibrated). */
  modelPath: string;
  point: Point | null;
  macs: number;
  params: number;
  /** Proxy top-1 (%) on the held-out training slice. */
  proxyAccuracy: number;
  /** Top-1 (%) on the validation set, measured once with the harness's accuracy mode. */
  valAccuracy: number;
  /** End-to-end Offline-style throughput measured with the search's SUT settings (samples/s). */
  throughput: number;
  /** For picks: the rule and any fallback note. */
  rule?: string;
  note?: string;
  /** For a pick that was distilled (--train picks): where it started and what training gave. */
  distillation?: PickDistillation;
}

/** A distilled pick: its closed-form starting point and the distillation. */
export interface PickDistillation {
  /** The distillation's folder (closed-form.onnx, start.onnx, finetune/, distilled.onnx). */
  dir: string;
  /** Proxy top-1 (%) of the closed-form sub-network and of the distilled one. */
  proxyBefore: number;
  proxyAfter: number;
  /** Validation top-1 (%) of the closed-form sub-network (the pick's valAccuracy is the distilled one's). */
  valBefore: number;
  steps: number;
  epochs: number;
  /** Training time (s). */
  trainingSeconds: number;
}

/** One distillation of `--train picks`, as the search report lists them. */
export interface DistilledCandidate {
  /** The candidate's row in evaluations.csv. */
  index: number;
  point: Point;
  throughput: number;
  macs: number;
  /** The floor it was distilled for (bnas-a, bnas-b, bnas-c) and the accuracy predicted then. */
  triedFor: string;
  predicted: number;
  proxyBefore: number;
  proxyAfter: number;
  steps: number;
  epochs: number;
  trainingSeconds: number;
  /** Wall time of the whole distillation: BN unfolding, data, training, re-folding, re-scoring (s). */
  seconds: number;
}

/** How --budget is shared between the super-network's training, NSGA-II and the distillations (pipelines/search/train-plan.ts). */
export interface TrainingSplit {
  mode: TrainMode;
  /** Super-network training minutes (0 unless --train supernet). */
  supernetMinutes: number;
  /** NSGA-II's minutes. */
  searchMinutes: number;
  /** Distillation minutes in all (0 without training). */
  trainingMinutes: number;
  /** Distillations planned and the training minutes of each. */
  slots: number;
  minutesEach: number;
}

/** What `--train picks` or `supernet` did: the budget's split, then the distillations. */
export interface PickTraining extends TrainingSplit {
  /** Training images used (the training folder less the proxy slice). */
  images: number;
  /** Share of its proxy deficit a candidate recovered, as measured (nas/search/distil-plan.ts). */
  recovery: number;
  distilled: DistilledCandidate[];
  /** Wall time of the training step, every session (s). */
  seconds: number;
}

/** What `--train supernet`'s progressive-shrinking training of the super-network did. */
export interface SupernetTrainingRecord {
  steps: number;
  plannedSteps: number;
  /** Steps of the depth phase (the rest open width too). */
  depthSteps: number;
  outcome: 'done' | 'budget' | 'interrupted';
  /** Training images (the training folder less the proxy slice) and batch size. */
  images: number;
  batch: number;
  /** Peak learning rate. */
  lr: number;
  /** Training time over every session (s). */
  seconds: number;
  /** The sampled sub-networks' losses at the first and the last step: largest, smallest, random ones. */
  firstLosses: number[];
  lastLosses: number[];
}

export interface SearchResult {
  outDir: string;
  baseline: SearchModelResult;
  /** A, B, C in that order; a pick with no model is left out. */
  picks: SearchModelResult[];
  evaluated: number;
  /** Set when the search trained (--train picks or supernet). */
  training?: PickTraining;
  /** Set with --train supernet. */
  supernet?: SupernetTrainingRecord;
}
