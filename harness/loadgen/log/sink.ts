/**
 * Where the log writers put their text: anything with a `write(text)` (RunFiles.append, a file
 * descriptor, a memory buffer in tests). Hot writers (accuracy log, trace) batch their text with a
 * BufferedText so that a file receives a few large writes rather than one per sample.
 */
import { writeSync } from 'node:fs';

export interface TextSink {
  write(text: string): void;
}

/** A sink on an open file descriptor (synchronous writes). */
export function fdSink(fd: number): TextSink {
  return { write: (text) => void writeSync(fd, text) };
}

/** Collects everything written; for tests and for texts assembled before they are written out. */
export class MemorySink implements TextSink {
  private readonly chunks: string[] = [];

  write(text: string): void {
    this.chunks.push(text);
  }

  text(): string {
    return this.chunks.join('');
  }
}

const DEFAULT_HIGH_WATER = 1 << 16;

/** Accumulates small strings and hands them to the sink in chunks of about `highWater` chars. */
export class BufferedText {
  private parts: string[] = [];
  private size = 0;

  constructor(
    private readonly sink: TextSink,
    private readonly highWater = DEFAULT_HIGH_WATER,
  ) {}

  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= this.highWater) this.flush();
  }

  flush(): void {
    if (this.size === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.sink.write(text);
  }
}
