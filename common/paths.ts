import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (the folder holding package.json), found from this module's location. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`bnas: cannot find package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/**
 * Path of a compiled module in dist/, e.g. a worker-thread entry point. Worker threads need
 * JavaScript files, also when the caller runs from TypeScript sources (tests), so they always
 * come from the build (`npm run build`, run by `npm install` and `npm test`).
 */
export function builtModule(relativeToRoot: string): string {
  const path = join(packageRoot(), 'dist', relativeToRoot);
  if (!existsSync(path)) throw new Error(`bnas: ${path} is missing; run "npm run build" first`);
  return path;
}
