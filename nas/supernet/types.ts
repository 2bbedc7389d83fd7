/**
 * The search-space file (`bnas supernet --out space.json`) and the sub-network point, as types.
 * These are the module border the later stages (BN re-calibration, reconstruction, latency tables,
 * search) build on; field names are the JSON's own (snake_case).
 *
 * A point is `{ widths: { <group id>: <channels> }, skip: [<block id>, ...] }`:
 * - `widths`: the active width of each channel group, one of its `choices`. A group left out is at
 *   full width. Width w always means the group's first w channels (after importance reordering
 *   these are the most important ones).
 * - `skip`: skippable blocks replaced by identity (their output consumers read their input).
 *   Within a chain of consecutive blocks only a suffix may be skipped, at most `max_skip` blocks.
 * Widths of groups that live only inside skipped blocks do not matter; `canonicalPoint` sets them
 * to full width so equal sub-networks have equal points.
 */

export const SPACE_FORMAT = 'bnas.supernet/1';

/** One stretch of an initializer axis that a group's channels index. */
export interface TensorSlice {
  /** Initializer name. */
  tensor: string;
  axis: number;
  /** Index of channel 0 on that axis. */
  offset: number;
  /** Consecutive entries per channel (>1 where a Flatten of C×H×W feeds a Gemm: H·W). */
  inner: number;
  /** The node reading the initializer. */
  node: string;
  /** out: a layer's output filters; in: a layer's input channels; param: a per-channel vector. */
  role: 'out' | 'in' | 'param';
}

export interface ChannelGroupJson {
  /** g0, g1, ... in graph order. */
  id: string;
  /** A readable name: the first producing layer (or what fixed it). */
  name: string;
  channels: number;
  elastic: boolean;
  /** Allowed widths, largest (= channels) first; [channels] for fixed groups. */
  choices: number[];
  /** Why the group cannot shrink (fixed groups only). */
  reason?: string;
  /** Conv/Gemm/MatMul nodes whose output channels these are. */
  producers: string[];
  /** Depthwise convs that carry these channels through. */
  depthwise: string[];
  /** Nodes whose input channels (weights' input axis) these are. */
  consumers: string[];
  /** Every initializer stretch that shrinks or permutes with the group. */
  tensors: TensorSlice[];
}

export interface BlockJson {
  /** b0, b1, ... in graph order. */
  id: string;
  /** The residual Add node. */
  name: string;
  /** The value the block reads (its identity shortcut). */
  start: string;
  /** The block's output value; its consumers read `start` instead when the block is skipped. */
  end: string;
  /** Nodes removed when the block is skipped. */
  nodes: string[];
  /** Channel group of start/end. */
  group: string;
  /** Groups that exist only inside the block (inactive when it is skipped). */
  inner_groups: string[];
  chain: string;
}

export interface ChainJson {
  /** c0, c1, ... */
  id: string;
  /** Consecutive blocks (each block's end is the next one's start), in order. */
  blocks: string[];
  /** At most this many blocks of the chain may be skipped, and only a suffix. */
  max_skip: number;
}

export interface LayerSegment {
  group: string;
  inner: number;
}

/** A Conv/Gemm/MatMul with what its MACs scale with: enough to predict a point's MACs from the JSON alone. */
export interface LayerJson {
  node: string;
  op: string;
  /** MACs at full width, batch 1 (null when shapes are unknown). */
  macs: number | null;
  /** Channel segments of the input (concatenated) and output. */
  in: LayerSegment[];
  out: LayerSegment[];
  /** MACs scale with the output channels only. */
  depthwise: boolean;
  /** Skippable blocks the layer belongs to. */
  blocks: string[];
}

export interface WidthRule {
  mode: 'multipliers';
  multipliers: number[];
  divisor: number;
  min_width: number;
}

export interface OfaStageJson {
  group: string;
  channels: number;
  choices: number[];
  /** Stage depths allowed, largest first (gene index 0 = all blocks). */
  depths: number[];
  blocks: {
    /** The block's residual Add. */
    name: string;
    /** Groups of conv1 and conv2 outputs (both take the mid width). */
    mid_groups: [string, string];
    /** Original mid width. */
    mid: number;
    /** Skippable block id (trailing blocks only). */
    block?: string;
  }[];
}

/** The OFA-style bottleneck-ResNet space of spec §7.1 (BNAS-A/B/C are points of it for ResNet-50). */
export interface OfaJson {
  stem: { group: string; channels: number; multipliers: number[]; choices: number[] };
  stage_multipliers: number[];
  expand_ratios: number[];
  stages: OfaStageJson[];
  /** Gene names in order: stem, stage widths, stage depths, one expand ratio per block. */
  genes: string[];
}

export interface SearchSpace {
  format: typeof SPACE_FORMAT;
  kind: 'generic' | 'ofa-resnet';
  model: {
    graph: string;
    inputs: { name: string; shape: (number | string | null)[] | null }[];
    /** MACs of the full network, batch 1 (null when shapes are unknown). */
    macs: number | null;
    path?: string;
    sha256?: string;
    /** The importance-reordered copy (same space; its prefixes keep the most important channels). */
    reordered?: { path: string; sha256: string; criterion: string };
  };
  width: WidthRule | { mode: 'ofa' };
  groups: ChannelGroupJson[];
  skippable_blocks: BlockJson[];
  chains: ChainJson[];
  layers: LayerJson[];
  /** Distinct sub-networks (genes of skipped blocks do not count twice), as a decimal string. */
  size: string;
  log10_size: number;
  /** Why things stayed fixed, and other findings. */
  notes: string[];
  ofa?: OfaJson;
}

export interface Point {
  widths: Record<string, number>;
  skip: string[];
}
