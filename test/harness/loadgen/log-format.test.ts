import { describe, expect, it } from 'vitest';
import { AccuracyLog, toUpperHex } from '../../../harness/loadgen/log/accuracy.js';
import { keyOfSite, siteOf, sitesOf } from '../../../harness/loadgen/log/catalogue.js';
import {
  DetailLog,
  formatDetailValue,
  logEffectiveSettings,
  logRequestedSettings,
  logVersion,
  siteForIssue,
} from '../../../harness/loadgen/log/detail.js';
import {
  formatFixed,
  formatG,
  formatInteger,
  formatIsoBuildDate,
  formatMicros,
  formatPowerTime,
  formatTestDatetime,
  formatTimeMs,
} from '../../../harness/loadgen/log/format.js';
import { MemorySink } from '../../../harness/loadgen/log/sink.js';
import { accuracySummaryText, summaryTrailer } from '../../../harness/loadgen/log/summary.js';
import { TraceWriter } from '../../../harness/loadgen/log/trace.js';
import { roundRules } from '../../../harness/loadgen/rounds.js';
import {
  effectiveFromDetail,
  normalizeDetailLine,
  parseDetail,
  readFixture,
  requestedFromDetail,
} from './reference-fixtures.js';

const CURRENT = roundRules('current');
const V20 = roundRules('v2.0');

function memoryDetail(round = CURRENT): { detail: DetailLog; sink: MemorySink } {
  const sink = new MemorySink();
  return { detail: new DetailLog(sink, { round, originNs: 0, clock: () => 5327, pid: 17828 }), sink };
}

describe('C++ number formatting', () => {
  it('prints doubles like std::ostream (%g, 6 significant digits)', () => {
    const cases: [number, string][] = [
      [3600, '3600'],
      [3888.8612, '3888.86'],
      [0.99, '0.99'],
      [0.9, '0.9'],
      [18400063.2, '1.84001e+07'],
      [1e6, '1e+06'],
      [999999.4, '999999'],
      [999999.5, '1e+06'],
      [123456.5, '123456'], // exact tie: glibc rounds half to even
      [123457.5, '123458'],
      [0.0001, '0.0001'],
      [0.00001234, '1.234e-05'],
      [0, '0'],
      [-2.5, '-2.5'],
      [879.8165, '879.817'],
      [156049.99, '156050'],
      [1e100, '1e+100'],
      [Number.POSITIVE_INFINITY, 'inf'],
    ];
    for (const [x, s] of cases) expect(formatG(x), String(x)).toBe(s);
  });

  it('prints fixed decimals like printf %.Nf, ties to even on the exact value', () => {
    expect(formatFixed(2023.175, 2)).toBe('2023.17'); // 2023.175 is stored slightly below
    expect(formatFixed(0.125, 2)).toBe('0.12');
    expect(formatFixed(0.375, 2)).toBe('0.38');
    expect(formatFixed(2.5, 0)).toBe('2');
    expect(formatFixed(3.5, 0)).toBe('4');
    expect(formatFixed(99.9, 2)).toBe('99.90');
    expect(formatFixed(50, 2)).toBe('50.00');
    expect(formatFixed(90, 1)).toBe('90.0');
    expect(formatFixed(0.99 * 100, 0)).toBe('99');
    expect(formatFixed(865.5749, 2)).toBe('865.57');
    expect(formatFixed(0.001, 2)).toBe('0.00');
    expect(formatFixed(0.005, 2)).toBe('0.01'); // 0.005 is stored slightly above
    expect(formatFixed(-1.005, 2)).toBe('-1.00');
    expect(formatFixed(1e22, 1)).toBe('10000000000000000000000.0');
  });

  it('prints integers in full', () => {
    expect(formatInteger(15_000_000)).toBe('15000000');
    expect(formatInteger(12662793979680847247n)).toBe('12662793979680847247');
    expect(formatInteger(1e21)).toBe('1000000000000000000000');
  });

  it('formats time_ms, trace microseconds and dates', () => {
    expect(formatTimeMs(5327)).toBe('0.005327');
    expect(formatTimeMs(10013811050)).toBe('10013.811050');
    expect(formatTimeMs(10013811050n)).toBe('10013.811050');
    expect(formatMicros(401940)).toBe('401.940');
    expect(formatMicros(1695169)).toBe('1695.169');
    expect(formatMicros(7)).toBe('0.007');
    const local = new Date(2026, 10, 22, 16, 9, 11, 403);
    expect(formatTestDatetime(local)).toBe('2026-11-22T16:09:11Z');
    expect(formatPowerTime(Date.UTC(2026, 10, 22, 16, 9, 11, 403))).toBe('11-22-2026 16:09:11.403');
    expect(formatPowerTime(Date.UTC(2026, 10, 22, 16, 9, 21, 5))).toBe('11-22-2026 16:09:21.005');
    expect(formatIsoBuildDate(new Date(Date.UTC(2026, 10, 22, 16, 5, 7, 790)), true)).toBe(
      '2026-11-22T16:05:07.790000',
    );
    expect(formatIsoBuildDate(new Date(Date.UTC(2026, 10, 22, 16, 5, 7)), true)).toBe('2026-11-22T16:05:07');
  });
});

describe('summary trailer', () => {
  it('uses LoadGen’s singular and plural sentences', () => {
    expect(summaryTrailer(0, 0)).toBe(
      '\nNo warnings encountered during test.\n\nNo errors encountered during test.\n',
    );
    expect(summaryTrailer(1, 1)).toBe(
      '\n1 warning encountered. See detailed log.\n\n1 ERROR encountered. See detailed log.\n',
    );
    expect(summaryTrailer(583, 2)).toBe(
      '\n583 warnings encountered. See detailed log.\n\n2 ERRORS encountered. See detailed log.\n',
    );
  });

  it('is the whole summary of an accuracy run', () => {
    expect(accuracySummaryText(0, 0)).toBe(readFixture('cur/offline_acc/mlperf_log_summary.txt'));
    expect(accuracySummaryText(0, 0)).toBe(readFixture('v20/offline_acc/mlperf_log_summary.txt'));
  });
});

describe('AccuracyLog', () => {
  it('reproduces the reference records byte for byte', () => {
    const reference = readFixture('cur/offline_acc/mlperf_log_accuracy.head200.json');
    const records = [
      ...reference.matchAll(/\{ "seq_id" : (\d+), "qsl_idx" : (\d+), "data" : "([0-9A-F]*)" \}/g),
    ];
    expect(records).toHaveLength(200);
    const sink = new MemorySink();
    const log = new AccuracyLog(sink, 256);
    for (const [, seq, idx, hex] of records) {
      const bytes = Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
      log.append(Number(seq), Number(idx), bytes);
    }
    log.close();
    expect(sink.text()).toBe(reference);
    expect(log.recordCount).toBe(200);
  });

  it('writes "[\\n]\\n" when nothing was logged (performance runs)', () => {
    const sink = new MemorySink();
    new AccuracyLog(sink).close();
    expect(sink.text()).toBe(readFixture('cur/offline_perf/mlperf_log_accuracy.json'));
  });

  it('hex-encodes a float32 label in memory order, uppercase', () => {
    const label = new Uint8Array(new Float32Array([82]).buffer);
    expect(toUpperHex(label)).toBe('0000A442');
    expect(toUpperHex(Uint8Array.of(0, 0xab, 0xff))).toBe('00ABFF');
  });

  it('handles 50,000 records quickly', () => {
    const sink = new MemorySink();
    const log = new AccuracyLog(sink);
    const payload = new Uint8Array(4);
    const view = new DataView(payload.buffer);
    const start = performance.now();
    for (let i = 0; i < 50_000; i++) {
      view.setFloat32(0, i % 1000, true);
      log.append(i, (i * 7919) % 50_000, payload);
    }
    log.close();
    expect(performance.now() - start).toBeLessThan(500);
    const parsed = JSON.parse(sink.text()) as { seq_id: number }[];
    expect(parsed).toHaveLength(50_000);
  });
});

describe('TraceWriter', () => {
  it('writes the Sample and Latency events of the reference trace, as valid JSON', () => {
    const excerpt = readFixture('cur/server_trace_small/mlperf_log_trace.excerpt.json').split('\n');
    const lines = excerpt.filter(
      (l) => l.startsWith('{"name":"Latency"') || l.startsWith('{"name":"Sample"'),
    );
    expect(lines.length).toBeGreaterThanOrEqual(30);
    const sink = new MemorySink();
    const trace = new TraceWriter(sink, {
      originNs: 0,
      originEpochNs: 1795363864046434500n,
      pid: 18399,
      serverCounters: true,
    });
    const toNs = (us: string) => Math.round(Number(us) * 1000);
    const expected: string[] = [];
    for (let i = 0; i + 2 < lines.length; i += 3) {
      const begin =
        /"id":(\d+),"ts":([0-9.]+),"args":\{"sample_seq":\d+,"query_seq":(\d+),"sample_idx":(\d+),"issue_start_ns":(\d+),"complete_ns":(\d+)/.exec(
          lines[i + 1],
        );
      if (!begin) throw new Error(`unexpected trace line ${lines[i + 1]}`);
      const scheduledNs = toNs(begin[2]);
      trace.sample({
        sampleSeq: Number(begin[1]),
        querySeq: Number(begin[3]),
        sampleIndex: Number(begin[4]),
        scheduledNs,
        issuedNs: scheduledNs + Number(begin[5]),
        completedNs: scheduledNs + Number(begin[6]),
      });
      expected.push(lines[i], lines[i + 1], lines[i + 2]);
    }
    trace.complete('IssueQuery', 402246, 426296);
    trace.close();
    const text = sink.text();
    const footer = excerpt.slice(excerpt.indexOf('{"name":"LastTrace"}')).join('\n');
    expect(text).toBe(
      `{"traceEvents":[\n${expected.join('\n')}\n` +
        '{"name":"IssueQuery","ph":"X","pid":18399,"tid":18399,"ts":402.246,"dur":24.050,"args":{}},\n' +
        footer,
    );
    const parsed = JSON.parse(text) as { traceEvents: unknown[]; displayTimeUnit: string };
    expect(parsed.traceEvents).toHaveLength(expected.length + 2);
    expect(parsed.displayTimeUnit).toBe('ns');
  });

  it('quotes string arguments once', () => {
    const sink = new MemorySink();
    const trace = new TraceWriter(sink, { originNs: 1000, originEpochNs: 5n, pid: 1 });
    trace.complete('LogDetail', 2000, 3500, { key: 'loadgen_version' });
    trace.close();
    expect(sink.text()).toContain('"args":{"key":"loadgen_version"}}');
    expect(() => JSON.parse(sink.text())).not.toThrow();
  });
});

describe('DetailLog line format', () => {
  it('writes LoadGen’s MLLOG layout', () => {
    const { detail, sink } = memoryDetail();
    detail.log('loadgen_version', '6.0.17 @ b66003e10e');
    expect(sink.text()).toBe(
      ':::MLLOG {"key": "loadgen_version", "value": "6.0.17 @ b66003e10e", "time_ms": 0.005327, ' +
        '"namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error": false, ' +
        '"is_warning": false, "file": "version.cc", "line_no": 53, "pid": 17828, "tid": 17828}}\n',
    );
  });

  it('formats values as the C++ types print them', () => {
    expect(formatDetailValue(2000, true)).toBe('2000');
    expect(formatDetailValue(1e6, true)).toBe('1e+06');
    expect(formatDetailValue(20001000000, false)).toBe('20001000000');
    expect(formatDetailValue(2085463073848966840n, false)).toBe('2085463073848966840');
    expect(formatDetailValue(false, false)).toBe('false');
    expect(formatDetailValue([216, 267, 822], false)).toBe('[216,267,822]');
    expect(formatDetailValue({ '/b.cc': '2', '/a.cc': '1' }, false)).toBe('{"/a.cc":"1","/b.cc":"2"}');
    expect(formatDetailValue('a "quoted"\nline', false)).toBe('"a \\"quoted\\"\\nline"');
  });

  it('flags and counts errors and warnings', () => {
    const { detail, sink } = memoryDetail();
    detail.issue({
      key: 'error_invalid_config',
      message: 'Multiple conf files are used. This is not valid for official submission.',
    });
    detail.issue({
      key: 'warning_generic_message',
      message: 'Found Audit Config file (audit.config). Overriding TestSettings from audit.config file.',
    });
    expect(detail.errorCount).toBe(1);
    expect(detail.warningCount).toBe(1);
    const [err, warn] = sink.text().trim().split('\n');
    expect(err).toContain(
      '"is_error": true, "is_warning": false, "file": "test_settings_internal.cc", "line_no": 562',
    );
    expect(warn).toContain('"is_error": false, "is_warning": true, "file": "loadgen.cc", "line_no": 1235');
    for (const line of [err, warn]) expect(() => JSON.parse(line.slice(':::MLLOG '.length))).not.toThrow();
  });

  it('maps LoadGen’s messages to their sites in both rounds', () => {
    const ranOut = {
      key: 'error_runtime',
      message: 'Ending early: Ran out of generated queries to issue …',
    } as const;
    expect(siteForIssue(ranOut)).toBe('error_runtime@ran_out_of_queries');
    expect(siteOf(CURRENT, siteForIssue(ranOut))).toEqual(['loadgen.cc', 513]);
    expect(siteOf(V20, siteForIssue(ranOut))).toEqual(['loadgen.cc', 474]);
    const outstanding = {
      key: 'error_runtime',
      message: 'IssueQueryThread 0 Ending early: Too many outstanding queries. issued 5 outstanding 3',
    } as const;
    expect(siteOf(CURRENT, siteForIssue(outstanding))).toEqual(['issue_query_controller.cc', 465]);
    expect(siteOf(V20, 'generic_message@start_performance')).toEqual(['loadgen.cc', 1362]);
    expect(siteOf(V20, 'num_errors')).toBeUndefined();
    const { detail } = memoryDetail(V20);
    expect(() => detail.log('num_errors', 0)).toThrow(/never logs/);
  });

  it('gives all lines of a group one timestamp', () => {
    let now = 100;
    const sink = new MemorySink();
    const detail = new DetailLog(sink, { round: CURRENT, originNs: 0, clock: () => now++ });
    detail.group(() => {
      detail.log('sut_name', 'A');
      detail.log('qsl_name', 'B');
    });
    detail.log('qsl_reported_total_count', 5);
    const times = [...sink.text().matchAll(/"time_ms": ([0-9.]+)/g)].map((m) => m[1]);
    expect(times).toEqual(['0.000100', '0.000100', '0.000101']);
  });
});

const SETTINGS_FOLDERS = [
  ['cur/offline_perf', CURRENT],
  ['cur/offline_acc', CURRENT],
  ['cur/server_perf', CURRENT],
  ['cur/server_overload_invalid', CURRENT],
  ['cur/server_early_stop_fail', CURRENT],
  ['cur/server_trace_small', CURRENT],
  ['cur/singlestream_perf', CURRENT],
  ['v20/offline_perf', V20],
  ['v20/offline_acc', V20],
  ['v20/server_perf', V20],
] as const;

describe('detail keys against the real LoadGen', () => {
  for (const [folder, round] of SETTINGS_FOLDERS) {
    it(`${folder}: every key's file and line are in the catalogue`, () => {
      const known = new Set(
        sitesOf(round).map(([site, [file, line]]) => {
          const key = site.startsWith('result_percentile')
            ? site.replace('result_', 'result_XX.XX_')
            : keyOfSite(site);
          return `${key}|${file}|${line}`;
        }),
      );
      for (const l of parseDetail(readFixture(`${folder}/mlperf_log_detail.txt`))) {
        const key = l.key.replace(/^result_\d+\.\d+_percentile/, 'result_XX.XX_percentile');
        expect(known.has(`${key}|${l.file}|${l.line}`), `${key} ${l.file}:${l.line}`).toBe(true);
      }
    });

    it(`${folder}: requested_* and effective_* lines equal the reference`, () => {
      const reference = parseDetail(readFixture(`${folder}/mlperf_log_detail.txt`));
      const wanted = reference
        .filter((l) => l.key.startsWith('requested_') || l.key.startsWith('effective_'))
        .map((l) => normalizeDetailLine(l.text));
      const { detail, sink } = memoryDetail(round);
      logRequestedSettings(detail, requestedFromDetail(reference), round);
      logEffectiveSettings(detail, effectiveFromDetail(reference), round);
      const ours = sink.text().trimEnd().split('\n').map(normalizeDetailLine);
      expect(ours).toEqual(wanted);
    });

    it(`${folder}: loadgen_* header has the reference keys, sites and version`, () => {
      const reference = parseDetail(readFixture(`${folder}/mlperf_log_detail.txt`)).filter((l) =>
        l.key.startsWith('loadgen_'),
      );
      const { detail, sink } = memoryDetail(round);
      logVersion(detail, round);
      const ours = parseDetail(sink.text());
      expect(ours.map((l) => [l.key, l.file, l.line])).toEqual(reference.map((l) => [l.key, l.file, l.line]));
      expect(ours[0].raw).toBe(reference[0].raw);
      expect(detail.errorCount).toBe(0);
      for (const l of ours) expect(() => JSON.parse(l.text.slice(':::MLLOG '.length))).not.toThrow();
      const sha1 = JSON.parse(ours.find((l) => l.key === 'loadgen_file_sha1')?.raw ?? '{}') as Record<
        string,
        string
      >;
      expect(Object.keys(sha1)).toContain('/log/detail.ts');
      expect(Object.values(sha1).every((h) => /^[0-9a-f]{40}$/.test(h))).toBe(true);
    });
  }
});
