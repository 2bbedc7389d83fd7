/** A copy of a model whose nodes and lists can be edited without touching the original (tensors are shared, never mutated). */
import { Graph, Model, Node } from './ir.js';

function cloneNode(n: Node): Node {
  const c = new Node({
    name: n.name,
    opType: n.opType,
    domain: n.domain,
    inputs: n.inputs,
    outputs: n.outputs,
    attributes: n.attributes,
  });
  if (n.docString !== undefined) c.docString = n.docString;
  if (n.overload !== undefined) c.overload = n.overload;
  if (n.metadataProps) c.metadataProps = n.metadataProps.map((p) => ({ ...p }));
  if (n.deviceConfigurations) c.deviceConfigurations = [...n.deviceConfigurations];
  return c;
}

export function cloneModel(model: Model): Model {
  const m = new Model();
  Object.assign(m, model);
  m.opsetImports = model.opsetImports.map((o) => ({ ...o }));
  m.metadataProps = model.metadataProps.map((p) => ({ ...p }));
  const src = model.graph;
  const g = new Graph();
  g.name = src.name;
  if (src.docString !== undefined) g.docString = src.docString;
  g.nodes = src.nodes.map(cloneNode);
  g.inputs = src.inputs.map((v) => ({ ...v, shape: v.shape ? [...v.shape] : null }));
  g.outputs = src.outputs.map((v) => ({ ...v, shape: v.shape ? [...v.shape] : null }));
  g.valueInfo = src.valueInfo.map((v) => ({ ...v, shape: v.shape ? [...v.shape] : null }));
  g.initializers = new Map(src.initializers);
  g.sparseInitializers = [...src.sparseInitializers];
  g.quantizationAnnotation = [...src.quantizationAnnotation];
  g.metadataProps = src.metadataProps.map((p) => ({ ...p }));
  m.graph = g;
  return m;
}
