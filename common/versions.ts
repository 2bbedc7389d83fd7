/** Version stamps: bnas's own (package.json) and the installed version of a dependency. */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageRoot } from './paths.js';

let bnas: string | undefined;

/** bnas's version, from its package.json (read once per process). */
export function bnasVersion(): string {
  bnas ??= JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version as string;
  return bnas;
}

/**
 * The version of an installed npm package, from its package.json (found above the file the
 * package resolves to, as a package's "exports" may not list package.json); 'unknown' if absent.
 */
export function installedVersion(name: string): string {
  let path: string;
  try {
    path = createRequire(import.meta.url).resolve(name);
  } catch {
    return 'unknown';
  }
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const json = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (json.name === name) return json.version ?? 'unknown';
  }
  return 'unknown';
}

/** The onnxruntime-node that measurements run on. */
export function onnxruntimeVersion(): string {
  return installedVersion('onnxruntime-node');
}
