/**
 * npm run bench:loadgen — how fast is our LoadGen itself (null SUT: every sample answered inside
 * IssueQuery)? Prints, in one run:
 *  - Offline samples/s for one large query, against a plain loop doing the bare minimum per sample
 *    (one completion call, one timestamp, one stored latency) measured in the same run;
 *  - the highest Server target_qps that stays VALID;
 *  - at 10,000 qps Server, the distribution of (actual issue time − scheduled time).
 * Reference on this kind of 2-core VM (spec loadgen.md §14): C++ LoadGen 11.8–18.4 M samples/s
 * Offline, VALID up to 200k qps Server; through its Python bindings 0.16–0.26 M samples/s, 10k qps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monotonicNowNs } from '../harness/loadgen/clock.js';
import { startTest, type TestOutcome } from '../harness/loadgen/loadgen.js';
import { roundRules } from '../harness/loadgen/rounds.js';
import { loadTestSettings, resetConfLoadCount } from '../harness/loadgen/settings.js';
import type { Scenario } from '../harness/loadgen/types.js';
import { IndexOnlyQsl } from '../harness/sut/index-qsl.js';
import { NullSut } from '../harness/sut/null-sut.js';

const work = mkdtempSync(join(tmpdir(), 'bnas-bench-loadgen-'));
let runs = 0;

async function runNull(scenario: Scenario, userConf: string): Promise<TestOutcome> {
  resetConfLoadCount(); // one test per "process", as LoadGen expects
  const loaded = loadTestSettings({
    round: roundRules('current'),
    scenario,
    mode: 'PerformanceOnly',
    userConfText: userConf,
    userConfPath: 'bench.conf',
  });
  return startTest({
    sut: new NullSut(),
    qsl: new IndexOnlyQsl(50_000, 1024),
    settings: loaded.settings,
    rules: loaded.rules,
    settingsIssues: loaded.issues,
    outDir: join(work, `run${runs++}`),
  });
}

/**
 * The bare minimum of the same per-sample work with no LoadGen: one completion call per sample,
 * each taking a timestamp and storing one latency (as the null SUT drives LoadGen).
 */
function plainLoopSamplesPerSecond(samples: number): number {
  const ids = new Uint32Array(samples);
  for (let i = 0; i < samples; i++) ids[i] = i;
  const latency = new Float64Array(samples);
  const start = monotonicNowNs();
  const complete = (id: number) => {
    latency[id] = monotonicNowNs() - start;
  };
  for (let i = 0; i < samples; i++) complete(ids[i]);
  const end = monotonicNowNs();
  return samples / ((end - start) / 1e9);
}

function quantile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const fmt = (x: number, digits = 2) => x.toLocaleString('en-US', { maximumFractionDigits: digits });

async function main(): Promise<void> {
  console.log(`bnas LoadGen benchmark (null SUT), node ${process.version}\n`);

  // 1. Issue lag at 10,000 qps, first: the later runs leave a large heap whose collection would show up here.
  const lagRun = await runNull(
    'Server',
    'resnet50.Server.target_qps = 10000\nresnet50.Server.min_duration = 10000\n',
  );
  const lag = Float64Array.from(lagRun.issueLagNs ?? []).sort();
  console.log(`Server at 10,000 qps, 10 s (${fmt(lag.length)} queries): issue time − scheduled time`);
  console.log(
    `  p50 ${fmt(quantile(lag, 0.5) / 1e3, 1)} µs, p99 ${fmt(quantile(lag, 0.99) / 1e3, 1)} µs, max ${fmt(lag[lag.length - 1] / 1e3, 1)} µs`,
  );
  console.log(`  run: ${lagRun.performance!.valid ? 'VALID' : 'INVALID'}`);
  console.log('');

  // 2. Offline: one query of 16.5 M samples (5 M expected qps × 3 s × 1.1).
  const offlineSamples = 16_500_000;
  const t0 = monotonicNowNs();
  const offline = await runNull(
    'Offline',
    'resnet50.Offline.target_qps = 5000000\nresnet50.Offline.min_duration = 3000\n',
  );
  const wall = (monotonicNowNs() - t0) / 1e9;
  const ours = offline.performance!.samplesPerSecond;
  const plain = plainLoopSamplesPerSecond(offlineSamples);
  console.log('Offline, one query of 16,500,000 samples');
  console.log(`  LoadGen (issue + complete, as LoadGen reports it): ${fmt(ours / 1e6)} M samples/s`);
  console.log(`  plain loop, same run (baseline):                    ${fmt(plain / 1e6)} M samples/s`);
  console.log(`  ratio LoadGen / plain loop:                         ${fmt(ours / plain, 3)}`);
  console.log(`  whole test incl. query generation and statistics:   ${fmt(wall)} s wall\n`);

  // 3. Server: the highest target_qps that stays VALID (3 s runs).
  console.log('Server, 3 s runs: target_qps → verdict, p99 latency');
  let highestValid = 0;
  for (const qps of [25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 1_600_000]) {
    const out = await runNull(
      'Server',
      `resnet50.Server.target_qps = ${qps}\nresnet50.Server.min_duration = 3000\n`,
    );
    const s = out.performance!;
    const p99 = s.latencyPercentiles.find((p) => p.percentile === 0.99)?.sampleLatencyNs ?? Number.NaN;
    console.log(
      `  ${fmt(qps).padStart(8)} qps: ${s.valid ? 'VALID  ' : 'INVALID'}  p99 ${fmt(p99 / 1e6, 3)} ms, completed ${fmt(s.completedSamplesPerSecond, 0)} samples/s`,
    );
    if (s.valid) highestValid = qps;
    else break;
  }
  console.log(`  highest VALID target_qps: ${fmt(highestValid)}\n`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));
