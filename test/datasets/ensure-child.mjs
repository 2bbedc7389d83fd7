// ensurePreprocessed in a process of its own, from the build: node ensure-child.mjs <data> <cache root> <spec JSON>
import { ensurePreprocessed } from '../../dist/datasets/cache.js';

const [dataDir, cacheRoot, spec] = process.argv.slice(2);
const result = await ensurePreprocessed({ dataDir, cacheRoot, spec: JSON.parse(spec) });
process.stdout.write(
  `${JSON.stringify({ dir: result.dir, reused: result.reused, count: result.manifest.count })}\n`,
);
