/**
 * writePreprocessed(): the samples of a dataset written into a folder the caller names (bnas
 * data preprocess --out). The folder is built as "<out>.partial-…" (build-folder.ts) and renamed
 * to <out> when complete, so an interrupted run leaves a folder marked partial; the next run with
 * the same dataset and options resumes it, keeping every sample whose image is unchanged, and a
 * run with other options refuses it, saying why. <out> is checked, and the partial folder
 * created, before any image is read.
 */
import { realpathSync, renameSync } from 'node:fs';
import { checkNewOrEmptyFolder } from '../common/run-folder.js';
import {
  claimFolder,
  createBuildFolder,
  describeOwner,
  isAbandoned,
  listPartials,
  newPartialPath,
  type PartialFolder,
  releaseFolder,
} from './build-folder.js';
import { type BuiltFolder, buildSamples, buildTarget, type PreprocessProgress } from './build-samples.js';
import { readImageNetFolder } from './imagenet-layout.js';
import { type CacheManifest, readSampleSources, sameSpec } from './manifest.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';

export interface WriteOptions {
  dataDir: string;
  spec: PreprocessSpec;
  outDir: string;
  onProgress?: PreprocessProgress;
  workers?: number;
  /** The folder being written (renamed to outDir when complete), and the one resumed, if any. */
  onStart?: (start: { buildDir: string; resumed?: string }) => void;
  /** How many samples a resumed folder keeps, before any is computed. */
  onPlan?: (plan: { kept: number; total: number }) => void;
  /** Called with the complete folder just before it is renamed to outDir (to add files to it). */
  beforePublish?: (buildDir: string, manifest: CacheManifest) => void;
}

function describeRecord(dir: string): string {
  const record = readSampleSources(dir);
  if (!record) return 'an interrupted preprocess';
  return `an interrupted preprocess of ${record.dataset} (${record.spec.preset}, ${sampleShape(record.spec).join('×')})`;
}

/**
 * The abandoned partial folder to resume, if any; throws if another process is writing outDir,
 * or if the only partial folders were started with another dataset or spec.
 */
function partialToResume(outDir: string, dataset: string, spec: PreprocessSpec): PartialFolder | undefined {
  const partials = listPartials(outDir);
  const busy = partials.find((p) => !isAbandoned(p));
  if (busy) {
    throw new Error(
      `${outDir} is being written by ${describeOwner(busy)} (into ${busy.path}); wait for it to finish, or choose another --out (if that process is gone, delete ${busy.path})`,
    );
  }
  const mismatched: PartialFolder[] = [];
  for (const p of partials) {
    const record = readSampleSources(p.path);
    if (!record || (record.dataset === dataset && sameSpec(record.spec, spec))) return p;
    mismatched.push(p);
  }
  if (mismatched.length > 0) {
    const p = mismatched[0];
    throw new Error(
      `${p.path} holds ${describeRecord(p.path)}, which these options would not continue: run the command that started it again to resume it, or delete ${p.path} to start over`,
    );
  }
  return undefined;
}

function createOrFail(buildDir: string, outDir: string): void {
  try {
    createBuildFolder(buildDir);
  } catch (error) {
    throw new Error(
      `--out ${outDir}: cannot create ${buildDir} (${(error as Error).message}); --out must be a new folder in a writable place`,
    );
  }
}

/** Writes the preprocessed samples and manifest.json into outDir, which must be new or empty. */
export async function writePreprocessed(options: WriteOptions): Promise<BuiltFolder> {
  const { outDir, spec } = options;
  // An empty outDir is replaced by the finished folder; anything else is refused.
  checkNewOrEmptyFolder(outDir);
  // The list and a stat of each image (quick); the images are read (hashed) once the folder is ours.
  const folder = readImageNetFolder(options.dataDir);
  const resume = partialToResume(outDir, realpathSync(folder.dir), spec);
  const buildDir = newPartialPath(outDir);
  const resumed = resume !== undefined && claimFolder(resume.path, buildDir);
  // Another run took the folder first: it is now being written, and the check below says by whom.
  if (resume && !resumed) partialToResume(outDir, realpathSync(folder.dir), spec);
  if (!resumed) createOrFail(buildDir, outDir);
  options.onStart?.({ buildDir, resumed: resumed ? resume.path : undefined });
  let manifest: CacheManifest;
  try {
    const target = buildTarget(folder, spec);
    manifest = await buildSamples(buildDir, target, {
      onProgress: options.onProgress,
      workers: options.workers,
      onPlan: options.onPlan,
    });
    options.beforePublish?.(buildDir, manifest);
  } finally {
    releaseFolder(buildDir);
  }
  try {
    renameSync(buildDir, outDir);
  } catch (error) {
    throw new Error(
      `the samples are complete in ${buildDir}, but it could not be renamed to ${outDir} (${(error as Error).message}): move it there yourself`,
    );
  }
  return { dir: outDir, manifest, reused: false };
}
