import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveValMap, writeNewOrSame } from '../../cli/commands/accuracy.js';
import {
  AccuracyInputError,
  decodePrediction,
  formatAccuracyLine,
  formatMismatch,
  formatPythonFixed,
  hexToBytes,
  imagenetAccuracyFromFiles,
  parseAccuracyLog,
  parseValMap,
  scoreImagenet,
  type ValMapEntry,
} from '../../results/imagenet-accuracy.js';
import { TEST_FIXTURES } from '../paths.js';

const FIXTURES = join(TEST_FIXTURES, 'accuracy');
const fixture = (name: string): string => join(FIXTURES, name);
const readFixture = (name: string): string => readFileSync(fixture(name), 'utf8');

function catchInputError(run: () => unknown): AccuracyInputError {
  try {
    run();
  } catch (err) {
    if (err instanceof AccuracyInputError) return err;
    throw err;
  }
  throw new Error('expected an AccuracyInputError');
}

/** A log in LoadGen's exact layout (spec loadgen.md §9.2). */
function loadgenLog(records: { qsl: number; data: string }[]): string {
  if (records.length === 0) return '[\n]\n';
  const body = records
    .map((r, i) => `{ "seq_id" : ${i}, "qsl_idx" : ${r.qsl}, "data" : "${r.data}" }`)
    .join(',\n');
  return `[\n${body}\n]\n`;
}

function float32Hex(x: number): string {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return b.toString('hex').toUpperCase();
}

function int32Hex(x: number): string {
  const b = Buffer.alloc(4);
  b.writeInt32LE(x);
  return b.toString('hex').toUpperCase();
}

function int64Hex(x: bigint): string {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(x);
  return b.toString('hex').toUpperCase();
}

const labels = (...l: number[]): ValMapEntry[] => l.map((label, i) => ({ image: `img${i}.JPEG`, label }));

describe('against the real accuracy-imagenet.py (fixtures)', () => {
  it('prints the same line as the script on 300 LoadGen records', () => {
    const result = imagenetAccuracyFromFiles(fixture('mlperf_log_accuracy.json'), fixture('val_map.txt'));
    expect(`${result.line}\n`).toBe(readFixture('accuracy.txt'));
    expect(result).toMatchObject({ good: 236, total: 300, records: 300, duplicates: 0 });
  });

  it('reproduces --verbose: the wrong predictions in log order and the dupes line', () => {
    const result = imagenetAccuracyFromFiles(fixture('mlperf_log_accuracy.json'), fixture('val_map.txt'), {
      collectMismatches: true,
    });
    const out = [
      ...(result.mismatches ?? []).map(formatMismatch),
      result.line,
      `found and ignored ${result.duplicates} dupes`,
    ];
    expect(`${out.join('\n')}\n`).toBe(readFixture('accuracy_verbose.txt'));
  });

  it('keeps the first record of a repeated qsl_idx, as the script does', () => {
    const result = imagenetAccuracyFromFiles(
      fixture('mlperf_log_accuracy_dups.json'),
      fixture('val_map.txt'),
      {
        collectMismatches: true,
      },
    );
    const out = [
      ...(result.mismatches ?? []).map(formatMismatch),
      result.line,
      `found and ignored ${result.duplicates} dupes`,
    ];
    expect(`${out.join('\n')}\n`).toBe(readFixture('accuracy_dups_verbose.txt'));
    expect(result.duplicates).toBe(40);
  });

  it('reports a log cut mid-record at the line where the script fails', () => {
    const pythonLine = Number(/line (\d+) column/.exec(readFixture('python_cut.err'))?.[1]);
    const err = catchInputError(() =>
      imagenetAccuracyFromFiles(fixture('mlperf_log_accuracy_cut.json'), fixture('val_map.txt')),
    );
    expect(err.line).toBe(pythonLine);
    expect(err.file).toBe(fixture('mlperf_log_accuracy_cut.json'));
    expect(err.message).toMatch(/unexpected end of file.*interrupted/);
  });
});

describe('scoring rules (hand-computed)', () => {
  it('counts exact integer matches of int(first float32)', () => {
    const log = loadgenLog([
      { qsl: 0, data: float32Hex(5) },
      { qsl: 1, data: float32Hex(7.99) }, // int() truncates: 7 ≠ 8
      { qsl: 2, data: float32Hex(-0.5) }, // int(-0.5) = 0 = label
      { qsl: 3, data: float32Hex(3.5) }, // 3 = label
    ]);
    const r = scoreImagenet(parseAccuracyLog(log), labels(5, 8, 0, 3));
    expect(r).toMatchObject({ good: 3, total: 4, line: 'accuracy=75.000%, good=3, total=4' });
  });

  it('uses the first element of a longer payload, any hex case, whitespace between bytes', () => {
    const hex = float32Hex(42) + float32Hex(1);
    const log = loadgenLog([
      { qsl: 0, data: hex },
      { qsl: 1, data: float32Hex(9).toLowerCase() },
    ]).replace('\n]', `,\n{ "seq_id" : 2, "qsl_idx" : 2, "data" : "00 00 10 41" }\n]`);
    const r = scoreImagenet(parseAccuracyLog(log), labels(42, 9, 9));
    expect(r.good).toBe(3);
  });

  it('decodes int32 and int64 payloads (--dtype)', () => {
    const i32 = loadgenLog([
      { qsl: 0, data: int32Hex(999) },
      { qsl: 1, data: int32Hex(-1) },
    ]);
    expect(scoreImagenet(parseAccuracyLog(i32), labels(999, 0), { dtype: 'int32' }).good).toBe(1);
    const i64 = loadgenLog([
      { qsl: 0, data: int64Hex(123n) },
      { qsl: 1, data: int64Hex(2n ** 62n) },
    ]);
    const r = scoreImagenet(parseAccuracyLog(i64), labels(123, 0), {
      dtype: 'int64',
      collectMismatches: true,
    });
    expect(r.good).toBe(1);
    expect(r.mismatches?.[0].found).toBe(2n ** 62n);
    expect(decodePrediction(int64Hex(-5n), 'int64')).toBe(-5);
  });

  it('first record wins for a repeated qsl_idx; later data is not even decoded', () => {
    const log = loadgenLog([
      { qsl: 1, data: float32Hex(4) },
      { qsl: 0, data: float32Hex(2) },
      { qsl: 1, data: 'not hex at all' },
      { qsl: 0, data: float32Hex(3) },
    ]);
    const r = scoreImagenet(parseAccuracyLog(log), labels(3, 4));
    expect(r).toMatchObject({ good: 1, total: 2, records: 4, duplicates: 2 });
  });

  it('subtracts --label-offset from every prediction', () => {
    const log = loadgenLog([
      { qsl: 0, data: float32Hex(1) },
      { qsl: 1, data: float32Hex(11) },
    ]);
    expect(scoreImagenet(parseAccuracyLog(log), labels(0, 10), { labelOffset: 1 }).good).toBe(2);
    expect(scoreImagenet(parseAccuracyLog(log), labels(0, 10)).good).toBe(0);
    const big = loadgenLog([{ qsl: 0, data: int64Hex(2n ** 60n) }]);
    expect(scoreImagenet(parseAccuracyLog(big), labels(0), { dtype: 'int64', labelOffset: 1 }).good).toBe(0);
  });

  it('reads records in any valid JSON layout', () => {
    const compact = `[{"qsl_idx":1,"data":"${float32Hex(2)}","seq_id":0},{"seq_id":1,"data":"${float32Hex(7)}","qsl_idx":0}]`;
    expect(scoreImagenet(parseAccuracyLog(compact), labels(7, 2)).good).toBe(2);
    const pretty = JSON.stringify(JSON.parse(compact), null, 2);
    const records = parseAccuracyLog(pretty);
    expect(records.map((r) => r.line)).toEqual([2, 7]);
    const tokens = `[\n{ "seq_id" : 0, "qsl_idx" : 0, "data" : "${float32Hex(1)}", "token_count" : 3 }\n]\n`;
    expect(parseAccuracyLog(tokens)).toHaveLength(1);
    expect(parseAccuracyLog('[\n]\n')).toEqual([]);
  });
});

describe("Python's {:.3f}", () => {
  // Expected strings printed by python3 format(x, '.3f').
  const cases: [number, string][] = [
    [0.0625, '0.062'],
    [0.1875, '0.188'],
    [12.5625, '12.562'],
    [0.0005, '0.001'],
    [0.0015, '0.002'],
    [2.675, '2.675'],
    [1.0005, '1.000'],
    [76, '76.000'],
    [99.9995, '99.999'],
    [100, '100.000'],
    [0, '0.000'],
    [1e-9, '0.000'],
    [123456789.0625, '123456789.062'],
    [78.6665, '78.666'],
    [5e-324, '0.000'],
    [(1 / 3) * 100, '33.333'],
    [(2 / 3) * 100, '66.667'],
  ];
  it.each(cases)('%s → %s', (x, expected) => {
    expect(formatPythonFixed(x, 3)).toBe(expected);
  });

  it('formats the accuracy line like the script, ties to even', () => {
    expect(formatAccuracyLine(1, 1600)).toBe('accuracy=0.062%, good=1, total=1600');
    expect(formatAccuracyLine(3, 1600)).toBe('accuracy=0.188%, good=3, total=1600');
    expect(formatAccuracyLine(38000, 50000)).toBe('accuracy=76.000%, good=38000, total=50000');
    expect(formatAccuracyLine(1, 8000)).toBe('accuracy=0.013%, good=1, total=8000');
    expect(formatPythonFixed(-1.5, 0)).toBe('-2');
    expect(formatPythonFixed(2.5, 0)).toBe('2');
  });
});

describe('errors name the file and line', () => {
  it('val_map: a line without a label, a bad label, an empty line', () => {
    expect(parseValMap('a.JPEG 1\r\nb.JPEG 2\rc.JPEG 3 extra\n')).toEqual([
      { image: 'a.JPEG', label: 1 },
      { image: 'b.JPEG', label: 2 },
      { image: 'c.JPEG', label: 3 },
    ]);
    expect(parseValMap('x 1_000\n')[0].label).toBe(1000);
    let err = catchInputError(() => parseValMap('a 1\nb\nc 3\n', 'vm.txt'));
    expect(err.message).toBe('vm.txt:2: only one column; expected "<image file> <label>" on every line');
    err = catchInputError(() => parseValMap('a 1\nb 2.5\n', 'vm.txt'));
    expect(err.message).toBe('vm.txt:2: label "2.5" is not an integer');
    err = catchInputError(() => parseValMap('a 1\n\n', 'vm.txt'));
    expect(err.line).toBe(2);
    expect(err.message).toMatch(/empty line/);
  });

  it('log: malformed records, missing fields, wrong types', () => {
    const good = `{ "seq_id" : 0, "qsl_idx" : 0, "data" : "${float32Hex(1)}" }`;
    let err = catchInputError(() =>
      parseAccuracyLog(`[\n${good},\n{ "seq_id" : 1, "qsl_idx" 2 }\n]\n`, 'acc.json'),
    );
    expect(err.message).toMatch(/^acc\.json:3: malformed record/);
    err = catchInputError(() =>
      parseAccuracyLog(`[\n${good},\n{ "seq_id" : 1, "data" : "00" }\n]\n`, 'acc.json'),
    );
    expect(err.message).toMatch(/^acc\.json:3: record has no "qsl_idx"/);
    err = catchInputError(() =>
      parseAccuracyLog(`[\n${good},\n{ "qsl_idx" : "5", "data" : "00" }\n]\n`, 'acc.json'),
    );
    expect(err.message).toMatch(/^acc\.json:3: "qsl_idx" is not an integer/);
    err = catchInputError(() => parseAccuracyLog(`[\n${good}\n${good}\n]\n`, 'acc.json'));
    expect(err.message).toMatch(/^acc\.json:3: expected "," or "\]" after a record/);
    err = catchInputError(() => parseAccuracyLog(`{"qsl_idx": 1}`, 'acc.json'));
    expect(err.message).toMatch(/^acc\.json:1: expected "\["/);
    err = catchInputError(() => parseAccuracyLog('', 'acc.json'));
    expect(err.message).toMatch(/empty file/);
    err = catchInputError(() => parseAccuracyLog(`[\n${good}\n]\n]`, 'acc.json'));
    expect(err.message).toMatch(/^acc\.json:4: unexpected text after the closing/);
  });

  it('log: a submission copy truncated by truncate_accuracy_log.py is recognised', () => {
    const full = readFixture('mlperf_log_accuracy.json');
    const copy = `${full.slice(0, 4096)}\n\n...\n\n${full.slice(-4096)}`;
    const err = catchInputError(() => parseAccuracyLog(copy, 'acc.json'));
    expect(err.message).toMatch(/truncate_accuracy_log\.py; use the full log/);
  });

  it('scoring: qsl_idx out of range, negative, empty log, bad payloads', () => {
    const opts = { logFile: 'acc.json', valMapFile: 'vm.txt' };
    const log = (data: string, qsl = 0): ReturnType<typeof parseAccuracyLog> =>
      parseAccuracyLog(
        loadgenLog([
          { qsl: 0, data: float32Hex(1) },
          { qsl, data },
        ]),
      );
    let err = catchInputError(() => scoreImagenet(log(float32Hex(1), 2), labels(1, 1), opts));
    expect(err.message).toBe(
      'acc.json:3: qsl_idx 2 is out of range: vm.txt has 2 lines (valid qsl_idx 0..1)',
    );
    err = catchInputError(() => scoreImagenet(log(float32Hex(1), -1), labels(1, 1), opts));
    expect(err.line).toBe(3);
    err = catchInputError(() => scoreImagenet([], labels(1), opts));
    expect(err.message).toMatch(/^acc\.json: the accuracy log holds no records/);
    err = catchInputError(() => scoreImagenet(log('0000803', 1), labels(1, 1), opts));
    expect(err.message).toMatch(/^acc\.json:3: qsl_idx 1: non-hexadecimal number/);
    err = catchInputError(() => scoreImagenet(log('000080', 1), labels(1, 1), opts));
    expect(err.message).toBe(
      'acc.json:3: qsl_idx 1: "data" has 3 bytes, not a multiple of the float32 size 4',
    );
    err = catchInputError(() => scoreImagenet(log('', 1), labels(1, 1), opts));
    expect(err.message).toMatch(/"data" is empty/);
    err = catchInputError(() => scoreImagenet(log('0000C07F', 1), labels(1, 1), opts));
    expect(err.message).toMatch(/cannot convert float NaN to integer/);
    err = catchInputError(() =>
      scoreImagenet(log(float32Hex(1), 1), labels(1, 1), { ...opts, dtype: 'int64' }),
    );
    expect(err.message).toMatch(/not a multiple of the int64 size 8/);
  });

  it('files: a missing file is named', () => {
    const err = catchInputError(() =>
      imagenetAccuracyFromFiles('/nonexistent/acc.json', fixture('val_map.txt')),
    );
    expect(err.message).toBe('/nonexistent/acc.json: cannot read the accuracy log: no such file');
  });

  it('hexToBytes follows bytes.fromhex', () => {
    expect([...hexToBytes('0a FF\t10')]).toEqual([10, 255, 16]);
    expect(() => hexToBytes('0 a')).toThrow(/position 1/);
  });
});

describe('bnas accuracy helpers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-accuracy-'));

  it('finds val_map.txt in --data, or takes --val-map', () => {
    writeFileSync(join(dir, 'val_map.txt'), 'a 1\n');
    expect(resolveValMap({ data: dir })).toBe(join(dir, 'val_map.txt'));
    expect(resolveValMap({ valMap: 'x.txt' })).toBe('x.txt');
    expect(() => resolveValMap({})).toThrow(/--data .* or --val-map/);
    expect(() => resolveValMap({ data: dir, valMap: 'x' })).toThrow(/not both/);
    expect(() => resolveValMap({ data: join(dir, 'nope') })).toThrow(/not a folder/);
  });

  it('writes accuracy.txt once; the same content again is fine, different content is refused', () => {
    const path = join(dir, 'accuracy.txt');
    expect(writeNewOrSame(path, 'accuracy=1.000%, good=1, total=100\n')).toBe(true);
    expect(writeNewOrSame(path, 'accuracy=1.000%, good=1, total=100\n')).toBe(false);
    expect(() => writeNewOrSame(path, 'accuracy=2.000%, good=2, total=100\n')).toThrow(
      /already exists with different content/,
    );
    expect(readFileSync(path, 'utf8')).toBe('accuracy=1.000%, good=1, total=100\n');
  });
});
