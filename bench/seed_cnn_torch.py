#!/usr/bin/env python3
"""The PyTorch peer of `stride bench train` for the seed CNN: the same layers,
batch, optimizer and thread count on synthetic batches; prints one JSON line
per thread count with images_per_s."""
import argparse
import json
import time

import torch
from torch import nn


def seed_cnn(channels: int, classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, classes))


def measure(threads: int, batch: int, steps: int, warmup: int, channels_last: bool) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(7)
    model = seed_cnn(1, 10)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    return {"peer": f"pytorch {torch.__version__}" + (" channels_last" if channels_last else ""),
            "batch": batch, "threads": threads,
            "images_per_s": batch * steps / seconds, "step_ms": 1e3 * seconds / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()
    for t in args.threads.split(","):
        print(json.dumps(measure(int(t), args.batch, args.steps, args.warmup, args.channels_last)))


if __name__ == "__main__":
    main()
