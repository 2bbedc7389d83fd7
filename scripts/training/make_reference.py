#!/usr/bin/env python3
"""PyTorch float64 autograd reference for the training layer, on the fixture model.

What it makes (test/fixtures/training/, read by test/training/fmnist-reference.ts, so that `npm test`
needs no Python):

  reference-fmnist.json               everything small: the batch's image names and labels and how
                                      they were chosen (input.selection), the parameter layout, and
                                      per case the loss, the float64 logits and the gradient of the
                                      loss with respect to the logits; BN statistics; the SGD step;
                                      the onnxruntime cross-check of the rebuilt network
  reference-fmnist-input.npy          the input batch, float32 [8, 1, 28, 28], exactly as fed
  reference-fmnist-grad-<case>.npy    full gradients of each case (ce-eval, ce-train, kd-eval,
                                      combined-eval, combined-train, feature-mse), float32 of the
                                      float64 values, the trainable parameters concatenated (layout
                                      in the JSON; zeros where the loss does not reach)
  reference-fmnist-student.npy        the distillation student's trainable parameters, float32,
                                      same layout (its BN running statistics are the teacher's)

The network is models/fixture/fmnist_resnet.onnx rebuilt in PyTorch (scripts/fixture/fmnist_model.py)
in float64 with the ONNX initializers' exact float32 values and the graph's BN epsilon. Before writing
anything the script runs the ONNX files with onnxruntime-node (node, from this repo's node_modules) on
the same batch and requires the float64 logits (and the first residual block's output) to match
onnxruntime's float32 ones within 1e-4, for the teacher and for the student; and it compares a few
of the cross-entropy gradients with float64 central differences.

Batch: 8 images of datasets/fixtures/fashion-mnist/train/val_map.txt, preprocessed as the model's
metadata says ('plain': float32 (u8 / 255 - mean) / std, each step rounded to float32), chosen so that
no ReLU input of any forward lies within float32 rounding of 0 (batch_selection.py: the criterion,
the margin and why it is not larger). The script then checks every ReLU input's sign against float32
PyTorch (four forwards) and onnxruntime (BN frozen), and records per forward the margin reached and
the inputs nearest to 0, which test/training/fmnist-pytorch.test.ts checks in onnxruntime's training
graph.

Cases (every loss a mean over the batch; gradients of every trainable initializer: Conv weights, BN
scales and biases, the Gemm weight and bias; running statistics are not parameters):
  ceEval          cross-entropy with label smoothing 0.1, BN frozen (running statistics): the ONNX
                  graph's inference semantics.
  ceTrain         the same loss with BN in training mode: batch statistics, biased variance in the
                  normalization; the running statistics after the step (PyTorch momentum 0.1, i.e.
                  ONNX momentum 0.9, with the *unbiased* batch variance) are stored for every BN.
  kdEval          distillation: teacher = the fixture model (BN frozen), student = the fixture model
                  with seeded noise on its trainable parameters (BN frozen);
                  F.kl_div(F.log_softmax(s/T), F.softmax(t/T), reduction='batchmean') * T*T, T = 4.
  combinedEval    (1 - a) * CE(label smoothing 0.1) + a * KD, a = 0.5, student BN frozen.
  combinedTrain   the same, student BN in training mode (teacher frozen).
  featureMse      F.mse_loss(student's, teacher's output of the first residual block), mean over all
                  elements, student BN frozen; gradients only of the parameters before that output
                  (listed in `reached`; the others are stored as zeros).
  sgd             one torch.optim.SGD step (lr 0.1, momentum 0.9, Nesterov, weight decay 1e-4) from
                  the fixture weights with ceEval's gradients; two variants: decay on every
                  parameter, decay on rank > 1 parameters only (biases and BN exempt). Per parameter
                  summaries of the new values and of the change (new - old, float64), and the full new
                  values of three parameters.

Rerun (deterministic: seeded noise, float64, single thread):

    /usr/bin/python3 scripts/training/make_reference.py     # Debian: python3-torch python3-onnx python3-pil

(`python3` if that is Debian's interpreter; a pyenv or venv python usually has no torch.) Needs node
and `npm ci` done (onnxruntime-node). Takes about 8 minutes, nearly all of it the batch search.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts", "fixture"))
import fmnist_model  # noqa: E402

sys.path.insert(0, HERE)
import batch_selection  # noqa: E402

MODEL = os.path.join(REPO, "models", "fixture", "fmnist_resnet.onnx")
TRAIN_DIR = os.path.join(REPO, "datasets", "fixtures", "fashion-mnist", "train")
OUT_DIR = os.path.join(REPO, "test", "fixtures", "training")
PREFIX = "reference-fmnist"

BATCH = 8
LABEL_SMOOTHING = 0.1
TEMPERATURE = 4.0
ALPHA = 0.5
BN_MOMENTUM = 0.1  # PyTorch's convention; the ONNX attribute says 0.9 for the same update
STUDENT_SEED = 20240613
STUDENT_NOISE = 0.03  # noise std, relative to each tensor's root mean square
SGD = {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}
SGD_FULL_VALUES = ["stem.0.weight", "stem.1.weight", "fc.bias"]
FIRST_VALUES = 32
SGD_FIRST_VALUES = 16
ORT_TOLERANCE = 1e-4
FD_STEP = 1e-6
FD_TOLERANCE = 1e-4
KEBAB = {"kdEval": "kd-eval", "combinedEval": "combined-eval", "combinedTrain": "combined-train"}
SELECTION_CRITERION = ("every ReLU input x of every image n, in the four forwards (teacher and student, BN "
                       "frozen and on batch statistics): |x| > margin * RMS(x[n]); the first 8-subset in "
                       "val_map order of the first `pool` images that clear it with BN frozen "
                       "(scripts/training/batch_selection.py)")
SIGNIFICANT = 12  # digits kept for summary values (the comparisons are at 1e-4 relative)


# ---------------------------------------------------------------------------------------------- data

def training_list():
    """(image name, label) of every line of the fixture's training list, in order."""
    with open(os.path.join(TRAIN_DIR, "val_map.txt")) as f:
        return [(name, int(label)) for name, label in (line.split() for line in f if line.strip())]


def image_loader(metadata):
    """load(names) -> float32 [n, 1, 28, 28], preprocessed as the model's metadata says, and its description."""
    mean, std = np.float32(metadata["bnas.mean"]), np.float32(metadata["bnas.std"])
    if metadata.get("bnas.preprocess") != "plain":
        raise SystemExit(f"expected bnas.preprocess=plain, the model says {metadata.get('bnas.preprocess')}")

    def load(names):
        images = []
        for name in names:
            pixels = np.asarray(Image.open(os.path.join(TRAIN_DIR, name)).convert("L"), dtype=np.uint8)
            x = pixels.astype(np.float32) / np.float32(255)
            images.append(((x - mean) / std).astype(np.float32))
        batch = np.stack(images)[:, None, :, :]
        assert batch.dtype == np.float32 and batch.shape == (len(names), 1, 28, 28)
        return batch

    return load, {"preset": "plain", "mean": float(metadata["bnas.mean"]), "std": float(metadata["bnas.std"]),
                  "arithmetic": "float32"}


# --------------------------------------------------------------------------------------------- model

def read_onnx(path):
    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    order = [t.name for t in model.graph.initializer]
    metadata = {p.key: p.value for p in model.metadata_props}
    bn_nodes = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    return model, order, inits, metadata, bn_nodes


def attribute(node, name):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return None


def first_block_output(model):
    """The ONNX tensor that is the output of stages.0.0 (the Relu after the first residual Add)."""
    first_add = next(n for n in model.graph.node if n.op_type == "Add")
    relu = next(n for n in model.graph.node if n.op_type == "Relu" and first_add.output[0] in n.input)
    if "stages.0.0" not in relu.output[0]:
        raise SystemExit(f"the first residual Add's Relu is {relu.output[0]}, not in stages.0.0")
    return relu.output[0]


def build_network(inits, bn_nodes):
    """fmnist_model's network in float64 with the ONNX initializers; BN epsilon from the graph."""
    net = fmnist_model.build().double()
    state = net.state_dict()
    expected = {k for k in state if not k.endswith("num_batches_tracked")}
    if expected != set(inits):
        raise SystemExit(f"initializers and the PyTorch state differ: {sorted(expected ^ set(inits))}")
    with torch.no_grad():
        for name, value in inits.items():
            state[name].copy_(torch.from_numpy(value.astype(np.float64)))
    modules = dict(net.named_modules())
    for node in bn_nodes:
        module = modules[node.input[1][: -len(".weight")]]
        assert isinstance(module, torch.nn.BatchNorm2d), node.input[1]
        module.eps = float(attribute(node, "epsilon"))
        module.momentum = BN_MOMENTUM
    return net


def trainable_names(net, order):
    names = {n for n, _ in net.named_parameters()}
    return [n for n in order if n in names]


def set_parameters(net, values):
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.from_numpy(np.asarray(values[name], dtype=np.float64)))


def student_parameters(inits, names):
    """Seeded noise, std STUDENT_NOISE x the tensor's RMS, on each trainable tensor; rounded to float32."""
    gen = torch.Generator().manual_seed(STUDENT_SEED)
    student = {}
    for name in names:
        w = torch.from_numpy(inits[name].astype(np.float64))
        rms = float(torch.sqrt(torch.mean(w * w)))
        noise = torch.randn(w.shape, generator=gen, dtype=torch.float64)
        student[name] = (w + STUDENT_NOISE * rms * noise).numpy().astype(np.float32)
    return student


# ------------------------------------------------------------------------------- onnxruntime check

NODE_RUNNER = r"""
const [modelPath, inputPath, n, outputsJson] = process.argv.slice(1);
const fs = await import('node:fs');
const ort = await import('onnxruntime-node');
const bytes = fs.readFileSync(inputPath);
const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const input = new ort.Tensor('float32', data, [Number(n), 1, 28, 28]);
const outputs = JSON.parse(outputsJson);
const result = await session.run({ [session.inputNames[0]]: input }, outputs);
const out = {};
outputs.forEach((name, i) => {
  const file = `${inputPath}.out${i}`;
  fs.writeFileSync(file, Buffer.from(result[name].data.buffer, result[name].data.byteOffset, result[name].data.byteLength));
  out[name] = { dims: result[name].dims, file };
});
process.stdout.write(JSON.stringify(out));
"""


def run_onnxruntime(model, batch, outputs, tmp, tag):
    """Runs `model` (an onnx ModelProto, with `outputs` added as graph outputs) with onnxruntime-node."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    present = {o.name for o in model.graph.output}
    for name in outputs:
        if name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    model_path = os.path.join(tmp, f"{tag}.onnx")
    onnx.save(model, model_path)
    input_path = os.path.join(tmp, "input.bin")
    batch.astype("<f4").tofile(input_path)
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", NODE_RUNNER, model_path, input_path, str(batch.shape[0]),
         json.dumps(outputs)],
        cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"onnxruntime-node failed ({proc.returncode}):\n{proc.stderr}")
    result = json.loads(proc.stdout)
    return {k: np.fromfile(v["file"], dtype="<f4").astype(np.float64).reshape(v["dims"]) for k, v in result.items()}


def with_initializers(model, values):
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for t in model.graph.initializer:
        if t.name in values:
            t.CopyFrom(numpy_helper.from_array(np.asarray(values[t.name], dtype=np.float32), t.name))
    return model


def sign_check(what, reference, values):
    """Sign disagreements between float64 ReLU inputs and another engine's, and the largest |diff| / RMS."""
    disagreements, worst = 0, 0.0
    for r, v in zip(reference, values):
        r = np.asarray(r, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64).reshape(r.shape)
        disagreements += int(np.count_nonzero((r > 0) != (v > 0)))
        worst = max(worst, float(np.abs(r - v).max() / np.sqrt(np.mean(r * r))))
    print(f"ReLU inputs, {what} vs float64: {disagreements} sign disagreements, max |diff| / RMS {worst:.2g}")
    if disagreements:
        raise SystemExit(f"{what}: {disagreements} ReLU inputs change sign between float64 and float32")
    return {"signDisagreements": disagreements, "maxRelativeDiff": worst}


def max_relative(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


# ------------------------------------------------------------------------------------ computations

def forward(net, x, train, feature=False):
    """Logits (and the first residual block's output) with BN in training or eval mode."""
    net.train(train)
    captured = {}
    handle = net.stages[0][0].register_forward_hook(lambda _m, _i, out: captured.__setitem__("f", out))
    try:
        logits = net(x)
    finally:
        handle.remove()
    return (logits, captured["f"]) if feature else logits


def ce_loss(logits, y):
    return F.cross_entropy(logits, y, label_smoothing=LABEL_SMOOTHING)


def kd_loss(student_logits, teacher_logits):
    t = TEMPERATURE
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1),
                    reduction="batchmean") * t * t


def gradients(loss, logits, net, names):
    """d loss / d logits and d loss / d each named parameter (None where the loss does not reach it)."""
    params = dict(net.named_parameters())
    grads = torch.autograd.grad(loss, [logits] + [params[n] for n in names], allow_unused=True)
    as_array = lambda g: None if g is None else g.detach().numpy()  # noqa: E731
    return as_array(grads[0]), {n: as_array(g) for n, g in zip(names, grads[1:])}


def finite_difference_check(inits, bn_nodes, x, y, train, grads):
    """Central differences in float64 on a few scalars: a guard on the wiring, not the reference.

    Loose (FD_TOLERANCE): a step moves a few of the ~10^5 pre-activations across ReLU's kink, most of
    all with batch statistics, where one stem weight moves every activation (smaller steps converge).
    """
    worst = 0.0
    for name, index in (("fc.bias", 3), ("stem.0.weight", 5), ("stages.1.0.bn2.weight", 7),
                        ("stages.2.1.conv2.weight", 1000)):
        values = []
        for step in (FD_STEP, -FD_STEP):
            net = build_network(inits, bn_nodes)
            with torch.no_grad():
                dict(net.named_parameters())[name].view(-1)[index] += step
                values.append(float(ce_loss(forward(net, x, train=train), y)))
        numeric = (values[0] - values[1]) / (2 * FD_STEP)
        analytic = float(grads[name].ravel()[index])
        worst = max(worst, abs(numeric - analytic) / max(abs(analytic), 1e-3))
    if not worst <= FD_TOLERANCE:
        raise SystemExit(f"finite differences disagree with autograd ({'train' if train else 'eval'}): {worst}")
    print(f"finite differences vs autograd, CE, BN {'train' if train else 'eval'}: worst relative {worst:.2g}")


def rounded(values):
    return [float(f"{v:.{SIGNIFICANT}g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def summary(array, first=FIRST_VALUES):
    a = np.asarray(array, dtype=np.float64)
    return {"shape": list(a.shape), "sum": float(a.sum()), "sumSquares": float((a * a).sum()),
            "maxAbs": float(np.abs(a).max()), "first": rounded(a.ravel()[:first])}


def bn_statistics(net, x, bn_names):
    """Per BN: batch mean and biased variance of its input, from one training-mode forward."""
    modules = dict(net.named_modules())
    stats = {}
    handles = []
    for name in bn_names:
        def hook(_m, inputs, _out, name=name):
            v = inputs[0].detach()
            stats[name] = (v.mean(dim=(0, 2, 3)).numpy(), v.var(dim=(0, 2, 3), unbiased=False).numpy(),
                           v.numel() // v.shape[1])
        handles.append(modules[name].register_forward_hook(hook))
    return stats, handles


def sgd_step(params, grads, names, decay_all):
    leaves = {n: torch.tensor(params[n], dtype=torch.float64, requires_grad=True) for n in names}
    decay = [leaves[n] for n in names if decay_all or leaves[n].ndim > 1]
    no_decay = [leaves[n] for n in names if not (decay_all or leaves[n].ndim > 1)]
    groups = [{"params": decay, "weight_decay": SGD["weight_decay"]}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    opt = torch.optim.SGD(groups, lr=SGD["lr"], momentum=SGD["momentum"], nesterov=SGD["nesterov"])
    for n in names:
        leaves[n].grad = torch.from_numpy(np.asarray(grads[n], dtype=np.float64))
    opt.step()
    return {n: leaves[n].detach().numpy() for n in names}


# ------------------------------------------------------------------------------------------ writing

def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def save_npy(name, array):
    path = os.path.join(OUT_DIR, name)
    np.save(path, np.ascontiguousarray(array, dtype="<f4"))
    return {"file": name, "sha256": sha256(path)}


def flat(values, names):
    return np.concatenate([np.asarray(values[n], dtype=np.float32).ravel() for n in names])


def to_json(obj, indent=0):
    """JSON with one line per object member and lists of numbers kept on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {to_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, (list, tuple)):
        if all(isinstance(v, (int, float, str, bool)) or v is None for v in obj):
            return json.dumps(list(obj), allow_nan=False)
        return "[\n" + ",\n".join(f"{inner}{to_json(v, indent + 1)}" for v in obj) + f"\n{pad}]"
    return json.dumps(obj, allow_nan=False)


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)

    onnx_model, order, inits, metadata, bn_nodes = read_onnx(MODEL)
    load, preprocess = image_loader(metadata)
    feature_name = first_block_output(onnx_model)
    relu_names = [n.input[0] for n in onnx_model.graph.node if n.op_type == "Relu"]

    teacher = build_network(inits, bn_nodes)
    params = trainable_names(teacher, order)
    teacher_values = {n: inits[n] for n in params}
    student_values = student_parameters(inits, params)
    student = build_network(inits, bn_nodes)
    set_parameters(student, student_values)
    bn_names = [node.input[1][: -len(".weight")] for node in bn_nodes]

    def network(values, dtype=torch.float64):
        net = build_network(inits, bn_nodes)
        set_parameters(net, values)
        return net.to(dtype)

    # --- the batch: no ReLU input near 0 in any forward (batch_selection.py)
    entries = training_list()
    chosen, search = batch_selection.select_batch(
        entries, lambda idx: torch.from_numpy(load([entries[i][0] for i in idx]).astype(np.float64)),
        {"teacher": network(teacher_values), "student": network(student_values)}, batch=BATCH)
    names = [entries[i][0] for i in chosen]
    labels = [entries[i][1] for i in chosen]
    batch = load(names)
    x = torch.from_numpy(batch.astype(np.float64))
    y = torch.tensor(labels, dtype=torch.int64)
    forwards, relu_values = {}, {}
    for key, values, train in (("teacherEval", teacher_values, False), ("teacherTrain", teacher_values, True),
                               ("studentEval", student_values, False), ("studentTrain", student_values, True)):
        relu_values[key] = batch_selection.relu_inputs(network(values), x, train)
        forwards[key] = batch_selection.describe_forward(relu_values[key], relu_names)
        float32 = batch_selection.relu_inputs(network(values, torch.float32), torch.from_numpy(batch), train)
        forwards[key]["float32PyTorch"] = sign_check(f"{key}, float32 PyTorch", relu_values[key], float32)

    # --- the rebuilt network against onnxruntime, teacher and student
    with torch.no_grad():
        t_logits, t_feature = forward(teacher, x, train=False, feature=True)
        s_logits, s_feature = forward(student, x, train=False, feature=True)
    with tempfile.TemporaryDirectory() as tmp:
        ort_teacher = run_onnxruntime(onnx_model, batch, ["logits", feature_name] + relu_names, tmp, "teacher")
        ort_student = run_onnxruntime(with_initializers(onnx_model, student_values), batch,
                                      ["logits", feature_name] + relu_names, tmp, "student")
    for key, ort_values in (("teacherEval", ort_teacher), ("studentEval", ort_student)):
        forwards[key]["onnxruntime"] = sign_check(f"{key}, onnxruntime", relu_values[key],
                                                  [ort_values[n] for n in relu_names])
    checks = {
        "teacherLogits": float(np.abs(t_logits.numpy() - ort_teacher["logits"]).max()),
        "teacherFeature": float(np.abs(t_feature.numpy() - ort_teacher[feature_name]).max()),
        "studentLogits": float(np.abs(s_logits.numpy() - ort_student["logits"]).max()),
        "studentFeature": float(np.abs(s_feature.numpy() - ort_student[feature_name]).max()),
    }
    for what, diff in checks.items():
        print(f"onnxruntime-node float32 vs PyTorch float64, {what}: max |diff| {diff:.3g}")
        if not diff <= ORT_TOLERANCE:
            raise SystemExit(f"{what}: the rebuilt network differs from onnxruntime by {diff} > {ORT_TOLERANCE}")

    cases = {}

    # --- b(i): CE with label smoothing, BN frozen
    logits = forward(teacher, x, train=False)
    loss = ce_loss(logits, y)
    d_logits, ce_eval_grads = gradients(loss, logits, teacher, params)
    finite_difference_check(inits, bn_nodes, x, y, False, ce_eval_grads)
    cases["ceEval"] = {"loss": float(loss), "bnMode": "eval", "logits": logits.detach().numpy().tolist(),
                       "dLogits": d_logits.tolist(),
                       "gradients": save_npy(f"{PREFIX}-grad-ce-eval.npy", flat(ce_eval_grads, params))}

    # --- b(ii): CE with label smoothing, BN in training mode
    train_net = build_network(inits, bn_nodes)
    stats, handles = bn_statistics(train_net, x, bn_names)
    try:
        logits = forward(train_net, x, train=True)
    finally:
        for h in handles:
            h.remove()
    loss = ce_loss(logits, y)
    d_logits, grads = gradients(loss, logits, train_net, params)
    finite_difference_check(inits, bn_nodes, x, y, True, grads)
    running = {}
    for bn in bn_names:
        mean, var, count = stats[bn]
        running[bn] = {"count": int(count), "batchMean": rounded(mean), "batchVariance": rounded(var),
                       "runningMean": rounded(train_net.get_submodule(bn).running_mean.numpy()),
                       "runningVar": rounded(train_net.get_submodule(bn).running_var.numpy())}
    cases["ceTrain"] = {"loss": float(loss), "bnMode": "train", "logits": logits.detach().numpy().tolist(),
                        "dLogits": d_logits.tolist(),
                        "gradients": save_npy(f"{PREFIX}-grad-ce-train.npy", flat(grads, params)),
                        "batchNorm": running}

    # --- c: distillation (teacher frozen, eval mode)
    teacher_logits = t_logits.detach()
    for case, train in (("kdEval", False), ("combinedEval", False), ("combinedTrain", True)):
        net = build_network(inits, bn_nodes)
        set_parameters(net, student_values)
        logits = forward(net, x, train=train)
        kd = kd_loss(logits, teacher_logits)
        ce = ce_loss(logits, y)
        loss = kd if case == "kdEval" else (1 - ALPHA) * ce + ALPHA * kd
        d_logits, grads = gradients(loss, logits, net, params)
        cases[case] = {"loss": float(loss), "kd": float(kd), "ce": float(ce),
                       "bnMode": "train" if train else "eval", "logits": logits.detach().numpy().tolist(),
                       "dLogits": d_logits.tolist(),
                       "gradients": save_npy(f"{PREFIX}-grad-{KEBAB[case]}.npy", flat(grads, params))}

    # --- e: MSE between the first residual block's outputs (student eval mode)
    net = build_network(inits, bn_nodes)
    set_parameters(net, student_values)
    logits, feature = forward(net, x, train=False, feature=True)
    loss = F.mse_loss(feature, t_feature.detach())
    _, grads = gradients(loss, logits, net, params)
    reached = [n for n in params if grads[n] is not None]
    grads = {n: np.zeros(inits[n].shape) if g is None else g for n, g in grads.items()}
    cases["featureMse"] = {"loss": float(loss), "bnMode": "eval", "feature": feature_name,
                           "featureShape": list(feature.shape), "reached": reached,
                           "gradients": save_npy(f"{PREFIX}-grad-feature-mse.npy", flat(grads, params))}

    # --- d: one SGD step from the fixture weights with ceEval's gradients
    sgd = {"settings": SGD, "from": "ceEval", "variants": {}}
    for variant, decay_all in (("decayAll", True), ("decayRank2Plus", False)):
        updated = sgd_step(teacher_values, ce_eval_grads, params, decay_all)
        per_param = {}
        for n in params:
            old = teacher_values[n].astype(np.float64)
            value, change = summary(updated[n], SGD_FIRST_VALUES), summary(updated[n] - old, SGD_FIRST_VALUES)
            per_param[n] = {"value": value, "change": change}
            if n in SGD_FULL_VALUES:
                per_param[n]["values"] = rounded(updated[n])
        sgd["variants"][variant] = {"weightDecayOn": "every parameter" if decay_all else "rank > 1 only",
                                    "parameters": per_param}

    offsets, offset = [], 0
    for n in params:
        size = int(np.prod(inits[n].shape))
        offsets.append({"name": n, "shape": list(inits[n].shape), "offset": offset, "size": size})
        offset += size

    reference = {
        "generatedBy": "scripts/training/make_reference.py",
        "torch": torch.__version__,
        "model": {"path": "models/fixture/fmnist_resnet.onnx", "sha256": sha256(MODEL)},
        "input": {**save_npy(f"{PREFIX}-input.npy", batch), "shape": list(batch.shape), "images": names,
                  "imageDir": "datasets/fixtures/fashion-mnist/train", "labels": labels, "preprocess": preprocess,
                  "selection": {"criterion": SELECTION_CRITERION, "margin": batch_selection.MARGIN,
                                "pool": batch_selection.POOL, "positions": chosen, **search,
                                "forwards": forwards}},
        "settings": {"labelSmoothing": LABEL_SMOOTHING, "temperature": TEMPERATURE, "alpha": ALPHA,
                     "bnMomentumPyTorch": BN_MOMENTUM, "reduction": "mean over the batch"},
        "parameters": offsets,
        "batchNorms": [{"name": bn, "scale": node.input[1], "bias": node.input[2], "mean": node.input[3],
                        "var": node.input[4], "epsilon": float(attribute(node, "epsilon"))}
                       for bn, node in zip(bn_names, bn_nodes)],
        "student": {**save_npy(f"{PREFIX}-student.npy", flat(student_values, params)), "seed": STUDENT_SEED,
                    "noise": f"w + {STUDENT_NOISE} * rms(w) * randn (torch.Generator seed {STUDENT_SEED}, "
                             "float64, in parameter order), rounded to float32; running statistics unchanged"},
        "onnxruntimeCheck": {"engine": "onnxruntime-node", "tolerance": ORT_TOLERANCE, "maxAbsDiff": checks},
        "cases": cases,
        "sgd": sgd,
    }
    path = os.path.join(OUT_DIR, f"{PREFIX}.json")
    with open(path, "w", newline="\n") as f:
        f.write(to_json(reference) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR) if f.startswith(PREFIX))
    for case, c in cases.items():
        print(f"{case}: loss {c['loss']:.10f}")
    print(f"wrote {OUT_DIR}/{PREFIX}* ({total / 1e6:.3f} MB)")


if __name__ == "__main__":
    main()
