/** common/versions.ts: bnas's own version and installed dependencies' versions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { bnasVersion, installedVersion, onnxruntimeVersion } from '../../common/versions.js';
import { REPO_ROOT } from '../paths.js';

const packageJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as { version: string };

describe('versions', () => {
  it("bnasVersion is package.json's version", () => {
    expect(bnasVersion()).toBe(packageJson(join(REPO_ROOT, 'package.json')).version);
    expect(bnasVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("installedVersion reads the package's own package.json, also for packages whose main file sits deeper", () => {
    expect(installedVersion('yargs')).toBe(
      packageJson(join(REPO_ROOT, 'node_modules/yargs/package.json')).version,
    );
    // onnxruntime-node resolves to dist/index.js: the version is found above it.
    expect(onnxruntimeVersion()).toBe(
      packageJson(join(REPO_ROOT, 'node_modules/onnxruntime-node/package.json')).version,
    );
  });

  it('onnxruntimeVersion is the version the loaded binding reports', () => {
    expect(onnxruntimeVersion()).toBe(ort.env.versions.node);
  });

  it("says 'unknown' for a package that is not installed", () => {
    expect(installedVersion('bnas-no-such-package')).toBe('unknown');
  });
});
