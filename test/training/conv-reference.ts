/** A float64 2-D Conv in TypeScript (forward and adjoint) with its ONNX attributes: the gradient tests' reference. */
import { type Attribute, attr } from '../../onnx/ir.js';

export interface ConvCase {
  name: string;
  batch: number;
  inChannels: number;
  outChannels: number;
  size: [number, number];
  kernel: [number, number];
  strides?: [number, number];
  /** top, left, bottom, right */
  pads?: [number, number, number, number];
  dilations?: [number, number];
  group?: number;
  autoPad?: 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';
  bias?: boolean;
  /** Op types the backward must use / must not use (the fast forms). */
  uses?: string[];
  avoids?: string[];
}

export interface Geometry {
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  outSize: number[];
  group: number;
}

export function geometryOf(c: ConvCase): Geometry {
  const strides = c.strides ?? [1, 1];
  const dilations = c.dilations ?? [1, 1];
  let pads = c.pads ?? [0, 0, 0, 0];
  if (c.autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (c.autoPad) {
    const begin: number[] = [];
    const end: number[] = [];
    for (let a = 0; a < 2; a++) {
      const out = Math.ceil(c.size[a] / strides[a]);
      const total = Math.max(0, (out - 1) * strides[a] + (c.kernel[a] - 1) * dilations[a] + 1 - c.size[a]);
      const lower = Math.floor(total / 2);
      const upper = total - lower;
      begin.push(c.autoPad === 'SAME_UPPER' ? lower : upper);
      end.push(c.autoPad === 'SAME_UPPER' ? upper : lower);
    }
    pads = [begin[0], begin[1], end[0], end[1]];
  }
  const outSize = [0, 1].map(
    (a) =>
      Math.floor((c.size[a] + pads[a] + pads[a + 2] - (c.kernel[a] - 1) * dilations[a] - 1) / strides[a]) + 1,
  );
  return { strides, dilations, padsBegin: [pads[0], pads[1]], outSize, group: c.group ?? 1 };
}

/** Calls `visit(y, x, w)` with the flat indices of every product Conv sums. */
export function forEachProduct(
  c: ConvCase,
  geo: Geometry,
  visit: (y: number, x: number, w: number) => void,
): void {
  const [H, W] = c.size;
  const [Ho, Wo] = geo.outSize;
  const [kh, kw] = c.kernel;
  const Cg = c.inChannels / geo.group;
  const Mg = c.outChannels / geo.group;
  for (let n = 0; n < c.batch; n++)
    for (let m = 0; m < c.outChannels; m++) {
      const group = Math.floor(m / Mg);
      for (let ho = 0; ho < Ho; ho++)
        for (let wo = 0; wo < Wo; wo++) {
          const y = ((n * c.outChannels + m) * Ho + ho) * Wo + wo;
          for (let cg = 0; cg < Cg; cg++) {
            const ci = group * Cg + cg;
            for (let i = 0; i < kh; i++) {
              const h = ho * geo.strides[0] - geo.padsBegin[0] + i * geo.dilations[0];
              if (h < 0 || h >= H) continue;
              for (let j = 0; j < kw; j++) {
                const w = wo * geo.strides[1] - geo.padsBegin[1] + j * geo.dilations[1];
                if (w < 0 || w >= W) continue;
                visit(y, ((n * c.inChannels + ci) * H + h) * W + w, ((m * Cg + cg) * kh + i) * kw + j);
              }
            }
          }
        }
    }
}

export function convForward(c: ConvCase, geo: Geometry, x: Float64Array, w: Float64Array, b?: Float64Array) {
  const [Ho, Wo] = geo.outSize;
  const y = new Float64Array(c.batch * c.outChannels * Ho * Wo);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[Math.floor(i / (Ho * Wo)) % c.outChannels];
  forEachProduct(c, geo, (yi, xi, wi) => {
    y[yi] += x[xi] * w[wi];
  });
  return y;
}

export function convAdjoint(c: ConvCase, geo: Geometry, x: Float64Array, w: Float64Array, r: Float64Array) {
  const [Ho, Wo] = geo.outSize;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(c.outChannels);
  for (let i = 0; i < r.length; i++) db[Math.floor(i / (Ho * Wo)) % c.outChannels] += r[i];
  forEachProduct(c, geo, (yi, xi, wi) => {
    dx[xi] += r[yi] * w[wi];
    dw[wi] += r[yi] * x[xi];
  });
  return { dx, dw, db };
}

export function attributesOf(c: ConvCase): Record<string, Attribute> {
  const a: Record<string, Attribute> = {};
  if (c.strides) a.strides = attr.ints(c.strides);
  if (c.pads) a.pads = attr.ints(c.pads);
  if (c.dilations) a.dilations = attr.ints(c.dilations);
  if (c.group) a.group = attr.int(c.group);
  if (c.autoPad) a.auto_pad = attr.string(c.autoPad);
  return a;
}
