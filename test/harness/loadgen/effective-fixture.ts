import type { EffectiveSettings, TestSettings } from '../../../harness/loadgen/types.js';

/** A hand-built EffectiveSettings for tests of the pure scheduling code (no conf files involved). */
export function effectiveFor(overrides: Partial<EffectiveSettings>): EffectiveSettings {
  return {
    requested: {} as TestSettings,
    scenario: 'Server',
    mode: 'PerformanceOnly',
    samplesPerQuery: 1,
    targetQps: 1,
    targetLatencyNs: 15_000_000,
    targetLatencyPercentile: 0.99,
    maxAsyncQueries: 0,
    targetDurationMs: 10_000,
    minDurationMs: 10_000,
    maxDurationMs: 0,
    minQueryCount: 100,
    maxQueryCount: 0,
    minSampleCount: 100,
    qslRngSeed: 0n,
    sampleIndexRngSeed: 0n,
    scheduleRngSeed: 0n,
    accuracyLogRngSeed: 0n,
    accuracyLogProbability: 0,
    accuracyLogSamplingTarget: 0,
    printTimestamps: false,
    performanceIssueUnique: false,
    performanceIssueSame: false,
    performanceIssueSameIndex: 0,
    performanceSampleCount: 1024,
    accuracySampleCount: 50_000,
    sampleConcatenatePermutation: false,
    ...overrides,
  };
}
