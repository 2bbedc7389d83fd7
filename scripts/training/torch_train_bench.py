#!/usr/bin/env python3
"""PyTorch's side of `npm run bench:train`: training steps per second on the CPU.

The same step bench/train.ts times in onnxruntime-node: forward, cross-entropy with label smoothing
0.1, backward, torch.optim.SGD (momentum 0.9, Nesterov, weight decay 1e-4 on rank > 1 parameters),
BN in training mode, float32, `--threads` intra-op threads, one fixed synthetic batch.

Models:
  fixture    the fixture classifier (scripts/fixture/fmnist_model.py), [N, 1, 28, 28], 10 classes
  resnet50   ResNet-50 v1.5 (torchvision's topology: the stride on the 3x3 conv), [N, 3, 224, 224],
             1000 classes, written here in plain torch.nn so torchvision is not needed

Prints one JSON object: per timed step its total, forward, backward and optimizer seconds, and the
build's kernels (oneDNN for convolutions; Debian's torch has BLAS_INFO=generic). Without
torch it prints {"skipped": "<why>"} and exits 0.

    /usr/bin/python3 scripts/training/torch_train_bench.py --model resnet50 --batch 32 --warmup 3 --steps 5
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as error:  # the bench runs without PyTorch, and says so
    print(json.dumps({"skipped": f"PyTorch is not importable by {sys.executable}: {error}"}))
    sys.exit(0)


# The fixture's bottleneck block is torchvision's (1×1, 3×3 with the stride, 1×1; projection when
# the shape changes): ResNet-50 below uses it with mid = width, out = 4 × width.
sys.path.insert(0, os.path.join(REPO, "scripts", "fixture"))
import fmnist_model  # noqa: E402

EXPANSION = 4


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for i in range(blocks):
                stage.append(fmnist_model.Bottleneck(cin, width, width * EXPANSION, stride if i == 0 else 1))
                cin = width * EXPANSION
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def network(name):
    if name == "resnet50":
        return ResNet50(), (3, 224, 224), 1000
    return fmnist_model.build(), (1, 28, 28), 10


def build_summary():
    """The kernels this PyTorch build can use: oneDNN (convolutions) and which BLAS (Linear, matmul)."""
    config = torch.__config__.show()
    blas = next((part.split("=", 1)[1] for part in config.replace(",", " ").split() if part.startswith("BLAS_INFO=")),
                "unknown")
    return f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}, BLAS {blas}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["fixture", "resnet50"], required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net, sample, classes = network(args.model)
    net.train()
    decay = [p for p in net.parameters() if p.ndim > 1]
    no_decay = [p for p in net.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(args.batch, *sample)
    y = torch.randint(0, classes, (args.batch,))

    steps = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y, label_smoothing=0.1)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if not torch.isfinite(loss):
            raise SystemExit(f"the loss is {float(loss)} at step {step}")
        if step >= args.warmup:
            steps.append({"total": t3 - t0, "forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2})
    print(json.dumps({"torch": torch.__version__, "model": args.model, "batch": args.batch,
                      "threads": torch.get_num_threads(), "build": build_summary(), "steps": steps}))


if __name__ == "__main__":
    main()
