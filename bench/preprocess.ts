/**
 * npm run bench:preprocess — how fast is the preprocessing pipeline, against what it cannot beat?
 * In one run, on synthetic ImageNet-sized JPEGs written to a temporary folder:
 *  - JPEG decoding alone: sharp decodes each file to raw pixels, cores × 2 images in flight (the
 *    most sharp can decode on this machine);
 *  - the full torchvision pipeline as `bnas data preprocess` runs it (decode, PIL-exact resize and
 *    crop, normalize, write the .npy), one worker thread per core; and, for comparison, the same
 *    pipeline with all resampling on the main thread, with and without writing the .npy files.
 * Best of three rounds of each; prints images/s and the pipeline/decode ratio. Options: --count N
 * (default 400).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { preprocessImage } from '../datasets/preprocess.js';
import { resolvePreprocessSpec } from '../datasets/preprocess-spec.js';
import { type JobStrategy, runPreprocessJobs } from '../datasets/run-jobs.js';
import { synthesizeDataset } from '../datasets/synth.js';

function countOption(): number {
  const i = process.argv.indexOf('--count');
  const n = i >= 0 ? Number(process.argv[i + 1]) : 400;
  if (!Number.isSafeInteger(n) || n < 10) throw new Error('--count must be an integer >= 10');
  return n;
}

const ROUNDS = 3;

const fmt = (x: number, digits = 1) => x.toLocaleString('en-US', { maximumFractionDigits: digits });

async function decodeOnly(files: readonly string[], inFlight: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < files.length) {
      const file = files[next++];
      await sharp(file).raw().toBuffer();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return files.length / ((performance.now() - t0) / 1000);
}

async function pipeline(files: readonly string[], outDir: string, strategy: JobStrategy): Promise<number> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const spec = resolvePreprocessSpec('torchvision');
  const jobs = files.map((image, i) => ({ image, npy: join(outDir, `${i}.npy`) }));
  const t0 = performance.now();
  await runPreprocessJobs(spec, jobs, { strategy });
  return files.length / ((performance.now() - t0) / 1000);
}

/** The pipeline without the .npy writes, cores × 2 images in flight on the main thread. */
async function inMemory(files: readonly string[], inFlight: number): Promise<number> {
  const spec = resolvePreprocessSpec('torchvision');
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < files.length) await preprocessImage(files[next++], spec);
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return files.length / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const count = countOption();
  const cores = availableParallelism();
  const pool = process.env.UV_THREADPOOL_SIZE ?? '4';
  console.log(
    `bnas preprocessing benchmark: node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), ${cores} cores, libuv threadpool ${pool}`,
  );
  if (cores > Number(pool)) {
    console.log(
      `  note: decoding runs on libuv's threadpool; set UV_THREADPOOL_SIZE=${cores} to use every core`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), 'bnas-bench-preprocess-'));
  try {
    const dataDir = join(work, 'data');
    const synth = await synthesizeDataset({ count, outDir: dataDir, seed: 1 });
    const files = synth.images.map((p) => join(dataDir, p.file));
    const pixels = synth.images.reduce((a, p) => a + p.width * p.height, 0) / count;
    console.log(
      `${count} synthetic JPEGs: ${fmt(synth.bytes / count / 1024, 0)} KiB and ${fmt(pixels / 1000, 0)} kpixels on average\n`,
    );
    for (const f of files) readFileSync(f); // in the page cache for every measurement alike

    // Warm up both paths (JIT, sharp's first use), then measure.
    await decodeOnly(files.slice(0, 20), cores * 2);
    await pipeline(files.slice(0, 20), join(work, 'warm'), 'inline');
    // Rounds in turn, best of each: other load on the machine slows some passes, never speeds one up.
    let decode = 0;
    let full = 0;
    let inline = 0;
    let memory = 0;
    for (let round = 0; round < ROUNDS; round++) {
      decode = Math.max(decode, await decodeOnly(files, cores * 2));
      full = Math.max(full, await pipeline(files, join(work, 'out'), 'workers'));
      inline = Math.max(inline, await pipeline(files, join(work, 'out'), 'inline'));
      memory = Math.max(memory, await inMemory(files, cores * 2));
    }

    const rows: [string, number][] = [
      [`JPEG decode only (sharp → raw), ${cores * 2} in flight`, decode],
      [`full torchvision pipeline, ${cores} worker threads (default)`, full],
      ['full pipeline, resampling on the main thread', inline],
      ['  the same without writing the .npy files', memory],
    ];
    for (const [label, rate] of rows)
      console.log(`${`${label}:`.padEnd(58)} ${fmt(rate).padStart(7)} images/s`);
    console.log(`\npipeline / decode: ${fmt(full / decode, 2)} (inline: ${fmt(inline / decode, 2)})`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
