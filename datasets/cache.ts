/**
 * Preprocessed-sample caches: a folder with one .npy per image (the image's path with .npy for
 * its extension; float32 C×H×W) and manifest.json. ensurePreprocessed() names the folder after
 * what determines its content (dataset path, the SHA-256 of val_map.txt and of every image, the
 * resolved spec), so a changed image means another folder; it reuses a complete one, else builds
 * one in a partial folder of its own (build-folder.ts) and renames it into place, so concurrent
 * builds never touch each other's files and a complete folder never changes.
 * writePreprocessed() (write-preprocessed.ts) writes the same layout where the caller says.
 */
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { sha256Hex } from '../common/files.js';
import {
  claimFolder,
  createBuildFolder,
  isAbandoned,
  listPartials,
  newPartialPath,
  releaseFolder,
} from './build-folder.js';
import {
  type BuildTarget,
  type BuiltFolder,
  buildSamples,
  buildTarget,
  expectedNpySize,
  isCompleteNpy,
  type PreprocessProgress,
  seedsOf,
} from './build-samples.js';
import { readImageNetFolder } from './imagenet-layout.js';
import { type CacheManifest, canonicalJson, readManifest, sameSpec } from './manifest.js';
import { readNpyFloat32, readNpySync } from './npy.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';

export type { PreprocessProgress } from './build-samples.js';
export { type CacheManifest, MANIFEST, MANIFEST_VERSION, readManifest } from './manifest.js';
export { writePreprocessed } from './write-preprocessed.js';

export interface EnsureOptions {
  dataDir: string;
  spec: PreprocessSpec;
  /** Default: $BNAS_CACHE, else ~/.cache/bnas/preprocessed. */
  cacheRoot?: string;
  onProgress?: PreprocessProgress;
  /** Worker threads (default: one per core). */
  workers?: number;
}

export type CacheResult = BuiltFolder;

export function defaultCacheRoot(): string {
  const env = process.env.BNAS_CACHE;
  return env && env !== '' ? env : join(homedir(), '.cache', 'bnas', 'preprocessed');
}

/** Folder name prefix shared by every cache of one preset and sample shape. */
function shapePrefix(spec: PreprocessSpec): string {
  const [c, h, w] = sampleShape(spec);
  return `${spec.preset}-${c}x${h}x${w}-`;
}

/**
 * The cache folder name: preset and shape for people, a hash of everything for uniqueness.
 * `contentSha256` covers val_map.txt and every image's bytes (datasetContentSha256).
 */
export function cacheFolderName(datasetPath: string, contentSha256: string, spec: PreprocessSpec): string {
  const hash = sha256Hex(canonicalJson({ dataset: datasetPath, contentSha256, preset: spec.preset, spec }));
  return `${shapePrefix(spec)}${hash.slice(0, 24)}`;
}

/** The manifest of `dir` if it is a complete cache of exactly `target`. */
function intactManifest(dir: string, target: BuildTarget): CacheManifest | undefined {
  try {
    const manifest = readManifest(dir);
    const size = expectedNpySize(target.spec);
    const intact =
      manifest.dataset === target.dataset &&
      manifest.contentSha256 === target.contentSha256 &&
      sameSpec(manifest.spec, target.spec) &&
      manifest.files.every((f) => isCompleteNpy(join(dir, f), size));
    return intact ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/** Samples of identical images in the other complete caches of this preset and shape. */
function seedsIn(root: string, dir: string, spec: PreprocessSpec): Map<string, string> {
  const seeds = new Map<string, string>();
  const prefix = shapePrefix(spec);
  for (const name of readdirSync(root)) {
    if (name.startsWith(prefix) && !name.includes('.partial-') && name !== basename(dir))
      seedsOf(join(root, name), spec, seeds);
  }
  return seeds;
}

/** Removes `dir` if it is an empty folder; false if it is not (or is not there). */
function removeIfEmpty(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

type Claim = { reuse: CacheManifest } | { buildDir: string };

/**
 * A folder to build `dir` in: `dir` itself if it is there but incomplete (nothing can complete it
 * in place, and nobody reads a folder that is not complete), else an abandoned partial folder of
 * it, else a new one.
 */
function claimBuildFolder(dir: string, target: BuildTarget): Claim {
  const buildDir = newPartialPath(dir);
  if (existsSync(dir)) {
    const manifest = intactManifest(dir, target);
    if (manifest) return { reuse: manifest };
    // An empty folder could become complete (a rename may replace it): remove it, never claim it.
    if (removeIfEmpty(dir)) return claimBuildFolder(dir, target);
    if (claimFolder(dir, buildDir)) return { buildDir };
  }
  for (const partial of listPartials(dir)) {
    if (isAbandoned(partial) && claimFolder(partial.path, buildDir)) return { buildDir };
  }
  createBuildFolder(buildDir);
  return { buildDir };
}

/** Renames a complete build folder to `dir`; if another build got there first, uses theirs. */
function publish(buildDir: string, dir: string, target: BuildTarget, manifest: CacheManifest): CacheResult {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      renameSync(buildDir, dir);
      return { dir, manifest, reused: false };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
    const theirs = intactManifest(dir, target);
    if (theirs) {
      rmSync(buildDir, { recursive: true, force: true });
      return { dir, manifest: theirs, reused: false };
    }
    // A damaged folder is in the way (complete folders are never written to, so it stays damaged).
    const aside = newPartialPath(dir);
    if (claimFolder(dir, aside)) {
      releaseFolder(aside);
      rmSync(aside, { recursive: true, force: true });
    }
  }
  throw new Error(`${buildDir}: complete, but ${dir} stays in the way; move it and run again`);
}

/**
 * The preprocessed samples of the dataset in `dataDir`, computed only if no complete cache for
 * exactly this dataset content and spec exists under the cache root.
 */
export async function ensurePreprocessed(options: EnsureOptions): Promise<CacheResult> {
  const target = buildTarget(readImageNetFolder(options.dataDir), options.spec);
  const root = options.cacheRoot ?? defaultCacheRoot();
  const dir = join(root, cacheFolderName(target.dataset, target.contentSha256, options.spec));
  const found = intactManifest(dir, target);
  if (found) return { dir, manifest: found, reused: true };
  const claim = claimBuildFolder(dir, target);
  if ('reuse' in claim) return { dir, manifest: claim.reuse, reused: true };
  const { buildDir } = claim;
  let manifest: CacheManifest;
  try {
    manifest = await buildSamples(buildDir, target, {
      onProgress: options.onProgress,
      workers: options.workers,
      // Everything in a folder of this name was computed from this content.
      trustExisting: true,
      seeds: seedsIn(root, dir, options.spec),
    });
  } finally {
    releaseFolder(buildDir);
  }
  return publish(buildDir, dir, target, manifest);
}

/** One sample of a cache folder (`file` as listed in its manifest). */
export async function loadSample(cacheDir: string, file: string): Promise<Float32Array> {
  return (await readNpyFloat32(join(cacheDir, file))).data;
}

export function loadSampleSync(cacheDir: string, file: string): Float32Array {
  const array = readNpySync(join(cacheDir, file));
  if (array.dtype !== 'float32')
    throw new Error(`${join(cacheDir, file)}: dtype is ${array.dtype}, expected float32`);
  return array.data as Float32Array;
}
