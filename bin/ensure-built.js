/**
 * Compiles the TypeScript sources into dist/ when dist/ is missing or older than a source file.
 *
 * Why here and not in an npm lifecycle script: the project's .npmrc sets ignore-scripts=true so
 * that no dependency's install script can fetch anything (onnxruntime-node's postinstall would
 * download CUDA providers from outside the npm registry). That also skips our own `prepare`, so
 * the first `bnas` after `npm ci` compiles here (a few seconds), and later runs only check.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampPath = join(root, 'dist', '.build-stamp');
const lockPath = join(root, 'dist.build-lock');

function newestSourceMtime() {
  const config = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
  let newest = 0;
  const visit = (path) => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return;
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) {
        if (entry !== 'fixtures' && entry !== 'node_modules') visit(join(path, entry));
      }
    } else if (/\.(ts|json)$/.test(path)) {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const folder of config.include) visit(join(root, folder));
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) visit(join(root, file));
  return newest;
}

function isFresh() {
  const stamp = statSync(stampPath, { throwIfNoEntry: false });
  return stamp !== undefined && stamp.mtimeMs >= newestSourceMtime();
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes an exclusive lock (a directory), waiting for another process's build; stale after 5 min. */
function withBuildLock(work) {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lockPath);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const age = Date.now() - (statSync(lockPath, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000 || Date.now() > deadline) rmSync(lockPath, { recursive: true, force: true });
      else sleep(200);
    }
  }
  try {
    return work();
  } finally {
    rmSync(lockPath, { recursive: true, force: true });
  }
}

export function ensureBuilt({ quiet = false, force = false } = {}) {
  if (!force && isFresh()) return;
  withBuildLock(() => {
    if (!force && isFresh()) return; // another process built it while we waited
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    if (!existsSync(tsc)) {
      throw new Error(
        'dist/ is missing or older than the sources, and TypeScript (a devDependency) is not installed: run `npm ci` (without --omit=dev) in ' +
          root,
      );
    }
    if (!quiet && !force)
      process.stderr.write(
        'bnas: compiling the TypeScript sources into dist/ (first run after an install or a change)...\n',
      );
    const startedMs = Date.now();
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
      cwd: root,
      stdio: 'inherit',
    });
    // The stamp carries the build's start time: a source saved during the build is newer, so stale.
    writeFileSync(stampPath, `${new Date(startedMs).toISOString()}\n`);
    utimesSync(stampPath, new Date(startedMs), new Date(startedMs));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    ensureBuilt({ quiet: process.argv.includes('--quiet'), force: process.argv.includes('--force') });
  } catch (error) {
    process.stderr.write(`bnas: ${error.message}\n`);
    process.exit(1);
  }
}
