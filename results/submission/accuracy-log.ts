/**
 * The packaged accuracy log, exactly as tools/submission/truncate_accuracy_log.py of the round
 * makes it: the sha256 of the full log appended to accuracy.txt, and the log cut to its two ends.
 */
import { roundLayout, type SubmissionRound } from './round-layout.js';

/** Bytes kept from each end of the accuracy log. */
export const VIEWABLE_SIZE = 4096;
/** The checker's limit for a packaged accuracy log. */
export const MAX_ACCURACY_LOG_SIZE = 10 * 1024;
/** What the script puts between the two ends of a truncated log. */
export const TRUNCATION_MARK = '\n\n...\n\n';

/** Python text-mode reading: universal newlines turn "\r\n" and a lone "\r" into "\n". */
function universalNewlines(s: string): string {
  return s.includes('\r') ? s.replace(/\r\n?/g, '\n') : s;
}

/**
 * truncate_file() of the script: the first 4096 characters, "\n\n...\n\n", then the 4096
 * characters read from byte offset size − 4096 (the file is read in text mode, so for LoadGen's
 * ASCII, "\n"-terminated logs this is first 4096 bytes + mark + last 4096 bytes = 8199 bytes).
 * A file shorter than 4096 bytes is returned unchanged, as the script does since v4.0 (the v2.0
 * script crashes on it).
 */
export function truncateAccuracyLog(full: Uint8Array): Buffer {
  const size = full.length;
  if (size < VIEWABLE_SIZE) return Buffer.from(full);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const ascii = !full.some((b) => b >= 0x80 || b === 13);
  if (ascii) {
    const buf = Buffer.from(full.buffer, full.byteOffset, full.byteLength);
    return Buffer.concat([
      buf.subarray(0, VIEWABLE_SIZE),
      Buffer.from(TRUNCATION_MARK),
      buf.subarray(size - VIEWABLE_SIZE),
    ]);
  }
  let startText: string;
  let endText: string;
  try {
    startText = Array.from(universalNewlines(decoder.decode(full)))
      .slice(0, VIEWABLE_SIZE)
      .join('');
    endText = Array.from(universalNewlines(decoder.decode(full.subarray(size - VIEWABLE_SIZE))))
      .slice(0, VIEWABLE_SIZE)
      .join('');
  } catch {
    throw new Error(
      'the accuracy log is not UTF-8 text (or byte size−4096 splits a character); truncate_accuracy_log.py cannot read it either',
    );
  }
  return Buffer.from(startText + TRUNCATION_MARK + endText, 'utf8');
}

/** accuracy.txt after the script appended the hash line of the round. */
export function accuracyTxtWithHash(accuracyTxt: string, hash: string, round: SubmissionRound): string {
  const base = accuracyTxt.endsWith('\n') || accuracyTxt === '' ? accuracyTxt : `${accuracyTxt}\n`;
  return `${base}${roundLayout(round).hashPrefix}hash=${hash}\n`;
}
