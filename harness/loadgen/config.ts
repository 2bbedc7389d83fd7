/**
 * mlperf.conf / user.conf / audit.config, read the way LoadGen's TestSettings::FromConfig reads
 * them (spec loadgen.md §3.2–§3.3): whitespace-separated `key = value` tokens, numbers checked
 * with C's strtoul/strtod, values looked up per (model, scenario) with `*` wildcards.
 */
import { readFileSync } from 'node:fs';
import type { LogIssue, RoundRules, Scenario, TestMode, TestSettings } from './types.js';

/** A Unicode byte order mark; editors on Windows start UTF-8 files with it. */
const BYTE_ORDER_MARK = '\uFEFF';

/**
 * Which FromConfig call a file goes through: LoadGen's conf_type 0 (the mlperf.conf compiled
 * into current LoadGen), 1 (user.conf) or 2 (audit.config). v2.0 LoadGen has no conf types.
 */
export type ConfType = 'mlperf' | 'user' | 'audit';

export interface ParsedConf {
  /** Path or name of the file, for messages. */
  readonly source: string;
  /** Raw value text per full key (`model.scenario.name`); a later line has replaced an earlier one. */
  readonly values: ReadonlyMap<string, string>;
  /** 1-based line each value in `values` came from, for messages. */
  readonly lines: ReadonlyMap<string, number>;
}

/** A conf file LoadGen would reject as a whole (it logs error_invalid_config and applies nothing). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly file: string;
  /** 1-based line of the first problem; undefined when the file could not be read. */
  readonly line: number | undefined;
  /** LoadGen's own text of the first problem, e.g. "expected 'key=value', line=3". */
  readonly loadgenMessage: string;
  /** Every error_invalid_config LoadGen logs for this file (it reports each bad line). */
  readonly issues: readonly LogIssue[];

  constructor(file: string, line: number | undefined, description: string, issues: readonly LogIssue[]) {
    super(line === undefined ? `${file}: ${description}` : `${file}:${line}: ${description}`);
    this.file = file;
    this.line = line;
    this.loadgenMessage = issues[0].message;
    this.issues = issues;
  }
}

// ---- parsing ----------------------------------------------------------------------------------

/** What `iss >> s` treats as a separator (C isspace), not JavaScript's wider \s. */
const C_WHITESPACE = /[ \t\n\v\f\r]+/;
/** A token strtoul(s, &end, 0) consumes completely (decimal, 0x hex, 0 octal, optional sign). */
const STRTOUL_WHOLE = /^[+-]?(?:0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i;
/** A token glibc strtod consumes completely (decimal, hex float, inf/infinity, nan/nan(...)). */
const STRTOD_WHOLE =
  /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?\d+)?|inf(?:inity)?|nan(?:\([0-9a-z_]*\))?)$/i;

interface LineProblem {
  line: number;
  loadgenMessage: string;
  description: string;
}

/**
 * Parse conf text. Throws ConfigError if any line is malformed, like LoadGen, which then ignores
 * the whole file. Quirks kept on purpose: `#` starts a comment only where a key or `=` is
 * expected, so `key = 1 # note` is an error; a line holding only a key is silently ignored; extra
 * numeric tokens after the value replace it (`key = 1 2` sets 2). One departure: a leading byte
 * order mark is dropped (LoadGen would glue it to the first key, which then matches nothing).
 */
export function parseConf(text: string, source: string): ParsedConf {
  const values = new Map<string, string>();
  const lines = new Map<string, number>();
  const problems: LineProblem[] = [];
  const body = text.startsWith(BYTE_ORDER_MARK) ? text.slice(BYTE_ORDER_MARK.length) : text;
  body.split('\n').forEach((line, i) => {
    const problem = parseLine(line, i + 1, values, lines);
    if (problem) problems.push(problem);
  });
  if (problems.length > 0) throw configErrorFor(source, problems);
  return { source, values, lines };
}

function parseLine(
  line: string,
  lineNr: number,
  values: Map<string, string>,
  lines: Map<string, number>,
): LineProblem | undefined {
  let key = '';
  let expecting: 'key' | 'equals' | 'value' = 'key';
  for (const token of line.split(C_WHITESPACE)) {
    if (token === '') continue;
    if (expecting === 'value') {
      if (!isConfNumber(token)) {
        return {
          line: lineNr,
          loadgenMessage: `value needs to be integer or double, line=${lineNr}`,
          description: `value "${token}" of "${key}" needs to be an integer or a double`,
        };
      }
      values.set(key, token);
      lines.set(key, lineNr);
      continue;
    }
    if (token === '#') return undefined;
    if (expecting === 'equals') {
      if (token !== '=') {
        return {
          line: lineNr,
          loadgenMessage: `expected 'key=value', line=${lineNr}`,
          description: `expected 'key = value' (with spaces around '='), found "${token}" after "${key}"`,
        };
      }
      expecting = 'value';
      continue;
    }
    key = token;
    expecting = 'equals';
  }
  return undefined;
}

function isConfNumber(token: string): boolean {
  return STRTOUL_WHOLE.test(token) || STRTOD_WHOLE.test(token);
}

function configErrorFor(source: string, problems: readonly LineProblem[]): ConfigError {
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more bad line(s))` : '';
  const issues = problems.map((p) => ({ key: 'error_invalid_config' as const, message: p.loadgenMessage }));
  return new ConfigError(source, first.line, `${first.description}${more}`, issues);
}

/** Read and parse a conf file; an unreadable file gives LoadGen's "can't open file <path>". */
export function loadConfFile(path: string): ParsedConf {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const issue: LogIssue = { key: 'error_invalid_config', message: `can't open file ${path}` };
    throw new ConfigError(path, undefined, `can't open file (${reason})`, [issue]);
  }
  return parseConf(text, path);
}

// ---- values -----------------------------------------------------------------------------------

const U64_MAX = (1n << 64n) - 1n;
const STRTOUL_PREFIX = /^([+-]?)(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)/i;

/**
 * C strtoull(token, nullptr, 0): the longest integer prefix ("1.5" → 1, "08" → 0, "1e3" → 1),
 * a minus sign wrapping modulo 2^64, overflow saturating at 2^64−1.
 */
export function cStrtoull(token: string): bigint {
  const match = STRTOUL_PREFIX.exec(token);
  if (!match) return 0n;
  const [, sign, digits] = match;
  const isOctal = digits.length > 1 && digits[0] === '0' && !/^0x/i.test(digits);
  const magnitude = BigInt(isOctal ? `0o${digits.slice(1)}` : digits);
  if (magnitude > U64_MAX) return U64_MAX;
  return sign === '-' ? BigInt.asUintN(64, -magnitude) : magnitude;
}

/** C strtod of a token parseConf accepted (so the whole token is a number). */
export function cStrtod(token: string): number {
  const sign = token[0] === '-' ? -1 : 1;
  const body = token.replace(/^[+-]/, '').toLowerCase();
  if (body.startsWith('inf')) return sign * Number.POSITIVE_INFINITY;
  if (body.startsWith('nan')) return Number.NaN;
  if (body.startsWith('0x')) return sign * hexFloat(body.slice(2));
  return sign * Number(body);
}

function hexFloat(text: string): number {
  const [mantissa, exponent = '0'] = text.split('p');
  const [whole, fraction = ''] = mantissa.split('.');
  const digits = BigInt(`0x${whole}${fraction}`);
  return Number(digits) * 2 ** (Number(exponent) - 4 * fraction.length);
}

const u64 = (token: string): number => Number(cStrtoull(token));
const nonZero = (token: string): boolean => cStrtoull(token) !== 0n;
const isOne = (token: string): boolean => cStrtoull(token) === 1n;
const percent = (token: string): number => cStrtod(token) * 0.01;
/** ms → ns for an integer field: strtoull × 1e6 in uint64 arithmetic (Server target_latency). */
const msToNsInteger = (token: string): number => Number(BigInt.asUintN(64, cStrtoull(token) * 1_000_000n));
/** ms → ns for a double field: strtod × 1e6 (SingleStream/MultiStream target_latency). */
const msToNsDouble = (token: string): number => cStrtod(token) * 1_000_000;
/** Whether a reader takes its token with C strtod (every other reader uses strtoull). */
const readsDouble = (read: (token: string) => unknown): boolean =>
  read === cStrtod || read === percent || read === msToNsDouble;
/** `server_max_async_queries = int(val)`: truncated to a C int, then stored in a uint64. */
const cIntToU64 = (token: string): number => Number(BigInt.asUintN(64, BigInt.asIntN(32, cStrtoull(token))));

// ---- lookup and application -------------------------------------------------------------------

/** The value text of `name` for (model, scenario): exact key, then `*.scenario`, `model.*`, `*.*`. */
export function lookupConf(
  conf: ParsedConf,
  model: string,
  scenario: string,
  name: string,
): string | undefined {
  const key = findConfKey(conf, model, scenario, name);
  return key === undefined ? undefined : conf.values.get(key);
}

/** The full key lookupConf takes the value of, if any. */
function findConfKey(conf: ParsedConf, model: string, scenario: string, name: string): string | undefined {
  const candidates = [
    `${model}.${scenario}.${name}`,
    `*.${scenario}.${name}`,
    `${model}.*.${name}`,
    `*.*.${name}`,
  ];
  return candidates.find((key) => conf.values.has(key));
}

/** How LoadGen converts a key's text: C strtoull (integers, flags, seeds) or strtod (doubles). */
export type ConfNumberKind = 'integer' | 'double';

/** Where a setting's value came from: the line of a conf file that set it last. */
export interface SettingOrigin {
  /** The full key as written, e.g. `*.Server.target_qps`. */
  key: string;
  /** The value text as written. */
  token: string;
  file: string;
  line: number | undefined;
  kind: ConfNumberKind;
}

/** The origin of every TestSettings field a conf file has set (fields left at defaults are absent). */
export type SettingOrigins = Map<keyof TestSettings, SettingOrigin>;

interface RuleFlags {
  /** Looked up under this scenario whatever scenario is being configured. */
  scenario?: Scenario;
  /** Current LoadGen reads it from its embedded mlperf.conf only (conf_type 0). */
  mlperfConfOnly?: boolean;
  /** Not a key of the v2.0 LoadGen. */
  notInV20?: boolean;
}

interface KeyRule extends RuleFlags {
  name: string;
  field: keyof TestSettings;
  kind: ConfNumberKind;
  apply(token: string, settings: TestSettings): void;
}

function rule<K extends keyof TestSettings>(
  name: string,
  field: K,
  read: (token: string) => TestSettings[K],
  flags: RuleFlags = {},
): KeyRule {
  return {
    name,
    field,
    kind: readsDouble(read) ? 'double' : 'integer',
    ...flags,
    apply: (token, settings) => {
      settings[field] = read(token);
    },
  };
}

const MLPERF_ONLY: RuleFlags = { mlperfConfOnly: true };
const TEST05: RuleFlags = { mlperfConfOnly: true, notInV20: true };
const SINGLE_STREAM: RuleFlags = { scenario: 'SingleStream' };
const MULTI_STREAM: RuleFlags = { scenario: 'MultiStream' };
const SERVER: RuleFlags = { scenario: 'Server' };
const OFFLINE: RuleFlags = { scenario: 'Offline' };

/** Every key FromConfig reads besides `mode`, with the field it sets and how the text converts. */
const KEY_RULES: readonly KeyRule[] = [
  rule('qsl_rng_seed', 'qslRngSeed', cStrtoull, MLPERF_ONLY),
  rule('sample_index_rng_seed', 'sampleIndexRngSeed', cStrtoull, MLPERF_ONLY),
  rule('schedule_rng_seed', 'scheduleRngSeed', cStrtoull, MLPERF_ONLY),
  rule('accuracy_log_probability', 'accuracyLogProbability', percent, MLPERF_ONLY),
  rule('test05', 'test05', isOne, TEST05),
  rule('test05_qsl_rng_seed', 'test05QslRngSeed', cStrtoull, TEST05),
  rule('test05_sample_index_rng_seed', 'test05SampleIndexRngSeed', cStrtoull, TEST05),
  rule('test05_schedule_rng_seed', 'test05ScheduleRngSeed', cStrtoull, TEST05),
  rule('target_latency_percentile', 'singleStreamTargetLatencyPercentile', percent, SINGLE_STREAM),
  rule('target_latency', 'singleStreamExpectedLatencyNs', msToNsDouble, SINGLE_STREAM),
  rule('target_latency_percentile', 'multiStreamTargetLatencyPercentile', percent, MULTI_STREAM),
  rule('target_latency', 'multiStreamExpectedLatencyNs', msToNsDouble, MULTI_STREAM),
  rule('samples_per_query', 'multiStreamSamplesPerQuery', u64, MULTI_STREAM),
  rule('target_latency_percentile', 'serverTargetLatencyPercentile', percent, SERVER),
  rule('target_latency', 'serverTargetLatencyNs', msToNsInteger, SERVER),
  rule('target_qps', 'serverTargetQps', cStrtod, SERVER),
  rule('coalesce_queries', 'serverCoalesceQueries', nonZero, SERVER),
  rule('max_async_queries', 'serverMaxAsyncQueries', cIntToU64, SERVER),
  rule('target_qps', 'offlineExpectedQps', cStrtod, OFFLINE),
  rule('performance_issue_unique', 'performanceIssueUnique', nonZero),
  rule('performance_issue_same', 'performanceIssueSame', nonZero),
  rule('performance_issue_same_index', 'performanceIssueSameIndex', u64),
  rule('sample_concatenate_permutation', 'sampleConcatenatePermutation', isOne),
  rule('min_duration', 'minDurationMs', u64),
  rule('max_duration', 'maxDurationMs', u64),
  rule('min_query_count', 'minQueryCount', u64),
  rule('max_query_count', 'maxQueryCount', u64),
  rule('performance_sample_count_override', 'performanceSampleCountOverride', u64),
  rule('accuracy_sample_count_override', 'accuracySampleCountOverride', u64, { notInV20: true }),
  rule('print_timestamps', 'printTimestamps', nonZero),
  rule('accuracy_log_rng_seed', 'accuracyLogRngSeed', cStrtoull),
  rule('accuracy_log_sampling_target', 'accuracyLogSamplingTarget', u64),
];

const MODE_VALUES: readonly TestMode[] = [
  'SubmissionRun',
  'AccuracyOnly',
  'PerformanceOnly',
  'FindPeakPerformance',
];

export interface ApplyConfOptions {
  model: string;
  /** Scenario name used for lookups (the scenario-specific keys ignore it, see KEY_RULES). */
  scenario: Scenario;
  confType: ConfType;
  round: RoundRules;
  /** If given, records which key, file and line set each field (for validation messages). */
  origins?: SettingOrigins;
}

/** A numeric key FromConfig reads, and the TestSettings field it sets. */
export interface ConfKey {
  name: string;
  field: keyof TestSettings;
  kind: ConfNumberKind;
  /** Read under this scenario only (whatever scenario is configured). */
  scenario?: Scenario;
}

/** Every numeric key FromConfig reads, `mode` included. */
export const CONF_KEYS: readonly ConfKey[] = [
  { name: 'mode', field: 'mode', kind: 'integer' },
  ...KEY_RULES.map(({ name, field, kind, scenario }) => ({ name, field, kind, scenario })),
];

/**
 * Copy what `conf` sets into `settings` (mutated), as one FromConfig call of the round's LoadGen
 * does once the file is parsed. Returns the issues LoadGen logs meanwhile (a bad `mode` value).
 */
export function applyConf(settings: TestSettings, conf: ParsedConf, options: ApplyConfOptions): LogIssue[] {
  const issues = applyMode(settings, conf, options);
  for (const rule of KEY_RULES) {
    if (!ruleApplies(rule, options)) continue;
    const key = findConfKey(conf, options.model, rule.scenario ?? options.scenario, rule.name);
    if (key === undefined) continue;
    rule.apply(tokenAt(conf, key), settings);
    recordOrigin(options, rule.field, conf, key, rule.kind);
  }
  return issues;
}

function tokenAt(conf: ParsedConf, key: string): string {
  const token = conf.values.get(key);
  if (token === undefined) throw new Error(`internal: no value for ${key}`);
  return token;
}

function recordOrigin(
  options: ApplyConfOptions,
  field: keyof TestSettings,
  conf: ParsedConf,
  key: string,
  kind: ConfNumberKind,
): void {
  // Deleted first so that the map's order is the order the values were applied in.
  options.origins?.delete(field);
  options.origins?.set(field, {
    key,
    token: tokenAt(conf, key),
    file: conf.source,
    line: conf.lines.get(key),
    kind,
  });
}

function applyMode(settings: TestSettings, conf: ParsedConf, options: ApplyConfOptions): LogIssue[] {
  const key = findConfKey(conf, options.model, options.scenario, 'mode');
  if (key === undefined) return [];
  recordOrigin(options, 'mode', conf, key, 'integer');
  const value = cStrtoull(tokenAt(conf, key));
  if (value < BigInt(MODE_VALUES.length)) {
    settings.mode = MODE_VALUES[Number(value)];
    return [];
  }
  return [{ key: 'error_invalid_config', message: 'Invalid value passed to Mode key in config.' }];
}

/** v2.0 reads every key it knows from every file; current LoadGen filters by conf type. */
function ruleApplies(rule: KeyRule, { confType, round }: ApplyConfOptions): boolean {
  if (round.mlperfConfIsFile) return !rule.notInV20;
  return !rule.mlperfConfOnly || confType === 'mlperf';
}
