/**
 * An ImageNet-style dataset folder: image files plus val_map.txt, one "<file> <label>" per line.
 * The QSL index of a sample is its 0-based line in val_map.txt (as in MLPerf's imagenet.py), so
 * every line must name an existing image; bad lines and missing files are errors that name the
 * list file and the line. Also calibration lists (MLPerf's cal_image_list_option_*.txt): one
 * image file name per line.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { sha256Hex } from '../common/files.js';

export const VAL_MAP = 'val_map.txt';

export interface ImageNetSample {
  /** Image path relative to the dataset folder, as written in val_map.txt. */
  file: string;
  label: number;
  /** 1-based line in val_map.txt. */
  line: number;
}

export interface ImageNetFolder {
  dir: string;
  valMapPath: string;
  valMapSha256: string;
  samples: ImageNetSample[];
}

export class DatasetListError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    message: string,
  ) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.name = 'DatasetListError';
  }
}

/**
 * The lines of a list file with their 1-based numbers. Trailing blank lines are dropped; a blank
 * line before the last entry is an error (the QSL index would be ambiguous).
 */
function listLines(text: string, file: string): { text: string; line: number }[] {
  const lines = text.split(/\r\n|\r|\n/);
  let end = lines.length;
  while (end > 0 && lines[end - 1].trim() === '') end--;
  const out: { text: string; line: number }[] = [];
  for (let i = 0; i < end; i++) {
    const t = lines[i].trim();
    if (t === '') throw new DatasetListError(file, i + 1, 'empty line');
    out.push({ text: t, line: i + 1 });
  }
  return out;
}

function checkImagePath(name: string, file: string, line: number): void {
  if (isAbsolute(name) || name.split(/[\\/]/).includes('..')) {
    throw new DatasetListError(file, line, `image path "${name}" must be relative and inside the folder`);
  }
}

/**
 * Refuses an image listed twice (after normalizing "./a" and "sub//a"): its line is its QSL index,
 * so a second line would count the image twice in every accuracy.
 */
function checkListedOnce(entries: readonly { file: string; line: number }[], listFile: string): void {
  const lineOf = new Map<string, number>();
  for (const { file, line } of entries) {
    const key = normalize(file);
    const first = lineOf.get(key);
    if (first !== undefined) {
      throw new DatasetListError(
        listFile,
        line,
        `"${file}" is listed twice, on lines ${first} and ${line}; list each image once`,
      );
    }
    lineOf.set(key, line);
  }
}

/** Parses val_map.txt text: "<file> <label>" per line, label a non-negative integer, each file once. */
export function parseValMap(text: string, file = VAL_MAP): ImageNetSample[] {
  const samples = parseValMapLines(text, file);
  checkListedOnce(samples, file);
  return samples;
}

function parseValMapLines(text: string, file: string): ImageNetSample[] {
  return listLines(text, file).map(({ text: t, line }) => {
    const cols = t.split(/\s+/);
    if (cols.length !== 2) {
      throw new DatasetListError(
        file,
        line,
        `expected "<image file> <label>", got ${cols.length} column(s): ${JSON.stringify(t)}`,
      );
    }
    const [name, labelText] = cols;
    if (!/^\d+$/.test(labelText) || !Number.isSafeInteger(Number(labelText))) {
      throw new DatasetListError(
        file,
        line,
        `label ${JSON.stringify(labelText)} is not a non-negative integer`,
      );
    }
    checkImagePath(name, file, line);
    return { file: name, label: Number(labelText), line };
  });
}

/** Parses a calibration list: one image file name per line. */
export function parseCalibrationList(text: string, file: string): { file: string; line: number }[] {
  return listLines(text, file).map(({ text: t, line }) => {
    if (/\s/.test(t)) {
      throw new DatasetListError(file, line, `expected one image file name, got ${JSON.stringify(t)}`);
    }
    checkImagePath(t, file, line);
    return { file: t, line };
  });
}

const MAX_LISTED = 10;

/** Throws one error listing every entry whose image is not a file in `dir` (the first few by name). */
function checkFilesExist(
  entries: readonly { file: string; line: number }[],
  dir: string,
  listFile: string,
): void {
  const missing = entries.filter((e) => {
    const path = join(dir, e.file);
    return !existsSync(path) || !statSync(path).isFile();
  });
  if (missing.length === 0) return;
  const shown = missing.slice(0, MAX_LISTED).map((e) => `  line ${e.line}: ${join(dir, e.file)}`);
  if (missing.length > MAX_LISTED) shown.push(`  ... and ${missing.length - MAX_LISTED} more`);
  const first = missing[0];
  throw new DatasetListError(
    listFile,
    first.line,
    `${missing.length} image file(s) missing:\n${shown.join('\n')}`,
  );
}

function readList(path: string): string {
  if (!existsSync(path)) throw new DatasetListError(path, undefined, 'no such file');
  return readFileSync(path, 'utf8');
}

/** Reads and checks an ImageNet-style folder (val_map.txt and every image it names). */
export function readImageNetFolder(dir: string, options: { checkFiles?: boolean } = {}): ImageNetFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DatasetListError(dir, undefined, 'not a folder');
  }
  const valMapPath = join(dir, VAL_MAP);
  if (!existsSync(valMapPath)) {
    throw new DatasetListError(dir, undefined, `no ${VAL_MAP} in it ("<image file> <label>" per line)`);
  }
  const bytes = readFileSync(valMapPath);
  const samples = parseValMap(bytes.toString('utf8'), valMapPath);
  if (samples.length === 0) throw new DatasetListError(valMapPath, undefined, 'lists no images');
  if (options.checkFiles ?? true) checkFilesExist(samples, dir, valMapPath);
  return {
    dir,
    valMapPath,
    valMapSha256: sha256Hex(bytes),
    samples,
  };
}

/** Reads a calibration list and checks that every image it names is in imageDir. */
export function readCalibrationList(listFile: string, imageDir: string): string[] {
  const entries = parseCalibrationList(readList(listFile), listFile);
  if (entries.length === 0) throw new DatasetListError(listFile, undefined, 'lists no images');
  checkFilesExist(entries, imageDir, listFile);
  return entries.map((e) => e.file);
}

/** The image path with its extension replaced by `ext` (the cache's file for it). */
export function withExtension(file: string, ext: string): string {
  const n = normalize(file).split(sep).join('/');
  const slash = n.lastIndexOf('/');
  const dot = n.lastIndexOf('.');
  return `${dot > slash + 1 ? n.slice(0, dot) : n}${ext}`;
}
