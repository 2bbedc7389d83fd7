/**
 * The QSL's loaded samples, in shared memory so that every SUT worker reads them without a
 * message. Fixed-size float32 samples (e.g. 3×224×224) live in `capacity` slots; `slotOf[qslIndex]`
 * says where a sample is (-1 when not loaded). onnxruntime refuses tensors backed by a
 * SharedArrayBuffer, so a worker copies its batch into its own input buffer (one memcpy per sample).
 */
export interface SampleStoreHandle {
  data: SharedArrayBuffer;
  slotOf: SharedArrayBuffer;
  sampleLength: number;
  capacity: number;
}

export class SampleStore {
  readonly data: Float32Array;
  readonly slotOf: Int32Array;
  private freeSlots: number[];

  constructor(readonly handle: SampleStoreHandle) {
    this.data = new Float32Array(handle.data);
    this.slotOf = new Int32Array(handle.slotOf);
    this.freeSlots = Array.from({ length: handle.capacity }, (_, i) => handle.capacity - 1 - i);
  }

  static create(totalSamples: number, capacity: number, sampleLength: number): SampleStore {
    const handle: SampleStoreHandle = {
      data: new SharedArrayBuffer(capacity * sampleLength * 4),
      slotOf: new SharedArrayBuffer(totalSamples * 4),
      sampleLength,
      capacity,
    };
    const store = new SampleStore(handle);
    store.slotOf.fill(-1);
    return store;
  }

  /** Main thread: stores a sample; throws if the store is full or the length is wrong. */
  put(qslIndex: number, sample: Float32Array): void {
    if (sample.length !== this.handle.sampleLength) {
      throw new Error(`sample ${qslIndex} has ${sample.length} values, expected ${this.handle.sampleLength}`);
    }
    let slot = this.slotOf[qslIndex];
    if (slot < 0) {
      const free = this.freeSlots.pop();
      if (free === undefined) throw new Error(`sample store is full (${this.handle.capacity} samples)`);
      slot = free;
    }
    this.data.set(sample, slot * this.handle.sampleLength);
    Atomics.store(this.slotOf, qslIndex, slot);
  }

  remove(qslIndex: number): void {
    const slot = this.slotOf[qslIndex];
    if (slot < 0) return;
    Atomics.store(this.slotOf, qslIndex, -1);
    this.freeSlots.push(slot);
  }

  has(qslIndex: number): boolean {
    return this.slotOf[qslIndex] >= 0;
  }
}

/**
 * Worker side: copies the samples of a batch into one (non-shared) buffer sized for the largest
 * batch. Smaller batches (Server's partial ones) are views of it, so a worker holds
 * largestBatch × sample bytes however many batch sizes it sees.
 */
export class SampleReader {
  private readonly data: Float32Array;
  private readonly slotOf: Int32Array;
  private batch: Float32Array;

  constructor(
    private readonly handle: SampleStoreHandle,
    largestBatch = 1,
  ) {
    this.data = new Float32Array(handle.data);
    this.slotOf = new Int32Array(handle.slotOf);
    this.batch = new Float32Array(largestBatch * handle.sampleLength);
  }

  /** The samples at `qslIndices`, one after another; valid until the next call. */
  readBatch(qslIndices: ArrayLike<number>): Float32Array {
    const n = this.handle.sampleLength;
    const length = qslIndices.length * n;
    if (length > this.batch.length) this.batch = new Float32Array(length);
    const view = this.batch.subarray(0, length);
    for (let i = 0; i < qslIndices.length; i++) this.copyInto(view, i, qslIndices[i]);
    return view;
  }

  copyInto(target: Float32Array, position: number, qslIndex: number): void {
    const slot = Atomics.load(this.slotOf, qslIndex);
    if (slot < 0) throw new Error(`QSL sample ${qslIndex} was not loaded before it was issued`);
    const n = this.handle.sampleLength;
    target.set(this.data.subarray(slot * n, slot * n + n), position * n);
  }
}
