/**
 * The state of an optimize folder: optimize.json (the model and the settings it must be resumed
 * with) and progress.json (what is measured so far, and the time each step has taken over every
 * session). results.json, written last, marks a finished optimize.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import type { AccuracyResult, BenchmarkResult } from '../benchmark.js';

export const OPTIMIZE_FORMAT = 'bnas.optimize/1';

export interface Manifest {
  format: string;
  model: string;
  modelSha256: string;
  settings: Record<string, unknown>;
  started: string;
}

/** The steps whose time is recorded (the time plan's names). */
export type OptimizeStep = 'search' | 'INT8' | 'INT8 accuracy' | 'benchmarks';

export interface Progress {
  /** Validation top-1 of the INT8 models, by model name. */
  accuracy: Record<string, AccuracyResult>;
  /** Benchmarks by "<name> <precision>". */
  benchmarks: Record<string, BenchmarkResult>;
  /** Time spent in each step by every session so far, s. */
  seconds: Partial<Record<OptimizeStep, number>>;
}

/**
 * Makes the output folder, or accepts an existing one that holds an unfinished optimize of the
 * same model with the same settings (or is empty). Returns the manifest and whether it resumes.
 */
export function prepareOutDir(dir: string, fresh: Manifest): { manifest: Manifest; resumed: boolean } {
  const manifestPath = join(dir, 'optimize.json');
  const refuse = (why: string) =>
    new Error(`${dir} ${why}; bnas never overwrites results: choose another --out`);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw refuse('exists and is not a folder');
    if (existsSync(manifestPath)) {
      const old = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
      if (old.format !== OPTIMIZE_FORMAT) throw refuse(`holds an optimize of another format (${old.format})`);
      if (old.modelSha256 !== fresh.modelSha256) {
        throw refuse(
          `holds an optimize of another model: ${old.model} (sha256 ${old.modelSha256.slice(0, 12)}…), not ${fresh.model} (sha256 ${fresh.modelSha256.slice(0, 12)}…)`,
        );
      }
      if (existsSync(join(dir, 'results.json'))) throw refuse('holds a finished optimize (results.json)');
      // Both sides' keys: a setting written only when used (--train) differs when either side has it.
      const keys = new Set([...Object.keys(fresh.settings), ...Object.keys(old.settings)]);
      const changed = [...keys].filter(
        (k) => JSON.stringify(old.settings[k]) !== JSON.stringify(fresh.settings[k]),
      );
      if (changed.length > 0) {
        throw refuse(
          `holds an unfinished optimize with other settings (${changed.map((k) => `${k}: ${JSON.stringify(old.settings[k])} there, ${JSON.stringify(fresh.settings[k])} now`).join('; ')}); resume it with the same options`,
        );
      }
      return { manifest: old, resumed: true };
    }
    if (readdirSync(dir).length > 0) throw refuse('exists and holds no bnas optimize (no optimize.json)');
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(manifestPath, `${JSON.stringify(fresh, null, 2)}\n`);
  return { manifest: fresh, resumed: false };
}

export function readProgress(dir: string): Progress {
  const path = join(dir, 'progress.json');
  if (!existsSync(path)) return { accuracy: {}, benchmarks: {}, seconds: {} };
  const p = JSON.parse(readFileSync(path, 'utf8')) as Partial<Progress>;
  return { accuracy: p.accuracy ?? {}, benchmarks: p.benchmarks ?? {}, seconds: p.seconds ?? {} };
}

export function writeProgress(dir: string, progress: Progress): void {
  writeFileAtomic(join(dir, 'progress.json'), `${JSON.stringify(progress, null, 2)}\n`);
}

/** Adds the time since `since` (performance.now()) to the step's total and writes progress.json. */
export function recordStepTime(dir: string, progress: Progress, step: OptimizeStep, since: number): void {
  progress.seconds[step] = (progress.seconds[step] ?? 0) + (performance.now() - since) / 1000;
  writeProgress(dir, progress);
}
