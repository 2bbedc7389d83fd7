/**
 * mlperf_log_trace.json in the Chrome trace-event layout LoadGen writes, but valid JSON (LoadGen
 * quotes string arguments twice). Times are µs since the log origin with 3 decimals. Per sample:
 * an async "Sample" begin at the scheduled time and end at completion; Server runs also get a
 * "Latency" counter event (issue delay, issue-to-done), as LoadGen's completion path writes them.
 */
import { formatMicros } from './format.js';
import { BufferedText, type TextSink } from './sink.js';

/** One completed sample; times on the monotonic clock of the run (ns). */
export interface TraceSampleRecord {
  sampleSeq: number;
  querySeq: number;
  sampleIndex: number;
  scheduledNs: number;
  issuedNs: number;
  completedNs: number;
}

export type TraceArg = number | bigint | string | boolean;

export interface TraceWriterOptions {
  /** Monotonic time (ns) of the log origin; event times are relative to it. */
  originNs: number;
  /** Wall-clock time of the origin, ns since the epoch (footer "otherData.ts", in µs). */
  originEpochNs: bigint;
  pid?: number;
  /** Thread id for complete ("X") events; defaults to the pid (main thread). */
  tid?: number;
  /** Write the Server "Latency" counter with every sample. */
  serverCounters?: boolean;
  highWater?: number;
}

function argValue(v: TraceArg): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : JSON.stringify(String(v));
  return String(v);
}

function argsText(args: Readonly<Record<string, TraceArg>> | undefined): string {
  if (!args) return '';
  let s = '';
  for (const [k, v] of Object.entries(args)) s += `${s ? ',' : ''}${JSON.stringify(k)}:${argValue(v)}`;
  return s;
}

export class TraceWriter {
  private readonly out: BufferedText;
  private readonly origin: number;
  private readonly originEpochNs: bigint;
  private readonly pid: number;
  private readonly tid: number;
  private readonly serverCounters: boolean;
  private closed = false;

  constructor(sink: TextSink, options: TraceWriterOptions) {
    this.out = new BufferedText(sink, options.highWater);
    this.origin = options.originNs;
    this.originEpochNs = options.originEpochNs;
    this.pid = options.pid ?? process.pid;
    this.tid = options.tid ?? this.pid;
    this.serverCounters = options.serverCounters ?? false;
    this.out.write('{"traceEvents":[\n');
  }

  private ts(ns: number): string {
    return formatMicros(ns - this.origin);
  }

  /** The events LoadGen writes for one completed sample. */
  sample(r: TraceSampleRecord): void {
    const issueDelay = Math.trunc(r.issuedNs - r.scheduledNs);
    const completeNs = Math.trunc(r.completedNs - r.scheduledNs);
    const begin = this.ts(r.scheduledNs);
    let text = '';
    if (this.serverCounters) {
      text +=
        `{"name":"Latency","ph": "C","pid":${this.pid},"ts":${begin},"args":{ ` +
        `"issue_delay":${issueDelay},"issue_to_done":${Math.trunc(r.completedNs - r.issuedNs)}}},\n`;
    }
    text +=
      `{"name":"Sample","cat":"default","ph":"b","pid":${this.pid},"id":${r.sampleSeq},"ts":${begin},` +
      `"args":{"sample_seq":${r.sampleSeq},"query_seq":${r.querySeq},"sample_idx":${r.sampleIndex},` +
      `"issue_start_ns":${issueDelay},"complete_ns":${completeNs}}},\n` +
      `{"name":"Sample","cat":"default","ph":"e", "pid":${this.pid},"id":${r.sampleSeq},"ts":${this.ts(r.completedNs)}},\n`;
    this.out.write(text);
  }

  /** A complete ("X") event spanning [startNs, endNs] on the monotonic clock. */
  complete(
    name: string,
    startNs: number,
    endNs: number,
    args?: Readonly<Record<string, TraceArg>>,
    tid?: number,
  ): void {
    this.out.write(
      `{"name":${JSON.stringify(name)},"ph":"X","pid":${this.pid},"tid":${tid ?? this.tid},` +
        `"ts":${this.ts(startNs)},"dur":${formatMicros(endNs - startNs)},"args":{${argsText(args)}}},\n`,
    );
  }

  flush(): void {
    this.out.flush();
  }

  /** Writes the closing "LastTrace" event and the footer, then flushes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const us = this.originEpochNs / 1000n;
    const rest = this.originEpochNs % 1000n;
    this.out.write(
      '{"name":"LastTrace"}\n],\n"displayTimeUnit":"ns",\n"otherData":{\n' +
        `"ts":${us}.${rest.toString().padStart(3, '0')},\n"version":"MLPerf LoadGen v1.0"\n}\n}\n`,
    );
    this.out.flush();
  }
}
