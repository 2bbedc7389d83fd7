/** A description of the machine a result was measured on: what people need to compare runs. */
import { readFileSync } from 'node:fs';
import os, { freemem } from 'node:os';

export interface MachineDescription {
  hostname: string;
  cpuModel: string;
  logicalCpus: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntime?: string;
  cpuFlags: string[];
}

const INTERESTING_FLAGS = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_int8', 'amx_bf16'];

export function describeMachine(): MachineDescription {
  const cpus = os.cpus();
  let flags: string[] = [];
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    const all = new Set(line?.split(':')[1]?.trim().split(/\s+/) ?? []);
    flags = INTERESTING_FLAGS.filter((f) => all.has(f));
  } catch {
    // not Linux: no flags
  }
  return {
    hostname: os.hostname(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    logicalCpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    cpuFlags: flags,
  };
}

/**
 * Memory this process may still use: the kernel's MemAvailable (os.freemem), or what is left of
 * a cgroup limit when that is lower.
 */
export function availableMemoryBytes(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const limit = constrained > 0 ? constrained - process.memoryUsage().rss : Number.POSITIVE_INFINITY;
  return Math.min(freemem(), limit);
}
