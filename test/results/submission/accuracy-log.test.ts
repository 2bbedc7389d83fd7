import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { accuracyTxtWithHash, truncateAccuracyLog } from '../../../results/submission/accuracy-log.js';
import { SUB } from './fixture-runs.js';

describe('truncateAccuracyLog matches truncate_accuracy_log.py on edge cases', () => {
  it.each(['overlap', 'crlf', 'small', 'utf8b'])('%s', (name) => {
    const input = readFileSync(join(SUB, 'truncate', `${name}.json`));
    expect(truncateAccuracyLog(input)).toEqual(readFileSync(join(SUB, 'truncate', `${name}.expected.json`)));
  });

  it('appends the hash line the way each round writes it', () => {
    expect(accuracyTxtWithHash('accuracy=1.000%\n', 'ab', 'v2.0')).toBe('accuracy=1.000%\nhash=ab\n');
    expect(accuracyTxtWithHash('accuracy=1.000%\n', 'ab', 'v5.0')).toBe('accuracy=1.000%\n\nhash=ab\n');
    expect(accuracyTxtWithHash('accuracy=1.000%', 'ab', 'v6.1')).toBe('accuracy=1.000%\n\nhash=ab\n');
  });
});
