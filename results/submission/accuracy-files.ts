/**
 * The accuracy files packaged from an accuracy run: accuracy.txt (read from the run folder or
 * computed from the val_map, checked against each other) with the hash line of the round, and the
 * truncated mlperf_log_accuracy.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../common/files.js';
import { imagenetAccuracyFromFiles } from '../imagenet-accuracy.js';
import { accuracyTxtWithHash, TRUNCATION_MARK, truncateAccuracyLog } from './accuracy-log.js';
import type { AccuracySource } from './options.js';
import { ACCURACY_JSON, ACCURACY_TXT, requireFile } from './read-run.js';
import type { SubmissionRound } from './round-layout.js';

/** First line of accuracy.txt that is the accuracy line, and whether a hash line is present. */
function readAccuracyTxt(path: string): {
  lines: string[];
  accuracyLine: string | undefined;
  hash: string | undefined;
} {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const accuracyLine = lines.find((l) => /^accuracy=([\d.]+).*/.test(l));
  const hash = lines.map((l) => /^hash=([\w\d]+)$/.exec(l)?.[1]).find((h) => h !== undefined);
  return { lines, accuracyLine, hash };
}

/** What goes into the accuracy folder of a result, and what the result reports about it. */
export interface PreparedAccuracy {
  accuracyTxt: string;
  accuracyLine: string;
  hash: string;
  full: number;
  truncated: Buffer;
}

/** Reads and checks the accuracy run's outputs; throws when accuracy.txt and the log disagree. */
export function prepareAccuracy(
  dir: string,
  round: SubmissionRound,
  source: AccuracySource | undefined,
): PreparedAccuracy {
  const jsonPath = requireFile(dir, ACCURACY_JSON, 'the accuracy run writes the full accuracy log there');
  const full = readFileSync(jsonPath);
  if (full.length <= 64 && /^\[\s*\]\s*$/.test(full.toString('latin1'))) {
    throw new Error(`${jsonPath} holds no records: this is not the log of an AccuracyOnly run`);
  }
  if (full.includes(TRUNCATION_MARK)) {
    throw new Error(
      `${jsonPath} is already truncated (it holds "${TRUNCATION_MARK.trim()}"); package from the run folder with the full log`,
    );
  }
  const hash = sha256Hex(full); // get_hash() of truncate_accuracy_log.py
  const txtPath = join(dir, ACCURACY_TXT);
  const existing = existsSync(txtPath) ? readAccuracyTxt(txtPath) : undefined;
  let accuracyLine: string;
  if (source?.valMap) {
    const result = imagenetAccuracyFromFiles(jsonPath, source.valMap, {
      dtype: source.dtype ?? 'float32',
      labelOffset: source.labelOffset ?? 0,
    });
    accuracyLine = result.line;
    if (existing?.accuracyLine !== undefined && existing.accuracyLine !== accuracyLine) {
      throw new Error(
        `${txtPath} says "${existing.accuracyLine}" but ${source.valMap} gives "${accuracyLine}"; remove the stale file or check the val_map / --label-offset`,
      );
    }
  } else {
    if (!existing) {
      throw new Error(
        `${txtPath} is missing: run "bnas accuracy --log ${jsonPath} --val-map <val_map.txt>" first, or pass the val_map so it is computed here`,
      );
    }
    if (existing.accuracyLine === undefined) throw new Error(`${txtPath} has no "accuracy=…" line`);
    accuracyLine = existing.accuracyLine;
  }
  if (existing?.hash !== undefined && existing.hash !== hash) {
    throw new Error(
      `${txtPath} has hash=${existing.hash}, but ${jsonPath} hashes to ${hash}: the files do not belong together`,
    );
  }
  const base = existing ? existing.lines.filter((l) => !/^hash=/.test(l) && l !== '') : [accuracyLine];
  const accuracyTxt = accuracyTxtWithHash(`${base.join('\n')}\n`, hash, round);
  return { accuracyTxt, accuracyLine, hash, full: full.length, truncated: truncateAccuracyLog(full) };
}
