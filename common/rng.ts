/**
 * Seeded random numbers that are the same on every machine: the 32-bit Mersenne Twister (the
 * engine of std::mt19937 and of PyTorch's CPU generator, which seeds it with the seed's low 32
 * bits), and a mixer that turns several integers into one well-spread 32-bit seed, so a stream
 * can be derived per (seed, epoch, sample) without keeping any state between them.
 *
 * harness/loadgen/rng.ts builds the libstdc++ distributions LoadGen needs on this engine.
 */

const N = 624;
const M = 397;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  /**
   * `seed` is reduced mod 2^32, as std::mt19937 and torch.manual_seed reduce it (a bigint: a
   * LoadGen 64-bit seed, of which only the low 32 bits matter).
   */
  constructor(seed: bigint | number = 5489) {
    const mt = this.state;
    mt[0] = typeof seed === 'bigint' ? Number(BigInt.asUintN(32, seed)) : seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.state;
    for (let k = 0; k < N; k++) {
      const y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % N] & LOWER_MASK);
      mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.index = 0;
  }

  /** Next 32-bit output, as an unsigned number in [0, 2^32). */
  next(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/** splitmix32's finalizer: a bijection of 32-bit integers that spreads every input bit. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * One 32-bit seed from several non-negative safe integers (e.g. seed, epoch, sample index, a
 * stream tag): each part, high and low 32 bits, is folded in through mix32, so parts that differ
 * give unrelated seeds and the order of the parts matters.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x6a09e667;
  for (const part of parts) {
    if (!Number.isSafeInteger(part) || part < 0) {
      throw new Error(`deriveSeed: ${part} is not a non-negative safe integer`);
    }
    h = mix32(h ^ (part >>> 0));
    h = mix32(h ^ Math.floor(part / 2 ** 32));
  }
  return h;
}
