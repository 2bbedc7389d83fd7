/** loss.csv: one row per step, top-1 on the rows of the steps it was measured after, step 0 a row of its own. */
import { describe, expect, it } from 'vitest';
import { LOSS_CSV_HEADER, lossCsv } from '../../../results/training/loss-csv.js';

describe('lossCsv', () => {
  it('writes a row per step with the evaluations merged in', () => {
    const csv = lossCsv(
      [
        { step: 1, epoch: 0, lr: 0.005, loss: 2.3456789 },
        { step: 2, epoch: 0, lr: 0.05, loss: 1.5 },
        { step: 3, epoch: 1, lr: 0.025, loss: 1.25 },
      ],
      [
        { step: 0, top1: 10, samples: 100 },
        { step: 2, top1: 100 / 3, samples: 3 },
        { step: 3, top1: 50, samples: 100 },
      ],
    );
    expect(csv).toBe(
      [
        LOSS_CSV_HEADER,
        '0,,,,10.00',
        '1,0,0.005,2.34568,',
        '2,0,0.05,1.5,33.33',
        '3,1,0.025,1.25,50.00',
        '',
      ].join('\n'),
    );
  });

  it('keeps an evaluation after the last loss row, and writes the header alone when nothing ran', () => {
    expect(lossCsv([], [])).toBe(`${LOSS_CSV_HEADER}\n`);
    expect(
      lossCsv([{ step: 4, epoch: 0, lr: 0.1, loss: 1 }], [{ step: 0, top1: 1, samples: 1 }]).split('\n'),
    ).toEqual([LOSS_CSV_HEADER, '0,,,,1.00', '4,0,0.1,1,', '']);
  });
});
