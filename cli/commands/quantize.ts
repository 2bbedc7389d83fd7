/**
 * bnas quantize: post-training INT8 quantization of an ONNX classifier (QDQ, uint8 activations,
 * int8 per-channel weights) calibrated on a list of images, checked to run on onnxruntime's int8
 * kernels, with a report beside the model.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { quantizeModel } from '../../calibration/quantize.js';
import { METHODS } from '../../calibration/ranges.js';
import { formatReport } from '../../calibration/report.js';
import { sha256File, writeFileAtomic } from '../../common/files.js';
import { imageSampleSource, modelPreprocessSpec, readImageList } from '../../datasets/image-samples.js';
import { parseNumberList, parseShapeOption } from '../../datasets/preprocess-spec.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { progressBar } from '../progress.js';

interface QuantizeArgs {
  model: string;
  data: string;
  calibList: string;
  out: string;
  report?: string;
  preprocess?: string;
  mean?: string;
  std?: string;
  shape?: string;
  method: (typeof METHODS)[number];
  percentile?: number;
  symmetricPercentile: boolean;
  numBins?: number;
  numQuantizedBins?: number;
  movingAverage: boolean;
  maxImages?: number;
  batch: number;
  memoryMb: number;
  threads: number;
  strict: boolean;
}

/** m.int8.onnx -> m.int8.quant.json / .txt */
export function reportBase(out: string): string {
  return `${out.replace(/\.onnx$/i, '')}.quant`;
}

export const quantizeCommand: CommandModule<object, QuantizeArgs> = {
  command: 'quantize',
  describe:
    'Quantize an ONNX classifier to INT8 (QDQ) by calibrating on images; checks it runs on int8 kernels',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 quantize --model <m.onnx> --data <dir> --calib-list <file> --out <m.int8.onnx> [options]\n\nFolds BatchNorm into Conv, calibrates activation ranges by running the float model in onnxruntime\non the listed images (preprocessed exactly as `bnas run` does), and writes a QDQ model: uint8\nasymmetric per-tensor activations, int8 symmetric per-channel weights, int32 biases, ReLUs folded.\nThen checks in onnxruntime that every Conv became QLinearConv and every residual Add QLinearAdd.\nThe report (ranges, quantized and float nodes with reasons, op counts) is printed and saved as\n<out>.quant.json and <out>.quant.txt (or --report).',
      )
      .option('model', {
        type: 'string',
        demandOption: true,
        describe: 'Float ONNX model (one float32 input)',
      })
      .option('data', {
        type: 'string',
        demandOption: true,
        describe: 'Folder the calibration images are in',
      })
      .option('calib-list', {
        type: 'string',
        demandOption: true,
        describe: 'Calibration list: one image file name (relative to --data) per line',
      })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Quantized model to write (never overwritten)',
      })
      .option('report', { type: 'string', describe: 'Report path without extension (default: <out>.quant)' })
      .option('preprocess', {
        type: 'string',
        describe:
          "torchvision | mlperf | plain (default: as bnas run: the model's bnas.preprocess metadata, …)",
      })
      .option('mean', {
        type: 'string',
        describe: 'Per-channel mean, comma-separated (overrides the preset)',
      })
      .option('std', { type: 'string', describe: 'Per-channel std, comma-separated (overrides the preset)' })
      .option('shape', { type: 'string', describe: 'Sample shape C,H,W (default: the model input)' })
      .option('method', { choices: METHODS, default: 'minmax' as const, describe: 'Calibration method' })
      .option('percentile', { type: 'number', describe: 'percentile: p in percent (default 99.999)' })
      .option('symmetric-percentile', {
        type: 'boolean',
        default: true,
        describe: 'percentile: on |x| (ORT default); --no-symmetric-percentile cuts both tails',
      })
      .option('num-bins', { type: 'number', describe: 'percentile/entropy: histogram bins (default 2048)' })
      .option('num-quantized-bins', {
        type: 'number',
        describe: 'entropy: levels the KL search compares against (default 128)',
      })
      .option('moving-average', {
        type: 'boolean',
        default: false,
        describe: 'minmax: moving average of per-batch extremes instead of global ones',
      })
      .option('max-images', { type: 'number', describe: 'Use only the first N images of the list' })
      .option('batch', { type: 'number', default: 16, describe: 'Images per calibration run' })
      .option('memory-mb', {
        type: 'number',
        default: 512,
        describe: 'percentile/entropy: MB of activations fetched per run (sets batch and tensor groups)',
      })
      .option('threads', {
        type: 'number',
        default: availableParallelism(),
        describe: 'onnxruntime intra-op threads (default: all cores)',
      })
      .option('strict', {
        type: 'boolean',
        default: true,
        describe: 'Refuse to write a model whose Convs/residual Adds do not all fuse (--no-strict to allow)',
      })
      .example(
        '$0 quantize --model models/fixture/fmnist_resnet.onnx --data datasets/fixtures/fashion-mnist/train --calib-list datasets/fixtures/fashion-mnist/train/cal_image_list.txt --out models/fmnist_resnet.int8.onnx',
        'MinMax over the 500-image calibration list of the fixture',
      )
      .example(
        '$0 quantize --model resnet50.onnx --data imagenet/val --calib-list cal_image_list_option_1.txt --method percentile --percentile 99.99 --out resnet50.int8.onnx',
        'Percentile calibration',
      ) as unknown as Argv<QuantizeArgs>,
  handler: async (args: ArgumentsCamelCase<QuantizeArgs>) => {
    if (!existsSync(args.model)) throw new Error(`--model ${args.model}: no such file`);
    if (existsSync(args.out))
      throw new Error(`${args.out} already exists; bnas never overwrites: choose a new --out`);
    const base = args.report ?? reportBase(args.out);
    for (const path of [`${base}.json`, `${base}.txt`]) {
      if (existsSync(path)) throw new Error(`${path} already exists; choose a new --out or --report`);
    }
    for (const [name, value] of [
      ['--batch', args.batch],
      ['--threads', args.threads],
      ['--memory-mb', args.memoryMb],
      ['--max-images', args.maxImages],
    ] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new Error(`${name} must be a positive integer, got ${value}`);
      }
    }
    const spec = await modelPreprocessSpec(args.model, args.preprocess, {
      ...(args.shape ? parseShapeOption(args.shape) : {}),
      ...(args.mean !== undefined ? { mean: parseNumberList('mean', args.mean) } : {}),
      ...(args.std !== undefined ? { std: parseNumberList('std', args.std) } : {}),
    });
    const list = readImageList(args.data, args.calibList, args.maxImages);
    const model = loadModel(args.model);
    const bar = progressBar('calibrating');
    let result: Awaited<ReturnType<typeof quantizeModel>>;
    try {
      result = await quantizeModel(model, imageSampleSource(list, spec), {
        source: args.model,
        settings: {
          method: args.method,
          percentile: args.percentile,
          symmetricPercentile: args.symmetricPercentile,
          numBins: args.numBins,
          numQuantizedBins: args.numQuantizedBins,
          movingAverage: args.movingAverage,
        },
        batchSize: args.batch,
        memoryBudget: args.memoryMb * 1024 * 1024,
        threads: args.threads,
        strict: args.strict,
        onProgress: (done, total) => bar.update(done, total, 'images'),
      });
    } finally {
      bar.stop();
    }
    // The INT8 model carries the preprocessing it was calibrated with, so `bnas run` feeds it the same.
    result.model.setMetadata('bnas.preprocess', spec.preset);
    result.model.setMetadata('bnas.mean', spec.mean.join(','));
    result.model.setMetadata('bnas.std', spec.std.join(','));
    saveModel(result.model, args.out);
    const report = { ...result.report, output: args.out };
    const json = {
      ...report,
      inputs: {
        model: { path: args.model, sha256: sha256File(args.model) },
        calibrationList: {
          path: args.calibList,
          sha256: sha256File(args.calibList),
          images: list.files.length,
        },
        data: args.data,
        preprocess: spec,
      },
    };
    const text = formatReport(report);
    writeFileAtomic(`${base}.json`, `${JSON.stringify(json, null, 1)}\n`);
    writeFileAtomic(`${base}.txt`, text);
    process.stdout.write(`${text}\nwrote ${args.out}, report ${base}.json / .txt\n`);
  },
};
