/** bnas finetune: knowledge distillation of a student ONNX classifier from a teacher, on onnxruntime. */
import { availableParallelism } from 'node:os';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { runFinetune, STUDENT_FILE } from '../../pipelines/finetune/run.js';
import type { TrainingProgress } from '../../training/trainer.js';
import { progressBar } from '../progress.js';

interface FinetuneArgs {
  teacher: string;
  student: string;
  trainData: string;
  valData?: string;
  valImages?: number;
  epochs?: number;
  minutes?: number;
  batch: number;
  lr: number;
  optimizer: 'sgd' | 'adamw';
  momentum: number;
  weightDecay?: number;
  alpha: number;
  temperature: number;
  labelSmoothing: number;
  seed: number;
  augment: 'auto' | 'none';
  threads: number;
  preprocess?: string;
  checkpointMinutes: number;
  out: string;
}

const DEFAULT_EPOCHS = 5;
const DEFAULT_WEIGHT_DECAY = { sgd: 5e-5, adamw: 1e-2 };
/** Without a terminal, a progress line this often (ms). */
const LOG_INTERVAL_MS = 15_000;

const USAGE = `$0 finetune --teacher <t.onnx> --student <s.onnx> --train-data <dir> --out <dir> [options]

Trains the student to match the teacher (knowledge distillation) and the labels of --train-data,
on onnxruntime (the backward pass is an ONNX graph bnas derives from the student):
  loss = (1 − α)·CE(labels, label smoothing ε) + α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)).
Any student works whose output classes and input size are the teacher's: a sub-network from
bnas search or bnas extract, a smaller model, or the teacher itself. The images are preprocessed as
the student expects (its bnas.* metadata, else --preprocess), shuffled each epoch by --seed.
The learning rate warms up linearly over the first 5 % of the steps, then follows a cosine to 0.

Runs --epochs epochs, or as many steps as fit in --minutes of training time (counted once the
images are loaded) at the step time measured at the start.
Writes to --out: ${STUDENT_FILE} (the student's graph with the trained weights; BatchNormalization
nodes kept, with their updated running statistics, if the student had them), loss.csv and loss.svg
(training loss per step, validation top-1 per evaluation), finetune.json and bnas_run.json.
Checkpoints every epoch and every --checkpoint-minutes: after an interruption (Ctrl-C included),
the same command resumes where it stopped, to the same result.`;

function progressLine(p: TrainingProgress): string {
  const eta = p.etaSeconds >= 90 ? `${(p.etaSeconds / 60).toFixed(1)} min` : `${p.etaSeconds.toFixed(0)} s`;
  return `step ${p.step}/${p.totalSteps} (epoch ${p.epoch + 1}) loss ${p.loss.toFixed(4)} lr ${p.lr.toPrecision(3)} ${p.samplesPerSecond.toFixed(1)} samples/s, ETA ${eta}`;
}

export const finetuneCommand: CommandModule<object, FinetuneArgs> = {
  command: 'finetune',
  describe: 'Distil a student ONNX classifier from a teacher (knowledge distillation on onnxruntime)',
  builder: (y: Argv) =>
    y
      .usage(USAGE)
      .option('teacher', { type: 'string', demandOption: true, describe: 'Teacher ONNX model' })
      .option('student', {
        type: 'string',
        demandOption: true,
        describe: 'Student ONNX model (same output classes and input size as the teacher)',
      })
      .option('train-data', {
        type: 'string',
        demandOption: true,
        describe: 'Training images: an ImageNet-style folder (val_map.txt and the images)',
      })
      .option('val-data', {
        type: 'string',
        describe: 'Validation images (same layout, none of the training images) for top-1 per epoch',
      })
      .option('val-images', { type: 'number', describe: 'Use only the first N validation images' })
      .option('epochs', {
        type: 'number',
        describe: `Epochs over --train-data (default ${DEFAULT_EPOCHS} unless --minutes is given)`,
      })
      .option('minutes', { type: 'number', describe: 'Training time budget instead of --epochs' })
      .conflicts('epochs', 'minutes')
      .option('batch', { type: 'number', default: 64, describe: 'Training batch size' })
      .option('lr', { type: 'number', default: 0.05, describe: 'Peak learning rate (after the warm-up)' })
      .option('optimizer', {
        choices: ['sgd', 'adamw'] as const,
        default: 'sgd' as const,
        describe: 'SGD (Nesterov) or AdamW',
      })
      .option('momentum', { type: 'number', default: 0.9, describe: 'SGD momentum (Nesterov when > 0)' })
      .option('weight-decay', {
        type: 'number',
        describe: `Weight decay (default ${DEFAULT_WEIGHT_DECAY.sgd} for SGD, ${DEFAULT_WEIGHT_DECAY.adamw} for AdamW; never on biases and BN)`,
      })
      .option('alpha', {
        type: 'number',
        default: 0.5,
        describe: 'Weight α of the distillation term (0: labels only, 1: teacher only)',
      })
      .option('temperature', { type: 'number', default: 4, describe: 'Distillation temperature T' })
      .option('label-smoothing', {
        type: 'number',
        default: 0.1,
        describe: 'Label smoothing ε of the cross-entropy',
      })
      .option('seed', { type: 'number', default: 1, describe: 'Seed of the data order and the augmentation' })
      .option('augment', {
        choices: ['auto', 'none'] as const,
        default: 'none' as const,
        describe:
          "Training augmentation, prepared in the preprocessing workers: auto = pad-crop and flip up to 64 px, random-resized crop and flip above; none = the images as preprocessed for inference (the default: on short runs it converges faster; the fixture's smallest sub-network reached 84.9 % in 3 epochs without, 81.8 % with)",
      })
      .option('threads', {
        type: 'number',
        default: availableParallelism(),
        describe: 'onnxruntime intra-op threads',
      })
      .option('preprocess', {
        type: 'string',
        describe:
          'Preprocessing preset (torchvision, mlperf, plain; default: the model metadata, else by channels)',
      })
      .option('checkpoint-minutes', {
        type: 'number',
        default: 5,
        describe: 'Minutes between checkpoints (also one per epoch)',
      })
      .option('out', {
        type: 'string',
        demandOption: true,
        describe: 'Output folder (new or empty, or an unfinished finetune of the same options to resume)',
      })
      .example(
        '$0 finetune --teacher models/fixture/fmnist_resnet.onnx --student runs/search/bnas-a.onnx --train-data datasets/fixtures/fashion-mnist/train --val-data datasets/fixtures/fashion-mnist/val --out runs/finetune-a',
        'distil a search pick from the fixture model',
      )
      .example(
        '$0 finetune --teacher t.onnx --student s.onnx --train-data train/ --minutes 30 --optimizer adamw --lr 1e-3 --out runs/s',
        'a 30-minute budget with AdamW',
      ) as unknown as Argv<FinetuneArgs>,
  handler: async (args: ArgumentsCamelCase<FinetuneArgs>) => {
    const log = (line: string) => process.stderr.write(`${line}\n`);
    // A log line ends the bar on the terminal; the next step starts a new one below it.
    let bar = progressBar('finetune');
    const terminal = process.stderr.isTTY;
    let lastLine = 0;
    const stop = new AbortController();
    const onInterrupt = () => {
      if (stop.signal.aborted) process.exit(130);
      bar.stop();
      log('\nbnas: stopping after this step (a checkpoint is written); Ctrl-C again to quit at once');
      stop.abort();
    };
    process.on('SIGINT', onInterrupt);
    try {
      const result = await runFinetune({
        teacherPath: args.teacher,
        studentPath: args.student,
        trainData: args.trainData,
        valData: args.valData,
        valImages: args.valImages,
        epochs: args.minutes === undefined ? (args.epochs ?? DEFAULT_EPOCHS) : undefined,
        minutes: args.minutes,
        batch: args.batch,
        lr: args.lr,
        optimizer: args.optimizer,
        momentum: args.momentum,
        weightDecay: args.weightDecay ?? DEFAULT_WEIGHT_DECAY[args.optimizer],
        alpha: args.alpha,
        temperature: args.temperature,
        labelSmoothing: args.labelSmoothing,
        seed: args.seed,
        augment: args.augment,
        threads: args.threads,
        preprocess: args.preprocess,
        checkpointMinutes: args.checkpointMinutes,
        outDir: args.out,
        signal: stop.signal,
        log: (line) => {
          bar.stop();
          bar = progressBar('finetune');
          log(line);
        },
        onProgress: (p) => {
          if (terminal) {
            bar.update(
              p.step,
              p.totalSteps,
              `steps | loss ${p.loss.toFixed(4)} | lr ${p.lr.toPrecision(3)} | ${p.samplesPerSecond.toFixed(1)} samples/s`,
            );
          } else if (performance.now() - lastLine >= LOG_INTERVAL_MS || p.step === p.totalSteps) {
            lastLine = performance.now();
            log(progressLine(p));
          }
        },
      });
      bar.stop();
      if (result.status === 'interrupted') {
        process.exitCode = 130;
        return;
      }
      const s = result.summary!;
      const lines = [
        `${s.steps} steps (${s.epochs.toFixed(2)} epochs) in ${(s.trainingSeconds / 60).toFixed(1)} min, ${s.samplesPerSecond.toFixed(1)} training samples/s; final loss ${s.finalLoss.toFixed(4)}`,
      ];
      if (s.top1After) {
        const before = s.top1Before ? `${s.top1Before.top1.toFixed(2)} % → ` : '';
        const teacher = s.teacherTop1 ? ` (teacher ${s.teacherTop1.top1.toFixed(2)} %)` : '';
        lines.push(`validation top-1: ${before}${s.top1After.top1.toFixed(2)} %${teacher}`);
      }
      lines.push(
        `student: ${result.studentPath}`,
        `loss curve: ${result.dir}/loss.svg, ${result.dir}/loss.csv`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      bar.stop();
      process.off('SIGINT', onInterrupt);
    }
  },
};
