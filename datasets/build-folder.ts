/**
 * Build folders: a folder of samples is built under "<final>.partial-<host>-<pid>-<start>-<rand>"
 * and renamed to <final> when complete, so an interrupted build is visibly partial, two builds
 * never write into the same folder, and a complete folder appears all at once.
 *
 * The owner is in the name, so claiming a folder (renaming it to one's own name) is atomic: of
 * two processes claiming the same abandoned folder, one rename succeeds and the other fails.
 * A partial folder is abandoned when its owner is gone: a process of this host whose pid no
 * longer runs, or runs a process started at another time (pid reuse, <start> is its start time
 * in clock ticks since boot on Linux), or this process when it no longer builds into it.
 * Folders of other hosts are never taken (their owners cannot be checked from here).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

export interface PartialFolder {
  path: string;
  host: string;
  pid: number;
  start: string;
}

const PARTIAL = '.partial-';
/** Folders this process is building into now. */
const active = new Set<string>();

/** The start time of process `pid` (clock ticks since boot), '0' where /proc cannot tell. */
function processStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    return '0';
  }
}

const thisHost = hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';
const thisStart = processStart(process.pid);

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function describeOwner(p: PartialFolder): string {
  return `bnas process ${p.pid} on ${p.host}`;
}

/** A new, unused partial folder name for `final`, owned by this process. */
export function newPartialPath(final: string): string {
  return `${final}${PARTIAL}${thisHost}-${process.pid}-${thisStart}-${randomBytes(4).toString('hex')}`;
}

/** The partial folders of `final`, oldest name first. */
export function listPartials(final: string): PartialFolder[] {
  const parent = dirname(final);
  if (!statSync(parent, { throwIfNoEntry: false })?.isDirectory()) return [];
  const prefix = `${basename(final)}${PARTIAL}`;
  const out: PartialFolder[] = [];
  for (const name of readdirSync(parent).sort()) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(.+)-(\d+)-(\d+)-([0-9a-f]{8})$/.exec(name.slice(prefix.length));
    if (m) out.push({ path: join(parent, name), host: m[1], pid: Number(m[2]), start: m[3] });
  }
  return out;
}

export function isAbandoned(p: PartialFolder): boolean {
  if (p.host !== thisHost) return false;
  if (p.pid === process.pid && p.start === thisStart) return !active.has(p.path);
  if (!pidRuns(p.pid)) return true;
  const start = processStart(p.pid);
  return start !== '0' && p.start !== '0' && start !== p.start;
}

/** Marks a folder this process builds into (not to be claimed by this process's other builds). */
export function holdFolder(path: string): void {
  active.add(path);
}

export function releaseFolder(path: string): void {
  active.delete(path);
}

/**
 * Takes `from` as this process's folder `to` (held); false when another process took it first
 * or it is gone.
 */
export function claimFolder(from: string, to: string): boolean {
  try {
    renameSync(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    throw error;
  }
  holdFolder(to);
  return true;
}

/** Creates the empty folder `path` (held) for a new build. */
export function createBuildFolder(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  mkdirSync(path);
  holdFolder(path);
}
