import { MLPERF_CONF_V20 } from './conf/mlperf-v20.js';
import type { RoundId, RoundRules, SeedSet } from './types.js';

/**
 * The mlperf.conf that the current LoadGen compiles in, reduced to the generic lines and the
 * resnet50 lines (the benchmark class every bnas model belongs to). Seeds are filled in per round.
 */
function currentMlperfConf(seeds: SeedSet): string {
  return `# mlperf.conf embedded in bnas (current LoadGen rules, resnet50 benchmark class).
# Format: model.scenario.key = value; model and scenario may be '*'. Times in ms.
resnet50.*.performance_sample_count_override = 1024
*.*.qsl_rng_seed = ${seeds.qslRngSeed}
*.*.sample_index_rng_seed = ${seeds.sampleIndexRngSeed}
*.*.schedule_rng_seed = ${seeds.scheduleRngSeed}
*.*.test05_qsl_rng_seed = 7975553102935885558
*.*.test05_sample_index_rng_seed = 11403566307062068064
*.*.test05_schedule_rng_seed = 15816800565822761601

*.SingleStream.target_latency_percentile = 90
*.SingleStream.min_duration = 600000

*.MultiStream.target_latency_percentile = 99
*.MultiStream.samples_per_query = 8
*.MultiStream.min_duration = 600000
*.MultiStream.min_query_count = 662

*.Server.target_latency = 10
*.Server.target_latency_percentile = 99
*.Server.target_duration = 0
*.Server.min_duration = 600000
resnet50.Server.target_latency = 15

*.Offline.target_latency_percentile = 90
*.Offline.min_duration = 600000
resnet50.Offline.min_query_count = 24576

# These fields should be defined and overridden by user.conf.
*.SingleStream.target_latency = 10
*.MultiStream.target_latency = 80
*.Server.target_qps = 1.0
*.Offline.target_qps = 1.0
`;
}

export const ROUND_SEEDS: Record<RoundId, SeedSet> = {
  'v2.0': {
    qslRngSeed: 6655344265603136530n,
    sampleIndexRngSeed: 15863379492028895792n,
    scheduleRngSeed: 12662793979680847247n,
  },
  'v5.0': {
    qslRngSeed: 6023615788873153749n,
    sampleIndexRngSeed: 15036839855038426416n,
    scheduleRngSeed: 9933818062894767841n,
  },
  'v5.1': {
    qslRngSeed: 1780908523862526354n,
    sampleIndexRngSeed: 14771362308971278857n,
    scheduleRngSeed: 18209322760996052031n,
  },
  'v6.0': {
    qslRngSeed: 2465351861681999779n,
    sampleIndexRngSeed: 14276810075590677512n,
    scheduleRngSeed: 3936089224930324775n,
  },
  'v6.1': {
    qslRngSeed: 2085463073848966840n,
    sampleIndexRngSeed: 2747215439041700203n,
    scheduleRngSeed: 16159082839903944936n,
  },
};

export const CURRENT_ROUND: RoundId = 'v6.1';
export const ROUND_IDS: readonly RoundId[] = ['v2.0', 'v5.0', 'v5.1', 'v6.0', 'v6.1'];

function currentRules(id: RoundId): RoundRules {
  return {
    id,
    loadgenVersion: '6.0.17 @ b66003e10e',
    mlperfConfIsFile: false,
    mlperfConf: currentMlperfConf(ROUND_SEEDS[id]),
    perfSetFromWholeDataset: false,
    serverMetric: 'completed',
    headlinePercentileDecimals: 1,
    currentKeys: true,
    offlineIssueSameUsesPerfCount: false,
  };
}

function v20Rules(): RoundRules {
  return {
    id: 'v2.0',
    loadgenVersion: '2.0 @ 33894a19c4',
    mlperfConfIsFile: true,
    mlperfConf: MLPERF_CONF_V20,
    perfSetFromWholeDataset: true,
    serverMetric: 'scheduled',
    headlinePercentileDecimals: 0,
    currentKeys: false,
    offlineIssueSameUsesPerfCount: true,
  };
}

/** Rules of a round; accepts "current" for the newest one. Throws a clear error on unknown names. */
export function roundRules(name: string): RoundRules {
  const id = name === 'current' ? CURRENT_ROUND : name;
  if (id === 'v2.0') return v20Rules();
  if ((ROUND_IDS as readonly string[]).includes(id)) return currentRules(id as RoundId);
  throw new Error(`unknown round "${name}": expected one of ${ROUND_IDS.join(', ')} or "current"`);
}
