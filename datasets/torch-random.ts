/**
 * PyTorch's CPU random draws, reproduced: after torch.manual_seed(s), the calls torchvision's
 * transforms make give the same values as a TorchGenerator(s) here (checked against PyTorch 1.13
 * by scripts/training/augment_reference.py). So a seeded augmentation draws exactly what
 * torchvision would draw after torch.manual_seed with the same seed.
 *
 *  - torch.empty(1).uniform_(a, b): 24 random bits x / 2^24, then x · (b − a) + a with a, b and
 *    b − a in float32 and the product and sum rounded once (to float32).
 *  - torch.rand(1): uniform_(0, 1).
 *  - torch.randint(low, high): one 32-bit draw mod (high − low), plus low (ranges below 2^32).
 *  - torch.randperm(n): Fisher–Yates from the front, position i swapped with i + draw mod (n − i).
 *  - torch.exp on a float32 tensor: SLEEF's expf_u10 as the AVX2/AVX-512 kernels run it (fused
 *    multiply-adds), which differs from the correctly rounded exp in the last bit now and then.
 */
import { Mt19937 } from '../common/rng.js';
import { roundHalfEven } from './raw-image.js';

const f32 = Math.fround;
const TWO_POW_24 = 2 ** 24;

/** The draws torchvision's transforms make (a TorchGenerator, or scripted values in tests). */
export interface TorchDraws {
  /** torch.empty(1).uniform_(from, to).item() */
  uniform(from: number, to: number): number;
  /** torch.rand(1).item() */
  rand(): number;
  /** torch.randint(low, high, (1,)).item() */
  randint(low: number, high: number): number;
}

export class TorchGenerator implements TorchDraws {
  private readonly engine: Mt19937;

  /** The generator torch.manual_seed(seed) leaves (only the seed's low 32 bits count). */
  constructor(seed: number) {
    this.engine = new Mt19937(seed);
  }

  /** One raw 32-bit draw (the generator's random()). */
  random(): number {
    return this.engine.next();
  }

  /** torch.empty(1).uniform_(from, to).item(): a float32 value in [from, to). */
  uniform(from: number, to: number): number {
    const a = f32(from);
    const span = f32(f32(to) - a);
    const x = (this.engine.next() & 0xffffff) / TWO_POW_24;
    return fmaFloat32(x, span, a);
  }

  /** torch.rand(1).item(). */
  rand(): number {
    return this.uniform(0, 1);
  }

  /** torch.randint(low, high, (1,)).item(): an integer in [low, high). */
  randint(low: number, high: number): number {
    const range = high - low;
    if (!Number.isInteger(range) || range <= 0 || range >= 2 ** 32) {
      throw new Error(`randint(${low}, ${high}): the range must be a positive integer below 2^32`);
    }
    return low + (this.engine.next() % range);
  }

  /** torch.randperm(n): a permutation of 0 … n − 1 (n < 2^32). */
  randperm(n: number): Int32Array {
    const perm = new Int32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    for (let i = 0; i < n - 1; i++) {
      const z = i + (this.engine.next() % (n - i));
      const t = perm[i];
      perm[i] = perm[z];
      perm[z] = t;
    }
    return perm;
  }
}

/**
 * Float32 a · b + c with one rounding, for float32 a, b, c: the product is exact in a double;
 * the double sum is exact unless it lands on a float32 midpoint, where its rounding error decides.
 */
export function fmaFloat32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bv = s - p;
  const err = p - (s - bv) + (c - bv);
  const r = f32(s);
  if (err === 0 || r === s || r === 0) return r;
  const other = nextFloat32(r, s > r);
  const [lo, hi] = r < other ? [r, other] : [other, r];
  if (s - lo !== hi - s) return r;
  return err > 0 ? hi : lo;
}

const scratch = new DataView(new ArrayBuffer(4));

/** The float32 next to finite, non-zero float32 `x`, upwards or downwards. */
function nextFloat32(x: number, up: boolean): number {
  scratch.setFloat32(0, x);
  const bits = scratch.getUint32(0);
  scratch.setUint32(0, up === x > 0 ? bits + 1 : bits - 1);
  return scratch.getFloat32(0);
}

// SLEEF's float32 constants (1/ln 2, ln 2 split in two, the polynomial), as float32 values.
const R_LN2F = f32(Math.LOG2E);
const L2UF = 0.693145751953125;
const L2LF = 0.000001428606765330187;
const EXP_POLY = [
  0.00019852761761285365, 0.0013930435525253415, 0.008333360776305199, 0.041666485369205475,
  0.1666666716337204, 0.5,
];

/**
 * torch.exp of a float32 value as PyTorch's vectorized CPU kernel computes it (SLEEF xexpf, the
 * 1-ulp version, with FMA): x = q·ln2 + s, a degree-7 polynomial in s, then scaled by 2^q.
 * Finite inputs in (−87, 88) only; that is all the augmentations need.
 */
export function torchExpFloat32(d: number): number {
  const x = f32(d);
  if (!(x > -87 && x < 88)) throw new Error(`torchExpFloat32(${d}): outside (−87, 88)`);
  const q = roundHalfEven(f32(x * R_LN2F));
  let s = fmaFloat32(q, -L2UF, x);
  s = fmaFloat32(q, -L2LF, s);
  let u = EXP_POLY[0];
  for (let k = 1; k < EXP_POLY.length; k++) u = fmaFloat32(u, s, EXP_POLY[k]);
  u = f32(1 + fmaFloat32(f32(s * s), u, s));
  return f32(u * 2 ** q);
}
