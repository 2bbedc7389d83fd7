/**
 * A SUT of several workers, one of which dies mid-run (worker k after n batches): the test ends
 * on its own, the logs say INVALID, and the detail log holds the reason. Session 1's tests
 * (test/harness/loadgen/validity.test.ts) cover a single worker that throws or exits inside a batch;
 * these add the other workers still answering and a fatal error raised outside the task.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Scenario } from '../../harness/loadgen/types.js';
import { PoolSut } from '../../harness/sut/pool-sut.js';
import {
  E2E_FIXTURES,
  errorLines,
  firstValue,
  LOG_FILES,
  partialFiles,
  type RunResult,
  removeTempDirs,
  runLoadgen,
} from './loadgen/e2e-helpers.js';

afterAll(removeTempDirs);

type How = 'exit' | 'fatal';

function dyingSut(how: How, options: { workers: number; victim: number; afterBatches: number }): PoolSut {
  return new PoolSut({
    name: `DyingSUT(${how})`,
    workerFile: join(E2E_FIXTURES, 'dying-worker.mjs'),
    workerData: {
      slots: new SharedArrayBuffer(4),
      victim: options.victim,
      afterBatches: options.afterBatches,
      serviceUs: 200,
      how,
    },
    workers: options.workers,
    batchSize: 2,
    maxBatchWaitUs: 0,
  });
}

const CONF: Record<'Offline' | 'Server', string> = {
  Offline:
    'resnet50.Offline.target_qps = 4000\nresnet50.Offline.min_duration = 1000\nresnet50.Offline.min_query_count = 1\n',
  Server: 'resnet50.Server.target_qps = 1000\nresnet50.Server.min_duration = 1000\n',
};

async function runDying(scenario: 'Offline' | 'Server', how: How): Promise<RunResult> {
  const sut = dyingSut(how, { workers: 3, victim: 1, afterBatches: 5 });
  await sut.start();
  try {
    return await runLoadgen({ scenario, round: 'current', sut, conf: CONF[scenario] });
  } finally {
    await sut.stop();
  }
}

function expectInvalidWithReason(run: RunResult, reason: RegExp): void {
  expect(partialFiles(run.dir)).toEqual([]);
  expect(readdirSync(run.dir).sort()).toEqual([...LOG_FILES].sort());
  expect(run.summary.split('\n')).toContain('Result is : INVALID');
  expect(firstValue(run.records, 'result_validity')).toBe('INVALID');
  const errors = errorLines(run.detailText);
  expect(errors.some((e) => e.key === 'error_runtime' && reason.test(e.value))).toBe(true);
  expect(run.outcome.errors).toBe(errors.length);
}

describe.each(['Offline', 'Server'] as const)(
  '%s: worker 1 of 3 dies after 5 batches',
  (scenario: Scenario) => {
    const s = scenario as 'Offline' | 'Server';

    it('by process.exit inside a batch: the run ends INVALID, the exit code in the detail log', async () => {
      const run = await runDying(s, 'exit');
      expectInvalidWithReason(run, /SUT DyingSUT\(exit\): worker failed: worker exited with code: 7/);
    });

    it('by a fatal error outside the task (the batch never answers): INVALID, the error in the detail log', async () => {
      const run = await runDying(s, 'fatal');
      expectInvalidWithReason(run, /worker failed: dying-worker: fatal error in worker 1/);
    });
  },
);
