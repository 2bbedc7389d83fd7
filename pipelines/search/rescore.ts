/**
 * The final recovery of a candidate (run.ts, step 5; recovery.ts): in closed form, extracted from
 * the reordered teacher and reconstructed with the final data plan (more images and positions than
 * during the GA, ReLU-aware refits); from a trained super-network, sliced and BN re-calibrated on
 * the final reconstruction images. Then scored on the proxy slice. Scores are kept in rescored.json, so a resumed
 * search re-scores nothing; the models are rebuilt on demand (they are deterministic).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import { predict, scorePredictions } from '../../nas/search/proxy.js';
import type { Candidate, Evaluation, SearchOptions } from '../../nas/search/types.js';
import type { LabelledSamples } from '../../nas/subnet/samples.js';
import type { Point } from '../../nas/supernet/types.js';
import type { Model } from '../../onnx/ir.js';
import type { Recovery } from './recovery.js';

export const RESCORED_FILE = 'rescored.json';

/** A candidate with its final closed-form proxy accuracy and agreement. */
export interface Rescored extends Candidate {
  point: Point;
  macs: number;
  agreement: number;
}

export interface RescoreInputs {
  options: SearchOptions;
  /** The final recovery (the final reconstruction plan, or the trained super-network's). */
  recovery: Recovery;
  proxy: LabelledSamples;
  teacherPredictions: Int32Array;
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
  private readonly path: string;

  constructor(private readonly inputs: RescoreInputs) {
    this.path = join(inputs.options.outDir, RESCORED_FILE);
    const saved = existsSync(this.path) ? (JSON.parse(readFileSync(this.path, 'utf8')) as Rescored[]) : [];
    this.cache = new Map(saved.map((r) => [r.key, r]));
  }

  get recoveryKind(): Recovery['kind'] {
    return this.inputs.recovery.kind;
  }

  /** The candidate as re-scored before (this session or an earlier one), if it was. */
  known(key: string): Rescored | undefined {
    return this.cache.get(key);
  }

  /** The recovered sub-network of `c` (built once per session). */
  async model(c: Rescored): Promise<Model> {
    const had = this.models.get(c.key);
    if (had) return had;
    const model = await this.inputs.recovery.recover(c.point);
    this.models.set(c.key, model);
    return model;
  }

  /** `c` with its final recovered proxy accuracy and agreement (kept in rescored.json). */
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
