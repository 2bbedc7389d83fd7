/**
 * What `bnas finetune` checks of the teacher and the student before any long work: each is a
 * classifier with one image input of static C/H/W and logits [N, K]; both take the same input and
 * have the same K (the distillation compares their outputs class by class).
 */
import type { Model } from '../../onnx/ir.js';
import { inferShapes } from '../../onnx/shapes.js';

export interface ClassifierShape {
  /** One sample's shape, e.g. [1, 28, 28]. */
  sample: number[];
  classes: number;
}

export function classifierShape(model: Model, path: string): ClassifierShape {
  const inputs = model.graph.realInputs();
  if (inputs.length !== 1)
    throw new Error(
      `${path}: the model has ${inputs.length} inputs; bnas finetune needs one image input (N×C×H×W)`,
    );
  const input = inputs[0];
  const sample = (input.shape ?? []).slice(1);
  if (sample.length !== 3 || !sample.every((d) => typeof d === 'number')) {
    throw new Error(
      `${path}: input '${input.name}' has shape [${(input.shape ?? []).join(', ')}]; training needs static C/H/W (export the model with a fixed input size)`,
    );
  }
  const output = model.graph.outputs[0];
  if (!output) throw new Error(`${path}: the model has no output`);
  const shape =
    output.shape?.every((d) => d !== null) && output.shape.length === 2 ? output.shape : undefined;
  const inferred = shape ?? inferShapes(model, { strict: false }).get(output.name)?.shape;
  const classes = inferred?.length === 2 ? inferred[1] : undefined;
  if (typeof classes !== 'number') {
    throw new Error(
      `${path}: output '${output.name}' is not logits [N, K] with a known K (shape [${(inferred ?? []).join(', ')}])`,
    );
  }
  return { sample: sample as number[], classes };
}

/** Throws, naming both files and their sizes, unless teacher and student fit one distillation. */
export function checkTeacherStudent(
  teacher: { model: Model; path: string },
  student: { model: Model; path: string },
): ClassifierShape {
  const t = classifierShape(teacher.model, teacher.path);
  const s = classifierShape(student.model, student.path);
  if (t.classes !== s.classes) {
    throw new Error(
      `the teacher and the student must have the same output classes: teacher ${teacher.path} has ${t.classes}, student ${student.path} has ${s.classes}`,
    );
  }
  if (t.sample.join('x') !== s.sample.join('x')) {
    throw new Error(
      `the teacher and the student must take the same input: teacher ${teacher.path} takes ${t.sample.join('×')}, student ${student.path} takes ${s.sample.join('×')}`,
    );
  }
  return s;
}
