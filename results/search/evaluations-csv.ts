/**
 * The CSV of every evaluated sub-network (one Evaluation per line, types.ts). The search appends each
 * finished evaluation at once, so an interrupted search keeps its work and resumes by reading the file
 * back. Numbers are written with String() (exact round trip for doubles), the genome as space-separated
 * integers, and the point as JSON in a quoted field with its quotes doubled (RFC 4180).
 */
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Evaluation } from '../../nas/search/types.js';
import type { Point } from '../../nas/supernet/types.js';

export const CSV_COLUMNS = [
  'index',
  'generation',
  'accuracy',
  'agreement',
  'throughput',
  'macs',
  'seconds',
  'genome',
  'point',
] as const;

export const CSV_HEADER = CSV_COLUMNS.join(',');

function quote(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** One CSV line (no newline) for `e`. */
export function evaluationToCsvRow(e: Evaluation): string {
  for (const k of [
    'index',
    'generation',
    'accuracy',
    'agreement',
    'throughput',
    'macs',
    'seconds',
  ] as const) {
    if (!Number.isFinite(e[k])) throw new Error(`evaluation ${e.index}: ${k} ${e[k]} is not a finite number`);
  }
  for (const g of e.genome) {
    if (!Number.isInteger(g) || g < 0)
      throw new Error(`evaluation ${e.index}: gene ${g} is not an integer ≥ 0`);
  }
  return [
    e.index,
    e.generation,
    e.accuracy,
    e.agreement,
    e.throughput,
    e.macs,
    e.seconds,
    e.genome.join(' '),
    quote(JSON.stringify({ widths: e.point.widths, skip: e.point.skip })),
  ]
    .map(String)
    .join(',');
}

/** The fields of one RFC 4180 line (no embedded newlines); a string is an error message. */
function splitCsvLine(line: string): string[] | string {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return `unterminated quoted field ${fields.length + 1}`;
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
      if (i === line.length) return fields;
      if (line[i] !== ',') return `unexpected character after quoted field ${fields.length}`;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const value = comma < 0 ? line.slice(i) : line.slice(i, comma);
      if (value.includes('"')) return `stray quote in field ${fields.length + 1}`;
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}

const NUMBER = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function parsePoint(text: string): Point | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `point '${text}' is not JSON`;
  }
  const p = value as Point;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return `point '${text}' is not an object`;
  if (typeof p.widths !== 'object' || p.widths === null || Array.isArray(p.widths)) {
    return `point '${text}' has no widths object`;
  }
  for (const [id, w] of Object.entries(p.widths)) {
    if (!Number.isInteger(w) || w <= 0)
      return `point width of '${id}' is ${JSON.stringify(w)}, not an integer > 0`;
  }
  if (!Array.isArray(p.skip) || !p.skip.every((b) => typeof b === 'string')) {
    return `point '${text}' has no skip list of block ids`;
  }
  return { widths: p.widths, skip: p.skip };
}

/**
 * The evaluations in a CSV written by `evaluationToCsvRow` / `appendEvaluation`. Strict: a wrong
 * header or a bad line throws "<file>:<line>: …". Empty lines (e.g. the final newline) are skipped.
 */
export function parseEvaluationsCsv(text: string, file: string): Evaluation[] {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== CSV_HEADER) {
    throw new Error(`${file}:1: expected the header '${CSV_HEADER}', got '${lines[0]}'`);
  }
  const out: Evaluation[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line === '') continue;
    const fail = (why: string): never => {
      throw new Error(`${file}:${n + 1}: ${why}`);
    };
    const fields = splitCsvLine(line);
    if (typeof fields === 'string') fail(fields);
    const f = fields as string[];
    if (f.length !== CSV_COLUMNS.length) fail(`expected ${CSV_COLUMNS.length} fields, got ${f.length}`);
    const number = (k: number): number => {
      if (!NUMBER.test(f[k])) fail(`${CSV_COLUMNS[k]} '${f[k]}' is not a number`);
      return Number(f[k]);
    };
    const index = number(0);
    if (!Number.isInteger(index) || index < 0) fail(`index '${f[0]}' is not an integer ≥ 0`);
    const generation = number(1);
    if (!Number.isInteger(generation) || generation < -1) fail(`generation '${f[1]}' is not an integer ≥ −1`);
    const accuracy = number(2);
    const agreement = number(3);
    const throughput = number(4);
    const macs = number(5);
    if (macs < 0) fail(`macs '${f[5]}' is negative`);
    const seconds = number(6);
    if (f[7] !== '' && !/^\d+( \d+)*$/.test(f[7]))
      fail(`genome '${f[7]}' is not space-separated integers ≥ 0`);
    const genome = f[7] === '' ? [] : f[7].split(' ').map(Number);
    const point = parsePoint(f[8]);
    if (typeof point === 'string') fail(point);
    out.push({
      index,
      generation,
      accuracy,
      agreement,
      throughput,
      macs,
      seconds,
      genome,
      point: point as Point,
    });
  }
  return out;
}

/** The evaluations in `path`, or [] when it does not exist. */
export function readEvaluationsCsv(path: string): Evaluation[] {
  if (!existsSync(path)) return [];
  return parseEvaluationsCsv(readFileSync(path, 'utf8'), path);
}

/**
 * Appends `e` as one line to `path`, writing the header first when the file is missing or empty.
 * Refuses to append to a file whose first line is not this header.
 */
export function appendEvaluation(path: string, e: Evaluation): void {
  const row = `${evaluationToCsvRow(e)}\n`;
  if (!existsSync(path) || statSync(path).size === 0) {
    appendFileSync(path, `${CSV_HEADER}\n${row}`);
    return;
  }
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(CSV_HEADER.length + 2);
  const tail = Buffer.alloc(1);
  let got: number;
  try {
    got = readSync(fd, head, 0, head.length, 0);
    readSync(fd, tail, 0, 1, size - 1);
  } finally {
    closeSync(fd);
  }
  const first = head.subarray(0, got).toString('utf8').split(/\r?\n/)[0];
  if (first !== CSV_HEADER) {
    throw new Error(`${path}:1: not an evaluations CSV (expected the header '${CSV_HEADER}'); not appending`);
  }
  // After an interrupted write the last line may be cut short: start on a new line, so only that line is bad.
  appendFileSync(path, tail[0] === 0x0a ? row : `\n${row}`);
}
