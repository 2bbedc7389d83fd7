/** The session factory: the shared options, what a single use adds, and load errors that name the model. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModelInput } from '../../onnx/model-input.js';
import { createSession, sessionOptions } from '../../onnx/session.js';
import { FIXTURES } from './helpers.js';

const SMALL_CNN = join(FIXTURES, 'small_cnn.onnx');

describe('sessionOptions', () => {
  it('gives every session the same CPU, thread and spinning options', () => {
    expect(sessionOptions({ intraOpThreads: 2, spinning: false })).toEqual({
      executionProviders: ['cpu'],
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
  });

  it('adds only the extras asked for', () => {
    const base = sessionOptions({ intraOpThreads: 1, spinning: true, graphOptimizationLevel: 'disabled' });
    expect(
      sessionOptions(
        { intraOpThreads: 1, spinning: true, graphOptimizationLevel: 'disabled' },
        { optimizedModelFilePath: '/o.onnx', profileFilePrefix: '/p', logSeverityLevel: 3, label: 'x' },
      ),
    ).toEqual({
      ...base,
      optimizedModelFilePath: '/o.onnx',
      enableProfiling: true,
      profileFilePrefix: '/p',
      logSeverityLevel: 3,
    });
  });
});

describe('createSession', () => {
  it('names the model in a load error: its path, or the label', async () => {
    const garbage = Uint8Array.of(1, 2, 3, 4);
    await expect(
      createSession('/no/such/model.onnx', { intraOpThreads: 1, spinning: false }),
    ).rejects.toThrow(/^onnxruntime cannot load \/no\/such\/model\.onnx: /);
    await expect(createSession(garbage, { intraOpThreads: 1, spinning: false })).rejects.toThrow(
      /^onnxruntime cannot load model bytes: /,
    );
    await expect(
      createSession(garbage, { intraOpThreads: 1, spinning: false }, { label: 'the one-layer graph' }),
    ).rejects.toThrow(/^onnxruntime cannot load the one-layer graph: /);
  });

  it('writes the optimized graph when asked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bnas-session-'));
    try {
      const session = await createSession(
        SMALL_CNN,
        { intraOpThreads: 1, spinning: false },
        { optimizedModelFilePath: join(dir, 'optimized.onnx'), logSeverityLevel: 3 },
      );
      await session.release();
      expect(readdirSync(dir)).toEqual(['optimized.onnx']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves readModelInput', async () => {
    expect(await readModelInput(SMALL_CNN)).toEqual({ name: 'x', shape: ['batch', 3, 8, 8] });
  });
});
