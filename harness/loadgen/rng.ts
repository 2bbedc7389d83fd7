/**
 * Bit-exact replicas of the random number machinery the C++ LoadGen gets from GCC's libstdc++:
 * std::mt19937 (common/rng.ts: the 32-bit Mersenne Twister), uniform_int_distribution (Lemire's nearly-divisionless
 * method), std::shuffle (including its "two draws per call" variant for small arrays),
 * generate_canonical<double, 53> and exponential_distribution.
 *
 * LoadGen passes 64-bit seeds to a 32-bit engine, so only the low 32 bits of a seed matter.
 */

import { Mt19937 } from '../../common/rng.js';

export { Mt19937 };

const TWO_POW_32 = 4294967296;
const TWO_POW_64 = 2 ** 64;

/** floor(x * r / 2^32) and (x * r) mod 2^32, exactly, for x, r < 2^32. */
function mulHighLow(x: number, r: number): [high: number, low: number] {
  const low = Math.imul(x, r) >>> 0;
  const xh = Math.floor(x / 65536);
  const xl = x % 65536;
  const u = xh * r; // < 2^48, exact
  const t = xl * r; // < 2^48, exact
  const high = Math.floor(u / 65536) + Math.floor(((u % 65536) * 65536 + t) / TWO_POW_32);
  return [high, low];
}

/** std::uniform_int_distribution<T>(a, b)(engine) for b - a < 2^32 - 1, as libstdc++ 12 computes it. */
export function uniformInt(rng: Mt19937, a: number, b: number): number {
  const range = b - a + 1; // number of outcomes
  if (range === TWO_POW_32) return a + rng.next();
  let [high, low] = mulHighLow(rng.next(), range);
  if (low < range) {
    const threshold = (TWO_POW_32 - range) % range;
    while (low < threshold) [high, low] = mulHighLow(rng.next(), range);
  }
  return a + high;
}

/** std::shuffle(first, last, engine) as libstdc++ does it; works in place on any indexable array. */
export function shuffle(a: { length: number; [i: number]: number }, rng: Mt19937): void {
  const n = a.length;
  if (n < 2) return;
  const swap = (i: number, j: number) => {
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  };
  if (Math.floor((TWO_POW_32 - 1) / n) >= n) {
    // libstdc++ draws two positions from one uniform_int when n * n fits the engine's range.
    let i = 1;
    if (n % 2 === 0) {
      swap(1, uniformInt(rng, 0, 1));
      i = 2;
    }
    while (i < n) {
      const r = i + 1;
      const x = uniformInt(rng, 0, r * (r + 1) - 1);
      swap(i, Math.floor(x / (r + 1)));
      swap(i + 1, x % (r + 1));
      i += 2;
    }
  } else {
    for (let i = 1; i < n; i++) swap(i, uniformInt(rng, 0, i));
  }
}

const LARGEST_BELOW_ONE = 1 - 2 ** -53;

/** std::generate_canonical<double, 53>(mt19937): two draws combined into a double in [0, 1). */
export function canonical(rng: Mt19937): number {
  const g1 = rng.next();
  const g2 = rng.next();
  const u = (g1 + g2 * TWO_POW_32) / TWO_POW_64;
  return u >= 1 ? LARGEST_BELOW_ONE : u;
}

/** std::uniform_real_distribution<double>(0, 1). */
export const uniformReal = canonical;

/** std::exponential_distribution<double>(lambda): -log(1 - u) / lambda. */
export function exponential(rng: Mt19937, lambda: number): number {
  return -Math.log(1 - canonical(rng)) / lambda;
}

/** LoadGen's seconds → nanoseconds conversion: the double product truncated toward zero. */
export function secondsToNs(seconds: number): number {
  return Math.trunc(seconds * 1e9);
}
