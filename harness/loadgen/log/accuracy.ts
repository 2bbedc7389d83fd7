/**
 * mlperf_log_accuracy.json, byte for byte as LoadGen writes it: "[", then one
 * `{ "seq_id" : N, "qsl_idx" : N, "data" : "HEX" }` record per logged response in completion
 * order (",\n" between records, "\n" before the first), then "\n]\n". An empty log is "[\n]\n".
 */
import { BufferedText, type TextSink } from './sink.js';

const HEX_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  b.toString(16).toUpperCase().padStart(2, '0'),
);

/** Payload bytes as uppercase hex, two digits per byte in memory order. */
export function toUpperHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let hex = '';
  for (let i = start; i < end; i++) hex += HEX_PAIRS[bytes[i]];
  return hex;
}

export class AccuracyLog {
  private readonly out: BufferedText;
  private records = 0;
  private closed = false;

  constructor(sink: TextSink, highWater?: number) {
    this.out = new BufferedText(sink, highWater);
    this.out.write('[');
  }

  get recordCount(): number {
    return this.records;
  }

  /** Appends one response; `data` need only be valid during the call. */
  append(seqId: number, qslIndex: number, data: Uint8Array): void {
    if (this.closed) throw new Error('accuracy log is already closed');
    this.out.write(
      `${this.records === 0 ? '\n{ ' : ',\n{ '}"seq_id" : ${seqId}, "qsl_idx" : ${qslIndex}, "data" : "${toUpperHex(data)}" }`,
    );
    this.records++;
  }

  /** Pushes buffered records to the sink (the file stays an open JSON array). */
  flush(): void {
    this.out.flush();
  }

  /** Writes the closing "\n]\n" and flushes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.write('\n]\n');
    this.out.flush();
  }
}
