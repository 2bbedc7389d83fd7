import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ArgumentsCamelCase } from 'yargs';
import { inspectCommand, inspectModel, zooCommand } from '../../../cli/commands/zoo.js';
import { loadModel } from '../../../onnx/io.js';
import { FIXTURES } from '../../onnx/helpers.js';

const TINY = {
  name: 'tiny',
  stem: 8,
  stages: [[[4, 4, 16]], [[8, 8, 24]]],
  classifier: { out: 10 },
  input: { size: 32 },
};

function captureStdout(): { text(): string } {
  const chunks: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  return { text: () => chunks.join('') };
}

type ZooArgs = Parameters<NonNullable<typeof zooCommand.handler>>[0];
const zoo = (args: Partial<ZooArgs>) =>
  zooCommand.handler({
    _: [],
    $0: 'bnas',
    seed: 0,
    list: false,
    externalData: false,
    ...args,
  } as ArgumentsCamelCase<ZooArgs>);

describe('bnas zoo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-zoo-cli-'));
  const archFile = join(dir, 'tiny.json');
  writeFileSync(archFile, JSON.stringify(TINY));
  afterEach(() => vi.restoreAllMocks());

  it('lists the built-in architectures with their MACs and parameters', async () => {
    const out = captureStdout();
    await zoo({ list: true });
    const text = out.text();
    expect(text).toMatch(/resnet50\s+3-4-6-3\s+64\s+256\/512\/1024\/2048\s+4,089,184,256\s+25,557,032/);
    expect(text).toMatch(/bnas-a\s+2-3-5-2\s+40\s+168\/336\/816\/1640\s+1,385,835,904\s+11,335,504/);
    expect(text).toMatch(/bnas-b\s+2-3-5-2\s+48\s+208\/512\/1024\/2048\s+2,419,929,088\s+17,828,312/);
    expect(text).toMatch(/bnas-c\s+2-3-6-2\s+48\s+168\/336\/816\/2048\s+1,919,774,720\s+16,335,304/);
  });

  it('writes a model from a JSON architecture, prints MACs/params, and never overwrites', async () => {
    const path = join(dir, 'models', 'tiny.onnx');
    const out = captureStdout();
    await zoo({ arch: archFile, out: path, seed: 4 });
    expect(out.text()).toMatch(
      /^wrote .*tiny\.onnx \(0\.\d MB\) in [\d.]+ s: tiny, seed 4\n {2}MACs \(batch 1\): [\d,]+ {3}parameters: [\d,]+\n/,
    );
    expect(out.text()).toContain('input  input float [N,3,32,32]');
    expect(out.text()).toContain('output logits float [N,10]');
    expect(loadModel(path).metadata('bnas.zoo.seed')).toBe('4');
    expect(readdirSync(join(dir, 'models'))).toEqual(['tiny.onnx']); // no .partial left
    await expect(zoo({ arch: archFile, out: path })).rejects.toThrow(
      `${path} already exists; bnas zoo never overwrites a model`,
    );
  });

  it('can keep the weights in external data', async () => {
    const path = join(dir, 'ext.onnx');
    captureStdout();
    await zoo({ arch: archFile, out: path, externalData: true });
    expect(existsSync(`${path}.data`)).toBe(true);
    expect(loadModel(path).graph.initializers.get('fc.weight')!.dims).toEqual([10, 24]);
  });

  it('explains bad arguments', async () => {
    await expect(zoo({})).rejects.toThrow('name an architecture (bnas zoo --list shows the built-in ones)');
    await expect(zoo({ arch: 'resnet50' })).rejects.toThrow('--out <model.onnx> is required');
    await expect(zoo({ arch: 'resnet50', out: join(dir, 'x.onnx'), seed: 1.5 })).rejects.toThrow(
      '--seed 1.5: an integer in [0, 2^32) expected',
    );
    await expect(zoo({ arch: 'resnet-18', out: join(dir, 'x.onnx') })).rejects.toThrow(/not a built-in one/);
  });
});

describe('bnas inspect', () => {
  afterEach(() => vi.restoreAllMocks());

  it('summarises ops, shapes, MACs and parameters', () => {
    const text = inspectModel(join(FIXTURES, 'small_cnn.onnx'), { perNode: true });
    expect(text).toContain('IR 7, opset ai.onnx 13, producer onnx-python 1.12.0');
    expect(text).toContain(
      'graph small_cnn: 10 nodes (Conv 1, Clip 1, MaxPool 1, Shape 1, Gather 1, Constant 1, Concat 1, Reshape 1, Gemm 1, Softmax 1)',
    );
    expect(text).toContain('input  x float [batch,3,8,8]');
    expect(text).toContain('MACs (batch 1): 14,464 (0.000 G)   parameters: 869');
    expect(text).toMatch(/conv\s+Conv\s+\[1,8,8,8\]\s+13,824\s+224/);
  });

  it('still describes a model whose MACs it cannot count', () => {
    const text = inspectModel(join(FIXTURES, 'custom_op.onnx'));
    expect(text).toContain('graph custom: 1 nodes (com.example::Frobnicate 1)');
    expect(text).toContain('MACs / parameters: not computed (shape inference: node');
  });

  it('prints through the command handler and checks --batch', () => {
    const out = captureStdout();
    inspectCommand.handler({
      _: [],
      $0: 'bnas',
      model: join(FIXTURES, 'small_cnn.onnx'),
      batch: 2,
      perNode: false,
    } as never);
    expect(out.text()).toContain('MACs (batch 2): 28,928');
    expect(() =>
      inspectCommand.handler({ _: [], $0: 'bnas', model: 'x', batch: 0, perNode: false } as never),
    ).toThrow('--batch 0: a positive integer expected');
  });
});
