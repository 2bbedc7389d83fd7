/** The worker side of the sample store: batches copied into one buffer sized for the largest batch. */
import { describe, expect, it } from 'vitest';
import { SampleReader, SampleStore } from '../../harness/sut/sample-store.js';

function storeOf(samples: number, length: number): SampleStore {
  const store = SampleStore.create(samples, samples, length);
  for (let i = 0; i < samples; i++)
    store.put(
      i,
      Float32Array.from({ length }, (_, j) => 100 * i + j),
    );
  return store;
}

describe('SampleReader.readBatch', () => {
  it('copies the samples in order', () => {
    const reader = new SampleReader(storeOf(6, 3).handle, 4);
    expect([...reader.readBatch([5, 0, 2])]).toEqual([500, 501, 502, 0, 1, 2, 200, 201, 202]);
  });

  it('batches of every size share one buffer of the largest batch (Server sends many sizes)', () => {
    const reader = new SampleReader(storeOf(8, 3).handle, 4);
    const views = [1, 2, 3, 4].map((n) => reader.readBatch(Array.from({ length: n }, (_, i) => i)));
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
    expect(views[0].buffer.byteLength).toBe(4 * 3 * 4);
    expect(views.map((v) => v.length)).toEqual([3, 6, 9, 12]);
  });

  it('a sample that was not loaded is an error naming it', () => {
    const store = storeOf(4, 2);
    store.remove(3);
    expect(() => new SampleReader(store.handle, 2).readBatch([0, 3])).toThrow(
      'QSL sample 3 was not loaded before it was issued',
    );
  });
});
