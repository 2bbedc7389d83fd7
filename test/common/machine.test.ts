/** common/machine.ts: the machine description and the memory a run may still use. */
import { freemem, totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { availableMemoryBytes, describeMachine } from '../../common/machine.js';

describe('machine', () => {
  it('describes this machine', () => {
    const m = describeMachine();
    expect(m.logicalCpus).toBeGreaterThan(0);
    expect(m.memoryGiB).toBeGreaterThan(0);
    expect(m.node).toBe(process.version);
  });

  it('availableMemoryBytes is at most what the kernel says is free, and at most a cgroup limit leaves', () => {
    const available = availableMemoryBytes();
    expect(Number.isFinite(available)).toBe(true);
    expect(available).toBeGreaterThan(0);
    expect(available).toBeLessThanOrEqual(Math.max(freemem(), totalmem()));
    const constrained = process.constrainedMemory?.() ?? 0;
    if (constrained > 0) expect(available).toBeLessThanOrEqual(constrained);
  });
});
