/**
 * What bnas reports in the loadgen_* header keys in place of LoadGen's build stamp: the round's
 * loadgen_version, build dates taken from the newest source file of this LoadGen port, and the
 * sha1 of every file of the port (LoadGen lists the sha1 of its own source files).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface VersionInfo {
  buildDate: Date;
  /** loadgen_git_commit_date; LoadGen writes "NA" when it is not built from a git checkout. */
  gitCommitDate: string;
  gitLogMessage: string;
  /** Empty: a non-empty status makes LoadGen log error_uncommitted_loadgen_changes. */
  gitStatusMessage: string;
  fileSha1: Readonly<Record<string, string>>;
}

/** The harness/loadgen directory this module belongs to (source or compiled). */
function portRoot(): string {
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

function listFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(path));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

let cached: VersionInfo | undefined;

/** Computed once per process from the files of the port. */
export function bnasVersionInfo(loadgenVersion: string): VersionInfo {
  if (!cached) {
    const root = portRoot();
    const sha1: Record<string, string> = {};
    let newest = 0;
    const files = listFiles(root)
      .map((path) => ({ path, name: `/${relative(root, path).split(sep).join('/')}` }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { path, name } of files) {
      sha1[name] = createHash('sha1').update(readFileSync(path)).digest('hex');
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
    cached = {
      buildDate: new Date(Math.floor(newest)),
      gitCommitDate: 'NA',
      gitLogMessage: '',
      gitStatusMessage: '',
      fileSha1: sha1,
    };
  }
  return {
    ...cached,
    gitLogMessage: `bnas: TypeScript port of the MLPerf LoadGen, reproducing LoadGen ${loadgenVersion}`,
  };
}
