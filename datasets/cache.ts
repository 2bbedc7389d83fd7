/**
 * Preprocessed-sample caches: a folder with one .npy per image (the image's path with .npy for
 * its extension; float32 C×H×W) and manifest.json, written last and atomically, so a folder with
 * a manifest is complete. ensurePreprocessed() keys the folder on what determines its content
 * (dataset path, val_map.txt hash, resolved spec) and reuses, completes or builds it;
 * writePreprocessed() writes the same layout into a new folder of the caller's choosing.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRoot } from '../harness/paths.js';
import { type ImageNetFolder, readImageNetFolder, withExtension } from './imagenet-layout.js';
import { npyHeader, readNpyFloat32, readNpySync, writeFileAtomic } from './npy.js';
import { type PreprocessSpec, sampleShape } from './preprocess-spec.js';
import { runPreprocessJobs } from './run-jobs.js';

export const MANIFEST = 'manifest.json';
export const MANIFEST_VERSION = 1;

export interface CacheManifest {
  version: 1;
  /** Absolute (real) path of the dataset folder. */
  dataset: string;
  valMapSha256: string;
  preset: PreprocessSpec['preset'];
  spec: PreprocessSpec;
  sampleShape: [number, number, number];
  count: number;
  /** .npy file names relative to the cache folder, in val_map.txt order (index = QSL index). */
  files: string[];
  labels: number[];
  created: string;
  bnasVersion: string;
}

export type PreprocessProgress = (done: number, total: number) => void;

export interface EnsureOptions {
  dataDir: string;
  spec: PreprocessSpec;
  /** Default: $BNAS_CACHE, else ~/.cache/bnas/preprocessed. */
  cacheRoot?: string;
  onProgress?: PreprocessProgress;
  /** Worker threads (default: one per core). */
  workers?: number;
}

export interface CacheResult {
  dir: string;
  manifest: CacheManifest;
  /** True when a complete cache was found and nothing was computed. */
  reused: boolean;
}

export function defaultCacheRoot(): string {
  const env = process.env.BNAS_CACHE;
  return env && env !== '' ? env : join(homedir(), '.cache', 'bnas', 'preprocessed');
}

function bnasVersion(): string {
  return JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;
}

/** Keys sorted, so equal specs hash equally whatever order their fields were set in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The cache folder name: preset and shape for people, a hash of everything for uniqueness. */
export function cacheFolderName(datasetPath: string, valMapSha256: string, spec: PreprocessSpec): string {
  const hash = createHash('sha256')
    .update(canonicalJson({ dataset: datasetPath, valMapSha256, preset: spec.preset, spec }))
    .digest('hex');
  const [c, h, w] = sampleShape(spec);
  return `${spec.preset}-${c}x${h}x${w}-${hash.slice(0, 24)}`;
}

/** .npy names for the samples; two images with the same name but different extensions collide. */
function npyNames(folder: ImageNetFolder): string[] {
  const seen = new Map<string, number>();
  return folder.samples.map((s) => {
    const name = withExtension(s.file, '.npy');
    const other = seen.get(name);
    if (other !== undefined && folder.samples[other].file !== s.file) {
      throw new Error(
        `${folder.valMapPath}: line ${folder.samples[other].line} (${folder.samples[other].file}) and line ${s.line} (${s.file}) would share the cache file ${name}`,
      );
    }
    seen.set(name, s.line - 1);
    return name;
  });
}

function expectedNpySize(spec: PreprocessSpec): number {
  const shape = sampleShape(spec);
  return npyHeader(shape).length + 4 * shape[0] * shape[1] * shape[2];
}

function isCompleteNpy(path: string, size: number): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && st.size === size;
  } catch {
    return false;
  }
}

/** Removes temporary files an interrupted run left in the folders samples are written to. */
function removeTemporaries(dirs: Iterable<string>): void {
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir))
      if (/\.tmp-\d+-[0-9a-f]+$/.test(name)) rmSync(join(dir, name), { force: true });
  }
}

/** Preprocesses every sample of `folder` missing from `dir`, then writes the manifest. */
async function build(
  folder: ImageNetFolder,
  spec: PreprocessSpec,
  dir: string,
  options: { onProgress?: PreprocessProgress; workers?: number },
): Promise<CacheManifest> {
  const files = npyNames(folder);
  const size = expectedNpySize(spec);
  const dirs = new Set(files.map((f) => dirname(join(dir, f))));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  removeTemporaries(dirs);
  const jobs: { image: string; npy: string }[] = [];
  const unique = new Set<string>();
  for (let i = 0; i < files.length; i++) {
    const npy = join(dir, files[i]);
    if (unique.has(npy) || isCompleteNpy(npy, size)) continue;
    unique.add(npy);
    jobs.push({ image: join(folder.dir, folder.samples[i].file), npy });
  }
  const alreadyDone = files.length - jobs.length;
  options.onProgress?.(alreadyDone, files.length);
  await runPreprocessJobs(spec, jobs, {
    workers: options.workers,
    onProgress: options.onProgress
      ? (done) => options.onProgress!(alreadyDone + done, files.length)
      : undefined,
  });
  const manifest: CacheManifest = {
    version: MANIFEST_VERSION,
    dataset: realpathSync(folder.dir),
    valMapSha256: folder.valMapSha256,
    preset: spec.preset,
    spec,
    sampleShape: sampleShape(spec),
    count: files.length,
    files,
    labels: folder.samples.map((s) => s.label),
    created: new Date().toISOString(),
    bnasVersion: bnasVersion(),
  };
  await writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}

/** Reads and checks a cache folder's manifest.json. */
export function readManifest(dir: string): CacheManifest {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) throw new Error(`${dir}: no ${MANIFEST} (not a complete preprocessed folder)`);
  let manifest: CacheManifest;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${error instanceof Error ? error.message : error})`);
  }
  if (manifest.version !== MANIFEST_VERSION) {
    throw new Error(
      `${path}: manifest version ${manifest.version}, this bnas reads version ${MANIFEST_VERSION}`,
    );
  }
  if (
    !Array.isArray(manifest.files) ||
    !Array.isArray(manifest.labels) ||
    manifest.files.length !== manifest.count ||
    manifest.labels.length !== manifest.count
  ) {
    throw new Error(`${path}: files/labels do not match count`);
  }
  return manifest;
}

function sameSpec(a: PreprocessSpec, b: PreprocessSpec): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * The preprocessed samples of the dataset in `dataDir`, computed only if no complete cache for
 * exactly this dataset content and spec exists under the cache root.
 */
export async function ensurePreprocessed(options: EnsureOptions): Promise<CacheResult> {
  const folder = readImageNetFolder(options.dataDir);
  const dataset = realpathSync(folder.dir);
  const dir = join(
    options.cacheRoot ?? defaultCacheRoot(),
    cacheFolderName(dataset, folder.valMapSha256, options.spec),
  );
  if (existsSync(join(dir, MANIFEST))) {
    try {
      const manifest = readManifest(dir);
      const size = expectedNpySize(options.spec);
      const intact =
        manifest.dataset === dataset &&
        manifest.valMapSha256 === folder.valMapSha256 &&
        sameSpec(manifest.spec, options.spec) &&
        manifest.files.every((f) => isCompleteNpy(join(dir, f), size));
      if (intact) return { dir, manifest, reused: true };
    } catch {
      // An unreadable manifest is treated as no manifest: the cache is rebuilt below.
    }
    rmSync(join(dir, MANIFEST), { force: true });
  }
  const manifest = await build(folder, options.spec, dir, options);
  return { dir, manifest, reused: false };
}

/** Writes the preprocessed samples and manifest.json into outDir, which must be new or empty. */
export async function writePreprocessed(options: {
  dataDir: string;
  spec: PreprocessSpec;
  outDir: string;
  onProgress?: PreprocessProgress;
  workers?: number;
}): Promise<CacheResult> {
  const { outDir } = options;
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory()) throw new Error(`${outDir} is a file, not a folder`);
    if (readdirSync(outDir).length > 0) {
      throw new Error(`${outDir} is not empty; bnas never overwrites: choose a new --out`);
    }
  }
  const folder = readImageNetFolder(options.dataDir);
  mkdirSync(outDir, { recursive: true });
  const manifest = await build(folder, options.spec, outDir, options);
  return { dir: outDir, manifest, reused: false };
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
