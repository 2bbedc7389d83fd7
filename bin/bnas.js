#!/usr/bin/env node
import { availableParallelism } from 'node:os';
import { ensureBuilt } from './ensure-built.js';

// sharp decodes images on libuv's thread pool (4 threads by default): give it every core.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
try {
  ensureBuilt();
} catch (error) {
  process.stderr.write(`bnas: ${error.message}\n`);
  process.exit(1);
}
await import('../dist/cli/bnas.js');
