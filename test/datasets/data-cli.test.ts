/** `bnas data synth` and `bnas data preprocess`, run in-process through yargs as bnas.ts runs them. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { dataCommand } from '../../cli/commands/data.js';
import { TEST_FIXTURES } from '../paths.js';
import { fixture, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

async function bnas(...argv: string[]): Promise<{ out: string; error?: Error }> {
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  let failure: Error | undefined;
  try {
    await yargs(argv)
      .command(dataCommand)
      .strict()
      .exitProcess(false)
      .fail((message, error) => {
        throw error ?? new Error(message);
      })
      .parseAsync();
  } catch (error) {
    failure = error as Error;
  }
  const out = write.mock.calls.map((c) => String(c[0])).join('');
  write.mockRestore();
  return { out, error: failure };
}

describe('bnas data', () => {
  it('synth then preprocess, each leaving bnas_run.json', async () => {
    const data = join(tempDir(), 'synth');
    const synth = await bnas('data', 'synth', '--count', '4', '--seed', '5', '--out', data);
    expect(synth.error).toBeUndefined();
    expect(synth.out).toMatch(/^4 images \(.*\) and val_map\.txt written to /);
    expect(JSON.parse(readFileSync(join(data, 'bnas_run.json'), 'utf8'))).toMatchObject({
      command: 'data synth',
      args: { count: 4, seed: 5, out: data },
      count: 4,
    });

    const out = join(tempDir(), 'pp');
    const pp = await bnas(
      'data',
      'preprocess',
      '--data',
      data,
      '--preprocess',
      'plain',
      '--shape',
      '1,20,30',
      '--mean',
      '0.5',
      '--std',
      '0.25',
      '--out',
      out,
    );
    expect(pp.error).toBeUndefined();
    expect(pp.out).toMatch(/^4 images preprocessed \(plain, 1×20×30, mean \[0\.5\], std \[0\.25\]\)/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.sampleShape).toEqual([1, 20, 30]);
    const record = JSON.parse(readFileSync(join(out, 'bnas_run.json'), 'utf8'));
    expect(record).toMatchObject({
      command: 'data preprocess',
      count: 4,
      spec: { preset: 'plain', channels: 1 },
    });
    expect(record.inputs.map((i: { path: string }) => i.path)).toEqual([join(data, 'val_map.txt')]);
  });

  it('sizes samples from an ONNX model input', async () => {
    const data = join(tempDir(), 'synth');
    await bnas('data', 'synth', '--count', '2', '--out', data);
    const out = join(tempDir(), 'pp');
    const model = join(TEST_FIXTURES, 'onnx', 'small_cnn.onnx');
    const pp = await bnas(
      'data',
      'preprocess',
      '--data',
      data,
      '--preprocess',
      'plain',
      '--model',
      model,
      '--out',
      out,
    );
    expect(pp.error).toBeUndefined();
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.sampleShape).toHaveLength(3);
    expect(JSON.parse(readFileSync(join(out, 'bnas_run.json'), 'utf8')).modelShape).toHaveLength(4);
  });

  it('explains bad input and never overwrites', async () => {
    const data = join(tempDir(), 'synth');
    await bnas('data', 'synth', '--count', '1', '--out', data);
    const again = await bnas('data', 'synth', '--count', '1', '--out', data);
    expect(again.error?.message).toMatch(/already exists and holds/);
    const noShape = await bnas(
      'data',
      'preprocess',
      '--data',
      data,
      '--preprocess',
      'plain',
      '--out',
      join(tempDir(), 'o'),
    );
    expect(noShape.error?.message).toMatch(/needs the input channels/);
    const badShape = await bnas(
      'data',
      'preprocess',
      '--data',
      data,
      '--shape',
      '3,a,b',
      '--out',
      join(tempDir(), 'o'),
    );
    expect(badShape.error?.message).toMatch(/--shape 3,a,b: expected C,H,W/);
    const noData = await bnas('data', 'preprocess', '--data', fixture('nope'), '--out', join(tempDir(), 'o'));
    expect(noData.error?.message).toMatch(/not a folder/);
    expect(existsSync(join(data, 'manifest.json'))).toBe(false);
  });
});
