import { describe, expect, it } from 'vitest';
import { findPeakQps, type QpsTrial } from '../../harness/find-qps.js';

/** A SUT whose runs are VALID exactly up to `capacity` qps. */
function thresholdSut(capacity: number) {
  const tried: number[] = [];
  return {
    tried,
    runTrial: async (targetQps: number): Promise<QpsTrial> => {
      tried.push(targetQps);
      return { targetQps, valid: targetQps <= capacity, p99LatencyNs: targetQps <= capacity ? 5e6 : 20e6 };
    },
  };
}

describe('findPeakQps', () => {
  it('brackets upwards from a VALID start and bisects to within the tolerance', async () => {
    const sut = thresholdSut(1234);
    const result = await findPeakQps({ runTrial: sut.runTrial, startQps: 300, relativeTolerance: 0.02 });
    expect(result.bestQps).toBeLessThanOrEqual(1234);
    expect(result.bestQps).toBeGreaterThan(1234 / 1.03);
    const invalid = Math.min(...result.trials.filter((t) => !t.valid).map((t) => t.targetQps));
    expect(invalid / result.bestQps - 1).toBeLessThanOrEqual(0.02 + 0.01); // + rounding to 3 digits
    expect(sut.tried.slice(0, 3)).toEqual([300, 450, 675]);
  });

  it('brackets downwards from an INVALID start', async () => {
    const sut = thresholdSut(40);
    const result = await findPeakQps({ runTrial: sut.runTrial, startQps: 500 });
    expect(result.bestQps).toBeLessThanOrEqual(40);
    expect(result.bestQps).toBeGreaterThan(38);
    expect(sut.tried[0]).toBe(500);
    expect(sut.tried[1]).toBe(333);
  });

  it('reports 0 when nothing is VALID within the trial budget', async () => {
    const sut = thresholdSut(0);
    const result = await findPeakQps({ runTrial: sut.runTrial, startQps: 100, maxTrials: 4 });
    expect(result.bestQps).toBe(0);
    expect(result.trials).toHaveLength(4);
  });

  it('rejects a non-positive start rate', async () => {
    await expect(findPeakQps({ runTrial: thresholdSut(1).runTrial, startQps: 0 })).rejects.toThrow(
      /start rate/,
    );
  });
});
