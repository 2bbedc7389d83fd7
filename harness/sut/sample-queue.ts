/** A FIFO of pending samples (response id, QSL index, enqueue time), stored in growable typed arrays. */
export class SampleQueue {
  private ids = new Uint32Array(1024);
  private indices = new Uint32Array(1024);
  private enqueuedNs = new Float64Array(1024);
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  /** Enqueue time of the oldest pending sample. */
  oldestNs(): number {
    return this.enqueuedNs[this.head];
  }

  push(ids: Uint32Array, indices: Uint32Array, nowNs: number): void {
    this.reserve(ids.length);
    this.ids.set(ids, this.tail);
    this.indices.set(indices, this.tail);
    this.enqueuedNs.fill(nowNs, this.tail, this.tail + ids.length);
    this.tail += ids.length;
  }

  /** Removes up to `max` samples; the returned arrays are copies the caller may transfer. */
  take(max: number): { ids: Uint32Array; indices: Uint32Array } {
    const n = Math.min(max, this.length);
    const out = {
      ids: this.ids.slice(this.head, this.head + n),
      indices: this.indices.slice(this.head, this.head + n),
    };
    this.head += n;
    if (this.head === this.tail) this.head = this.tail = 0;
    return out;
  }

  private reserve(extra: number): void {
    if (this.tail + extra <= this.ids.length) return;
    const live = this.length;
    const capacity = Math.max(this.ids.length, (live + extra) * 2);
    const grow = <T extends Uint32Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old.subarray(this.head, this.tail) as never);
      return next;
    };
    this.ids = grow(this.ids, (n) => new Uint32Array(n));
    this.indices = grow(this.indices, (n) => new Uint32Array(n));
    this.enqueuedNs = grow(this.enqueuedNs, (n) => new Float64Array(n));
    this.head = 0;
    this.tail = live;
  }
}
