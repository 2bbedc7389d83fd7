/**
 * `bnas finetune` end to end on the fixture: the smallest sub-network of fmnist_resnet distilled
 * from the full model for one epoch of a small slice of the training images writes student.onnx
 * (the sub-network's graph, BN kept), loss.csv, loss.svg, finetune.json and bnas_run.json; a
 * student with other classes, and an existing run with other settings, are refused with messages
 * that say why. Needs the build (bin/bnas.js loads dist/).
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractSubnetwork } from '../../nas/supernet/extract.js';
import { smallestPoint } from '../../nas/supernet/point.js';
import { buildSearchSpace } from '../../nas/supernet/space.js';
import { loadModel, serializeModel } from '../../onnx/io.js';
import { removeTempDirs, runCli, tempDir } from '../harness/loadgen/e2e-helpers.js';
import { writeTinyClassifier } from '../harness/models.js';
import { REPO_ROOT } from '../paths.js';

const TEACHER = join(REPO_ROOT, 'models', 'fixture', 'fmnist_resnet.onnx');
const FIXTURE_DATA = join(REPO_ROOT, 'datasets', 'fixtures', 'fashion-mnist');

let work: string;
let student: string;
let train: string;
let val: string;

/** The first `count` images of a fixture folder, as a folder of links with its own val_map.txt. */
function slice(name: 'train' | 'val', count: number): string {
  const dir = join(work, name);
  mkdirSync(dir);
  const lines = readFileSync(join(FIXTURE_DATA, name, 'val_map.txt'), 'utf8')
    .trim()
    .split('\n')
    .slice(0, count);
  for (const line of lines) {
    const file = line.split(' ')[0];
    symlinkSync(join(FIXTURE_DATA, name, file), join(dir, file));
  }
  writeFileSync(join(dir, 'val_map.txt'), `${lines.join('\n')}\n`);
  return dir;
}

function finetune(out: string, extra: string[] = [], model = student) {
  return runCli(
    [
      'finetune',
      '--teacher',
      TEACHER,
      '--student',
      model,
      '--train-data',
      train,
      '--val-data',
      val,
      '--epochs',
      '1',
      '--batch',
      '32',
      '--threads',
      '2',
      '--out',
      out,
      ...extra,
    ],
    work,
    120_000,
  );
}

beforeAll(() => {
  work = tempDir('bnas-finetune-cli-');
  const teacher = loadModel(TEACHER);
  const space = buildSearchSpace(teacher);
  student = join(work, 'smallest.onnx');
  writeFileSync(student, serializeModel(extractSubnetwork(teacher, space, smallestPoint(space))));
  train = slice('train', 128);
  val = slice('val', 100);
});
afterAll(removeTempDirs);

describe('bnas finetune', () => {
  it('distils a sub-network for an epoch and writes the student, the loss curve and the records', () => {
    const out = join(work, 'run');
    const result = finetune(out);
    expect(result.stderr).not.toMatch(/^bnas: /m);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/samples\/s/);
    expect(result.stdout).toMatch(/4 steps \(1\.00 epochs\)/);
    expect(result.stdout).toMatch(/validation top-1: [\d.]+ % → [\d.]+ % \(teacher [\d.]+ %\)/);
    for (const file of ['student.onnx', 'loss.csv', 'loss.svg', 'finetune.json', 'bnas_run.json'])
      expect(existsSync(join(out, file)), file).toBe(true);
    expect(existsSync(join(out, 'checkpoints'))).toBe(false);

    const trained = loadModel(join(out, 'student.onnx'));
    const original = loadModel(student);
    expect(trained.graph.nodes.map((n) => n.opType)).toEqual(original.graph.nodes.map((n) => n.opType));
    expect(trained.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(true);

    const csv = readFileSync(join(out, 'loss.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('step,epoch,lr,loss,val_top1');
    expect(csv).toHaveLength(1 + 1 + 4); // header, the evaluation before, 4 steps
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg /);
    const manifest = JSON.parse(readFileSync(join(out, 'finetune.json'), 'utf8'));
    expect(manifest.status).toBe('complete');
    expect(manifest.result.steps).toBe(4);
    const record = JSON.parse(readFileSync(join(out, 'bnas_run.json'), 'utf8'));
    expect(record.command).toBe('finetune');
    expect(record.result.top1After.samples).toBe(100);

    // The same command again finds the run complete; other settings are refused, naming them.
    const again = finetune(out);
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/complete/);
    const other = finetune(out, ['--lr', '0.01']);
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/other settings \(lr: 0\.05 there, 0\.01 now\)/);
  });

  it('trains on augmented batches from the preprocessing workers with --augment auto', () => {
    const out = join(work, 'run-augmented');
    const result = finetune(out, ['--augment', 'auto']);
    expect(result.stderr).not.toMatch(/^bnas: /m);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/4 steps \(1\.00 epochs\)/);
    const manifest = JSON.parse(readFileSync(join(out, 'finetune.json'), 'utf8'));
    expect(manifest.settings.augment).toBe('auto');
    // Other batches than the plain run's: the trained weights differ.
    const plain = readFileSync(join(work, 'run', 'student.onnx'));
    expect(readFileSync(join(out, 'student.onnx')).equals(plain)).toBe(false);
  });

  it('refuses a student whose classes differ from the teacher’s, naming both files and sizes', () => {
    const fourClasses = writeTinyClassifier(work, 'four-classes.onnx', {
      inputs: [{ name: 'x', shape: ['N', 1, 28, 28] }],
    });
    const out = join(work, 'refused');
    const result = finetune(out, [], fourClasses);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      `the teacher and the student must have the same output classes: teacher ${TEACHER} has 10, student ${fourClasses} has 4`,
    );
    expect(existsSync(out)).toBe(false);
  });
});
