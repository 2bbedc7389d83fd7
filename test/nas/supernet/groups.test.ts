/** The dependency analysis on each family of network: groups, fixed groups and skippable blocks, checked by hand. */
import { describe, expect, it } from 'vitest';
import { buildSearchSpace } from '../../../nas/supernet/space.js';
import type { SearchSpace } from '../../../nas/supernet/types.js';
import { builtinArch } from '../../../nas/zoo/arch.js';
import { buildGraph } from '../../../nas/zoo/build.js';
import { loadModel } from '../../../onnx/io.js';
import { FMNIST_MODEL, fmnistPresent } from '../../onnx/helpers.js';
import { mobilenetV2Style, oddNet, resnet18Style, resnet50Style, vggStyle } from './nets.js';

/** Each group as `channels: producers | depthwise | consumers` (fixed groups: `channels: fixed: reason`). */
function shape(space: SearchSpace): string[] {
  return space.groups.map((g) =>
    g.elastic
      ? `${g.channels} [${g.choices}]: ${g.producers.join(',')} | ${g.depthwise.join(',')} | ${g.consumers.join(',')}`
      : `${g.channels}: fixed: ${g.reason}`,
  );
}

function blocks(space: SearchSpace): string[] {
  return space.skippable_blocks.map(
    (b) => `${b.id} ${b.name} ${b.start} -> ${b.end} ${b.chain} inner [${b.inner_groups}]`,
  );
}

describe('channel groups and skippable blocks', () => {
  it('ResNet-18 style: the stem joins stage 1 (no projection there), every conv1 is its own group', () => {
    const space = buildSearchSpace(resnet18Style());
    expect(shape(space)).toEqual([
      "3: fixed: graph input 'input'",
      '16 [16,8]: conv1,layer1.0.conv2,layer1.1.conv2 |  | layer1.0.conv1,layer1.1.conv1,layer2.0.conv1,layer2.0.downsample.0',
      '16 [16,8]: layer1.0.conv1 |  | layer1.0.conv2',
      '16 [16,8]: layer1.1.conv1 |  | layer1.1.conv2',
      '32 [32,24,16]: layer2.0.conv1 |  | layer2.0.conv2',
      '32 [32,24,16]: layer2.0.conv2,layer2.0.downsample.0,layer2.1.conv2 |  | layer2.1.conv1,fc',
      '32 [32,24,16]: layer2.1.conv1 |  | layer2.1.conv2',
      "10: fixed: graph output 'logits'",
    ]);
    expect(blocks(space)).toEqual([
      'b0 layer1.0.add maxpool -> layer1.0.relu2 c0 inner [g2]',
      'b1 layer1.1.add layer1.0.relu2 -> layer1.1.relu2 c0 inner [g3]',
      'b2 layer2.1.add layer2.0.relu2 -> layer2.1.relu2 c1 inner [g6]',
    ]);
    expect(space.chains).toEqual([
      { id: 'c0', blocks: ['b0', 'b1'], max_skip: 2 },
      { id: 'c1', blocks: ['b2'], max_skip: 1 },
    ]);
    // g1, g4, g5 free (2·3·3) × chain c0 (2·2 + 2 + 1) × chain c1 (3 + 1)
    expect(space.size).toBe('504');
    const g1 = space.groups[1];
    expect(g1.tensors.filter((t) => t.role === 'param').map((t) => t.tensor)).toEqual([
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'layer1.0.bn2.weight',
      'layer1.0.bn2.bias',
      'layer1.0.bn2.running_mean',
      'layer1.0.bn2.running_var',
      'layer1.1.bn2.weight',
      'layer1.1.bn2.bias',
      'layer1.1.bn2.running_mean',
      'layer1.1.bn2.running_var',
    ]);
  });

  it('ResNet-50 style: stage groups hold conv3s and the projection, the identity blocks are skippable', () => {
    const space = buildSearchSpace(resnet50Style());
    expect(shape(space)).toEqual([
      "3: fixed: graph input 'input'",
      '16 [16,8]: conv1 |  | layer1.0.conv1,layer1.0.downsample.0',
      '8 [8]: layer1.0.conv1 |  | layer1.0.conv2',
      '8 [8]: layer1.0.conv2 |  | layer1.0.conv3',
      '32 [32,24,16]: layer1.0.conv3,layer1.0.downsample.0,layer1.1.conv3,layer1.2.conv3 |  | layer1.1.conv1,layer1.2.conv1,layer2.0.conv1,layer2.0.downsample.0',
      '8 [8]: layer1.1.conv1 |  | layer1.1.conv2',
      '8 [8]: layer1.1.conv2 |  | layer1.1.conv3',
      '8 [8]: layer1.2.conv1 |  | layer1.2.conv2',
      '8 [8]: layer1.2.conv2 |  | layer1.2.conv3',
      '16 [16,8]: layer2.0.conv1 |  | layer2.0.conv2',
      '16 [16,8]: layer2.0.conv2 |  | layer2.0.conv3',
      '64 [64,48,32]: layer2.0.conv3,layer2.0.downsample.0,layer2.1.conv3 |  | layer2.1.conv1,fc',
      '16 [16,8]: layer2.1.conv1 |  | layer2.1.conv2',
      '16 [16,8]: layer2.1.conv2 |  | layer2.1.conv3',
      "10: fixed: graph output 'logits'",
    ]);
    expect(blocks(space)).toEqual([
      'b0 layer1.1.add layer1.0.relu3 -> layer1.1.relu3 c0 inner [g5,g6]',
      'b1 layer1.2.add layer1.1.relu3 -> layer1.2.relu3 c0 inner [g7,g8]',
      'b2 layer2.1.add layer2.0.relu3 -> layer2.1.relu3 c1 inner [g12,g13]',
    ]);
    expect(space.skippable_blocks[0].nodes).toEqual([
      'layer1.1.conv1',
      'layer1.1.bn1',
      'layer1.1.relu1',
      'layer1.1.conv2',
      'layer1.1.bn2',
      'layer1.1.relu2',
      'layer1.1.conv3',
      'layer1.1.bn3',
      'layer1.1.add',
      'layer1.1.relu3',
    ]);
  });

  it('MobileNetV2 style: depthwise convs join the group feeding them, the linear-bottleneck Adds tie the projections', () => {
    const space = buildSearchSpace(mobilenetV2Style());
    expect(shape(space)).toEqual([
      "3: fixed: graph input 'input'",
      '16 [16,8]: stem | block1.dw | block1.project',
      '8 [8]: block1.project |  | block2.expand',
      '48 [48,32,24]: block2.expand | block2.dw | block2.project',
      '16 [16,8]: block2.project,block3.project,block4.project |  | block3.expand,block4.expand,head',
      '96 [96,72,56]: block3.expand | block3.dw | block3.project',
      '96 [96,72,56]: block4.expand | block4.dw | block4.project',
      '64 [64,48,32]: head |  | fc',
      "10: fixed: graph output 'logits'",
    ]);
    expect(blocks(space)).toEqual([
      'b0 block3.add block2.project.bn -> block3.add c0 inner [g5]',
      'b1 block4.add block3.add -> block4.add c0 inner [g6]',
    ]);
    const dw = space.groups[5].tensors.filter((t) => t.node === 'block3.dw');
    expect(dw).toEqual([
      { tensor: 'block3.dw.weight', axis: 0, offset: 0, inner: 1, node: 'block3.dw', role: 'out' },
    ]);
  });

  it('VGG style: one group per layer, the Flatten of 32×4×4 indexes fc1 with 16 entries per channel', () => {
    const space = buildSearchSpace(vggStyle());
    expect(shape(space)).toEqual([
      "3: fixed: graph input 'input'",
      '16 [16,8]: conv1 |  | conv2',
      '16 [16,8]: conv2 |  | conv3',
      '32 [32,24,16]: conv3 |  | fc1',
      '64 [64,48,32]: fc1 |  | fc2',
      "10: fixed: graph output 'logits'",
    ]);
    expect(space.skippable_blocks).toEqual([]);
    expect(space.groups[3].tensors.find((t) => t.tensor === 'fc1.weight')).toEqual({
      tensor: 'fc1.weight',
      axis: 1,
      offset: 0,
      inner: 16,
      node: 'fc1',
      role: 'in',
    });
    expect(space.size).toBe(String(2 * 2 * 3 * 3));
  });

  it('a BN-folded export and a Shape/Reshape flatten give the same groups', () => {
    const folded = buildSearchSpace(resnet18Style({ folded: true }));
    const plain = buildSearchSpace(resnet18Style());
    expect(shape(folded)).toEqual(shape(plain));
    expect(blocks(folded)).toEqual(blocks(plain));
    expect(folded.groups[2].tensors.map((t) => `${t.tensor}@${t.axis}:${t.role}`)).toEqual([
      'layer1.0.conv1.weight@0:out',
      'layer1.0.conv1.bias@0:param',
      'layer1.0.conv2.weight@1:in',
    ]);
    const view = buildSearchSpace(vggStyle({ viewFlatten: true }));
    expect(shape(view)).toEqual(shape(buildSearchSpace(vggStyle())));
    expect(view.notes).toEqual([]);
  });

  it('Concat segments, an SE Mul, a grouped conv and an unknown op: what it cannot handle stays fixed, with the reason', () => {
    const space = buildSearchSpace(oddNet());
    expect(shape(space)).toEqual([
      "3: fixed: graph input 'input'",
      '16 [16,8]: convA |  | convC',
      '16 [16,8]: convB |  | convC',
      "24: fixed: grouped conv (group 4) at 'convG' (Conv)",
      '8 [8]: se.reduce |  | se.expand',
      "24: fixed: grouped conv (group 4) at 'convG' (Conv) (and 1 more)",
      "24: fixed: operator LRN is not supported by the channel analysis at 'lrn' (LRN)",
      "10: fixed: graph output 'logits'",
    ]);
    // The SE gate's expand conv joins convC's group through the Mul.
    expect(space.groups[3].producers).toEqual(['convC', 'se.expand']);
    // convB's channels sit after convA's in the BN and in convC's input axis.
    const b = space.groups[2].tensors
      .filter((t) => t.offset !== 0)
      .map((t) => `${t.tensor}@${t.axis}+${t.offset}`);
    expect(b).toEqual([
      'cat.bn.weight@0+16',
      'cat.bn.bias@0+16',
      'cat.bn.running_mean@0+16',
      'cat.bn.running_var@0+16',
      'convC.weight@1+16',
    ]);
    expect(space.notes).toEqual([
      "operator LRN is not supported by the channel analysis at 'lrn' (LRN): channels through it stay fixed",
    ]);
  });

  it.skipIf(!fmnistPresent)(
    'the Fashion-MNIST fixture: stem, three stage groups, twelve mid groups, three skippable blocks',
    () => {
      const space = buildSearchSpace(loadModel(FMNIST_MODEL));
      const elastic = space.groups.filter((g) => g.elastic);
      expect(elastic.map((g) => `${g.channels}:${g.producers.length}`)).toEqual([
        '32:1',
        '64:3',
        '16:1',
        '16:1',
        '16:1',
        '16:1',
        '128:3',
        '32:1',
        '32:1',
        '32:1',
        '32:1',
        '256:3',
        '64:1',
        '64:1',
        '64:1',
        '64:1',
      ]);
      expect(space.groups.filter((g) => !g.elastic).map((g) => g.reason)).toEqual([
        "graph input 'input'",
        "graph output 'logits'",
      ]);
      expect(space.skippable_blocks.map((b) => b.name)).toEqual([
        '/stages/stages.0/stages.0.1/Add',
        '/stages/stages.1/stages.1.1/Add',
        '/stages/stages.2/stages.2.1/Add',
      ]);
      expect(space.chains.map((c) => c.max_skip)).toEqual([1, 1, 1]);
      expect(space.model.macs).toBe(26_721_280);
      // stem 3 · stages 3³ · stage-1 mids (2² free, 2²+1 in b0) · stage-2/3 mids (3² free, 3²+1 in the block)
      expect(space.size).toBe(String(3 * 27 * 4 * 5 * 9 * 10 * 9 * 10));
    },
  );

  it('Torchvision ResNet-50 (zoo): NNCF’s 37 width groups and the 12 identity blocks in 4 chains', () => {
    const space = buildSearchSpace(buildGraph(builtinArch('resnet50'), { weights: false }));
    const elastic = space.groups.filter((g) => g.elastic);
    expect(elastic).toHaveLength(37);
    const stages = elastic.filter((g) => g.producers.length > 1);
    expect(stages.map((g) => [g.channels, g.choices, g.producers.length, g.consumers.length])).toEqual([
      [256, [256, 200, 152], 4, 4],
      [512, [512, 408, 304], 5, 5],
      [1024, [1024, 816, 608], 7, 7],
      [2048, [2048, 1632, 1224], 4, 3],
    ]);
    expect(elastic[0]).toMatchObject({ name: 'conv1', channels: 64, choices: [64, 48, 32] });
    expect(space.chains.map((c) => c.blocks.length)).toEqual([2, 3, 5, 2]);
    expect(space.skippable_blocks.map((b) => b.name.replace('.add', ''))).toEqual([
      'layer1.1',
      'layer1.2',
      'layer2.1',
      'layer2.2',
      'layer2.3',
      'layer3.1',
      'layer3.2',
      'layer3.3',
      'layer3.4',
      'layer3.5',
      'layer4.1',
      'layer4.2',
    ]);
    expect(space.model.macs).toBe(4_089_184_256);
  });
});
