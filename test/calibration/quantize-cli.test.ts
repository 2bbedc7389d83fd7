/** `bnas quantize` as a user runs it: files written, report, refusals and errors naming the problem. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { countOp } from '../../calibration/check.js';
import { quantizeCommand, reportBase } from '../../cli/commands/quantize.js';
import { loadModel, saveModel } from '../../onnx/io.js';
import { removeTempDirs, tempDir, tinyModel } from './helpers.js';

afterAll(removeTempDirs);

async function workspace(images = 6): Promise<{ dir: string; model: string; list: string }> {
  const dir = tempDir('bnas-quantize-cli-');
  const names: string[] = [];
  for (let i = 0; i < images; i++) {
    const pixels = Buffer.from(Array.from({ length: 40 * 40 * 3 }, (_, k) => (k * (7 + i) + i * 31) % 256));
    const name = `img_${i}.png`;
    await sharp(pixels, { raw: { width: 40, height: 40, channels: 3 } })
      .png()
      .toFile(join(dir, name));
    names.push(name);
  }
  writeFileSync(join(dir, 'cal.txt'), `${names.join('\n')}\n`);
  const model = join(dir, 'tiny.onnx');
  const m = await tinyModel(3);
  m.setMetadata('bnas.preprocess', 'plain');
  m.setMetadata('bnas.mean', '0.5');
  m.setMetadata('bnas.std', '0.25');
  saveModel(m, model);
  return { dir, model, list: join(dir, 'cal.txt') };
}

async function run(args: string[]): Promise<{ out: string; error?: Error }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  let error: Error | undefined;
  try {
    await yargs(['quantize', ...args])
      .command(quantizeCommand)
      .strict()
      .fail((message, err) => {
        throw err ?? new Error(message);
      })
      .parseAsync();
  } catch (e) {
    error = e as Error;
  } finally {
    spy.mockRestore();
  }
  return { out: chunks.join(''), error };
}

describe('bnas quantize', () => {
  it('writes the INT8 model and its report, prints the report, and never overwrites', async () => {
    const ws = await workspace();
    const out = join(ws.dir, 'tiny.int8.onnx');
    const args = [
      '--model',
      ws.model,
      '--data',
      ws.dir,
      '--calib-list',
      ws.list,
      '--out',
      out,
      '--batch',
      '4',
    ];
    const first = await run(args);
    expect(first.error).toBeUndefined();
    expect(first.out).toMatch(/calibration: minmax \(global extremes\); 6 samples, batch 4/);
    expect(first.out).toMatch(/quantized nodes \(\d+\):\n {2}Conv \(12\): conv1, layer1\.0\.conv1/);
    expect(first.out).toMatch(/float nodes \(1\):\n {2}flatten \(Flatten\): /);
    expect(first.out).toMatch(/12 QLinearConv, 3 QLinearAdd, 0 float Conv -> runs on int8 kernels/);
    expect(first.out).toMatch(/\n {2}input +\[/);

    const q = loadModel(out);
    expect(q.metadata('bnas.preprocess')).toBe('plain');
    expect(q.metadata('bnas.mean')).toBe('0.5,0.5,0.5');
    expect(q.metadata('bnas.quantization')).toMatch(/QDQ/);
    const base = reportBase(out);
    expect(base).toBe(join(ws.dir, 'tiny.int8.quant'));
    const report = JSON.parse(readFileSync(`${base}.json`, 'utf8'));
    expect(report.output).toBe(out);
    expect(report.inputs.calibrationList.images).toBe(6);
    expect(report.inputs.preprocess).toMatchObject({
      preset: 'plain',
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    });
    expect(report.check.ok).toBe(true);
    expect(countOp(report.check.ops, 'QLinearConv')).toBe(12);
    expect(report.tensors.find((t: { name: string }) => t.name === 'relu').zeroPoint).toBe(0);
    expect(readFileSync(`${base}.txt`, 'utf8')).toMatch(/tensor ranges/);

    const again = await run(args);
    expect(again.error?.message).toMatch(/already exists; bnas never overwrites/);
  });

  it('entropy with --max-images, and errors that name the problem', async () => {
    const ws = await workspace(4);
    const out = join(ws.dir, 'e.onnx');
    const ok = await run([
      '--model',
      ws.model,
      '--data',
      ws.dir,
      '--calib-list',
      ws.list,
      '--out',
      out,
      '--method',
      'entropy',
      '--max-images',
      '3',
      '--num-bins',
      '1024',
    ]);
    expect(ok.error).toBeUndefined();
    expect(ok.out).toMatch(/entropy \(KL\) over a 1024-bin value histogram, 128 quantized bins; 3 samples/);

    writeFileSync(join(ws.dir, 'bad.txt'), 'img_0.png\nmissing.png\n');
    const missing = await run([
      '--model',
      ws.model,
      '--data',
      ws.dir,
      '--calib-list',
      join(ws.dir, 'bad.txt'),
      '--out',
      join(ws.dir, 'x.onnx'),
    ]);
    expect(missing.error?.message).toMatch(/bad\.txt:2: 1 image file\(s\) missing/);
    expect(existsSync(join(ws.dir, 'x.onnx'))).toBe(false);

    const noModel = await run([
      '--model',
      join(ws.dir, 'none.onnx'),
      '--data',
      ws.dir,
      '--calib-list',
      ws.list,
      '--out',
      join(ws.dir, 'y.onnx'),
    ]);
    expect(noModel.error?.message).toMatch(/--model .*none\.onnx: no such file/);

    const badMethod = await run([
      '--model',
      ws.model,
      '--data',
      ws.dir,
      '--calib-list',
      ws.list,
      '--out',
      join(ws.dir, 'z.onnx'),
      '--method',
      'kl',
    ]);
    expect(badMethod.error?.message).toMatch(/Invalid values/);
  });
});
