/**
 * What a folder of preprocessed samples holds: manifest.json once it is complete, and while it is
 * being built, bnas-partial.json (the same fields but the completion ones). Both record the
 * SHA-256 of the image each sample was computed from, so a resumed build keeps exactly the
 * samples whose image is unchanged.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PreprocessSpec } from './preprocess-spec.js';

export const MANIFEST = 'manifest.json';
export const MANIFEST_VERSION = 1;
/** The record of a build in progress (absent from a complete folder). */
export const BUILD_RECORD = 'bnas-partial.json';

export interface BuildRecord {
  version: 1;
  /** Absolute (real) path of the dataset folder. */
  dataset: string;
  valMapSha256: string;
  spec: PreprocessSpec;
  /** .npy file names relative to the folder, in val_map.txt order (index = QSL index). */
  files: string[];
  /** SHA-256 of each sample's image bytes, in the order of `files`. */
  imageSha256: string[];
}

export interface CacheManifest extends BuildRecord {
  /** One SHA-256 over val_map.txt and every image's (datasetContentSha256). */
  contentSha256: string;
  preset: PreprocessSpec['preset'];
  sampleShape: [number, number, number];
  count: number;
  labels: number[];
  created: string;
  bnasVersion: string;
}

/** Keys sorted, so equal specs compare and hash equally whatever order their fields were set in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sameSpec(a: PreprocessSpec, b: PreprocessSpec): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${path}: not valid JSON (${error instanceof Error ? error.message : error})`);
  }
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** Reads and checks a folder's manifest.json. */
export function readManifest(dir: string): CacheManifest {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) throw new Error(`${dir}: no ${MANIFEST} (not a complete preprocessed folder)`);
  const manifest = readJson(path) as CacheManifest;
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

/**
 * What a folder's samples were computed from: its build record, else its manifest (a build
 * stopped between the two); undefined when neither is there or readable, or they record no
 * image hashes (folders of bnas before they did).
 */
export function readSampleSources(dir: string): BuildRecord | undefined {
  for (const name of [BUILD_RECORD, MANIFEST]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    try {
      const record = readJson(path) as BuildRecord;
      if (
        record.version === MANIFEST_VERSION &&
        isStringArray(record.files) &&
        isStringArray(record.imageSha256) &&
        record.files.length === record.imageSha256.length &&
        typeof record.spec === 'object'
      )
        return record;
    } catch {
      // An unreadable record trusts nothing: every sample is computed again.
    }
  }
  return undefined;
}
