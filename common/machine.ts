/** A description of the machine a result was measured on: what people need to compare runs. */
import { readdirSync, readFileSync } from 'node:fs';
import os, { freemem } from 'node:os';
import { join } from 'node:path';

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

export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export interface CpuInfo {
  model: string;
  sockets: number;
  coresPerSocket: number;
  logicalCpus: number;
  mhz: number | undefined;
  hypervisor: boolean;
  /** ISA extensions that matter for FP32/INT8 inference. */
  vectorFlags: string[];
}

const VECTOR_FLAGS = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_int8', 'amx_bf16'];

/** The CPU from /proc/cpuinfo and sysfs (os.cpus() where those are missing). */
export function cpuInfo(): CpuInfo {
  const cpus = os.cpus();
  const text = readOptional('/proc/cpuinfo') ?? '';
  const field = (name: string): string[] =>
    [...text.matchAll(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'gm'))].map((m) => m[1].trim());
  const sockets = new Set(field('physical id')).size || 1;
  const cores = Number(field('cpu cores')[0]);
  const mhz = Number(field('cpu MHz')[0]);
  const flags = new Set((field('flags')[0] ?? '').split(/\s+/));
  const maxKhz = Number(readOptional('/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq'));
  return {
    model: field('model name')[0] || cpus[0]?.model || os.arch(),
    sockets,
    coresPerSocket:
      Number.isInteger(cores) && cores > 0 ? cores : Math.max(1, Math.floor(cpus.length / sockets)),
    logicalCpus: cpus.length,
    mhz: maxKhz > 0 ? maxKhz / 1000 : mhz > 0 ? mhz : undefined,
    hypervisor: flags.has('hypervisor'),
    vectorFlags: VECTOR_FLAGS.filter((f) => flags.has(f)),
  };
}

function cacheSize(text: string): string {
  const m = /^(\d+)([KMG])$/.exec(text);
  if (!m) return text;
  let value = Number(m[1]);
  let unit = m[2];
  while (value >= 1024 && value % 1024 === 0 && unit !== 'G') {
    value /= 1024;
    unit = unit === 'K' ? 'M' : 'G';
  }
  return `${value} ${unit}iB`;
}

/** "L1d 32 KiB, L1i 32 KiB, L2 1 MiB per core; L3 32 MiB shared by 2 CPUs" from sysfs (cpu0). */
export function cpuCaches(): string {
  const base = '/sys/devices/system/cpu/cpu0/cache';
  let entries: string[];
  try {
    entries = readdirSync(base).filter((e) => e.startsWith('index'));
  } catch {
    return 'N/A';
  }
  const parts: string[] = [];
  for (const e of entries.sort()) {
    const level = readOptional(join(base, e, 'level'))?.trim();
    const type = readOptional(join(base, e, 'type'))?.trim();
    const size = readOptional(join(base, e, 'size'))?.trim();
    if (!level || !size) continue;
    const suffix = type === 'Data' ? 'd' : type === 'Instruction' ? 'i' : '';
    const shared = cpuCount(readOptional(join(base, e, 'shared_cpu_list'))?.trim() ?? '');
    parts.push(`L${level}${suffix} ${cacheSize(size)}${shared > 1 ? ` shared by ${shared} CPUs` : ''}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'N/A';
}

/** Number of CPUs in a sysfs list such as "0-3,8". */
function cpuCount(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (Number.isInteger(a)) n += Number.isInteger(b) ? b - a + 1 : 1;
  }
  return n;
}

/** "Debian GNU/Linux 12 (bookworm) (Linux 6.1.0-...)", or the kernel alone. */
export function operatingSystem(): string {
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readOptional('/etc/os-release') ?? '')?.[1];
  const kernel = `${os.type()} ${os.release()}`;
  return pretty ? `${pretty} (${kernel})` : kernel;
}

export function describeMachine(): MachineDescription {
  const cpu = cpuInfo();
  return {
    hostname: os.hostname(),
    cpuModel: cpu.model,
    logicalCpus: cpu.logicalCpus,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    cpuFlags: cpu.vectorFlags,
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
