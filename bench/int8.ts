/**
 * npm run bench:int8 — FP32 against INT8 on the ResNet-50 zoo model, in one run: builds ResNet-50
 * (seed 0), quantizes it with bnas's quantizer (MinMax on synthetic ImageNet-like images), checks the
 * op counts of onnxruntime's optimized INT8 graph, then times one session per model (all cores,
 * level 'all') running the same batch back to back, in interleaved rounds so both see the same
 * machine; the speedup is the ratio of the median rounds. Target: INT8 ≥ 2.8× FP32 at batch 8.
 *
 * Options (env): BNAS_BENCH_SECONDS per model per round (default 8), BNAS_BENCH_ROUNDS (default 3),
 * BNAS_BENCH_BATCHES (default "1,8"), BNAS_BENCH_THREADS (default: cores),
 * BNAS_BENCH_CALIBRATION (synthetic calibration images, default 16), BNAS_BENCH_MODEL (an FP32
 * .onnx with a [N,3,224,224] input to use instead of ResNet-50).
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { checkFusion, describeOps, optimizedOpCounts } from '../calibration/check.js';
import { quantizeModel } from '../calibration/quantize.js';
import { arraySampleSource } from '../datasets/sample-source.js';
import { builtinArch } from '../nas/zoo/arch.js';
import { buildModel } from '../nas/zoo/build.js';
import { syntheticImages } from '../nas/zoo/calibrate.js';
import { loadModel, serializeModel } from '../onnx/io.js';
import { createSession } from '../onnx/session.js';

const seconds = Number(process.env.BNAS_BENCH_SECONDS ?? 8);
const rounds = Number(process.env.BNAS_BENCH_ROUNDS ?? 3);
const batches = (process.env.BNAS_BENCH_BATCHES ?? '1,8').split(',').map(Number);
const threads = Number(process.env.BNAS_BENCH_THREADS ?? availableParallelism());
const calibrationImages = Number(process.env.BNAS_BENCH_CALIBRATION ?? 16);
const TARGET = 2.8;
const TARGET_BATCH = 8;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function imagesPerSecond(session: ort.InferenceSession, batch: number): Promise<number> {
  const input = new ort.Tensor('float32', syntheticImages(batch, 3, 224, 99), [batch, 3, 224, 224]);
  const feeds = { [session.inputNames[0]]: input };
  for (let i = 0; i < 2; i++) await session.run(feeds);
  const start = performance.now();
  const end = start + seconds * 1000;
  let images = 0;
  while (performance.now() < end) {
    await session.run(feeds);
    images += batch;
  }
  return (images * 1000) / (performance.now() - start);
}

async function main(): Promise<void> {
  const log = (s: string) => process.stdout.write(`${s}\n`);
  let t = performance.now();
  const fp32 = process.env.BNAS_BENCH_MODEL
    ? loadModel(process.env.BNAS_BENCH_MODEL)
    : await buildModel(builtinArch('resnet50'), { seed: 0 });
  const name = process.env.BNAS_BENCH_MODEL ?? 'ResNet-50 zoo model (seed 0)';
  log(`${name}: built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const data = arraySampleSource(syntheticImages(calibrationImages, 3, 224, 7), [3, 224, 224]);
  const { bytes: int8, report } = await quantizeModel(fp32, data, {
    source: name,
    settings: { method: 'minmax' },
    batchSize: 8,
    threads,
    agreementSamples: 4,
  });
  log(
    `quantized (${report.calibration.method}, ${report.calibration.samples} synthetic images) in ${((performance.now() - t) / 1000).toFixed(1)} s; INT8 vs FP32 on 4 images: cosine ${report.agreement?.cosine.toFixed(5)}`,
  );
  const fp32Bytes = serializeModel(fp32);
  const fp32Ops = await optimizedOpCounts(fp32Bytes, { threads });
  const check =
    report.check ?? checkFusion(await optimizedOpCounts(int8, { threads }), { convs: 0, adds: 0 });
  log(`FP32 optimized graph: ${describeOps(fp32Ops)}`);
  log(`INT8 optimized graph: ${describeOps(check.ops)}`);
  log(
    `int8 kernels: ${check.qlinearConv} QLinearConv, ${check.qlinearAdd} QLinearAdd, ${check.floatConv} float Conv -> ${check.ok ? 'OK' : `NOT fused: ${check.problems.join('; ')}`}`,
  );

  const settings = { intraOpThreads: threads, spinning: false, graphOptimizationLevel: 'all' as const };
  const sessions = {
    FP32: await createSession(fp32Bytes, settings),
    INT8: await createSession(int8, settings),
  };
  log(
    `\ntiming: ${threads} intra-op thread(s), ${rounds} interleaved round(s) of ${seconds} s per model and batch`,
  );
  log('batch  model  img/s per round            median   speedup');
  let pass = true;
  for (const batch of batches) {
    const rates: Record<'FP32' | 'INT8', number[]> = { FP32: [], INT8: [] };
    for (let r = 0; r < rounds; r++) {
      for (const model of ['FP32', 'INT8'] as const)
        rates[model].push(await imagesPerSecond(sessions[model], batch));
    }
    const ratio = median(rates.INT8) / median(rates.FP32);
    for (const model of ['FP32', 'INT8'] as const) {
      const perRound = rates[model].map((x) => x.toFixed(1).padStart(6)).join(' ');
      const speedup = model === 'INT8' ? `${ratio.toFixed(2)}x` : '';
      log(
        `${String(batch).padStart(5)}  ${model}   ${perRound.padEnd(26)} ${median(rates[model]).toFixed(1).padStart(6)}   ${speedup}`,
      );
    }
    if (batch === TARGET_BATCH) {
      const ok = ratio >= TARGET;
      pass &&= ok;
      log(`       target at batch ${TARGET_BATCH}: INT8 >= ${TARGET}x FP32 -> ${ok ? 'met' : 'NOT met'}`);
    }
  }
  for (const s of Object.values(sessions)) await s.release();
  if (!check.ok || !pass) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:int8: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
