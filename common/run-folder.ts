/**
 * The output folder of a run, claimed before any long work (preprocessing, model loading), so
 * that a folder bnas may not use or cannot write is refused at once, not after minutes.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface ClaimedFolder {
  dir: string;
  /** Folders this call made, outermost first (a run that fails before writing removes them). */
  created: string[];
}

function refusal(dir: string, option: string): (why: string) => Error {
  return (why) => new Error(`${option} ${dir}: ${why}`);
}

/**
 * Throws unless `dir` is missing or an empty folder (left by a run that failed before writing
 * anything), naming the option: bnas never overwrites. Creates nothing.
 */
export function checkNewOrEmptyFolder(dir: string, option = '--out'): void {
  if (!existsSync(dir)) return;
  const refuse = refusal(dir, option);
  if (!statSync(dir).isDirectory()) throw refuse('exists and is not a folder');
  const entries = readdirSync(dir);
  if (entries.length > 0) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '');
    throw refuse(
      `already exists and holds ${entries.length} file(s) (${shown}); bnas never overwrites results: choose a new ${option}`,
    );
  }
}

/**
 * A new folder, or an existing empty one, that this process can write to (checkNewOrEmptyFolder
 * says what is refused); missing parents are made too.
 */
export function claimOutputFolder(dir: string, option = '--out'): ClaimedFolder {
  const refuse = refusal(dir, option);
  checkNewOrEmptyFolder(dir, option);
  const created = existsSync(dir) ? [] : makeFolders(dir, refuse);
  // Permission bits cannot tell (root ignores them, read-only mounts do not show in them): write.
  const probe = join(dir, `.bnas-write-check-${process.pid}`);
  try {
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (error) {
    releaseOutputFolder({ dir, created });
    throw refuse(`is not writable (${(error as Error).message})`);
  }
  return { dir, created };
}

/**
 * Makes `dir` and its missing parents one at a time. Not mkdirSync's recursive mode: on some
 * paths (under /proc) it retries forever instead of failing.
 */
function makeFolders(dir: string, refuse: (why: string) => Error): string[] {
  const missing: string[] = [];
  let existing = resolve(dir);
  while (!existsSync(existing)) {
    missing.unshift(existing);
    existing = dirname(existing);
  }
  if (!statSync(existing).isDirectory()) {
    throw refuse(`cannot create the folder (${existing} is a file, not a folder)`);
  }
  const created: string[] = [];
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (error) {
      releaseOutputFolder({ dir, created });
      throw refuse(`cannot create the folder (${(error as Error).message})`);
    }
    created.push(folder);
  }
  return created;
}

/** Removes the folders claimOutputFolder made, innermost first, as long as they are empty. */
export function releaseOutputFolder(folder: ClaimedFolder): void {
  for (const made of [...folder.created].reverse()) {
    if (!existsSync(made) || readdirSync(made).length > 0) return;
    rmdirSync(made);
  }
}
