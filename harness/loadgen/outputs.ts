/**
 * The four LoadGen output files of one run, written under a ".partial" name and renamed into place
 * when the run ends, so that an interrupted run is visibly incomplete and an earlier run in the
 * same folder is never overwritten.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOG_FILE_NAMES = {
  summary: 'mlperf_log_summary.txt',
  detail: 'mlperf_log_detail.txt',
  accuracy: 'mlperf_log_accuracy.json',
  trace: 'mlperf_log_trace.json',
} as const;

export type LogFileKind = keyof typeof LOG_FILE_NAMES;
const PARTIAL = '.partial';

/** Creates `dir` if missing; refuses a folder that already holds a run (complete or partial). */
export function prepareOutputDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const existing = readdirSync(dir).filter((f) => f.startsWith('mlperf_log_'));
  if (existing.length > 0) {
    throw new Error(
      `${dir} already holds a run (${existing.join(', ')}); bnas never overwrites results: choose a new --out folder`,
    );
  }
}

/** Open files of one run. Appends go straight to the ".partial" files. */
export class RunFiles {
  private readonly fds = new Map<LogFileKind, number>();

  constructor(private readonly dir: string) {
    for (const kind of Object.keys(LOG_FILE_NAMES) as LogFileKind[]) {
      this.fds.set(kind, openSync(this.partialPath(kind), 'wx'));
    }
  }

  path(kind: LogFileKind): string {
    return join(this.dir, LOG_FILE_NAMES[kind]);
  }

  private partialPath(kind: LogFileKind): string {
    return this.path(kind) + PARTIAL;
  }

  append(kind: LogFileKind, text: string | Uint8Array): void {
    const fd = this.fds.get(kind);
    if (fd === undefined) throw new Error(`${this.path(kind)} is already closed`);
    if (typeof text === 'string') writeSync(fd, text);
    else writeSync(fd, text);
  }

  /** Closes every file and gives it its final name. */
  finish(): void {
    for (const [kind, fd] of this.fds) {
      closeSync(fd);
      if (existsSync(this.path(kind)))
        throw new Error(`${this.path(kind)} appeared during the run; left ${this.partialPath(kind)} as is`);
      renameSync(this.partialPath(kind), this.path(kind));
    }
    this.fds.clear();
  }

  /** Closes the files and leaves them with their ".partial" names. */
  abandon(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
