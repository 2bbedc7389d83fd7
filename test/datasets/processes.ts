/**
 * Real child processes for the dataset tests: `bnas` itself, or a build of the cache in a process
 * of its own (ensure-child.mjs). Both run the compiled dist/ (bin/bnas.js builds it when stale).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../paths.js';

export const PACKAGE_ROOT = REPO_ROOT;
const BNAS = join(PACKAGE_ROOT, 'bin', 'bnas.js');
const ENSURE_CHILD = join(import.meta.dirname, 'ensure-child.mjs');

export interface Child {
  process: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Child {
  const child = spawn(process.execPath, args, { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  if (child.pid === undefined) throw new Error(`could not start ${args.join(' ')}`);
  return { process: child, pid: child.pid, stdout: () => out, stderr: () => err, exited };
}

export const startBnas = (...args: string[]): Child => start([BNAS, ...args]);

/** ensurePreprocessed({ dataDir, cacheRoot, spec }) in a child; prints the result as JSON. */
export const startEnsure = (dataDir: string, cacheRoot: string, spec: object): Child =>
  start([ENSURE_CHILD, dataDir, cacheRoot, JSON.stringify(spec)]);

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls until `condition` holds; throws (naming `what`) if `gaveUp()` says it never will, e.g.
 * because the process it waits on has ended.
 */
export async function waitUntil(condition: () => boolean, what: string, gaveUp: () => boolean) {
  while (!condition()) {
    if (gaveUp()) throw new Error(`gave up waiting for ${what}`);
    await pause(10);
  }
}

/** Every file under `dir`, relative paths. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** True once every thread of `pid` is stopped (Linux: /proc/<pid>/task/<tid>/stat state T). */
export function isStopped(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  });
}
