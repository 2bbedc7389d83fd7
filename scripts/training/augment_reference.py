#!/usr/bin/env python3
"""PyTorch reference for the training augmentations (datasets/augment.ts, datasets/torch-random.ts).

Writes test/fixtures/datasets/augment-reference.json, read by test/datasets/augment.test.ts, so that
`npm test` needs no Python. Every case starts from torch.manual_seed(seed) and makes the random
calls torchvision's transforms make, in their order, with PyTorch's own generator:

  resizedCrop   RandomResizedCrop.get_params(img, scale, ratio) for a width x height image (10
                attempts of uniform_(scale), exp(uniform_(log ratio)), then randint(top),
                randint(left); else the centre-crop fallback), then RandomHorizontalFlip's
                torch.rand(1) < 0.5. Several image sizes (including ones that always fall back)
                and, besides the defaults, scale (0.25, 1) with ratio (0.5, 2).
  padCrop       RandomCrop(28, padding=4).get_params on the 36 x 36 padded image, then the flip.
  randperm      torch.randperm(n).
  pixels        whole augmentations on images, with PIL as torchvision applies them to PIL images:
                RandomResizedCrop(112) on test/fixtures/preprocess/big_1100x1040.jpg
                (img.crop(...).resize((112, 112), BILINEAR)), and RandomCrop(28, padding=4) on
                Fashion-MNIST fixture images (ImageOps.expand with fill 0, then crop), each then
                flipped or not; the SHA-256 of the 8-bit HWC bytes.

torchvision itself is not needed (Debian has no package of it): the transforms' random parameters
are restated below call for call, and the pixel operations are the PIL calls torchvision makes.

Run: /usr/bin/python3 scripts/training/augment_reference.py (needs python3-torch, python3-pil).
"""
import hashlib
import json
import math
import os
import sys

import torch
from PIL import Image, ImageOps

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'datasets', 'augment-reference.json')


def resized_crop_params(width, height, scale, ratio):
    """RandomResizedCrop.get_params: (top, left, height, width)."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1]).item()
        aspect_ratio = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = torch.randint(0, height - h + 1, size=(1,)).item()
            left = torch.randint(0, width - w + 1, size=(1,)).item()
            return top, left, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def crop_params(width, height, crop_w, crop_h):
    """RandomCrop.get_params: (top, left, height, width)."""
    if width == crop_w and height == crop_h:
        return 0, 0, height, width
    top = torch.randint(0, height - crop_h + 1, size=(1,)).item()
    left = torch.randint(0, width - crop_w + 1, size=(1,)).item()
    return top, left, crop_h, crop_w


def flip():
    """RandomHorizontalFlip(0.5)'s draw."""
    return bool(torch.rand(1) < 0.5)


SEEDS = list(range(100)) + [12345, 2**31 - 1, 2**32 - 1]
SIZES = [(500, 375), (375, 500), (224, 224), (28, 28), (3, 3), (1, 1), (1000, 10), (10, 1000), (64, 48)]
RANGES = [((0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0)), ((0.25, 1.0), (0.5, 2.0))]


def resized_crop_cases():
    cases = []
    for scale, ratio in RANGES:
        for width, height in SIZES:
            rows = []
            for seed in SEEDS:
                torch.manual_seed(seed)
                top, left, h, w = resized_crop_params(width, height, scale, ratio)
                rows.append([seed, top, left, h, w, flip()])
            cases.append({'width': width, 'height': height, 'scale': scale, 'ratio': ratio, 'draws': rows})
    return cases


def pad_crop_cases():
    rows = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        top, left, _, _ = crop_params(36, 36, 28, 28)
        rows.append([seed, top, left, flip()])
    return {'width': 28, 'height': 28, 'padding': 4, 'draws': rows}


def randperm_cases():
    cases = []
    for n, seed in [(1, 0), (2, 7), (10, 0), (10, 1), (100, 42), (6000, 3)]:
        torch.manual_seed(seed)
        perm = torch.randperm(n).tolist()
        cases.append({'n': n, 'seed': seed, 'first': perm[:64], 'sha256': sha_int32(perm)})
    return cases


def sha_int32(values):
    return hashlib.sha256(b''.join(int(v).to_bytes(4, 'little') for v in values)).hexdigest()


def sha_pixels(img):
    return hashlib.sha256(img.tobytes()).hexdigest()


def pixel_cases():
    cases = []
    big = os.path.join('test', 'fixtures', 'preprocess', 'big_1100x1040.jpg')
    img = Image.open(os.path.join(ROOT, big)).convert('RGB')
    for seed in [0, 1, 2, 3, 4, 5]:
        torch.manual_seed(seed)
        top, left, h, w = resized_crop_params(img.width, img.height, (0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0))
        out = img.crop((left, top, left + w, top + h)).resize((112, 112), Image.BILINEAR)
        flipped = flip()
        if flipped:
            out = out.transpose(Image.FLIP_LEFT_RIGHT)
        cases.append({'file': big, 'kind': 'resized-crop', 'size': 112, 'seed': seed,
                      'window': [top, left, h, w], 'flip': flipped, 'sha256': sha_pixels(out)})
    train = os.path.join('datasets', 'fixtures', 'fashion-mnist', 'train')
    with open(os.path.join(ROOT, train, 'val_map.txt')) as f:
        names = [line.split()[0] for line in f.read().splitlines()[:3]]
    for name in names:
        img = Image.open(os.path.join(ROOT, train, name)).convert('L')
        for seed in [0, 1, 2, 3]:
            torch.manual_seed(seed)
            padded = ImageOps.expand(img, border=4, fill=0)
            top, left, h, w = crop_params(padded.width, padded.height, 28, 28)
            out = padded.crop((left, top, left + w, top + h))
            flipped = flip()
            if flipped:
                out = out.transpose(Image.FLIP_LEFT_RIGHT)
            cases.append({'file': f'{train}/{name}', 'kind': 'pad-crop', 'size': 28, 'seed': seed,
                          'window': [top, left, h, w], 'flip': flipped, 'sha256': sha_pixels(out)})
    return cases


def main():
    data = {
        'torch': torch.__version__,
        'note': 'made by scripts/training/augment_reference.py; each case starts from torch.manual_seed(seed)',
        'resizedCrop': resized_crop_cases(),
        'padCrop': pad_crop_cases(),
        'randperm': randperm_cases(),
        'pixels': pixel_cases(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes)', file=sys.stderr)


if __name__ == '__main__':
    main()
