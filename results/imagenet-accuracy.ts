/**
 * ImageNet top-1 from a LoadGen accuracy log, computed exactly as MLPerf's
 * vision/classification_and_detection/tools/accuracy-imagenet.py (tag v2.0 and current HEAD, which
 * differ only in formatting) does (spec loadgen.md §9.4):
 *
 *   for each record of mlperf_log_accuracy.json, in file order:
 *     skip it if its qsl_idx was seen before;
 *     label = the integer in column 2 of line qsl_idx (0-based) of val_map.txt;
 *     prediction = int(first element of the hex payload decoded as float32 | int32 | int64);
 *   print "accuracy={100*good/total:.3f}%, good={good}, total={total}"
 *
 * `labelOffset` is a bnas extension (the Python script has no such option): it is subtracted from
 * every prediction, for models whose output has a background class at index 0 (offset 1). With the
 * default 0 the result is the script's. Where the script would crash (malformed JSON or val_map
 * line, qsl_idx past the end of val_map, NaN prediction, empty log) we throw an error naming the
 * file and line instead; a negative qsl_idx, which Python would silently count from the end of
 * val_map, is an error too.
 */
import { readFileSync } from 'node:fs';

export type AccuracyDtype = 'float32' | 'int32' | 'int64';
export const ACCURACY_DTYPES: readonly AccuracyDtype[] = ['float32', 'int32', 'int64'];

const ITEM_SIZE: Record<AccuracyDtype, number> = { float32: 4, int32: 4, int64: 8 };

/** A malformed input: names the file and, where there is one, the 1-based line. */
export class AccuracyInputError extends Error {
  override readonly name = 'AccuracyInputError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    description: string,
  ) {
    super(line === undefined ? `${file}: ${description}` : `${file}:${line}: ${description}`);
  }
}

// ---- val_map.txt ------------------------------------------------------------------------------

export interface ValMapEntry {
  /** Column 1, the image file name. */
  readonly image: string;
  /** Column 2, the class label. */
  readonly label: number;
}

/** Python's int() on an already stripped token (sign, digits, single underscores between digits). */
const PY_INT = /^[+-]?\d+(?:_\d+)*$/;

/**
 * Parse val_map.txt like the script: one entry per line (universal newlines), columns split on
 * whitespace, extra columns ignored. A line without two columns (also an empty line, which the
 * script cannot read either) or with a non-integer label is an error.
 */
export function parseValMap(text: string, file = 'val_map.txt'): ValMapEntry[] {
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const entries: ValMapEntry[] = new Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const cols = lines[i].trim().split(/\s+/);
    if (cols.length < 2 || cols[0] === '') {
      const what = cols[0] === '' ? 'empty line' : 'only one column';
      throw new AccuracyInputError(file, i + 1, `${what}; expected "<image file> <label>" on every line`);
    }
    const token = cols[1];
    const label = PY_INT.test(token) ? Number(token.replaceAll('_', '')) : Number.NaN;
    if (!Number.isSafeInteger(label)) {
      throw new AccuracyInputError(file, i + 1, `label ${JSON.stringify(token)} is not an integer`);
    }
    entries[i] = { image: cols[0], label };
  }
  return entries;
}

// ---- mlperf_log_accuracy.json -----------------------------------------------------------------

export interface AccuracyRecord {
  /** 1-based line of the record's opening brace, for messages. */
  readonly line: number;
  readonly seqId: number | undefined;
  readonly qslIdx: number;
  /** The hex payload; undefined if the record has no "data" (an error only if the record is used). */
  readonly data: string | undefined;
}

const CH_NEWLINE = 10;
const CH_QUOTE = 34;
const CH_BACKSLASH = 92;
const CH_OPEN_BRACE = 123;
const CH_CLOSE_BRACE = 125;
const CH_OPEN_BRACKET = 91;
const CH_CLOSE_BRACKET = 93;
const CH_COMMA = 44;

function isJsonSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** Line of character offset `pos` given the line of offset `from` (counts the newlines between). */
function advanceLine(text: string, from: number, pos: number, line: number): number {
  let n = line;
  for (let i = from; i < pos; i++) if (text.charCodeAt(i) === CH_NEWLINE) n++;
  return n;
}

const TRUNCATED_COPY_MARK = '\n\n...\n\n';

/**
 * Parse an accuracy log: a JSON array of objects, each with an integer "qsl_idx" and a string
 * "data" (other keys such as "seq_id" or "token_count" are allowed). The array is scanned by hand
 * so that every record and every syntax error is reported with its line; each record's text is
 * then read with JSON.parse. Works on any valid JSON layout, not only LoadGen's one record a line.
 */
export function parseAccuracyLog(text: string, file = 'mlperf_log_accuracy.json'): AccuracyRecord[] {
  const n = text.length;
  let pos = 0;
  let line = 1;
  const skipSpace = (): void => {
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (!isJsonSpace(c)) break;
      if (c === CH_NEWLINE) line++;
      pos++;
    }
  };
  const fail = (at: number, atLine: number, description: string): never => {
    let hint = '';
    if (text.includes(TRUNCATED_COPY_MARK)) {
      hint = ' (this looks like a submission copy truncated by truncate_accuracy_log.py; use the full log)';
    } else if (at >= n) {
      hint = ' (the file ends early: was the run interrupted?)';
    }
    throw new AccuracyInputError(file, atLine, description + hint);
  };

  skipSpace();
  if (pos >= n) fail(pos, line, 'empty file; expected a JSON array of accuracy records');
  if (text.charCodeAt(pos) !== CH_OPEN_BRACKET) {
    fail(pos, line, `expected "[" at the start of the accuracy log, found ${JSON.stringify(text[pos])}`);
  }
  pos++;
  const records: AccuracyRecord[] = [];
  skipSpace();
  if (pos < n && text.charCodeAt(pos) === CH_CLOSE_BRACKET) {
    pos++;
  } else {
    for (;;) {
      skipSpace();
      if (pos >= n) fail(pos, line, 'unexpected end of file inside the record array');
      if (text.charCodeAt(pos) !== CH_OPEN_BRACE) {
        fail(pos, line, `expected a record ("{") but found ${JSON.stringify(text[pos])}`);
      }
      const start = pos;
      const startLine = line;
      // Fast path: a record in LoadGen's layout (no braces inside, one line).
      const close = text.indexOf('}', start);
      if (close > 0) {
        const m = LOADGEN_RECORD.exec(text.slice(start, close + 1));
        if (m) {
          records.push({ line: startLine, seqId: Number(m[1]), qslIdx: Number(m[2]), data: m[3] });
          pos = close + 1;
          skipSpace();
          const c = text.charCodeAt(pos);
          if (c === CH_COMMA) {
            pos++;
            continue;
          }
          if (c === CH_CLOSE_BRACKET) {
            pos++;
            break;
          }
          if (pos >= n) fail(pos, line, 'unexpected end of file after a record: the closing "]" is missing');
          fail(pos, line, `expected "," or "]" after a record, found ${JSON.stringify(text[pos])}`);
        }
      }
      // General case: find the matching closing brace, skipping strings.
      let depth = 0;
      let inString = false;
      for (; pos < n; pos++) {
        const c = text.charCodeAt(pos);
        if (inString) {
          if (c === CH_BACKSLASH) pos++;
          else if (c === CH_QUOTE) inString = false;
          else if (c === CH_NEWLINE) break; // JSON strings cannot span lines
        } else if (c === CH_QUOTE) inString = true;
        else if (c === CH_OPEN_BRACE) depth++;
        else if (c === CH_CLOSE_BRACE && --depth === 0) break;
      }
      if (pos >= n || inString) {
        const where = inString
          ? 'a string is not closed on the line of the record'
          : 'unexpected end of file';
        fail(
          pos,
          advanceLine(text, start, Math.min(pos, n), startLine),
          `${where} (record starting here: line ${startLine})`,
        );
      }
      pos++;
      const recordText = text.slice(start, pos);
      line = advanceLine(text, start, pos, startLine);
      records.push(toRecord(recordText, file, startLine));
      skipSpace();
      if (pos >= n) fail(pos, line, 'unexpected end of file after a record: the closing "]" is missing');
      const c = text.charCodeAt(pos);
      if (c === CH_COMMA) {
        pos++;
        continue;
      }
      if (c === CH_CLOSE_BRACKET) {
        pos++;
        break;
      }
      fail(pos, line, `expected "," or "]" after a record, found ${JSON.stringify(text[pos])}`);
    }
  }
  skipSpace();
  if (pos < n)
    fail(pos, line, `unexpected text after the closing "]": ${JSON.stringify(text.slice(pos, pos + 20))}`);
  return records;
}

/** LoadGen's own record layout (spec loadgen.md §9.2), read without JSON.parse. */
const LOADGEN_RECORD =
  /^\{ "seq_id" : (\d{1,15}), "qsl_idx" : (\d{1,15}), "data" : "([0-9A-Fa-f]*)"(?:, "token_count" : \d+)? \}$/;

function toRecord(recordText: string, file: string, line: number): AccuracyRecord {
  const m = LOADGEN_RECORD.exec(recordText);
  if (m) return { line, seqId: Number(m[1]), qslIdx: Number(m[2]), data: m[3] };
  let value: unknown;
  try {
    value = JSON.parse(recordText);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AccuracyInputError(file, line, `malformed record (${reason}): ${clip(recordText)}`);
  }
  const obj = value as Record<string, unknown>;
  const qslIdx = obj.qsl_idx;
  if (qslIdx === undefined)
    throw new AccuracyInputError(file, line, `record has no "qsl_idx": ${clip(recordText)}`);
  if (typeof qslIdx !== 'number' || !Number.isSafeInteger(qslIdx)) {
    throw new AccuracyInputError(file, line, `"qsl_idx" is not an integer: ${clip(recordText)}`);
  }
  const data = obj.data;
  if (data !== undefined && typeof data !== 'string') {
    throw new AccuracyInputError(file, line, `"data" is not a string: ${clip(recordText)}`);
  }
  const seqId = typeof obj.seq_id === 'number' ? obj.seq_id : undefined;
  return { line, seqId, qslIdx, data };
}

function clip(s: string): string {
  return s.length <= 120 ? s : `${s.slice(0, 117)}...`;
}

// ---- payload decoding -------------------------------------------------------------------------

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Python's bytes.fromhex: pairs of hex digits, ASCII whitespace allowed between pairs. */
export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  let len = 0;
  for (let i = 0; i < hex.length; ) {
    const c = hex.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) {
      i++;
      continue;
    }
    const hi = hexValue(c);
    const lo = i + 1 < hex.length ? hexValue(hex.charCodeAt(i + 1)) : -1;
    if (hi < 0 || lo < 0) {
      throw new Error(`non-hexadecimal number found in fromhex() arg at position ${hi < 0 ? i : i + 1}`);
    }
    out[len++] = (hi << 4) | lo;
    i += 2;
  }
  return out.subarray(0, len);
}

const PLAIN_HEX = /^[0-9A-Fa-f]*$/;
const SCRATCH = new DataView(new ArrayBuffer(8));

function checkPayloadSize(byteCount: number, dtype: AccuracyDtype): void {
  const size = ITEM_SIZE[dtype];
  if (byteCount === 0) throw new Error('"data" is empty');
  if (byteCount % size !== 0) {
    throw new Error(`"data" has ${byteCount} bytes, not a multiple of the ${dtype} size ${size}`);
  }
}

/**
 * int(np.frombuffer(bytes.fromhex(hex), dtype)[0]): the first element, little-endian, truncated
 * toward zero. An int64 outside the safe-integer range comes back as a bigint.
 */
export function decodePrediction(hex: string, dtype: AccuracyDtype): number | bigint {
  const size = ITEM_SIZE[dtype];
  let view: DataView;
  if (PLAIN_HEX.test(hex) && hex.length % 2 === 0) {
    // Fast path (LoadGen's output): decode only the first element into a scratch buffer.
    const byteCount = hex.length / 2;
    checkPayloadSize(byteCount, dtype);
    view = SCRATCH;
    for (let i = 0; i < size; i++) view.setUint8(i, Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  } else {
    const bytes = hexToBytes(hex);
    checkPayloadSize(bytes.length, dtype);
    view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  if (dtype === 'float32') {
    const x = view.getFloat32(0, true);
    if (Number.isNaN(x)) throw new Error('cannot convert float NaN to integer');
    if (!Number.isFinite(x)) throw new Error('cannot convert float infinity to integer');
    return Math.trunc(x) + 0; // + 0 turns -0 into 0
  }
  if (dtype === 'int32') return view.getInt32(0, true);
  const big = view.getBigInt64(0, true);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

// ---- scoring ----------------------------------------------------------------------------------

export interface ImagenetAccuracyOptions {
  /** Payload type, as the script's --dtype. Default float32. */
  dtype?: AccuracyDtype;
  /** Subtracted from every prediction (bnas extension; 1 for models with a background class). Default 0. */
  labelOffset?: number;
  /** Collect every wrong prediction (the script's --verbose lines). Default false. */
  collectMismatches?: boolean;
  /** Names used in error messages. */
  logFile?: string;
  valMapFile?: string;
}

export interface Mismatch {
  readonly qslIdx: number;
  readonly image: string;
  readonly expected: number;
  readonly found: number | bigint;
}

export interface ImagenetAccuracyResult {
  readonly good: number;
  /** Distinct qsl_idx values scored. */
  readonly total: number;
  /** Records in the log, duplicates included. */
  readonly records: number;
  /** Records skipped because their qsl_idx was seen before. */
  readonly duplicates: number;
  /** 100 * good / total. */
  readonly accuracy: number;
  /** The script's output line, without newline: "accuracy=76.000%, good=38000, total=50000". */
  readonly line: string;
  /** Present when collectMismatches was set, in log order. */
  readonly mismatches?: readonly Mismatch[];
}

/** Score parsed records against val_map entries (see the module comment for the rules). */
export function scoreImagenet(
  records: readonly AccuracyRecord[],
  valMap: readonly ValMapEntry[],
  options: ImagenetAccuracyOptions = {},
): ImagenetAccuracyResult {
  const dtype = options.dtype ?? 'float32';
  if (!ITEM_SIZE[dtype])
    throw new Error(`unknown dtype ${JSON.stringify(dtype)}; use float32, int32 or int64`);
  const offset = options.labelOffset ?? 0;
  if (!Number.isSafeInteger(offset)) throw new Error(`label offset must be an integer, got ${offset}`);
  const logFile = options.logFile ?? 'mlperf_log_accuracy.json';
  const valMapFile = options.valMapFile ?? 'val_map.txt';
  if (records.length === 0) {
    throw new AccuracyInputError(
      logFile,
      undefined,
      'the accuracy log holds no records (was it written by a performance run?)',
    );
  }
  const seen = new Uint8Array(valMap.length);
  const mismatches: Mismatch[] | undefined = options.collectMismatches ? [] : undefined;
  let good = 0;
  let total = 0;
  for (const record of records) {
    const idx = record.qslIdx;
    if (idx < 0 || idx >= valMap.length) {
      throw new AccuracyInputError(
        logFile,
        record.line,
        `qsl_idx ${idx} is out of range: ${valMapFile} has ${valMap.length} lines (valid qsl_idx 0..${valMap.length - 1})`,
      );
    }
    if (seen[idx] === 1) continue;
    seen[idx] = 1;
    total++;
    if (record.data === undefined) throw new AccuracyInputError(logFile, record.line, 'record has no "data"');
    let found: number | bigint;
    try {
      found = decodePrediction(record.data, dtype);
    } catch (err) {
      throw new AccuracyInputError(logFile, record.line, `qsl_idx ${idx}: ${(err as Error).message}`);
    }
    if (offset !== 0) found = typeof found === 'bigint' ? found - BigInt(offset) : found - offset;
    const { label, image } = valMap[idx];
    if (found === label) good++;
    else mismatches?.push({ qslIdx: idx, image, expected: label, found });
  }
  const accuracy = (100.0 * good) / total;
  return {
    good,
    total,
    records: records.length,
    duplicates: records.length - total,
    accuracy,
    line: formatAccuracyLine(good, total),
    ...(mismatches ? { mismatches } : {}),
  };
}

/** The script's output line for `good` of `total`. */
export function formatAccuracyLine(good: number, total: number): string {
  return `accuracy=${formatPythonFixed((100.0 * good) / total, 3)}%, good=${good}, total=${total}`;
}

/** The script's --verbose line for one wrong prediction. */
export function formatMismatch(m: Mismatch): string {
  return `${m.image}, expected: ${m.expected}, found ${m.found}`;
}

/**
 * Python's format(x, '.Nf'): the exact binary value of x rounded to N decimals, ties to even.
 * (Number.prototype.toFixed rounds exact ties up, e.g. 0.0625 → "0.063" where Python gives "0.062".)
 */
export function formatPythonFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent: number;
  if (biased === 0) {
    exponent = -1074;
  } else {
    mantissa |= 1n << 52n;
    exponent = biased - 1075;
  }
  // |x| = mantissa * 2^exponent; scaled = round_half_even(|x| * 10^digits)
  const scale = 10n ** BigInt(digits);
  let scaled: bigint;
  if (exponent >= 0) {
    scaled = (mantissa << BigInt(exponent)) * scale;
  } else {
    const num = mantissa * scale;
    const den = 1n << BigInt(-exponent);
    scaled = num / den;
    const twice = 2n * (num % den);
    if (twice > den || (twice === den && scaled % 2n === 1n)) scaled += 1n;
  }
  let s = scaled.toString();
  if (digits > 0) {
    s = s.padStart(digits + 1, '0');
    s = `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  }
  return negative ? `-${s}` : s;
}

// ---- files ------------------------------------------------------------------------------------

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new AccuracyInputError(path, undefined, `cannot read the ${what}: ${reason}`);
  }
}

/** Read both files and score them; errors name the file and line. */
export function imagenetAccuracyFromFiles(
  logPath: string,
  valMapPath: string,
  options: Omit<ImagenetAccuracyOptions, 'logFile' | 'valMapFile'> = {},
): ImagenetAccuracyResult {
  const valMap = parseValMap(readText(valMapPath, 'ImageNet val_map'), valMapPath);
  const records = parseAccuracyLog(readText(logPath, 'accuracy log'), logPath);
  return scoreImagenet(records, valMap, { ...options, logFile: logPath, valMapFile: valMapPath });
}
