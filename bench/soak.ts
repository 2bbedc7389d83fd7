/**
 * npm run bench:soak — a long Server run on a real model, to catch leaks, drift and lost queries.
 *
 * 1. finds the highest VALID Server rate with short trials (harness/server-search.ts);
 * 2. runs Server at 80 % of it for 10 minutes, one continuous LoadGen test;
 * 3. prints RSS and the V8 heap (after a full GC: run with --expose-gc, as `npm run bench:soak`
 *    does) at the start (10 s in: the run's schedule allocated, workers warm) and at each minute's
 *    end, the 99th-percentile latency of each minute, and the queries LoadGen issued that never
 *    completed.
 * Pass: 0 lost queries, RSS growth ≤ 5 % from the start to the last minute's end (the end of the
 * timed run; LoadGen's summary afterwards sorts copies of the latencies and is printed apart), the
 * run VALID. Exit status 1 otherwise.
 *
 * Per-minute latencies are measured from the SUT's issueQuery to the worker's completion stamp (a
 * wrapper around the SUT); LoadGen measures from the scheduled time, which differs by the issue
 * lag (microseconds), and its whole-run p99 is printed beside them.
 *
 * Options (env): BNAS_SOAK_MINUTES (10), BNAS_SOAK_FRACTION (0.8), BNAS_SOAK_MODEL and
 * BNAS_SOAK_DATA (default: the embedded fixture), BNAS_SOAK_WORKERS (cores), BNAS_SOAK_THREADS (1),
 * BNAS_SOAK_BATCH (16), BNAS_SOAK_KEEP=1 keeps the LoadGen logs (printed path).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monotonicNowNs } from '../harness/loadgen/clock.js';
import type { CompletionSink, QuerySamples, SystemUnderTest } from '../harness/loadgen/types.js';
import { ModelRunner } from '../harness/model-runner.js';
import { p99Of, searchServerQps } from '../harness/server-search.js';
import { pipelineSut } from '../harness/sut-settings.js';

const minutes = Number(process.env.BNAS_SOAK_MINUTES ?? 10);
const fraction = Number(process.env.BNAS_SOAK_FRACTION ?? 0.8);
const modelPath = process.env.BNAS_SOAK_MODEL ?? 'models/fixture/fmnist_resnet.onnx';
const dataDir = process.env.BNAS_SOAK_DATA ?? 'datasets/fixtures/fashion-mnist/val';
const sut = pipelineSut({
  workers: Number(process.env.BNAS_SOAK_WORKERS ?? availableParallelism()),
  threadsPerWorker: Number(process.env.BNAS_SOAK_THREADS ?? 1),
  batchSize: Number(process.env.BNAS_SOAK_BATCH ?? 16),
});
const MINUTE_NS = 60e9;

/**
 * Latencies of the samples completed in each minute of the run, and RSS along the way. The
 * latency buffers are allocated and touched before the run, so that the recorder's own memory
 * does not show up as growth.
 */
class MinuteRecorder {
  readonly latenciesMs: Float64Array[];
  readonly counts: number[];
  readonly atMinuteEnd: MemorySample[] = [];
  /** Memory 10 s into the run: LoadGen has allocated the run's schedule, the workers are warm. */
  warm: MemorySample | undefined;
  issued = 0;
  completed = 0;
  private readonly issuedAtNs = new Map<number, number>();
  private startNs = 0;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(minutes: number, samplesPerMinute: number) {
    this.latenciesMs = Array.from({ length: minutes + 1 }, () => new Float64Array(samplesPerMinute).fill(0));
    this.counts = new Array(minutes + 1).fill(0);
  }

  /** Wraps `inner` so that every issued and completed sample is seen here first. */
  watch(inner: SystemUnderTest): SystemUnderTest {
    const original = inner.issueQuery.bind(inner);
    inner.issueQuery = (samples: QuerySamples, complete: CompletionSink) => {
      if (this.startNs === 0) this.begin();
      const now = monotonicNowNs();
      for (const id of samples.ids) this.issuedAtNs.set(id, now);
      this.issued += samples.ids.length;
      original(samples, (done) => {
        const at = done.timeNs ?? monotonicNowNs();
        const minute = Math.min(Math.floor((at - this.startNs) / MINUTE_NS), this.counts.length - 1);
        const bucket = this.latenciesMs[minute];
        for (let i = 0; i < done.ids.length; i++) {
          const issuedAt = this.issuedAtNs.get(done.ids[i]);
          if (issuedAt === undefined) continue;
          this.issuedAtNs.delete(done.ids[i]);
          if (this.counts[minute] < bucket.length) bucket[this.counts[minute]++] = (at - issuedAt) / 1e6;
          this.completed++;
        }
        complete(done);
      });
    };
    return inner;
  }

  private begin(): void {
    this.startNs = monotonicNowNs();
    this.timers.push(setTimeout(() => (this.warm = sampleMemory()), 10_000));
    this.timers.push(setInterval(() => this.atMinuteEnd.push(sampleMemory()), 60_000));
    for (const timer of this.timers) timer.unref();
  }

  minuteP99(minute: number): number {
    const sorted = this.latenciesMs[minute].slice(0, this.counts[minute]).sort();
    if (sorted.length === 0) return Number.NaN;
    return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)];
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

interface MemorySample {
  rss: number;
  /** V8 heap in use after a full GC (when --expose-gc is on), so garbage not yet collected is not counted. */
  heapUsed: number;
  /** Memory held outside the V8 heap by ArrayBuffers and native objects of this thread. */
  external: number;
}

function sampleMemory(): MemorySample {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed, external } = process.memoryUsage();
  return { rss, heapUsed, external };
}

async function main(): Promise<void> {
  if (!(minutes > 0) || !(fraction > 0 && fraction <= 1)) {
    throw new Error(
      `BNAS_SOAK_MINUTES must be > 0 and BNAS_SOAK_FRACTION in (0, 1] (got ${minutes}, ${fraction})`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), 'bnas-bench-soak-'));
  const runner = await ModelRunner.open({ modelPath, dataDir, sut });
  try {
    if (runner.startError) throw runner.startError;
    console.log(
      `bench:soak — ${modelPath} on ${dataDir}; SUT ${sut.workers} workers × ${sut.threadsPerWorker} thread, batch ${sut.batchSize}`,
    );
    console.log('finding the highest VALID Server rate (3 s trials)…');
    const peak = await searchServerQps({
      runner,
      outDir: join(work, 'peak'),
      round: 'current',
      trialMs: 3000,
      startQps: 500,
      onTrial: (t) =>
        console.log(
          `  ${t.targetQps} qps: ${t.valid ? 'VALID' : 'INVALID'}, p99 ${(t.p99LatencyNs / 1e6).toFixed(2)} ms`,
        ),
    });
    if (peak.bestQps === 0) throw new Error(`no VALID Server rate: ${peak.note ?? 'every trial failed'}`);
    const targetQps = Number((peak.bestQps * fraction).toPrecision(3));
    console.log(
      `peak ${peak.bestQps} qps; soaking at ${targetQps} qps (${fraction * 100} %) for ${minutes} min…`,
    );

    const recorder = new MinuteRecorder(Math.ceil(minutes), Math.ceil(targetQps * 60 * 1.5));
    recorder.watch(runner.sut);
    const rssBefore = process.memoryUsage().rss;
    const outcome = await runner.run({
      scenario: 'Server',
      mode: 'PerformanceOnly',
      round: 'current',
      userConfText: `resnet50.Server.target_qps = ${targetQps}\nresnet50.Server.min_duration = ${Math.round(minutes * 60_000)}\nresnet50.Server.min_query_count = 1\n`,
      outDir: join(work, 'soak'),
    });
    recorder.stop();
    const afterSummary = sampleMemory();

    console.log('\n| minute | samples | p99 latency (ms) | RSS at minute end | V8 heap | external |');
    console.log('|---:|---:|---:|---:|---:|---:|');
    recorder.counts.forEach((count, minute) => {
      if (count === 0) return;
      const m = recorder.atMinuteEnd[minute];
      console.log(
        `| ${minute + 1} | ${count} | ${recorder.minuteP99(minute).toFixed(2)} | ${m ? `${mb(m.rss)} | ${mb(m.heapUsed)} | ${mb(m.external)}` : '— | — | —'} |`,
      );
    });
    const perf = outcome.performance;
    const lostQueries = (perf?.queriesIssued ?? 0) - (perf?.sampleCount ?? 0);
    const rssStart = recorder.warm?.rss ?? rssBefore;
    const rssEnd = recorder.atMinuteEnd.at(-1)?.rss ?? afterSummary.rss;
    const growth = rssEnd / rssStart - 1;
    console.log(
      `\nLoadGen: ${perf?.valid ? 'VALID' : 'INVALID'}, ${perf?.queriesIssued ?? 0} queries issued, ${perf?.sampleCount ?? 0} completed, whole-run p99 ${(p99Of(outcome) / 1e6).toFixed(2)} ms, ${outcome.errors} errors`,
    );
    console.log(
      `lost queries: ${lostQueries} (SUT wrapper: ${recorder.issued - recorder.completed} of ${recorder.issued})`,
    );
    console.log(
      `RSS: start ${mb(rssStart)}, end of the timed run ${mb(rssEnd)}, growth ${(growth * 100).toFixed(2)} % (limit 5 %); after LoadGen's summary ${mb(afterSummary.rss)}`,
    );
    const pass =
      lostQueries === 0 && recorder.issued === recorder.completed && growth <= 0.05 && perf?.valid === true;
    console.log(pass ? 'PASS' : 'FAIL');
    if (process.env.BNAS_SOAK_KEEP === '1') console.log(`logs kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
    process.exitCode = pass ? 0 : 1;
  } finally {
    await runner.close();
  }
}

main().catch((error: unknown) => {
  console.error(`bench:soak: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
