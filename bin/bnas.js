#!/usr/bin/env node
import { availableParallelism } from 'node:os';

// sharp decodes images on libuv's thread pool (4 threads by default): give it every core.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
await import('../dist/cli/bnas.js');
