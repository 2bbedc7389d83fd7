/**
 * Issue 11, row 9: the same folder given as --train-data and --val-data was accepted, which makes
 * every validation top-1 meaningless. checkTrainValDisjoint refuses the same folder (also through a
 * symbolic link), a copy of it (same names, sizes and bytes), and one folder's images listed inside
 * the other; it accepts distinct folders, also when file names repeat with other content.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTrainValDisjoint } from '../../datasets/disjoint-data.js';

const FIXTURE = join(new URL('../../', import.meta.url).pathname, 'datasets/fixtures/fashion-mnist');
const work = mkdtempSync(join(tmpdir(), 'bnas-disjoint-'));
const TRAIN = join(work, 'train');
const VAL = join(work, 'val');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The first `n` images of a fixture folder, copied with their val_map.txt lines. */
function subset(from: string, to: string, n: number): string[] {
  mkdirSync(to, { recursive: true });
  const lines = readFileSync(join(from, 'val_map.txt'), 'utf8').trim().split('\n').slice(0, n);
  for (const line of lines) cpSync(join(from, line.split(' ')[0]), join(to, line.split(' ')[0]));
  writeFileSync(join(to, 'val_map.txt'), `${lines.join('\n')}\n`);
  return lines;
}

let valLines: string[] = [];
beforeAll(() => {
  subset(join(FIXTURE, 'train'), TRAIN, 40);
  valLines = subset(join(FIXTURE, 'val'), VAL, 40);
});

describe('checkTrainValDisjoint', () => {
  it('accepts the fixture training and validation folders', () => {
    expect(() => checkTrainValDisjoint(TRAIN, VAL)).not.toThrow();
  });

  it('refuses the same folder, also by another path or a symbolic link, naming both', () => {
    expect(() => checkTrainValDisjoint(VAL, VAL)).toThrow(
      `training data ${VAL} and validation data ${VAL} are the same folder (${VAL}): every validation top-1 would be measured on training images`,
    );
    expect(() => checkTrainValDisjoint(join(work, 'train', '..', 'val'), VAL)).toThrow(/are the same folder/);
    const link = join(work, 'val-link');
    symlinkSync(VAL, link);
    expect(() => checkTrainValDisjoint(link, VAL)).toThrow(
      `training data ${link} and validation data ${VAL} are the same folder (${VAL})`,
    );
  });

  it('refuses a copy of the validation folder as the training folder', () => {
    const copy = join(work, 'val-copy');
    cpSync(VAL, copy, { recursive: true });
    const first = join(VAL, valLines[0].split(' ')[0]);
    expect(() => checkTrainValDisjoint(copy, VAL)).toThrow(
      `training data ${copy} and validation data ${VAL} share images (32 or more validation image(s) are training images, e.g. ${first},`,
    );
  });

  it('refuses a training folder that lists the validation images (one folder inside the other)', () => {
    const outer = join(work, 'outer');
    const inner = join(outer, 'val');
    mkdirSync(outer);
    cpSync(VAL, inner, { recursive: true });
    subset(join(FIXTURE, 'train'), outer, 10);
    const own = readFileSync(join(outer, 'val_map.txt'), 'utf8');
    writeFileSync(join(outer, 'val_map.txt'), `${own}val/${valLines[5]}\n`);
    expect(() => checkTrainValDisjoint(outer, inner)).toThrow(
      `share images (1 validation image(s) are training images, e.g. ${join(inner, valLines[5].split(' ')[0])})`,
    );
  });

  it('accepts namesakes of the same size whose bytes differ', () => {
    const other = join(work, 'namesakes');
    mkdirSync(other);
    const lines = valLines.slice(0, 5);
    for (const line of lines) {
      const file = line.split(' ')[0];
      const bytes = readFileSync(join(VAL, file));
      bytes[bytes.length - 1] ^= 0xff;
      writeFileSync(join(other, file), bytes);
    }
    writeFileSync(join(other, 'val_map.txt'), `${lines.join('\n')}\n`);
    expect(() => checkTrainValDisjoint(other, VAL)).not.toThrow();
  });

  it('names a folder without val_map.txt', () => {
    const empty = join(work, 'empty');
    mkdirSync(empty);
    expect(() => checkTrainValDisjoint(empty, VAL)).toThrow(`${empty}: no val_map.txt in it`);
  });
});
