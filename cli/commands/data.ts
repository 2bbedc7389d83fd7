/**
 * bnas data: datasets. `preprocess` turns an ImageNet-style folder into model input samples
 * (.npy, float32 C×H×W) by a preset; `synth` writes a synthetic ImageNet-style folder.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { writeRunRecord } from '../../common/run-record.js';
import { writePreprocessed } from '../../datasets/cache.js';
import { VAL_MAP } from '../../datasets/imagenet-layout.js';
import {
  PRESETS,
  type PreprocessOverrides,
  type PresetName,
  parseNumberList,
  parseShapeOption,
  resolvePreprocessSpec,
} from '../../datasets/preprocess-spec.js';
import { synthesizeDataset } from '../../datasets/synth.js';
import type { ModelShape } from '../../onnx/model-input.js';
import { readModelInput } from '../../onnx/model-input.js';
import { progressBar } from '../progress.js';

interface PreprocessArgs {
  data: string;
  preprocess: PresetName;
  model?: string;
  shape?: string;
  resize?: number;
  mean?: string;
  std?: string;
  workers?: number;
  out: string;
}

interface SynthArgs {
  count: number;
  seed: number;
  out: string;
}

const rate = (n: number, seconds: number) => (seconds > 0 ? (n / seconds).toFixed(1) : '-');

const preprocessCommand: CommandModule<object, PreprocessArgs> = {
  command: 'preprocess',
  describe: 'Preprocess an ImageNet-style folder into float32 .npy samples',
  builder: (y: Argv) =>
    y
      .usage(
        `$0 data preprocess --data <dir> --out <dir> [options]\n\nReads <dir>/${VAL_MAP} ("<image> <label>" per line), preprocesses every image it lists and writes one .npy per image (float32, C×H×W; the image's name with .npy for its extension) and manifest.json (files and labels in ${VAL_MAP} order: index = QSL index). Outputs equal the Python reference implementations bit for bit. The model's input shape (or --shape) sets channels and size; without either, torchvision and mlperf make 3×224×224.\n\nPresets:\n- torchvision: PIL loader, Resize(256) (antialiased bilinear), CenterCrop(224), ToTensor, Normalize(ImageNet mean and std), as torchvision's ResNet-50 expects.\n- mlperf: the MLPerf reference's ResNet-50 preprocessing (pre_process_vgg): cv2 loader, resize to 256 with INTER_AREA, centre crop 224, subtract [123.68, 116.78, 103.94].\n- plain: resize straight to H×W (none if the size matches), grayscale or RGB, (x/255 - mean) / std.`,
      )
      .option('data', {
        type: 'string',
        demandOption: true,
        describe: `ImageNet-style folder: images and ${VAL_MAP}`,
      })
      .option('preprocess', {
        choices: PRESETS,
        default: 'torchvision' as PresetName,
        describe: 'Preprocessing preset',
      })
      .option('model', {
        type: 'string',
        describe: 'ONNX model whose input shape (N,C,H,W) sets channels and size',
      })
      .option('shape', {
        type: 'string',
        describe: "Sample shape C,H,W (overrides the model's), e.g. 3,224,224 or 1,28,28",
      })
      .option('resize', {
        type: 'number',
        describe: 'torchvision: shorter side before the centre crop (default H / 0.875: 256 for 224)',
      })
      .option('mean', {
        type: 'string',
        describe:
          'Per-channel means, comma-separated (one value = all channels); 0-1 units, 0-255 for mlperf',
      })
      .option('std', { type: 'string', describe: 'Per-channel standard deviations, comma-separated' })
      .option('workers', { type: 'number', describe: 'Worker threads (default: one per core)' })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe:
          'Output folder (created; must be new or empty). It is written as <out>.partial-… and renamed when complete; after an interruption the same command resumes it',
      })
      .example(
        '$0 data preprocess --data imagenet/val --out runs/val-tv',
        'torchvision preprocessing, 3×224×224',
      )
      .example(
        '$0 data preprocess --data imagenet/val --preprocess mlperf --out runs/val-mlperf',
        'the MLPerf reference preprocessing',
      )
      .example(
        '$0 data preprocess --data mnist --preprocess plain --model mnist.onnx --mean 0.1307 --std 0.3081 --out runs/mnist',
        'grayscale samples sized by the model input',
      ) as unknown as Argv<PreprocessArgs>,
  handler: async (args: ArgumentsCamelCase<PreprocessArgs>) => {
    const overrides: PreprocessOverrides = {};
    if (args.shape) Object.assign(overrides, parseShapeOption(args.shape));
    if (args.resize !== undefined) overrides.resize = args.resize;
    if (args.mean !== undefined) overrides.mean = parseNumberList('mean', args.mean);
    if (args.std !== undefined) overrides.std = parseNumberList('std', args.std);
    let modelShape: ModelShape | undefined;
    if (args.model) modelShape = (await readModelInput(args.model)).shape;
    const spec = resolvePreprocessSpec(args.preprocess, modelShape, overrides);

    const bar = progressBar(`preprocess ${spec.preset}`);
    const t0 = performance.now();
    // Ctrl-C: the partial folder stays (its name says so) and the next run resumes it.
    let buildDir = `${args.out}.partial-…`;
    const onInterrupt = () => {
      bar.stop();
      process.stderr.write(
        `\nbnas: interrupted; the samples written so far are kept in ${buildDir}: run the same command again to resume\n`,
      );
      process.exit(130);
    };
    process.once('SIGINT', onInterrupt);
    let result: Awaited<ReturnType<typeof writePreprocessed>>;
    try {
      result = await writePreprocessed({
        dataDir: args.data,
        spec,
        outDir: args.out,
        workers: args.workers,
        onStart: (start) => {
          buildDir = start.buildDir;
          if (start.resumed)
            process.stderr.write(`bnas: resuming the interrupted preprocess in ${start.resumed}\n`);
        },
        onPlan: ({ kept, total }) => {
          if (kept > 0)
            process.stderr.write(`bnas: ${kept} of ${total} samples kept (their images are unchanged)\n`);
        },
        onProgress: (done, total) => bar.update(done, total, 'images'),
        beforePublish: (dir, manifest) => {
          const seconds = (performance.now() - t0) / 1000;
          writeRunRecord(dir, {
            command: 'data preprocess',
            args,
            confFiles: [join(args.data, VAL_MAP), args.model],
            extra: {
              spec,
              modelShape,
              count: manifest.count,
              seconds,
              imagesPerSecond: manifest.count / seconds,
            },
          });
        },
      });
    } catch (error) {
      if (existsSync(buildDir))
        process.stderr.write(
          `bnas: the samples written so far are kept in ${buildDir}; once the cause is fixed, the same command resumes\n`,
        );
      throw error;
    } finally {
      process.off('SIGINT', onInterrupt);
      bar.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    const { manifest } = result;
    process.stdout.write(
      `${manifest.count} images preprocessed (${spec.preset}, ${manifest.sampleShape.join('×')}, mean [${spec.mean.join(', ')}], std [${spec.std.join(', ')}]) into ${args.out} in ${seconds.toFixed(1)} s (${rate(manifest.count, seconds)} images/s)\n`,
    );
  },
};

const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write a synthetic ImageNet-style folder (JPEGs + val_map.txt)',
  builder: (y: Argv) =>
    y
      .usage(
        `$0 data synth --count <N> --out <dir> [--seed <S>]\n\nWrites N JPEGs of ImageNet-like sizes (200-600 px sides, varied aspect ratios) and file sizes\n(smooth colour fields, shapes and noise), mostly RGB, some grayscale, a few CMYK, and ${VAL_MAP}\nwith labels 0-999. The same seed gives the same files.`,
      )
      .option('count', { type: 'number', demandOption: true, describe: 'Number of images' })
      .option('seed', { type: 'number', default: 0, describe: 'Seed of sizes, modes, pixels and labels' })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Output folder (created; must be new or empty)',
      })
      .example(
        '$0 data synth --count 1000 --out data/synth1k',
        'a 1,000-image folder',
      ) as unknown as Argv<SynthArgs>,
  handler: async (args: ArgumentsCamelCase<SynthArgs>) => {
    const bar = progressBar('synth');
    const t0 = performance.now();
    let result: Awaited<ReturnType<typeof synthesizeDataset>>;
    try {
      result = await synthesizeDataset({
        count: args.count,
        seed: args.seed,
        outDir: args.out,
        onProgress: (done, total) => bar.update(done, total, 'images'),
      });
    } finally {
      bar.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    const modes: Record<string, number> = {};
    for (const image of result.images) modes[image.mode] = (modes[image.mode] ?? 0) + 1;
    writeRunRecord(args.out, {
      command: 'data synth',
      args,
      extra: { count: result.images.length, modes, bytes: result.bytes, seconds },
    });
    const kib = result.bytes / result.images.length / 1024;
    process.stdout.write(
      `${result.images.length} images (${Object.entries(modes)
        .map(([m, n]) => `${n} ${m}`)
        .join(
          ', ',
        )}; ${kib.toFixed(0)} KiB on average) and ${VAL_MAP} written to ${args.out} in ${seconds.toFixed(1)} s\n`,
    );
  },
};

export const dataCommand: CommandModule = {
  command: 'data <command>',
  describe: 'Datasets: preprocess an ImageNet-style folder, or write a synthetic one',
  builder: (y: Argv) =>
    y
      .command(preprocessCommand as unknown as CommandModule)
      .command(synthCommand as unknown as CommandModule)
      .demandCommand(1, 'Name a data command: preprocess or synth.'),
  handler: () => {},
};
