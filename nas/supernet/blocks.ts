/**
 * Skippable blocks for elastic depth (spec §2.4): residual blocks `y = act(x + f(x))` whose branch
 * f reads nothing but x and whose intermediate values nothing outside reads, so replacing y by x
 * leaves every shape intact. A block runs from its shortcut value x (start) to its Add's output, or
 * to the output of a lone activation right after the Add (the post-add ReLU of a ResNet), so that
 * one block's end is the next one's start. Such consecutive blocks form a chain; within a chain
 * only a suffix may be skipped, at most `maxSkip` blocks.
 */
import type { Graph, Model, Node } from '../../onnx/ir.js';
import type { ChannelAnalysis } from './groups.js';

export interface ResidualBlock {
  /** The residual Add node. */
  name: string;
  start: string;
  end: string;
  /** Nodes removed when the block is skipped, in graph order. */
  nodes: string[];
}

export interface BlockSearch {
  blocks: ResidualBlock[];
  /** Chains of consecutive blocks (indices into `blocks`), in graph order. */
  chains: number[][];
  notes: string[];
}

/** Branches larger than this are not taken as blocks (NNCF's max_block_size is 50 fused ops). */
const MAX_BRANCH_NODES = 200;

/** Activations that may close a block after its Add. */
const POST_ADD = new Set([
  'Relu',
  'Clip',
  'LeakyRelu',
  'HardSwish',
  'HardSigmoid',
  'Elu',
  'Selu',
  'Gelu',
  'Mish',
]);

const COMPUTE = new Set(['Conv', 'Gemm', 'MatMul', 'ConvTranspose']);

function sameShape(a: unknown[] | null | undefined, b: unknown[] | null | undefined): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i] && d !== null);
}

/** The nodes computing `value` from `start` alone, or a reason why there are none. */
function branchOf(graph: Graph, value: string, start: string): Set<Node> | string {
  const nodes = new Set<Node>();
  const stack = [value];
  let readsStart = false;
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (v === start) {
      readsStart = true;
      continue;
    }
    if (v === '' || graph.initializers.has(v)) continue;
    const p = graph.producer(v);
    if (!p) return `reads '${v}', which is not computed from '${start}'`;
    if (p.opType === 'Constant' || nodes.has(p)) continue;
    nodes.add(p);
    if (nodes.size > MAX_BRANCH_NODES) return `branch longer than ${MAX_BRANCH_NODES} nodes`;
    stack.push(...p.inputs, ...p.implicitInputs());
  }
  if (!readsStart) return `does not read '${start}'`;
  return nodes;
}

function tryBlock(graph: Graph, add: Node, start: string, residual: string): ResidualBlock | string {
  const branch = branchOf(graph, residual, start);
  if (typeof branch === 'string') return branch;
  if (![...branch].some((n) => COMPUTE.has(n.opType))) return 'branch has no conv or linear layer';
  for (const n of branch) {
    for (const o of n.outputs) {
      if (o === '') continue;
      if (graph.isGraphOutput(o)) return `'${o}' inside the branch is a graph output`;
      const outside = graph.consumers(o).filter((c) => !branch.has(c) && c !== add);
      if (outside.length > 0) return `'${o}' inside the branch is also read by ${outside[0].describe()}`;
    }
  }
  const nodes = new Set<Node>([...branch, add]);
  let end = add.outputs[0];
  for (;;) {
    if (graph.isGraphOutput(end)) break;
    const readers = graph.consumers(end);
    const next = readers[0];
    if (readers.length !== 1 || !POST_ADD.has(next.opType) || next.inputs[0] !== end) break;
    if (
      next.inputs
        .slice(1)
        .some((i) => i !== '' && !graph.initializers.has(i) && graph.producer(i)?.opType !== 'Constant')
    )
      break;
    nodes.add(next);
    end = next.outputs[0];
  }
  if (graph.isGraphOutput(end)) return `its output '${end}' is a graph output`;
  return {
    name: add.name,
    start,
    end,
    nodes: graph.nodes.filter((n) => nodes.has(n)).map((n) => n.name),
  };
}

/** Skippable residual blocks and their chains; `analysis` supplies the shapes. */
export function findResidualBlocks(model: Model, analysis: ChannelAnalysis): BlockSearch {
  const graph = model.graph;
  const notes: string[] = [];
  const found: ResidualBlock[] = [];
  const unnamed = graph.nodes.filter((n) => n.name === '');
  if (unnamed.length > 0) {
    notes.push(`${unnamed.length} nodes have no name; blocks containing them are not skippable`);
  }
  for (const add of graph.topologicalOrder()) {
    if (add.opType !== 'Add' && add.opType !== 'Sum') continue;
    const inputs = add.inputs.filter((i) => i !== '');
    if (inputs.length !== 2 || !inputs.every((i) => analysis.values.has(i))) continue;
    const attempts = [tryBlock(graph, add, inputs[0], inputs[1]), tryBlock(graph, add, inputs[1], inputs[0])];
    const block = attempts.find((a): a is ResidualBlock => typeof a !== 'string');
    if (!block) continue;
    const shapes = [block.start, block.end].map((v) => analysis.types.get(v)?.shape);
    if (!sameShape(shapes[0], shapes[1])) {
      notes.push(`residual ${add.describe()}: input and output shapes differ; not skippable`);
      continue;
    }
    if (block.nodes.some((n) => n === '')) continue;
    found.push(block);
  }
  // A block inside another block's branch goes with it; keep the outer one.
  const blocks = found.filter((b) => {
    const outer = found.find((o) => o !== b && o.nodes.includes(b.name));
    if (outer)
      notes.push(`residual '${b.name}' lies inside block '${outer.name}'; only the outer block is skippable`);
    return !outer;
  });
  const chains: number[][] = [];
  const chainOfEnd = new Map<string, number[]>();
  blocks.forEach((b, i) => {
    const chain = chainOfEnd.get(b.start);
    if (chain) {
      chain.push(i);
      chainOfEnd.delete(b.start);
    }
    const c = chain ?? [i];
    if (!chain) chains.push(c);
    chainOfEnd.set(b.end, c);
  });
  return { blocks, chains, notes };
}
