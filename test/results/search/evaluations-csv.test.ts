/** The evaluations CSV: exact round trip, RFC 4180 quoting, strict errors naming the line, appending. */
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Evaluation } from '../../../nas/search/types.js';
import {
  appendEvaluation,
  CSV_HEADER,
  evaluationToCsvRow,
  parseEvaluationsCsv,
  readEvaluationsCsv,
} from '../../../results/search/evaluations-csv.js';

const evals: Evaluation[] = [
  {
    index: 0,
    generation: -1,
    accuracy: 76.13,
    agreement: 100,
    throughput: 1234.5678901234567,
    macs: 4089184256,
    seconds: 41.25,
    genome: [0, 0, 0, 0],
    point: { widths: { g1: 64, g2: 256 }, skip: [] },
  },
  {
    index: 1,
    generation: 0,
    accuracy: 0.1 + 0.2, // 0.30000000000000004 must survive
    agreement: 93.75,
    throughput: 2e-7,
    macs: 1.5e21,
    seconds: 0,
    genome: [2, 0, 11, 3],
    point: { widths: { g1: 48, 'odd "id", with comma': 8 }, skip: ['b3', 'b7'] },
  },
  {
    index: 2,
    generation: 12,
    accuracy: -1.5,
    agreement: 0,
    throughput: 900,
    macs: 0,
    seconds: 3.5,
    genome: [],
    point: { widths: {}, skip: ['layer4.2'] },
  },
];

const tmp = () => mkdtempSync(join(tmpdir(), 'bnas-evals-'));

describe('evaluations CSV', () => {
  it('round-trips exactly', () => {
    const text = [CSV_HEADER, ...evals.map(evaluationToCsvRow), ''].join('\n');
    expect(parseEvaluationsCsv(text, 'e.csv')).toEqual(evals);
    expect(parseEvaluationsCsv(text.replace(/\n/g, '\r\n'), 'e.csv')).toEqual(evals);
  });

  it('writes the genome space-separated and the point as a quoted JSON field with doubled quotes', () => {
    expect(CSV_HEADER).toBe('index,generation,accuracy,agreement,throughput,macs,seconds,genome,point');
    expect(evaluationToCsvRow(evals[0])).toBe(
      '0,-1,76.13,100,1234.5678901234567,4089184256,41.25,0 0 0 0,"{""widths"":{""g1"":64,""g2"":256},""skip"":[]}"',
    );
    expect(evaluationToCsvRow(evals[1])).toContain(
      ',2 0 11 3,"{""widths"":{""g1"":48,""odd \\""id\\"", with comma"":8}',
    );
  });

  it.each([
    ['1,0,76,100,1000,5,1,0 1', /e\.csv:3: expected 9 fields, got 8/],
    ['1,0,abc,100,1000,5,1,0 1,"{""widths"":{},""skip"":[]}"', /e\.csv:3: accuracy 'abc' is not a number/],
    ['1,0,,100,1000,5,1,0 1,"{""widths"":{},""skip"":[]}"', /e\.csv:3: accuracy '' is not a number/],
    ['1.5,0,76,100,1000,5,1,0 1,"{""widths"":{},""skip"":[]}"', /e\.csv:3: index '1.5' is not an integer/],
    ['1,-2,76,100,1000,5,1,0 1,"{""widths"":{},""skip"":[]}"', /e\.csv:3: generation '-2'/],
    ['1,0,76,100,1000,-5,1,0 1,"{""widths"":{},""skip"":[]}"', /e\.csv:3: macs '-5' is negative/],
    ['1,0,76,100,1000,5,1,0  1,"{""widths"":{},""skip"":[]}"', /e\.csv:3: genome '0 {2}1'/],
    ['1,0,76,100,1000,5,1,0 -1,"{""widths"":{},""skip"":[]}"', /e\.csv:3: genome '0 -1'/],
    ['1,0,76,100,1000,5,1,0 1,"{""widths"":{},""skip"":[]', /e\.csv:3: unterminated quoted field 9/],
    ['1,0,76,100,1000,5,1,0 1,{"widths":{}}', /e\.csv:3: stray quote in field 9/],
    ['1,0,76,100,1000,5,1,0 1,"{""widths"":{}}"', /e\.csv:3: point .* has no skip list/],
    ['1,0,76,100,1000,5,1,0 1,"{""widths"":{""g1"":0},""skip"":[]}"', /e\.csv:3: point width of 'g1' is 0/],
    ['1,0,76,100,1000,5,1,0 1,"not json"', /e\.csv:3: point 'not json' is not JSON/],
    ['1,0,76,100,1000,5,1,0 1,"{}"x', /e\.csv:3: unexpected character after quoted field 9/],
  ])('a bad line fails naming the file and line: %s', (bad, error) => {
    const text = [CSV_HEADER, evaluationToCsvRow(evals[0]), bad, evaluationToCsvRow(evals[1])].join('\n');
    expect(() => parseEvaluationsCsv(text, 'e.csv')).toThrow(error);
  });

  it('rejects a wrong header at line 1', () => {
    expect(() => parseEvaluationsCsv('index,generation\n', 'x.csv')).toThrow(/x\.csv:1: expected the header/);
    expect(() => parseEvaluationsCsv('', 'x.csv')).toThrow(/x\.csv:1:/);
  });

  it('appendEvaluation creates the file with the header, then appends one line each', () => {
    const path = join(tmp(), 'evals.csv');
    expect(readEvaluationsCsv(path)).toEqual([]);
    appendEvaluation(path, evals[0]);
    expect(readFileSync(path, 'utf8')).toBe(`${CSV_HEADER}\n${evaluationToCsvRow(evals[0])}\n`);
    appendEvaluation(path, evals[1]);
    appendEvaluation(path, evals[2]);
    expect(readFileSync(path, 'utf8').split('\n')).toHaveLength(5);
    expect(readEvaluationsCsv(path)).toEqual(evals);
  });

  it('appendEvaluation writes the header into an empty file and refuses a foreign file', () => {
    const dir = tmp();
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    appendEvaluation(empty, evals[0]);
    expect(readEvaluationsCsv(empty)).toEqual([evals[0]]);
    const other = join(dir, 'other.csv');
    writeFileSync(other, 'a,b\n1,2\n');
    expect(() => appendEvaluation(other, evals[0])).toThrow(/other\.csv:1: not an evaluations CSV/);
    expect(readFileSync(other, 'utf8')).toBe('a,b\n1,2\n');
  });

  it('after a cut-short last line, the next append starts a new line and only the cut line is bad', () => {
    const path = join(tmp(), 'evals.csv');
    appendEvaluation(path, evals[0]);
    appendFileSync(path, evaluationToCsvRow(evals[1]).slice(0, 20)); // interrupted write
    appendEvaluation(path, evals[2]);
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines[3]).toBe(evaluationToCsvRow(evals[2]));
    expect(() => readEvaluationsCsv(path)).toThrow(
      new RegExp(`${path.replace(/[.\\/]/g, '\\$&')}:3: expected 9 fields`),
    );
  });

  it('refuses to write non-finite numbers or bad genes', () => {
    expect(() => evaluationToCsvRow({ ...evals[0], accuracy: Number.NaN })).toThrow(/accuracy NaN/);
    expect(() => evaluationToCsvRow({ ...evals[0], genome: [1, -1] })).toThrow(/gene -1/);
  });
});
