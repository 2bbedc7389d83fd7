/**
 * The conf values that made `bnas loadgen` and `bnas run` hang (target_qps = 0: a flood of
 * TimeoutOverflowWarning, never ending) or die in V8 (samples_per_query = 0: exit 133, no
 * message): now the command ends by itself with a non-zero status and a message naming the key,
 * file and line, and leaves no output folder. Spawns `node bin/bnas.js` (needs the build).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, REPO_ROOT, removeTempDirs, runCli, tempDir } from './e2e-helpers.js';

afterAll(removeTempDirs);

const FMNIST_MODEL = join(REPO_ROOT, 'models', 'fixture', 'fmnist_resnet.onnx');
const FMNIST_VAL = join(REPO_ROOT, 'datasets', 'fixtures', 'fashion-mnist', 'val');

function workspace(conf: string): string {
  const dir = tempDir('bnas-settings-cli-');
  writeFileSync(join(dir, 'user.conf'), conf);
  return dir;
}

function expectRefused(result: CliResult, cwd: string, message: string): void {
  expect(result.signal).toBeNull(); // ended by itself, not by the spawn timeout
  expect(result.status).not.toBeNull();
  expect(result.status).not.toBe(0);
  expect(result.stderr).not.toContain('TimeoutOverflowWarning');
  expect(result.stderr).toContain(message);
  expect(existsSync(join(cwd, 'out'))).toBe(false);
}

describe('bnas loadgen refuses conf values it cannot run with', () => {
  it('Server target_qps = 0', () => {
    const cwd = workspace('# rate\nresnet50.Server.target_qps = 0\nresnet50.Server.min_duration = 1000\n');
    const result = runCli(['loadgen', '--scenario', 'Server', '--conf', 'user.conf', '--out', 'out'], cwd);
    expectRefused(
      result,
      cwd,
      'bnas: user.conf:2: resnet50.Server.target_qps = 0: must be above 0 queries per second',
    );
  });

  it('Server target_qps = 1e-300', () => {
    const cwd = workspace('resnet50.Server.target_qps = 1e-300\n');
    const result = runCli(['loadgen', '--scenario', 'Server', '--conf', 'user.conf', '--out', 'out'], cwd);
    expectRefused(result, cwd, 'bnas: user.conf:1: resnet50.Server.target_qps = 1e-300: must be at least');
  });

  it('MultiStream samples_per_query = 0', () => {
    const cwd = workspace('*.MultiStream.samples_per_query = 0\n');
    const result = runCli(
      ['loadgen', '--scenario', 'MultiStream', '--conf', 'user.conf', '--out', 'out'],
      cwd,
    );
    expectRefused(result, cwd, 'bnas: user.conf:1: *.MultiStream.samples_per_query = 0: must be at least 1');
  });

  it('SingleStream target_latency = 0', () => {
    const cwd = workspace('*.SingleStream.target_latency = 0\n');
    const result = runCli(
      ['loadgen', '--scenario', 'SingleStream', '--conf', 'user.conf', '--out', 'out'],
      cwd,
    );
    expectRefused(result, cwd, 'bnas: user.conf:1: *.SingleStream.target_latency = 0: must be above 0 ms');
  });

  it('a huge min_query_count: the key and line, not "Invalid typed array length"', () => {
    const cwd = workspace('resnet50.Offline.min_query_count = 1000000000000\n');
    const result = runCli(['loadgen', '--scenario', 'Offline', '--conf', 'user.conf', '--out', 'out'], cwd);
    expectRefused(result, cwd, 'bnas: user.conf:1: the Offline schedule would hold 1.00e+12 sample(s)');
    expect(result.stderr).toContain('resnet50.Offline.min_query_count = 1000000000000 (user.conf:1)');
    expect(result.stderr).not.toContain('Invalid typed array length');
  });
});

describe('bnas run refuses them before preprocessing', () => {
  it.each([
    [
      'Server',
      'resnet50.Server.target_qps = 0\n',
      'user.conf:1: resnet50.Server.target_qps = 0: must be above 0',
    ],
    [
      'MultiStream',
      'resnet50.MultiStream.samples_per_query = 0\n',
      'user.conf:1: resnet50.MultiStream.samples_per_query = 0: must be at least 1',
    ],
  ])('%s', (scenario, conf, message) => {
    const cwd = workspace(conf);
    const result = runCli(
      [
        'run',
        '--model',
        FMNIST_MODEL,
        '--data',
        FMNIST_VAL,
        '--scenario',
        scenario,
        '--conf',
        'user.conf',
        '--cache-root',
        join(cwd, 'cache'),
        '--out',
        'out',
      ],
      cwd,
    );
    expectRefused(result, cwd, `bnas: ${message}`);
    // refused before any preprocessing: nothing was cached
    expect(existsSync(join(cwd, 'cache'))).toBe(false);
  });
});
