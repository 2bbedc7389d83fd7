/** The GraphWriter the gradient rules write through: fresh names, constants, the forward types. */
import type { GradientRule, GraphWriter } from '../onnx/gradient-rule.js';
import { type Attribute, type Graph, Node } from '../onnx/ir.js';
import type { TensorType } from '../onnx/shapes.js';
import { floatTensor, int64Tensor, type Tensor } from '../onnx/tensor.js';

export type { GradientRule, GraphWriter };

export class GraphBuilder implements GraphWriter {
  /** Nodes emitted while `insertBefore` is set go before that node (forward rewrites); else at the end. */
  insertBefore: Node | undefined;
  /** Name prefix of emitted values and nodes, e.g. "grad/layer1.conv". */
  prefix = 'grad';
  readonly stateUpdates = new Map<string, string>();
  private counter = 0;
  private readonly used: Set<string>;

  constructor(
    readonly graph: Graph,
    public types: Map<string, TensorType>,
    public opset = 13,
  ) {
    this.used = new Set([...graph.initializers.keys(), ...graph.inputs.map((i) => i.name)]);
    for (const n of graph.nodes) {
      this.used.add(n.name);
      for (const o of n.outputs) this.used.add(o);
    }
  }

  fresh(base: string): string {
    let name = `${this.prefix}/${base}`;
    while (this.used.has(name)) name = `${this.prefix}/${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  emit(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, outputs = 1): string[] {
    const names = Array.from({ length: outputs }, (_, i) =>
      this.fresh(outputs === 1 ? opType : `${opType}.${i}`),
    );
    const node = new Node({ name: this.fresh(`${opType}_node`), opType, inputs, outputs: names, attributes });
    this.graph.addNode(node, this.insertBefore ? { before: this.insertBefore } : {});
    return names;
  }

  op(opType: string, inputs: string[], attributes?: Record<string, Attribute>): string {
    return this.emit(opType, inputs, attributes, 1)[0];
  }

  constant(tensor: Tensor): string {
    const name = this.fresh('const');
    this.graph.addInitializer({ ...tensor, name });
    return name;
  }

  scalar(value: number): string {
    return this.constant(floatTensor('', [], [value]));
  }

  ints(values: number[]): string {
    return this.constant(int64Tensor('', [values.length], values));
  }

  typeOf(value: string): TensorType {
    const t = this.types.get(value);
    if (!t) throw new Error(`training graph: the type of '${value}' is not known`);
    return t;
  }

  staticShape(value: string, node: Node, axes?: number[]): number[] {
    const shape = this.typeOf(value).shape;
    if (shape === null) throw new Error(`node ${node.describe()}: the rank of '${value}' is unknown`);
    const needed = axes ?? shape.map((_, i) => i);
    for (const a of needed) {
      if (typeof shape[a] !== 'number') {
        throw new Error(
          `node ${node.describe()}: its gradient needs axis ${a} of '${value}' to have a fixed size, got ${String(shape[a])} (give the model a static input size)`,
        );
      }
    }
    return shape.map((d) => (typeof d === 'number' ? d : -1));
  }

  updateState(stateName: string, newValue: string): void {
    this.stateUpdates.set(stateName, newValue);
  }

  requireOpset(version: number, node: Node): void {
    if (this.opset >= version) return;
    // From 13 on, raising the opset keeps the meaning of the forward ops bnas supports (13 moved axes to inputs).
    if (this.opset < 13) {
      throw new Error(
        `node ${node.describe()}: its gradient needs opset ${version} and the model is opset ${this.opset}; bnas raises the opset of models from 13 on only (convert the model to opset 13 or later)`,
      );
    }
    this.opset = version;
  }
}
