/**
 * Data-aware importance against hand-computed scores: a 1×1 conv of 16 filters whose channel c
 * carries (c + 1)·x, read by one 1×1 conv whose weights on channel c are known; a constant input
 * makes every RMS exact. Score(c) = RMS(channel c) · ‖W2[:, c]‖₂.
 */
import { describe, expect, it } from 'vitest';
import { arraySampleSource } from '../../../datasets/sample-source.js';
import { activationImportance } from '../../../nas/subnet/activation-importance.js';
import { importanceOrder } from '../../../nas/supernet/importance.js';
import { buildSearchSpace } from '../../../nas/supernet/space.js';
import { NetBuilder } from '../supernet/nets.js';

function chain() {
  const b = new NetBuilder('chain', [1, 2, 2]);
  const a = b.conv('convA', 'input', 1, 16);
  const r = b.relu('reluA', a);
  const c = b.conv('convB', r, 16, 16);
  b.head(b.relu('reluB', c), 16, 4);
  const m = b.model();
  const wA = m.graph.initializers.get('convA.weight')!.data as Float32Array;
  for (let c = 0; c < 16; c++) wA[c] = c + 1; // channel c = (c + 1) · x
  const wB = m.graph.initializers.get('convB.weight')!.data as Float32Array; // [16 out, 16 in]
  wB.fill(0);
  for (let o = 0; o < 16; o++)
    for (let i = 0; i < 16; i++) wB[o * 16 + i] = i === 5 ? 0 : (o % 2 ? 1 : -1) * 0.5;
  return m;
}

describe('activationImportance', () => {
  it('scores each channel by RMS of its activation times the norm of its readers’ weights', async () => {
    const model = chain();
    const space = buildSearchSpace(model);
    const group = space.groups.find((g) => g.producers.includes('convA'))!;
    expect(group.elastic).toBe(true);
    // Constant input 2 everywhere: channel c of reluA is 2(c + 1) at every position.
    const samples = arraySampleSource(new Float32Array(3 * 4).fill(2), [1, 2, 2]);
    const scores = (await activationImportance(model, space, samples)).get(group.id)!;
    for (let c = 0; c < 16; c++) {
      const norm = c === 5 ? 0 : Math.sqrt(16 * 0.25);
      expect(scores[c]).toBeCloseTo(2 * (c + 1) * norm, 4);
    }
    const order = importanceOrder(new Map([[group.id, scores]])).get(group.id)!;
    expect(order[0]).toBe(15);
    expect(order[15]).toBe(5); // never read: least important despite its large activation
  });

  it('a channel that is never active scores zero', async () => {
    const model = chain();
    (model.graph.initializers.get('convA.weight')!.data as Float32Array)[3] = -1; // ReLU kills channel 3
    const space = buildSearchSpace(model);
    const group = space.groups.find((g) => g.producers.includes('convA'))!;
    const samples = arraySampleSource(new Float32Array(2 * 4).fill(1), [1, 2, 2]);
    const scores = (await activationImportance(model, space, samples)).get(group.id)!;
    expect(scores[3]).toBe(0);
    expect(scores[4]).toBeGreaterThan(0);
  });
});
