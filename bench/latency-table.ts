/**
 * npm run bench:latency — the latency lookup table (nas/latency) on the Fashion-MNIST fixture:
 * builds the generic search space, measures the table at batch 16 × 1 thread with the harness's
 * session options, then verifies it end to end on 20 random sub-networks plus the full and the
 * smallest one (nas.md §10.5: Spearman ρ ≥ 0.9, MAPE ≤ 10 % after the fit real ≈ a + b·LUT).
 *
 * Options (env): BNAS_BENCH_MODEL (another .onnx), BNAS_BENCH_BATCH (16), BNAS_BENCH_THREADS (1),
 * BNAS_BENCH_POINTS (20 random points), BNAS_BENCH_REPEATS (timed runs per entry, 15),
 * BNAS_BENCH_STAT (median, or min: steadier on a loaded machine), BNAS_BENCH_TABLE (a table file
 * to write; a finished or interrupted one there is reused).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildLatencyTable } from '../nas/latency/measure.js';
import { predictThroughput } from '../nas/latency/table.js';
import { formatVerification, randomPoints, verifyLatencyTable } from '../nas/latency/verify.js';
import { fullPoint, smallestPoint } from '../nas/supernet/point.js';
import { buildSearchSpace } from '../nas/supernet/space.js';
import { loadModel } from '../onnx/io.js';

const root = join(import.meta.dirname, '..', '..');
const modelPath = process.env.BNAS_BENCH_MODEL ?? join(root, 'models', 'fixture', 'fmnist_resnet.onnx');
const batchSize = Number(process.env.BNAS_BENCH_BATCH ?? 16);
const threads = Number(process.env.BNAS_BENCH_THREADS ?? 1);
const randomCount = Number(process.env.BNAS_BENCH_POINTS ?? 20);
const repeats = Number(process.env.BNAS_BENCH_REPEATS ?? 15);
const statistic = process.env.BNAS_BENCH_STAT === 'min' ? 'min' : 'median';

function progress(label: string): (done: number, total: number) => void {
  let last = -1;
  return (done, total) => {
    const pct = Math.floor((100 * done) / Math.max(1, total));
    if (pct >= last + 10 || done === total) {
      last = pct;
      process.stderr.write(`  ${label}: ${done}/${total}\n`);
    }
  };
}

async function main(): Promise<void> {
  const model = loadModel(modelPath);
  const space = buildSearchSpace(model);
  console.log(
    `bench:latency — ${modelPath.replace(`${root}/`, '')}, ${space.layers.length} layers, space of ${space.size} points, batch ${batchSize} × ${threads} thread(s), ${statistic} of runs`,
  );
  const t0 = performance.now();
  const table = await buildLatencyTable(model, space, {
    batchSize,
    threads,
    repeats,
    statistic,
    path: process.env.BNAS_BENCH_TABLE,
    onProgress: progress('table entries'),
  });
  const buildSeconds = (performance.now() - t0) / 1000;
  const entries = Object.values(table.entries);
  const layersUsing = entries.reduce((s, e) => s + e.layers.length, 0);
  console.log(
    `table: ${entries.length} entries (${layersUsing} layer uses), overhead ${table.overheadMs.toFixed(3)} ms, built in ${buildSeconds.toFixed(1)} s on ${table.machine.cpu}`,
  );

  const points = [fullPoint(space), smallestPoint(space), ...randomPoints(space, randomCount, 2024)];
  const labels = ['full', 'smallest', ...points.slice(2).map((_, i) => `random ${i + 1}`)];
  const v = await verifyLatencyTable(table, space, model, points, {
    labels,
    onProgress: progress('end-to-end points'),
  });
  for (const line of formatVerification(v)) console.log(line);
  table.fit = v.fit;
  const full = predictThroughput(table, space, points[0], 1);
  const small = predictThroughput(table, space, points[1], 1);
  console.log(
    `predicted throughput (1 worker): full ${full.toFixed(0)} samples/s, smallest ${small.toFixed(0)} samples/s (× ${(small / full).toFixed(2)})`,
  );
  console.log(
    `summary: ρ = ${v.spearman.toFixed(3)}, MAPE = ${v.mape.toFixed(2)} %, ${entries.length} entries, table built in ${buildSeconds.toFixed(1)} s, verified in ${v.seconds.toFixed(1)} s: ${v.pass ? 'targets met' : 'targets MISSED'}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
