/**
 * The SUTs built into `bnas loadgen`: "null" (answers inside issueQuery) and
 * "fixed:<us>[,batch=<n>][,workers=<n>][,wait=<us>]" (each worker holds a batch for us × batch size).
 */

import { builtModule } from '../../common/paths.js';
import type { SystemUnderTest } from '../loadgen/types.js';
import { NullSut } from './null-sut.js';
import { PoolSut } from './pool-sut.js';
import type { FixedWorkerData } from './workers/fixed-worker.js';

export interface FixedSutSpec {
  kind: 'fixed';
  serviceUs: number;
  batch: number;
  workers: number;
  maxBatchWaitUs: number;
}

export type BuiltinSutSpec = { kind: 'null' } | FixedSutSpec;

export function parseSutSpec(text: string): BuiltinSutSpec {
  if (text === 'null') return { kind: 'null' };
  const match = /^fixed:([^,]+)((?:,[a-z]+=[^,]+)*)$/.exec(text);
  if (!match)
    throw new Error(`--sut "${text}": expected "null" or "fixed:<us>[,batch=<n>][,workers=<n>][,wait=<us>]"`);
  const serviceUs = Number(match[1]);
  if (!Number.isFinite(serviceUs) || serviceUs < 0)
    throw new Error(`--sut "${text}": service time "${match[1]}" is not a number of microseconds ≥ 0`);
  const spec: FixedSutSpec = { kind: 'fixed', serviceUs, batch: 1, workers: 1, maxBatchWaitUs: 0 };
  for (const option of match[2].split(',').filter(Boolean)) {
    const [key, raw] = option.split('=');
    const value = Number(raw);
    const fields: Record<string, 'batch' | 'workers' | 'maxBatchWaitUs'> = {
      batch: 'batch',
      workers: 'workers',
      wait: 'maxBatchWaitUs',
    };
    const field = fields[key];
    if (!field) throw new Error(`--sut "${text}": unknown option "${key}" (known: batch, workers, wait)`);
    const min = field === 'maxBatchWaitUs' ? 0 : 1;
    if (!Number.isInteger(value) || value < min)
      throw new Error(`--sut "${text}": ${key} must be an integer ≥ ${min}`);
    spec[field] = value;
  }
  return spec;
}

export function createBuiltinSut(spec: BuiltinSutSpec): SystemUnderTest {
  if (spec.kind === 'null') return new NullSut();
  const workerData: FixedWorkerData = { serviceUsPerSample: spec.serviceUs };
  return new PoolSut({
    name: `FixedTimeSUT(${spec.serviceUs}us,batch=${spec.batch},workers=${spec.workers})`,
    workerFile: builtModule('harness/sut/workers/fixed-worker.js'),
    workerData,
    workers: spec.workers,
    batchSize: spec.batch,
    maxBatchWaitUs: spec.maxBatchWaitUs,
  });
}
