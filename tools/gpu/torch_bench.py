#!/usr/bin/env python3
"""The PyTorch eager peer of `stride bench train --device cuda`: the seed CNN
and VGG-BN of configs/ as Stride builds them (Keras padding and batch-norm
constants), on synthetic batches resident on the GPU, Adam with lr 1e-4 as
`stride bench train` runs it, channels-last and cudnn.benchmark. fp32 turns
TF32 off (as Stride's fp32 does); bf16 runs under autocast. Prints one JSON
line per (model, batch, precision) with images_per_s and step_ms."""
import argparse
import json
import time

import torch
from torch import nn


def seed_cnn(classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(3 * 3 * 64, 64), nn.ReLU(), nn.Linear(64, classes))


def vgg_bn(classes: int) -> nn.Module:
    def block(cin: int, cout: int) -> list:
        # Keras BatchNormalization: momentum 0.99 (PyTorch's 0.01), epsilon 1e-3.
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
                nn.ReLU()]
    return nn.Sequential(
        *block(1, 32), *block(32, 32), nn.MaxPool2d(2), nn.Dropout(0.25),
        *block(32, 64), *block(64, 64), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 256, bias=False), nn.BatchNorm1d(256, eps=1e-3, momentum=0.01), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(256, classes))


MODELS = {"seed_cnn": seed_cnn, "vgg_bn": vgg_bn}


def measure(name: str, batch: int, precision: str, steps: int, warmup: int) -> dict:
    torch.manual_seed(7)
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    model = MODELS[name](10).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, 28, 28, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"peer": f"pytorch {torch.__version__} eager", "model": name, "batch": batch, "precision": precision,
            "images_per_s": batch * steps / seconds, "step_ms": 1e3 * seconds / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="seed_cnn,vgg_bn")
    parser.add_argument("--batches", default="32,128,512")
    parser.add_argument("--precisions", default="fp32")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    for name in args.models.split(","):
        for batch in args.batches.split(","):
            for precision in args.precisions.split(","):
                print(json.dumps(measure(name, int(batch), precision, args.steps, args.warmup)), flush=True)


if __name__ == "__main__":
    main()
