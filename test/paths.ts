/** Where the tests find the repository and their fixtures, wherever a test file sits in test/. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TEST_FIXTURES = join(REPO_ROOT, 'test', 'fixtures');
