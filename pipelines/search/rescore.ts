/**
 * The final closed-form recovery of a candidate (run.ts, step 5): extracted from the reordered
 * teacher, reconstructed with the final data plan (more images and positions than during the GA,
 * ReLU-aware refits) and scored on the proxy slice. Scores are kept in rescored.json, so a resumed
 * search re-scores nothing; the models are rebuilt on demand (they are deterministic).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import { predict, scorePredictions } from '../../nas/search/proxy.js';
import type { Candidate, Evaluation, SearchOptions } from '../../nas/search/types.js';
import type { LabelledSamples } from '../../nas/subnet/samples.js';
import { reconstructSequentially, TeacherRows } from '../../nas/subnet/sequential.js';
import { extractSubnetwork } from '../../nas/supernet/extract.js';
import type { Point, SearchSpace } from '../../nas/supernet/types.js';
import type { Model } from '../../onnx/ir.js';

export const RESCORED_FILE = 'rescored.json';

/** A candidate with its final closed-form proxy accuracy and agreement. */
export interface Rescored extends Candidate {
  point: Point;
  macs: number;
  agreement: number;
}

export interface RescoreInputs {
  options: SearchOptions;
  /** The importance-reordered teacher. */
  teacher: Model;
  space: SearchSpace;
  recon: LabelledSamples;
  proxy: LabelledSamples;
  teacherPredictions: Int32Array;
  positionsPerImage: number;
  reluRefits: number;
}

/** A candidate of the GA as the rescoring takes it. */
export function asCandidate(e: Evaluation): Rescored {
  return {
    key: JSON.stringify(e.point),
    point: e.point,
    accuracy: e.accuracy,
    throughput: e.throughput,
    macs: e.macs,
    agreement: e.agreement,
  };
}

export class Rescorer {
  private readonly cache: Map<string, Rescored>;
  private readonly models = new Map<string, Model>();
  private readonly rows: TeacherRows;
  private readonly path: string;

  constructor(private readonly inputs: RescoreInputs) {
    this.path = join(inputs.options.outDir, RESCORED_FILE);
    const saved = existsSync(this.path) ? (JSON.parse(readFileSync(this.path, 'utf8')) as Rescored[]) : [];
    this.cache = new Map(saved.map((r) => [r.key, r]));
    this.rows = new TeacherRows(inputs.teacher, inputs.recon, {
      positionsPerImage: inputs.positionsPerImage,
      seed: inputs.options.seed,
      batchSize: 64,
      threads: inputs.options.sut.threadsPerWorker,
    });
  }

  /** The candidate as re-scored before (this session or an earlier one), if it was. */
  known(key: string): Rescored | undefined {
    return this.cache.get(key);
  }

  /** The closed-form sub-network of `c` (reconstructed once per session). */
  async model(c: Rescored): Promise<Model> {
    const had = this.models.get(c.key);
    if (had) return had;
    const { teacher, space, options } = this.inputs;
    const sub = extractSubnetwork(teacher, space, c.point);
    const { model } = await reconstructSequentially(teacher, sub, space, c.point, this.rows, {
      threads: options.sut.threadsPerWorker,
      reluRefits: this.inputs.reluRefits,
    });
    this.models.set(c.key, model);
    return model;
  }

  /** `c` with its final closed-form proxy accuracy and agreement (kept in rescored.json). */
  async rescore(c: Rescored): Promise<Rescored> {
    const had = this.cache.get(c.key);
    if (had) return had;
    const { proxy, teacherPredictions } = this.inputs;
    const model = await this.model(c);
    const score = scorePredictions(await predict(model, proxy), proxy.labels, teacherPredictions);
    const r = { ...c, accuracy: score.accuracy, agreement: score.agreement };
    this.cache.set(c.key, r);
    writeFileAtomic(this.path, `${JSON.stringify([...this.cache.values()], null, 2)}\n`);
    return r;
  }
}
