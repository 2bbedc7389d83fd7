import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ArgumentsCamelCase } from 'yargs';
import { extractCommand, supernetCommand } from '../../../cli/commands/supernet.js';
import { predictMacs } from '../../../nas/supernet/point.js';
import type { SearchSpace } from '../../../nas/supernet/types.js';
import { parseArchitecture } from '../../../nas/zoo/arch.js';
import { buildGraph } from '../../../nas/zoo/build.js';
import { loadModel, saveModel } from '../../../onnx/io.js';
import { countCost } from '../../../onnx/macs.js';
import { FMNIST_MODEL, fmnistPresent, runOrt } from '../../onnx/helpers.js';
import { resnet50Style } from './nets.js';

function captureStdout(): { text(): string } {
  const chunks: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  return { text: () => chunks.join('') };
}

type SupernetArgs = Parameters<NonNullable<typeof supernetCommand.handler>>[0];
type ExtractArgs = Parameters<NonNullable<typeof extractCommand.handler>>[0];

const supernet = (args: Partial<SupernetArgs>) =>
  supernetCommand.handler({
    _: [],
    $0: 'bnas',
    ofa: false,
    multipliers: '1,0.8,0.6',
    divisor: 8,
    minWidth: 8,
    maxSkip: 2,
    criterion: 'l1',
    ...args,
  } as ArgumentsCamelCase<SupernetArgs>);

const extract = (args: Partial<ExtractArgs>) =>
  extractCommand.handler({ _: [], $0: 'bnas', ...args } as ArgumentsCamelCase<ExtractArgs>);

describe('bnas supernet / bnas extract', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bnas-supernet-cli-'));
  const modelPath = join(dir, 'r50style.onnx');
  saveModel(resnet50Style(), modelPath);
  afterEach(() => vi.restoreAllMocks());

  it('prints the space, writes it as JSON with a reordered model, and extracts a point from it', async () => {
    const spacePath = join(dir, 'space.json');
    const reorderedPath = join(dir, 'sorted.onnx');
    const out = captureStdout();
    await supernet({ model: modelPath, out: spacePath, reordered: reorderedPath });
    const text = out.text();
    expect(text).toContain('width groups: 13 elastic, 2 fixed');
    expect(text).toContain('skippable blocks: 3 in 2 chains');
    expect(text).toMatch(
      /size: 1,080 distinct sub-networks \(10\^3\.033\); smallest sub-network 388,416 MACs/,
    );
    expect(text).toContain(`wrote ${reorderedPath}: channels sorted by l1 filter norm (same outputs)`);
    const space = JSON.parse(readFileSync(spacePath, 'utf8')) as SearchSpace;
    expect(space.groups).toHaveLength(15);
    expect(space.groups[4]).toMatchObject({ id: 'g4', channels: 32, choices: [32, 24, 16], elastic: true });
    expect(space.skippable_blocks.map((b) => b.id)).toEqual(['b0', 'b1', 'b2']);
    expect(space.size).toBe('1080');
    expect(space.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(space.model.reordered?.sha256).toMatch(/^[0-9a-f]{64}$/);

    const subPath = join(dir, 'sub.onnx');
    const point = { widths: { g4: 16, g11: 48 }, skip: ['b1'] };
    await extract({ model: reorderedPath, space: spacePath, point: JSON.stringify(point), out: subPath });
    const lines = out.text().split('\n');
    expect(lines).toContain('  2 groups narrowed: g4 32->16, g11 64->48');
    expect(lines).toContain('  1 blocks skipped: b1');
    expect(out.text()).not.toContain('note:');
    const sub = loadModel(subPath);
    expect(countCost(sub).macs).toBe(predictMacs(space, point));
    expect((await runOrt(sub)).logits.dims).toEqual([2, 10]);
    await expect(
      extract({ model: reorderedPath, space: spacePath, point: JSON.stringify(point), out: subPath }),
    ).rejects.toThrow(`${subPath} already exists; not overwriting it`);
    await expect(supernet({ model: modelPath, out: spacePath })).rejects.toThrow(
      `${spacePath} already exists; not overwriting it`,
    );
  });

  it('extracts a zoo-style architecture from an OFA-style space, and reads points from files', async () => {
    const spacePath = join(dir, 'ofa.json');
    captureStdout();
    await supernet({ model: modelPath, out: spacePath, ofa: true });
    const arch = {
      stem: 16,
      stages: [
        [[8, 8, 24], [8, 8, 24], null],
        [[16, 16, 48], null],
      ],
      classifier: { out: 10 },
      input: { size: 32 },
    };
    const archPath = join(dir, 'arch.json');
    writeFileSync(archPath, JSON.stringify(arch));
    const subPath = join(dir, 'arch.onnx');
    const out = captureStdout();
    await extract({ model: modelPath, space: spacePath, arch: archPath, out: subPath });
    const expected = countCost(buildGraph(parseArchitecture(arch, 'arch'), { weights: false })).macs;
    expect(countCost(loadModel(subPath)).macs).toBe(expected);
    expect(out.text()).toMatch(new RegExp(`wrote .*arch\\.onnx: ${expected.toLocaleString('en-US')} MACs`));

    const genesPath = join(dir, 'genes.json');
    const space = JSON.parse(readFileSync(spacePath, 'utf8')) as SearchSpace;
    writeFileSync(genesPath, JSON.stringify({ genes: space.ofa!.genes.map(() => 0) }));
    await extract({ model: modelPath, space: spacePath, point: genesPath, out: join(dir, 'genes.onnx') });
    expect(countCost(loadModel(join(dir, 'genes.onnx'))).macs).toBe(space.model.macs);
  });

  it('explains bad arguments', async () => {
    await expect(
      extract({ model: modelPath, space: modelPath, point: '{}', out: join(dir, 'x.onnx') }),
    ).rejects.toThrow(/--space .*r50style\.onnx: /);
    const spacePath = join(dir, 'space2.json');
    captureStdout();
    await supernet({ model: modelPath, out: spacePath });
    await expect(extract({ model: modelPath, space: spacePath, out: join(dir, 'x.onnx') })).rejects.toThrow(
      'give the sub-network as --point <point.json | JSON> or --arch <architecture>',
    );
    await expect(
      extract({
        model: modelPath,
        space: spacePath,
        point: '{"widths": {"g4": 20}}',
        out: join(dir, 'x.onnx'),
      }),
    ).rejects.toThrow('point: group g4 (layer1.0.conv3) width 20 is not one of 32, 24, 16');
    await expect(supernet({ model: modelPath, maxSkip: -1 })).rejects.toThrow(
      '--max-skip -1: a whole number >= 0 expected',
    );
    await expect(supernet({ model: modelPath, multipliers: '1,2' })).rejects.toThrow(
      "multipliers '1,2': comma-separated numbers in (0, 1] expected",
    );
  });

  it.skipIf(!fmnistPresent)('summarises the Fashion-MNIST fixture', async () => {
    const out = captureStdout();
    await supernet({ model: FMNIST_MODEL });
    expect(out.text()).toContain('width groups: 16 elastic, 2 fixed');
    expect(out.text()).toContain(
      'skippable blocks: 3 in 3 chains (trailing blocks of a chain, at most 1/1/1); 8 depth configurations',
    );
    expect(out.text()).toContain('size: 13,122,000 distinct sub-networks');
  });
});
