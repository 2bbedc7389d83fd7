/**
 * systems/<system>.json: this machine described with every key the round's checker requires
 * (CPU, caches, memory, storage, OS, software stack), for an open-division CPU-only system.
 */
import { existsSync, readdirSync, statfsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { cpuCaches, cpuInfo, operatingSystem } from '../../common/machine.js';
import { bnasVersion, onnxruntimeVersion } from '../../common/versions.js';
import { roundLayout, type SubmissionRound } from './round-layout.js';

export type SystemStatus = 'available' | 'preview' | 'rdi';
export type SystemType = 'datacenter' | 'edge' | 'datacenter,edge';

/** Required keys of systems/<system>.json for a round, in the checker's order. */
export function systemDescriptionKeys(round: SubmissionRound): readonly string[] {
  return roundLayout(round).systemKeys;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function networkCardCount(): string {
  try {
    // Interfaces backed by a device (physical or virtio NICs), not lo, bridges or veths.
    const n = readdirSync('/sys/class/net').filter((d) =>
      existsSync(join('/sys/class/net', d, 'device')),
    ).length;
    return String(n);
  } catch {
    return 'N/A';
  }
}

export interface SystemDescriptionOptions {
  round: SubmissionRound;
  submitter: string;
  systemName: string;
  status?: SystemStatus;
  systemType?: SystemType;
  framework?: string;
  /** Folder on the storage to report (its file system's size). Default: the current folder. */
  storagePath?: string;
  /** Values that replace or extend the generated ones (e.g. hw_notes, cooling). */
  overrides?: Readonly<Record<string, unknown>>;
}

/**
 * systems/<system>.json for this machine: every required key of the round (values are strings;
 * unknown facts are "N/A", which the current checker accepts as a non-empty answer).
 */
export function describeThisSystem(options: SystemDescriptionOptions): Record<string, unknown> {
  const cpu = cpuInfo();
  const installedOrt = onnxruntimeVersion();
  const ort = installedOrt === 'unknown' ? undefined : installedOrt;
  const bnas = bnasVersion();
  let storage = 'N/A';
  try {
    const fs = statfsSync(options.storagePath ?? process.cwd());
    storage = `${Math.round((fs.blocks * fs.bsize) / 1e9)} GB`;
  } catch {
    // statfs unsupported: keep N/A
  }
  const logical = cpu.logicalCpus;
  const smt =
    logical > cpu.sockets * cpu.coresPerSocket
      ? `, ${logical} logical CPUs (SMT)`
      : `, ${logical} logical CPUs`;
  const values: Record<string, unknown> = {
    division: 'open',
    submitter: options.submitter,
    status: options.status ?? 'available',
    system_name: options.systemName,
    number_of_nodes: '1',
    host_processor_model_name: cpu.model,
    host_processors_per_node: String(cpu.sockets),
    host_processor_core_count: String(cpu.coresPerSocket),
    host_memory_capacity: gib(os.totalmem()),
    host_storage_capacity: storage,
    host_storage_type: 'N/A',
    accelerators_per_node: '0',
    accelerator_model_name: 'N/A',
    accelerator_memory_capacity: 'N/A',
    framework:
      options.framework ??
      (ort ? `ONNX Runtime ${ort} (onnxruntime-node)` : 'ONNX Runtime (onnxruntime-node)'),
    operating_system: operatingSystem(),
    system_type: options.systemType ?? 'datacenter',
    other_software_stack: `Node.js ${process.version}, bnas${bnas ? ` ${bnas}` : ''} (TypeScript port of the MLPerf LoadGen)`,
    host_processor_frequency: cpu.mhz ? `${Math.round(cpu.mhz)} MHz` : 'N/A',
    host_processor_caches: cpuCaches(),
    host_memory_configuration: 'N/A',
    host_processor_interconnect: 'N/A',
    host_networking: 'N/A',
    host_networking_topology: 'N/A',
    accelerator_frequency: 'N/A',
    accelerator_host_interconnect: 'N/A',
    accelerator_interconnect: 'N/A',
    accelerator_interconnect_topology: 'N/A',
    accelerator_memory_configuration: 'N/A',
    'accelerator_on-chip_memories': 'N/A',
    cooling: 'N/A',
    hw_notes: `${cpu.hypervisor ? 'Virtual machine' : 'Host'}: ${cpu.sockets} socket(s) x ${cpu.coresPerSocket} cores${smt}; CPU only${
      cpu.vectorFlags.length > 0 ? `; ${cpu.vectorFlags.join(', ')}` : ''
    }`,
    sw_notes: 'Measured with bnas, an MLPerf-faithful LoadGen in TypeScript',
    host_network_card_count: networkCardCount(),
    system_type_detail: cpu.hypervisor ? 'virtual machine' : 'server',
  };
  const out: Record<string, unknown> = {};
  for (const key of roundLayout(options.round).systemKeys) out[key] = values[key];
  for (const [key, value] of Object.entries(options.overrides ?? {})) out[key] = value;
  return out;
}
