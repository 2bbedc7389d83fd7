/**
 * `bnas reproduce` leaves bnas_run.json with the same stamp as every other command (bnas version,
 * machine). The measurement itself (minutes of LoadGen runs) is replaced by a stand-in that
 * returns a run folder; what is checked is the command's own record writing.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RUN_RECORD } from '../../common/run-record.js';
import { REPO_ROOT } from '../paths.js';

const runDir = mkdtempSync(join(tmpdir(), 'bnas-reproduce-record-'));
afterAll(() => rmSync(runDir, { recursive: true, force: true }));

vi.mock('../../pipelines/reproduce/run.js', () => ({
  reproduce: vi.fn(async () => ({ dir: runDir, report: {} })),
}));
vi.mock('../../results/reproduce-report.js', () => ({ markdownTable: () => '| table |\n' }));

describe('bnas reproduce', () => {
  it('writes bnas_run.json through writeRunRecord, with the bnas version stamp', async () => {
    const { reproduceCommand } = await import('../../cli/commands/reproduce.js');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await reproduceCommand.handler({
        _: ['reproduce'],
        $0: 'bnas',
        models: ['resnet50'],
        official: false,
        int8: false,
        offlineSeconds: 1,
        'offline-seconds': 1,
        trialSeconds: 1,
        maxTrials: 1,
        images: 8,
        seed: 0,
        round: 'v2.0',
        out: 'runs/reproduce',
      });
    } finally {
      write.mockRestore();
    }
    const record = JSON.parse(readFileSync(join(runDir, RUN_RECORD), 'utf8'));
    const version = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version;
    expect(record).toMatchObject({
      command: 'reproduce',
      bnas: version,
      args: { models: ['resnet50'], images: 8, out: 'runs/reproduce' },
    });
    expect(record.args).not.toHaveProperty('offline-seconds');
    expect(record.machine.logicalCpus).toBeGreaterThan(0);
  });
});
