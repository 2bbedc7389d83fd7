/**
 * What differs between the MLPerf Inference rounds bnas packages for (spec submission.md): where
 * the measurements and the code go, how truncate_accuracy_log.py writes the hash line, which keys
 * the systems JSON must hold and which detail-log key holds the Server metric.
 */
import { ROUND_IDS } from '../../harness/loadgen/rounds.js';
import type { RoundId } from '../../harness/loadgen/types.js';

export type SubmissionRound = RoundId;
export const SUBMISSION_ROUNDS: readonly SubmissionRound[] = ROUND_IDS;

export interface RoundLayout {
  /** v6.x: measurements.json, user.conf, README.md live in the results scenario folder. */
  measurementsInResults: boolean;
  /** Folder for the code: "code" (≤ v5.1) or "src" (v6.x). */
  codeDir: 'code' | 'src';
  /** What truncate_accuracy_log.py writes before "hash=…" ("" up to v4.1, "\n" since v5.0). */
  hashPrefix: string;
  /** The round's systems JSON required keys, in the checker's order. */
  systemKeys: readonly string[];
  /** Detail-log key of the Server metric. */
  serverMetricKey: string;
}

const SYSTEM_KEYS_V20 = [
  'division',
  'submitter',
  'status',
  'system_name',
  'number_of_nodes',
  'host_processor_model_name',
  'host_processors_per_node',
  'host_processor_core_count',
  'host_memory_capacity',
  'host_storage_capacity',
  'host_storage_type',
  'accelerators_per_node',
  'accelerator_model_name',
  'accelerator_memory_capacity',
  'framework',
  'operating_system',
  'system_type',
  'other_software_stack',
  'host_processor_frequency',
  'host_processor_caches',
  'host_memory_configuration',
  'host_processor_interconnect',
  'host_networking',
  'host_networking_topology',
  'accelerator_frequency',
  'accelerator_host_interconnect',
  'accelerator_interconnect',
  'accelerator_interconnect_topology',
  'accelerator_memory_configuration',
  'accelerator_on-chip_memories',
  'cooling',
  'hw_notes',
  'sw_notes',
] as const;

const SYSTEM_KEYS_CURRENT = [...SYSTEM_KEYS_V20, 'host_network_card_count', 'system_type_detail'] as const;

export function roundLayout(round: SubmissionRound): RoundLayout {
  if (round === 'v2.0') {
    return {
      measurementsInResults: false,
      codeDir: 'code',
      hashPrefix: '',
      systemKeys: SYSTEM_KEYS_V20,
      serverMetricKey: 'result_scheduled_samples_per_sec',
    };
  }
  if (!SUBMISSION_ROUNDS.includes(round)) {
    throw new Error(`unknown round "${round}": expected one of ${SUBMISSION_ROUNDS.join(', ')}`);
  }
  const v6 = round.startsWith('v6.');
  return {
    measurementsInResults: v6,
    codeDir: v6 ? 'src' : 'code',
    hashPrefix: '\n',
    systemKeys: SYSTEM_KEYS_CURRENT,
    serverMetricKey: 'result_completed_samples_per_sec',
  };
}
