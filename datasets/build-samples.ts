/**
 * Fills a build folder (one this process holds, see build-folder.ts) with the samples of a
 * dataset: keeps the samples already there whose image is unchanged, links samples of identical
 * images from complete folders, computes the rest, then writes manifest.json.
 *
 * A sample is kept only when the folder's record says it was computed from an image with the
 * SHA-256 the image has now (or the caller vouches for the whole folder: a cache folder's name
 * is its content's hash). Samples that are not kept are deleted before the new record is
 * written, so at any moment every sample in the folder matches what its record says.
 */
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { isAtomicWriteLeftover, writeFileAtomicAsync } from '../common/files.js';
import { bnasVersion } from '../common/versions.js';
import { datasetContentSha256, hashImages } from './fingerprint.js';
import { type ImageNetFolder, withExtension } from './imagenet-layout.js';
import {
  BUILD_RECORD,
  type BuildRecord,
  type CacheManifest,
  MANIFEST,
  MANIFEST_VERSION,
  readSampleSources,
  sameSpec,
} from './manifest.js';
import { npyHeader } from './npy.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';
import { type PreprocessJob, runPreprocessJobs } from './run-jobs.js';

export type PreprocessProgress = (done: number, total: number) => void;

/** What the samples are to be computed from. */
export interface BuildTarget {
  folder: ImageNetFolder;
  /** Real path of folder.dir. */
  dataset: string;
  /** SHA-256 of each image, in val_map.txt order. */
  imageSha256: string[];
  contentSha256: string;
  spec: PreprocessSpec;
}

/** A complete folder of samples. */
export interface BuiltFolder {
  dir: string;
  manifest: CacheManifest;
  /** True when a complete cache was found and nothing was computed. */
  reused: boolean;
}

/** The dataset as it is now: its list, every image's hash (read here), and the spec. */
export function buildTarget(folder: ImageNetFolder, spec: PreprocessSpec): BuildTarget {
  const imageSha256 = hashImages(folder);
  return {
    folder,
    dataset: realpathSync(folder.dir),
    imageSha256,
    contentSha256: datasetContentSha256(folder.valMapSha256, imageSha256),
    spec,
  };
}

export interface BuildOptions {
  onProgress?: PreprocessProgress;
  /** Worker threads (default: one per core). */
  workers?: number;
  /** Keep every complete sample already in the folder (its name vouches for its content). */
  trustExisting?: boolean;
  /** Samples of complete folders by the SHA-256 of their image (same spec and bnas version). */
  seeds?: ReadonlyMap<string, string>;
  /** Called once the samples to keep are known, before any is computed. */
  onPlan?: (plan: { kept: number; linked: number; total: number }) => void;
}

export function expectedNpySize(spec: PreprocessSpec): number {
  const shape = sampleShape(spec);
  return npyHeader(shape).length + 4 * shape[0] * shape[1] * shape[2];
}

export function isCompleteNpy(path: string, size: number): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && st.size === size;
  } catch {
    return false;
  }
}

/** .npy names for the samples; two images with the same name but different extensions collide. */
export function npyNames(folder: ImageNetFolder): string[] {
  const seen = new Map<string, number>();
  return folder.samples.map((s, i) => {
    const name = withExtension(s.file, '.npy');
    const other = seen.get(name);
    if (other !== undefined) {
      const o = folder.samples[other];
      throw new Error(
        `${folder.valMapPath}: line ${o.line} (${o.file}) and line ${s.line} (${s.file}) would share the sample file ${name}`,
      );
    }
    seen.set(name, i);
    return name;
  });
}

/** Removes temporary files an interrupted writer left in the folders samples are written to. */
function removeTemporaries(dirs: Iterable<string>): void {
  for (const dir of dirs) {
    for (const name of readdirSync(dir))
      if (isAtomicWriteLeftover(name)) rmSync(join(dir, name), { force: true });
  }
}

/** Hard-links (or copies, across file systems) a seed sample; false if it could not. */
function linkSeed(from: string, to: string, size: number): boolean {
  if (!isCompleteNpy(from, size)) return false;
  try {
    linkSync(from, to);
    return true;
  } catch {
    try {
      copyFileSync(from, to);
      return true;
    } catch {
      rmSync(to, { force: true });
      return false;
    }
  }
}

/** Which samples in `dir` may stay: complete, and computed from the image as it is now. */
function keptSamples(dir: string, target: BuildTarget, files: string[], options: BuildOptions): boolean[] {
  const size = expectedNpySize(target.spec);
  const before = options.trustExisting ? undefined : readSampleSources(dir);
  const sourceOf = new Map<string, string>();
  if (before && sameSpec(before.spec, target.spec))
    for (const [i, f] of before.files.entries()) sourceOf.set(f, before.imageSha256[i]);
  // Samples of files no longer listed go.
  const listed = new Set(files);
  for (const f of before?.files ?? []) {
    if (!listed.has(f) && !isAbsolute(f) && !f.split(/[\\/]/).includes('..'))
      rmSync(join(dir, f), { force: true });
  }
  return files.map(
    (f, i) =>
      (options.trustExisting || sourceOf.get(f) === target.imageSha256[i]) &&
      isCompleteNpy(join(dir, f), size),
  );
}

/** Builds the samples of `target` into `dir` and writes its manifest.json. */
export async function buildSamples(
  dir: string,
  target: BuildTarget,
  options: BuildOptions = {},
): Promise<CacheManifest> {
  const { folder, spec } = target;
  const files = npyNames(folder);
  const size = expectedNpySize(spec);
  const dirs = new Set([dir, ...files.map((f) => dirname(join(dir, f)))]);
  for (const d of dirs) mkdirSync(d, { recursive: true });
  removeTemporaries(dirs);
  const keep = keptSamples(dir, target, files, options);
  for (let i = 0; i < files.length; i++) if (!keep[i]) rmSync(join(dir, files[i]), { force: true });
  rmSync(join(dir, MANIFEST), { force: true });
  const record: BuildRecord = {
    version: MANIFEST_VERSION,
    dataset: target.dataset,
    valMapSha256: folder.valMapSha256,
    spec,
    files,
    imageSha256: target.imageSha256,
  };
  await writeFileAtomicAsync(join(dir, BUILD_RECORD), `${JSON.stringify(record)}\n`);

  const jobs: PreprocessJob[] = [];
  let linked = 0;
  for (let i = 0; i < files.length; i++) {
    if (keep[i]) continue;
    const npy = join(dir, files[i]);
    const seed = options.seeds?.get(target.imageSha256[i]);
    if (seed !== undefined && linkSeed(seed, npy, size)) linked++;
    else jobs.push({ image: join(folder.dir, folder.samples[i].file), npy, sha256: target.imageSha256[i] });
  }
  const kept = keep.filter(Boolean).length;
  options.onPlan?.({ kept, linked, total: files.length });
  const alreadyDone = files.length - jobs.length;
  options.onProgress?.(alreadyDone, files.length);
  await runPreprocessJobs(spec, jobs, {
    workers: options.workers,
    onProgress: options.onProgress
      ? (done) => options.onProgress!(alreadyDone + done, files.length)
      : undefined,
  });
  const manifest: CacheManifest = {
    ...record,
    contentSha256: target.contentSha256,
    preset: spec.preset,
    sampleShape: sampleShape(spec),
    count: files.length,
    labels: folder.samples.map((s) => s.label),
    created: new Date().toISOString(),
    bnasVersion: bnasVersion(),
  };
  await writeFileAtomicAsync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
  rmSync(join(dir, BUILD_RECORD), { force: true });
  return manifest;
}

/** The SHA-256 → sample map of a complete folder, if it was built with this spec and bnas version. */
export function seedsOf(dir: string, spec: PreprocessSpec, into: Map<string, string>): void {
  if (!existsSync(join(dir, MANIFEST))) return;
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as CacheManifest;
    if (!Array.isArray(m.imageSha256) || !Array.isArray(m.files) || m.bnasVersion !== bnasVersion()) return;
    if (!sameSpec(m.spec, spec)) return;
    m.files.forEach((f, i) => {
      if (!into.has(m.imageSha256[i])) into.set(m.imageSha256[i], join(dir, f));
    });
  } catch {
    // Not a usable folder: nothing to seed from it.
  }
}
