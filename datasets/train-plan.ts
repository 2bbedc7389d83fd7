/**
 * Which samples a training batch holds and how each is augmented, as pure functions of
 * (seed, epoch, batch): that is what makes a run resumable at any batch. An epoch's order is
 * torch.randperm(n) from a generator seeded by (seed, epoch); a sample's augmentation draws from
 * a generator seeded by (seed, epoch, sample index), so it does not depend on where the sample
 * falls in the order or on which worker prepares it.
 */
import { deriveSeed } from '../common/rng.js';
import { TorchGenerator } from './torch-random.js';

/** Tags that keep the order stream and the augmentation streams apart. */
const ORDER_STREAM = 1;
const AUGMENT_STREAM = 2;

function checkNonNegativeInt(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${value}`);
  }
}

/** The sample indices of an epoch, in training order (Fisher–Yates, torch.randperm's). */
export function epochOrder(seed: number, epoch: number, count: number): Int32Array {
  checkNonNegativeInt('seed', seed);
  checkNonNegativeInt('epoch', epoch);
  return new TorchGenerator(deriveSeed(seed, epoch, ORDER_STREAM)).randperm(count);
}

/** The seed of sample `index`'s augmentation in `epoch`: torch.manual_seed's argument for it. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  return deriveSeed(seed, epoch, index, AUGMENT_STREAM);
}

export function batchesPerEpoch(count: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/** The sample indices of batch `batch` of an epoch's order (the last one may be short). */
export function batchSamples(order: Int32Array, batch: number, batchSize: number): Int32Array {
  return order.subarray(batch * batchSize, Math.min(order.length, (batch + 1) * batchSize));
}
